"""CLI: ``mt-eval canary`` — does each metric catch damage to a good translation, on this test set?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _print_table(document: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from mt_eval.canaries.report import short_label, table

    header, rows = table(document)
    metrics = document["metrics"]
    labels = [short_label(k, metrics[k], i) for i, k in enumerate(metrics)]
    out = Table(title=f"metric canaries: % of segments caught (worse) or stable, "
                      f"{document['sample']['segments']} segments")
    for column in header[:3]:
        out.add_column(column)
    for label in labels:
        out.add_column(label, justify="right")
    style = {"fail": "red", "warn": "yellow", "incomplete": "yellow", "pass": "green"}
    for row in rows:
        cells = [Text(c, style="red" if c.endswith("✗") else "yellow" if c.endswith("!") else
                      style.get(c, "")) for c in row]
        out.add_row(*cells)
    console = _console()
    if not console.is_terminal:  # a file or a pipe: as wide as the table, not rich's default 80 columns
        from rich.console import Console

        width = 40 + sum(max(len(label), 7) + 3 for label in labels)
        console = Console(highlight=False, soft_wrap=True, width=max(console.width, width))
    console.print(out)
    for key, label in zip(metrics, labels, strict=True):
        entry = metrics[key]
        reasons = "; ".join(entry["reasons"])
        named = key if label == key else f"{label} = {key}"
        console.print(f"{named}: {entry['verdict']}" + (f" ({reasons})" if reasons else ""), markup=False)


def canary(
    testset: Annotated[Path, typer.Option("--testset", help="Test-set folder (saved or plain files).")],
    good: Annotated[str, typer.Option("--good", help="The good translation: a system spec (file:PATH reads"
                                      " outputs in place; any backend spec translates).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for canaries.json (a run folder:"
                                         " its report.html gains a 'Metric canaries' section).")],
    metric: Annotated[list[str] | None, typer.Option("--metric", "-m", help="Metric spec, repeatable"
                                                     " (default: the run's default metrics).")] = None,
    max_segments: Annotated[int | None, typer.Option("--max-segments", min=0, help="Segments to sample,"
                                                     " deterministically (default 200; 0: all).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Seed of the sample, the"
                                             " perturbations and the bootstrap.")] = None,
    perturbation: Annotated[list[str] | None, typer.Option(
        "--perturbation", "-p", help="Only these perturbations (repeatable; default: all).")] = None,
    ar_options: Annotated[bool, typer.Option("--ar-options", help="Also score each sacrebleu metric with"
                                             " every ar_* normalisation on.")] = False,
    invariance_tolerance: Annotated[float, typer.Option("--invariance-tolerance", min=0.0, help="'Stays'"
                                                        " = moved by at most this % of the metric's"
                                                        " scale.")] = 1.0,
    resamples: Annotated[int | None, typer.Option("--resamples", min=1, help="Bootstrap resamples of the"
                                                  " mean change.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Processes for statistics.")] = None,
) -> None:
    """Damage a good translation in ways that matter (and ways that do not) and report, per metric,
    how often its score got worse (or stayed): canaries.json, a table, and the report section."""
    from mt_eval.canaries.runner import CanarySettings
    from mt_eval.pipeline import CanaryRequest, run_canary

    given: dict[str, Any] = {"seed": seed, "max_segments": max_segments, "resamples": resamples,
                             "workers": workers}
    settings = CanarySettings(perturbations=tuple(perturbation or ()),
                              invariance_tolerance_pct=invariance_tolerance,
                              **{k: v for k, v in given.items() if v is not None})
    request = CanaryRequest(testset, good, output, tuple(metric or ()), ar_options, settings)
    err = _console(stderr=True)
    outcome = run_canary(request, progress=lambda m: err.print(f"[dim]… {m}[/dim]"))
    for note in outcome.notes:
        err.print(note, style="yellow", markup=False)
    _print_table(outcome.document)
    _console().print(f"wrote {outcome.path}")


def register(app: typer.Typer) -> None:
    """Add ``mt-eval canary`` to the top-level app."""
    app.command("canary")(canary)
