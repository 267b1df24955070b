"""CLI: ``mt-eval merge`` joins the partial run folders of ``--shard i/N`` into the whole run.

The checks and the merge live in :mod:`mt_eval.cluster.shards`; this module parses and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mt_eval.cli.output import FormatOpt


def merge(
    parts: Annotated[list[Path], typer.Argument(help="The partial run folders of shards 0..N-1"
                                                     " (any order).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder to write.")],
    name: Annotated[str | None, typer.Option("--name", help="Run name (default: the parts'"
                                             " run name).")] = None,
    fmt: FormatOpt = None,
) -> None:
    """Join the run folders of ``--shard 0/N`` .. ``N-1/N`` into the run folder of the whole test set.

    The parts must be complete and non-overlapping, of one test set, with the same systems, metric
    signatures and settings; scores, confidence intervals, paired tests and clusters are recomputed
    on the joined per-segment statistics, so the result equals an unsharded run.
    """
    from mt_eval.cli.run_cmd import _finish, _progress
    from mt_eval.cluster.shards import merge_parts
    from mt_eval.config import check_run_name

    if name is not None:
        check_run_name(name, "--name")
    _finish(merge_parts(parts, output, run_name=name, progress=_progress), fmt)


def register(app: typer.Typer) -> None:
    """Add ``merge`` to the top-level app."""
    app.command("merge")(merge)
