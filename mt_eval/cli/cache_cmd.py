"""``mt-eval cache``: what the translation cache holds, and removing a system's entries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mt_eval.cli.output import FormatOpt
from mt_eval.errors import MtEvalError

cache_app = typer.Typer(name="cache", help="Inspect or clear the translation cache.", no_args_is_help=True)
CacheOpt = Annotated[Path | None, typer.Option(
    "--cache", help="Cache file (default $MT_EVAL_CACHE or .mt-eval-cache/translations.sqlite).")]


def _open(cache: Path | None):  # type: ignore[no-untyped-def]
    from mt_eval.workcache.store import TranslationCache, default_cache_path

    path = cache if cache is not None else default_cache_path()
    if not path.exists():
        raise MtEvalError(f"{path}: no translation cache there")
    if not path.is_file():
        raise MtEvalError(f"{path}: not a translation cache file (a folder or special file)")
    return TranslationCache(path)


@cache_app.command("stats")
def stats(cache: CacheOpt = None, fmt: FormatOpt = None) -> None:
    """Segments and translation time stored per system."""
    from mt_eval.cli.output import Table, emit, resolve

    shown = resolve(fmt)
    with _open(cache) as store:
        rows = store.stats()
        heading = f"{store.path}: {store.count()} translations"
    table = Table(None, ("system", "spec", "backend", "key", "segments", "seconds", "claimed"),
                  [[row["name"], row["spec"], row["backend"], row["key"], str(row["segments"]),
                    f"{row['seconds']:.1f}", str(row["claimed"])] for row in rows],
                  records=rows, right=frozenset(["segments", "seconds", "claimed"]))
    emit([heading, table], shown)  # the path on its own line: a table title would wrap a long path


@cache_app.command("clear")
def clear(
    system: Annotated[list[str] | None, typer.Option(
        "--system", "-s", help="System name or spec (glob) or key prefix to remove (repeatable).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Remove every entry.")] = False,
    cache: CacheOpt = None,
) -> None:
    """Remove the cached translations of some systems (or all with --all)."""
    if not system and not all_:
        raise MtEvalError("cache clear: give --system SPEC (repeatable) or --all")
    with _open(cache) as store:
        removed = store.clear(None) if all_ else sum(store.clear(s) for s in system or [])
    typer.echo(f"removed {removed} cached translations")


def register(app: typer.Typer) -> None:
    """Add ``cache stats`` and ``cache clear`` to the top-level app."""
    app.add_typer(cache_app)
