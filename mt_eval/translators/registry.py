"""Find translator backends by name without importing them.

Built-ins and third-party plugins both register ``"module:Class"`` strings in the
``mt_eval.translators`` entry-point group; a backend module (and torch, ctranslate2, llama_cpp
behind it) is imported only when a system that uses it is created. Tests and embedding code can
add backends at run time with :func:`register_backend`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from mt_eval.errors import MtEvalError, first_validation_problem
from mt_eval.plugins import load_target
from mt_eval.translators.base import Translator

ENTRY_POINT_GROUP = "mt_eval.translators"

#: The systems ``mt-eval run`` translates with when none is named: the only real Arabic→English
#: model installable offline (Gemma 3 270M via llama.cpp), the copy lower bound, and OPUS-MT
#: (used when it is in the local Hugging Face cache, skipped otherwise).
DEFAULT_SYSTEMS = ["llama-cpp:default", "copy", "marian:Helsinki-NLP/opus-mt-ar-en"]

_BACKEND_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_plugins: dict[str, str | type[Translator]] = {}


def register_backend(name: str, target: str | type[Translator]) -> None:
    """Add (or override) a backend: ``target`` is a class or a lazy ``"module:Class"`` string."""
    if not _BACKEND_NAME.match(name):
        raise ValueError(f"invalid backend name {name!r}")
    _plugins[name] = target


def unregister_backend(name: str) -> None:
    _plugins.pop(name, None)


def available_backends() -> dict[str, str]:
    """Backend name -> ``"module:Class"`` (entry points, then run-time registrations)."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name, target in _plugins.items():
        found[name] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"
    return dict(sorted(found.items()))


def load_backend(name: str) -> type[Translator]:
    """Import and return the backend class registered under ``name``."""
    target: str | type[Translator] | None = _plugins.get(name)
    if target is None:
        target = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}.get(name)
    if target is None:
        known = ", ".join(available_backends()) or "none"
        raise MtEvalError(f"unknown translator backend {name!r} (known: {known})")
    if not isinstance(target, str):
        return target
    from mt_eval.errors import SystemUnavailable

    return load_target(target, f"backend {name!r}", Translator, lambda exc: SystemUnavailable(
        f"backend {name!r} cannot be imported ({exc}); install the extra it needs, e.g."
        " pip install 'mt-eval[all]'"))


@dataclass(frozen=True)
class SystemSpec:
    """A parsed ``backend[:target][?key=value&...]`` system string."""

    backend: str
    target: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    raw: str = ""


def parse_value(text: str) -> Any:
    """An option value from the command line: JSON when it parses (numbers, booleans, lists), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_options(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["beam_size=4", ...]`` -> ``{"beam_size": 4, ...}``."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise MtEvalError(f"option {pair!r}: expected key=value")
        options[key.strip()] = parse_value(value)
    return options


def parse_spec(spec: str) -> SystemSpec:
    """Split a system string; the last ``?`` starts the options, the first ``:`` ends the backend."""
    text = spec.strip()
    if not text:
        raise MtEvalError("empty system spec")
    head, sep, query = text.rpartition("?") if "?" in text else (text, "", "")
    backend, _, target = head.partition(":")
    if not _BACKEND_NAME.match(backend):
        raise MtEvalError(f"system {spec!r}: invalid backend name {backend!r}")
    options: dict[str, Any] = {}
    if sep:
        for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
            options[key] = parse_value(value)
    return SystemSpec(backend=backend, target=target, options=options, raw=text)


def build_options(cls: type[Translator], options: Mapping[str, Any], *, where: str) -> Any:
    """Validate options against the backend's typed model; the error names the key and the choices."""
    unknown = [key for key in options if key not in cls.Options.model_fields]
    if unknown:
        known = ", ".join(cls.Options.model_fields) or "none"
        raise MtEvalError(f"{where}: unknown option {unknown[0]!r} for backend {cls.backend!r}"
                          f" (known: {known})")
    try:
        return cls.Options(**options)
    except ValidationError as exc:
        loc, msg = first_validation_problem(exc, root="options")
        raise MtEvalError(f"{where}: option {loc}: {msg}") from None


def _shown_spec(spec: str) -> str:
    """The spec for a message: option values and URL credentials left out (a key put in by mistake
    must not reach the console or a CI log); the message names the option at fault anyway."""
    head, sep, query = spec.partition("?")
    head = re.sub(r"//[^/@?#]*@", "//***@", head)
    keys = "&".join(pair.partition("=")[0] + "=…" for pair in query.split("&") if pair)
    return head + (sep + keys if sep else "")


def create_translator(spec: str, options: Mapping[str, Any] | None = None, *, source_lang: str = "ar",
                      target_lang: str = "en") -> Translator:
    """Build a translator from a spec string plus extra options (``options`` win over the spec's)."""
    parsed = parse_spec(spec)
    cls = load_backend(parsed.backend)
    merged = {**parsed.options, **(options or {})}
    opts = build_options(cls, merged, where=f"system {_shown_spec(spec)!r}")
    return cls(parsed.target, opts, source_lang=source_lang, target_lang=target_lang)
