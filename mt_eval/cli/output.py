"""How a table goes to stdout: the one owner of ``--format table|markdown|json``.

A command builds its tables once, as :class:`Table` records (title, columns, rows of plain text, and
optionally machine-readable ``records``), with :class:`Line` blocks between them, and hands them to
:func:`emit`:

* ``table``: rich tables, today's look on a terminal; piped, as wide as the widest table so nothing is
  cut or wrapped;
* ``markdown``: a pipe table per :class:`Table`, every cell whole on one row (the default when stdout
  is not a terminal: CI logs, files, ``| grep``);
* ``json``: one JSON document on stdout — the command's own document where it has one (``list``,
  ``gate``, ``meta``, ``canary``, ``humeval import``), else ``{"tables": [...], "notes": [...]}`` with
  one record per row.

Lines a command prints after its tables go through :func:`say`, which sends them to stderr under
``json`` so that stdout stays one parseable document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

FORMATS = ("table", "markdown", "json")


def _parse_format(value: str) -> str:
    if value.lower() not in FORMATS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(FORMATS)}")
    return value.lower()


def format_option(help_text: str) -> Any:
    """A ``--format`` option with its own help; a bad value is a usage error (exit 2, one line)."""
    return typer.Option("--format", parser=_parse_format, metavar="[table|markdown|json]", help=help_text)


FormatOpt = Annotated[str | None, format_option(
    "How tables go to stdout: table (rich, the default on a terminal), markdown (pipe tables, whole"
    " names and scores; the default when stdout is not a terminal) or json (machine-readable).")]


@dataclass(frozen=True)
class Line:
    """A line of text between tables (``style`` is rich's, used on a terminal only)."""

    text: str
    style: str | None = None


@dataclass(frozen=True)
class Table:
    """One table: ``rows`` are the displayed cells; ``records`` (default: each row keyed by its column)
    are what ``--format json`` writes."""

    title: str | None
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    records: Sequence[Mapping[str, Any]] | None = None
    right: frozenset[str] = frozenset()  # columns right-justified on a terminal
    header: bool = True
    no_wrap: frozenset[str] = frozenset()  # columns never wrapped on a terminal
    bare: bool = False  # no borders on a terminal (option lists)
    row_styles: Sequence[str | None] = ()
    cell_style: Callable[[str], str] | None = field(default=None, compare=False)

    def as_records(self) -> list[dict[str, Any]]:
        if self.records is not None:
            return [dict(r) for r in self.records]
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


Block = Table | Line | str


def resolve(fmt: str | None) -> str:
    """The format to use: the one asked for, else ``table`` on a terminal and ``markdown`` otherwise."""
    if fmt is None:
        return "table" if stdout_is_terminal() else "markdown"
    return _parse_format(fmt)


def stdout_is_terminal() -> bool:
    try:
        return bool(sys.stdout.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def say(text: str, fmt: str) -> None:
    """A line that is not part of a table: stdout, or stderr under ``json``."""
    typer.echo(text, err=fmt == "json")


def emit(blocks: Sequence[Block], fmt: str, *, document: Any = None) -> None:
    """Print ``blocks`` in ``fmt``; under ``json``, ``document`` (when given) replaces the generic one."""
    if fmt == "json":
        typer.echo(json.dumps(document if document is not None else json_document(blocks),
                              ensure_ascii=False, indent=2))
    elif fmt == "markdown":
        typer.echo(to_markdown(blocks), nl=False)
    else:
        _rich(blocks)


def json_document(blocks: Sequence[Block]) -> dict[str, Any]:
    tables = [{"title": b.title, "columns": list(b.columns), "records": b.as_records()}
              for b in blocks if isinstance(b, Table)]
    notes = [b.text if isinstance(b, Line) else b for b in blocks if not isinstance(b, Table)]
    return {"tables": tables, "notes": [n for n in notes if n.strip()]}


def _md_cell(text: str) -> str:
    return " ".join(str(text).replace("|", "\\|").split())


def markdown_table(table: Table) -> list[str]:
    """A pipe table, every cell on its row, whole; a title becomes a ``###`` heading above it."""
    out = [f"### {_md_cell(table.title)}", ""] if table.title else []
    align = ["---:" if c in table.right else "---" for c in table.columns]
    rows = [list(table.columns), align, *table.rows]
    out += ["| " + " | ".join(_md_cell(c) if i != 1 else c for c in row) + " |" for i, row in enumerate(rows)]
    return out


def to_markdown(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Table):
            if lines and lines[-1]:
                lines.append("")
            lines += [*markdown_table(block), ""]
        else:
            lines.append(block.text if isinstance(block, Line) else block)
    return "\n".join(lines).rstrip("\n") + "\n" if lines else ""


def _rich_table(table: Table) -> Any:
    from rich.table import Table as RichTable
    from rich.text import Text

    if table.bare:
        out = RichTable(title=table.title, show_header=table.header, show_edge=False, pad_edge=False,
                        box=None, padding=(0, 2, 0, 2))
    else:
        out = RichTable(title=table.title, show_header=table.header)
    for column in table.columns:
        out.add_column(column, justify="right" if column in table.right else "left",
                       overflow="fold" if table.bare else "ellipsis", no_wrap=column in table.no_wrap)
    styles = list(table.row_styles) + [None] * (len(table.rows) - len(table.row_styles))
    for row, style in zip(table.rows, styles, strict=True):
        cells = [Text(c, style=table.cell_style(c) if table.cell_style else "") for c in row]
        out.add_row(*cells, style=style)
    return out


def _rich(blocks: Sequence[Block]) -> None:
    from rich.console import Console
    from rich.text import Text

    renderables = [_rich_table(b) if isinstance(b, Table) else
                   Text(b.text, style=b.style or "") if isinstance(b, Line) else Text(b) for b in blocks]
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # a pipe or a file: as wide as the widest table, so nothing is cut
        tables = [r for r, b in zip(renderables, blocks, strict=True) if isinstance(b, Table)]
        wide = console.options.update_width(1_000_000)
        widest = max((console.measure(t, options=wide).maximum for t in tables), default=0)
        console = Console(highlight=False, soft_wrap=True, width=max(console.width, widest))
    for renderable in renderables:
        console.print(renderable)
