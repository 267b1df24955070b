"""What can be used here: every translator backend and metric, with its typed options.

``mt-eval list`` prints this catalog. It reads the registries (entry points plus run-time
registrations) and each plugin's options model — type, default, bounds, description — by importing
the plugin's module only: backend and metric modules import torch, transformers, ctranslate2 or
llama_cpp inside their methods, never at module level, so listing stays fast and never loads a model.
A plugin whose module cannot be imported is listed with the reason instead of its options.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel

from mt_eval.errors import MtEvalError
from mt_eval.plugins import Registry, install_hint, usable

_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "length ≥"),
           ("max_length", "length ≤"))


@dataclass(frozen=True)
class OptionInfo:
    """One option of a backend or metric."""

    name: str
    type: str
    default: Any
    description: str = ""
    bounds: dict[str, Any] = field(default_factory=dict)
    choices: list[Any] | None = None
    run_only: bool = False  # changes how the metric runs (threads, batch size), never its scores
    required: bool = False  # no default: the spec must give it (``default`` is then None)

    def bounds_text(self) -> str:
        """``≥ 1``, ``> 0, ≤ 10`` or ``one of: a, b``; empty when unbounded."""
        if self.choices is not None:
            return "one of: " + ", ".join(str(c) for c in self.choices)
        return ", ".join(f"{sign} {self.bounds[key]}" for key, sign in _BOUNDS if key in self.bounds)


@dataclass
class PluginInfo:
    """A backend or a metric: where it comes from, whether it is usable here, its options."""

    kind: str  # "backend" or "metric" (the registry's noun)
    name: str
    target: str  # "module:Class"
    available: bool = True
    note: str = ""  # why it is not usable here, or what it needs
    aliases: list[str] = field(default_factory=list)
    options: list[OptionInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["options"] = [{**asdict(o), "bounds_text": o.bounds_text()} for o in self.options]
        return data  # type: ignore[no-any-return]


def _type_name(annotation: Any) -> tuple[str, list[Any] | None]:
    """A readable type and, for ``Literal``, its choices."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "choice", list(typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(arg) for arg in typing.get_args(annotation)]
        choices = [c for _, cs in parts if cs for c in cs] or None
        return " | ".join("null" if p == "NoneType" else p for p, _ in parts), choices
    if origin is not None:
        args = ", ".join(_type_name(a)[0] for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]", None
    if isinstance(annotation, type):
        return ("null" if annotation is type(None) else annotation.__name__), None
    return str(annotation).replace("typing.", ""), None


def describe_options(model: type[BaseModel] | None,
                     run_only: frozenset[str] = frozenset()) -> list[OptionInfo]:
    """The fields of an options model, in declaration order."""
    if model is None:
        return []
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise MtEvalError(f"cannot be listed: its options model is {type(model).__name__} {model!r},"
                          " not a pydantic model")
    out = []
    for name, info in model.model_fields.items():
        type_name, choices = _type_name(info.annotation)
        bounds = {key: value for item in info.metadata for key, _ in _BOUNDS
                  if (value := getattr(item, key, None)) is not None}
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        out.append(OptionInfo(name=name, type=type_name, default=json.loads(json.dumps(default, default=str)),
                              description=info.description or "", bounds=bounds, choices=choices,
                              run_only=name in run_only, required=required))
    return out


def list_plugins(registry: Registry[Any]) -> list[PluginInfo]:
    """Every plugin of a registry (``BACKENDS``, ``METRICS``): its options, or why it is not usable here."""
    aliases: dict[str, list[str]] = {}
    for alias, key in registry.aliases.items():
        aliases.setdefault(key, []).append(alias)
    found = []
    for name, target in registry.targets().items():
        entry = PluginInfo(kind=registry.noun, name=name, target=target,
                           aliases=sorted(aliases.get(name, [])))
        try:
            cls = registry.load(name)
            options = describe_options(getattr(cls, registry.options_attr, None),
                                       frozenset(getattr(cls, "run_only_options", ())))
        except MtEvalError as exc:  # SystemUnavailable included: a missing extra
            entry.available, entry.note = False, str(exc)
        except (Exception, SystemExit) as exc:  # a broken third-party plugin must not hide the others
            entry.available, entry.note = False, _broken(exc)
        else:
            entry.options, entry.note = options, _first_line(cls.__doc__)
            if not usable(cls):
                entry.available, entry.note = False, f"needs: pip install {install_hint(cls)}"
        if name in registry.shadowed:  # a plugin that took a built-in's name is ignored: say so
            entry.note = f"{entry.note}; {registry.shadowed[name]}" if entry.note else registry.shadowed[name]
        found.append(entry)
    return found


def _broken(exc: BaseException) -> str:
    """Why a plugin cannot be loaded, in one line (a plugin that calls ``sys.exit`` on import included)."""
    text = " ".join(str(exc).split())
    return f"cannot be loaded ({type(exc).__name__}{': ' + text if text else ''})"


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0].strip().replace("``", "")
