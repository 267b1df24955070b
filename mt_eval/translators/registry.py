"""Translator backends by name, and ``backend[:target][?key=value&...]`` system strings.

Backends are plugins held by one :class:`mt_eval.plugins.Registry` (:data:`BACKENDS`): built-ins, the
``mt_eval.translators`` entry-point group of installed packages, and :func:`register_backend` at run
time. A backend module (and torch, ctranslate2, llama_cpp behind it) is imported only when a system
that uses it is created.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from mt_eval.errors import MtEvalError, SystemUnavailable, first_validation_problem
from mt_eval.plugins import NAME, Registry, parse_value
from mt_eval.translators.base import Translator

#: The systems ``mt-eval run`` translates with when none is named: the only real Arabic→English
#: model installable offline (Gemma 3 270M via llama.cpp), the copy lower bound, and OPUS-MT
#: (used when it is in the local Hugging Face cache, skipped otherwise).
DEFAULT_SYSTEMS = ["llama-cpp:default", "copy", "marian:Helsinki-NLP/opus-mt-ar-en"]

BACKENDS: Registry[Translator] = Registry(
    "mt_eval.translators", Translator, noun="backend", title="translator backend", options_attr="Options",
    missing=lambda name, exc: SystemUnavailable(f"backend {name!r} cannot be imported ({exc}); install the"
                                                " extra it needs, e.g. pip install 'mt-eval[all]'"))
register_backend = BACKENDS.register
unregister_backend = BACKENDS.unregister
available_backends = BACKENDS.targets
load_backend = BACKENDS.load


@dataclass(frozen=True)
class SystemSpec:
    """A parsed ``backend[:target][?key=value&...]`` system string; ``pairs``: the options as written."""

    backend: str
    target: str = ""
    pairs: tuple[tuple[str, str], ...] = ()

    @property
    def options(self) -> dict[str, Any]:
        """The options read without the backend's model (JSON values where they parse)."""
        return {key: parse_value(value) for key, value in self.pairs}


def parse_options(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["beam_size=4", ...]`` -> ``{"beam_size": 4, ...}`` (``--opt``, for whichever backend has it)."""
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
    if not NAME.match(backend):
        raise MtEvalError(f"system {spec!r}: invalid backend name {backend!r}")
    pairs = tuple(parse_qsl(query, keep_blank_values=True)) if sep else ()
    return SystemSpec(backend=backend, target=target, pairs=pairs)


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
    merged = {**BACKENDS.read_options(cls, parsed.pairs), **(options or {})}
    opts = build_options(cls, merged, where=f"system {_shown_spec(spec)!r}")
    return cls(parsed.target, opts, source_lang=source_lang, target_lang=target_lang)
