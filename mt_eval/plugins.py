"""Plugins: one registry type for translator backends and metrics, and one reader of option values.

A :class:`Registry` maps names to plugin classes. Its names come from three sources, later ones
overriding earlier ones: the built-in table :data:`BUILTINS` (pyproject.toml declares the same lines as
entry points, and a test keeps the two in step; the table also serves a source tree never installed),
the entry points of every installed distribution (read once per process; :meth:`Registry.refresh`
re-reads them) and run-time registrations (:meth:`Registry.register`). Each names a lazy
``"module:Class"`` target, so listing names imports nothing, and a plugin's module (and torch behind
it) is imported only when the plugin is used. One lookup rule: names are matched case-insensitively
(they are stored lower-cased), then through the registry's aliases.

A plugin class may declare ``install_hint`` (what to ``pip install``) and ``probe_modules`` (modules
whose presence makes it usable here, checked without importing them).

Option values written in specs (``marian:ID?beam_size=4``, ``bleu:tokenize=intl``) and on the command
line are text; :func:`parse_value` reads them, and a plugin's own options model decides their type:
text a field accepts stays text (``tokenize=none``, ``revision=1234567``, ``target_lang=no``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from mt_eval.errors import MtEvalError

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The built-in plugins, by entry-point group: name -> "module:Class" (imported lazily).
BUILTINS: dict[str, dict[str, str]] = {
    "mt_eval.translators": {
        "copy": "mt_eval.translators.baselines:CopyTranslator",
        "ct2": "mt_eval.translators.ct2:CTranslate2Translator",
        "file": "mt_eval.translators.precomputed:FileTranslator",
        "hf-seq2seq": "mt_eval.translators.hf_seq2seq:HFSeq2SeqTranslator",
        "llama-cpp": "mt_eval.translators.llama_cpp:LlamaCppTranslator",
        "marian": "mt_eval.translators.hf_seq2seq:MarianTranslator",
        "openai": "mt_eval.translators.openai_http:OpenAITranslator",
    },
    "mt_eval.metrics": {
        "bleu": "mt_eval.metrics.sacrebleu_metrics:BLEU",
        "chrf": "mt_eval.metrics.sacrebleu_metrics:CHRF",
        "chrf++": "mt_eval.metrics.sacrebleu_metrics:ChrFPlusPlus",
        "ter": "mt_eval.metrics.sacrebleu_metrics:TER",
        "semantic": "mt_eval.metrics.semantic:SemanticSimilarity",
        "comet": "mt_eval.metrics.optional:COMET",
        "bertscore": "mt_eval.metrics.optional:BERTScore",
        "human": "mt_eval.humeval.metric:HumanMetric",  # imported judgements (mt-eval humeval import)
        "gemba-esa": "mt_eval.metrics.judge:GembaESA",  # LLM judges (judge=SYSTEM-SPEC)
        "gemba-mqm": "mt_eval.metrics.judge:GembaMQM",
    },
}
NAME = re.compile(r"^[a-z][a-z0-9_.+-]*$", re.IGNORECASE)


class Registry(Generic[T]):
    """The plugins of one kind (a subclass of ``base``) by name; see the module docstring.

    ``noun`` names one in messages ("metric", "backend"; ``title`` in "unknown ..."), ``options_attr``
    is the class attribute holding its pydantic options model, ``missing(name, exc)`` the error for a
    plugin whose module is not installed.
    """

    def __init__(self, group: str, base: type, *, noun: str, options_attr: str,
                 missing: Callable[[str, ImportError], Exception], title: str = "",
                 aliases: Mapping[str, str] | None = None) -> None:
        self.group, self.base, self.noun, self.title = group, base, noun, title or noun
        self.options_attr = options_attr
        self.builtins = BUILTINS[group]
        self.aliases = dict(aliases or {})
        self.registered: dict[str, str | type[T]] = {}
        #: built-in name -> why an entry point that also claims it is not used (``mt-eval list`` shows it)
        self.shadowed: dict[str, str] = {}
        self._missing = missing

    @functools.cached_property
    def discovered(self) -> dict[str, str]:
        """``name -> "module:Class"`` from every installed distribution's entry points (read once). An
        entry point that takes a built-in's name is left out — the built-in stays — and said so once,
        on stderr (a warning) and in :attr:`shadowed`."""
        found: dict[str, str] = {}
        self.shadowed = {}
        for ep in entry_points(group=self.group):
            name = ep.name.lower()
            builtin = self.builtins.get(name)
            if builtin is not None and ep.value != builtin:
                dist = getattr(ep.dist, "name", None) or "an installed distribution"
                if dist.replace("_", "-").lower() != "mt-eval":  # not a stale install of this package
                    self.shadowed[name] = (f"{dist} also registers {self.noun} {name!r} ({ep.value}); the"
                                           " built-in is used")
                    log.warning("mt-eval: note: %s", self.shadowed[name])
                continue
            found[name] = ep.value
        return found

    def refresh(self) -> None:
        """Read the entry points again at the next lookup (after installing a plugin, in tests)."""
        self.__dict__.pop("discovered", None)
        self.shadowed = {}

    def register(self, name: str, target: str | type[T]) -> None:
        """Add (or override) a plugin: a class, or a lazy ``"module:Class"`` string."""
        key = name.strip().lower()
        if not NAME.match(key):
            raise ValueError(f"invalid {self.noun} name {name!r}")
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"{self.noun} {name!r}: target {target!r} is not 'module:Class'")
        self.registered[key] = target

    def unregister(self, name: str) -> None:
        self.registered.pop(name.strip().lower(), None)

    def targets(self) -> dict[str, str]:
        """Every name -> ``"module:Class"``: built-ins, then entry points, then run-time registrations."""
        found = {**self.builtins, **self.discovered}
        for name, target in self.registered.items():
            found[name] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"
        return found

    def canonical(self, name: str) -> str:
        """The registered name that ``name`` (any case, or an alias) stands for."""
        key = name.strip().lower()
        key = self.aliases.get(key, key)
        if key not in self.targets():
            raise MtEvalError(f"unknown {self.title} {name!r} (known: {', '.join(self.targets()) or 'none'})")
        return key

    def load(self, name: str) -> type[T]:
        """Import and return the class registered under ``name``.

        A missing module raises the registry's ``missing`` error; a module that fails in any other way
        while importing (a broken plugin) is a one-line error naming it, never an internal error.
        """
        key = self.canonical(name)
        target = self.registered.get(key) or self.targets()[key]
        if not isinstance(target, str):
            return target
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise self._missing(key, exc) from None
        except Exception as exc:  # a broken plugin module: name it, never an internal error
            raise MtEvalError(f"{self.noun} {key!r}: importing {module_name} failed"
                              f" ({type(exc).__name__}: {exc})") from None
        cls = getattr(module, attr, None) if attr else None
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise MtEvalError(f"{self.noun} {key!r}: {target!r} is not a {self.base.__name__} class")
        return cast("type[T]", cls)

    def read_options(self, cls: type[T], pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """``(key, text)`` pairs from a spec -> option values typed by the plugin's options model."""
        model = getattr(cls, self.options_attr, None)
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        return {key: parse_value(text, fields.get(key)) for key, text in pairs}


def usable(cls: type) -> bool:
    """Whether every module the plugin class probes for (``probe_modules``) is installed (not imported)."""
    return all(importlib.util.find_spec(module) is not None for module in getattr(cls, "probe_modules", ()))


def install_hint(cls: type) -> str:
    """What to ``pip install`` for a plugin class that is not usable here."""
    return str(getattr(cls, "install_hint", "") or " ".join(getattr(cls, "probe_modules", ())))


def parse_value(text: str, field: FieldInfo | None = None) -> Any:
    """An option value written as text, typed by the option's field when it is known.

    Without a field: JSON when it parses (numbers, booleans, lists, ``null``), else the text. With one:
    the first of these the field's type accepts, converted by it: a JSON string's content or the text
    itself (``none``, ``13a``, ``1234567`` stay text for a text field; ``"4"`` becomes 4 for a number),
    then the JSON value (lists, objects), then ``None`` for ``null`` or ``none``. A value no reading fits
    is left as text for the options model to reject with its own message.
    """
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = text
    if field is None:
        return decoded
    if isinstance(decoded, str):
        candidates = [decoded, None] if decoded.strip().lower() in ("none", "null") else [decoded]
    else:
        candidates = [None, text] if decoded is None else [text, decoded]
    adapter: TypeAdapter[Any] = TypeAdapter(field.annotation or Any)
    for candidate in candidates:
        try:
            return adapter.validate_python(candidate)
        except ValidationError:
            continue
    return text
