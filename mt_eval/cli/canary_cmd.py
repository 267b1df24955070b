"""CLI: ``mt-eval canary`` — does each metric catch damage to a good translation, on this test set?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mt_eval.cli.output import FormatOpt


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


_STYLE = {"fail": "red", "warn": "yellow", "incomplete": "yellow", "pass": "green"}


def _style(text: str) -> str:
    return "red" if text.endswith("✗") else "yellow" if text.endswith("!") else _STYLE.get(text, "")


def _print_table(document: dict[str, Any], fmt: str) -> None:
    """The canaries table and each metric's verdict (``--format json``: canaries.json's document)."""
    from mt_eval.canaries.report import short_label, table
    from mt_eval.cli.output import Table, emit

    header, rows = table(document)
    metrics = document["metrics"]
    labels = [short_label(k, metrics[k], i) if fmt == "table" else k  # whole keys in a log
              for i, k in enumerate(metrics)]
    out = Table(f"metric canaries: % of segments caught (worse) or stable, {document['sample']['segments']}"
                " segments", [*header[:3], *labels], rows, right=frozenset(labels), cell_style=_style)
    verdicts = []
    for key, label in zip(metrics, labels, strict=True):
        entry = metrics[key]
        reasons = "; ".join(entry["reasons"])
        named = key if label == key else f"{label} = {key}"
        verdicts.append(f"{named}: {entry['verdict']}" + (f" ({reasons})" if reasons else ""))
    emit([out, *verdicts], fmt, document=document)


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
    fmt: FormatOpt = None,
) -> None:
    """Damage a good translation in ways that matter (and ways that do not) and report, per metric,
    how often its score got worse (or stayed): canaries.json, a table, and the report section."""
    from mt_eval.canaries.runner import CanarySettings
    from mt_eval.cli.output import resolve, say
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
    shown = resolve(fmt)
    _print_table(outcome.document, shown)
    say(f"wrote {outcome.path}", shown)


def register(app: typer.Typer) -> None:
    """Add ``mt-eval canary`` to the top-level app."""
    app.command("canary")(canary)
