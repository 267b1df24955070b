"""``mt-eval history``: quality over time, one static page over many run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mt_eval.settings import ALPHA, SEED


def history(
    inputs: Annotated[list[Path], typer.Argument(
        help="Run folders, or folders whose sub-folders are run folders.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Site folder to write (replaced whole; "
                                         "publish it as is).")],
    method: Annotated[str | None, typer.Option(
        "--method", help="Test between consecutive runs: paired-bs or paired-ar (default: by test-set"
        " size).")] = None,
    resamples: Annotated[int | None, typer.Option("--resamples", min=1, help="Resamples / trials.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help=f"Random seed (default {SEED}).")] = None,
    alpha: Annotated[float | None, typer.Option(
        "--alpha", help=f"Significance level of a marked change (default {ALPHA}).")] = None,
) -> None:
    """Scores with CIs across runs, per system × metric: significant changes between consecutive runs and
    gate verdicts marked, each point linked to its run's report (copied beside the page)."""
    from mt_eval.history.site import history_settings, make_history

    settings = history_settings(method=method, n_resamples=resamples, seed=seed, alpha=alpha)
    written = make_history(inputs, output, settings)
    for note in written.notes:
        typer.echo(f"mt-eval: note: {note}", err=True)
    h = written.history
    steps = [p.step for line in h.lines for p in line.points if p.step is not None]
    typer.echo(f"wrote {written.index}: {len(h.runs)} runs, {len(h.panels())} system × metric charts,"
               f" {len(h.lines)} lines, {sum(s.significant for s in steps)} of {len(steps)} steps"
               " significant")


def register(app: typer.Typer) -> None:
    app.command("history")(history)
