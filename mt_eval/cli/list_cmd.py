"""CLI: ``mt-eval list [backends|metrics] [--json]`` — what can be used here, with every option.

The catalog (types, defaults, bounds, descriptions) is built by :mod:`mt_eval.catalog`; this module
only prints it. Listing imports no model library (torch, transformers, ctranslate2, llama_cpp).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mt_eval.errors import MtEvalError

if TYPE_CHECKING:
    from mt_eval.catalog import PluginInfo

_KINDS = ("backends", "metrics")


def _default_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return repr(value) if value == "" else value
    return json.dumps(value, ensure_ascii=False)


def _print(entries: list[PluginInfo], title: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    console.print(f"[bold]{title}[/bold]")
    for entry in entries:
        head = f"[bold]{escape(entry.name)}[/bold]"
        if entry.aliases:
            head += escape(f" (also: {', '.join(entry.aliases)})")
        status = "" if entry.available else " [yellow]not usable here[/yellow]"
        console.print(f"{head}{status}  [dim]{escape(entry.target)}[/dim]")
        if entry.note:
            console.print(f"  {entry.note}", markup=False)
        if not entry.options:
            if entry.available:
                console.print("  no options", style="dim")
            continue
        table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 2))
        for column in ("option", "type", "default", "bounds", "description"):
            table.add_column(column, overflow="fold")
        for option in entry.options:
            description = option.description + (" [run-only]" if option.run_only else "")
            default = "required" if option.required else _default_text(option.default)
            table.add_row(*(escape(text) for text in (option.name, option.type, default,
                                                      option.bounds_text(), description)))
        console.print(table)
    console.print()


def list_command(
    what: Annotated[str | None, typer.Argument(help="backends or metrics (default: both).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
) -> None:
    """List translator backends and metrics with their options: type, default, bounds, description."""
    from mt_eval.catalog import list_plugins
    from mt_eval.metrics.registry import METRICS
    from mt_eval.translators.registry import BACKENDS

    if what is not None and what not in _KINDS:
        raise MtEvalError(f"list: {what!r} is not one of {', '.join(_KINDS)}")
    kinds = [what] if what else list(_KINDS)
    found = {kind: list_plugins(BACKENDS if kind == "backends" else METRICS) for kind in kinds}
    if as_json:
        typer.echo(json.dumps({kind: [e.to_dict() for e in entries] for kind, entries in found.items()},
                              ensure_ascii=False, indent=2))
        return
    for kind, entries in found.items():
        _print(entries, "translator backends (system spec: backend[:target][?key=value&...])"
               if kind == "backends" else "metrics (metric spec: name[:key=value,...])")


def register(app: typer.Typer) -> None:
    """Add ``list`` to the top-level app."""
    app.command("list")(list_command)
