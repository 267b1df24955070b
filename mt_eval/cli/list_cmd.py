"""CLI: ``mt-eval list [backends|metrics] [--json]`` — what can be used here, with every option.

The catalog (types, defaults, bounds, descriptions) is built by :mod:`mt_eval.catalog`; this module
only prints it. Listing imports no model library (torch, transformers, ctranslate2, llama_cpp).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mt_eval.cli.output import FormatOpt
from mt_eval.errors import MtEvalError

if TYPE_CHECKING:
    from mt_eval.catalog import PluginInfo
    from mt_eval.cli.output import Block

_KINDS = ("backends", "metrics")


def _default_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return repr(value) if value == "" else value
    return json.dumps(value, ensure_ascii=False)


def _blocks(entries: list[PluginInfo], title: str) -> list[Block]:
    from mt_eval.cli.output import Line, Table

    blocks: list[Block] = [Line(title, "bold")]
    for entry in entries:
        head = entry.name + (f" (also: {', '.join(entry.aliases)})" if entry.aliases else "")
        status = "" if entry.available else "  not usable here"
        blocks.append(Line(f"{head}{status}  {entry.target}", "bold"))
        if entry.note:
            blocks.append(f"  {entry.note}")
        if not entry.options:
            if entry.available:
                blocks.append(Line("  no options", "dim"))
            continue
        rows = [[option.name, option.type, "required" if option.required else _default_text(option.default),
                 option.bounds_text(), option.description + (" [run-only]" if option.run_only else "")]
                for option in entry.options]
        blocks.append(Table(None, ("option", "type", "default", "bounds", "description"), rows, bare=True))
    return [*blocks, ""]


def list_command(
    what: Annotated[str | None, typer.Argument(help="backends or metrics (default: both).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout (the same as"
                                          " --format json).")] = False,
    fmt: FormatOpt = None,
) -> None:
    """List translator backends and metrics with their options: type, default, bounds, description."""
    from mt_eval.catalog import list_plugins
    from mt_eval.cli.output import emit, resolve
    from mt_eval.metrics.registry import METRICS
    from mt_eval.translators.registry import BACKENDS

    if what is not None and what not in _KINDS:
        raise MtEvalError(f"list: {what!r} is not one of {', '.join(_KINDS)}")
    kinds = [what] if what else list(_KINDS)
    found = {kind: list_plugins(BACKENDS if kind == "backends" else METRICS) for kind in kinds}
    shown = "json" if as_json else resolve(fmt)
    blocks = [block for kind, entries in found.items() for block in _blocks(
        entries, "translator backends (system spec: backend[:target][?key=value&...])"
        if kind == "backends" else "metrics (metric spec: name[:key=value,...])")]
    emit(blocks, shown, document={kind: [e.to_dict() for e in entries] for kind, entries in found.items()})


def register(app: typer.Typer) -> None:
    """Add ``list`` to the top-level app."""
    app.command("list")(list_command)
