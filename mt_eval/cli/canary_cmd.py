"""CLI: ``mt-eval canary`` — does each metric catch damage to a good translation, on this test set?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet
    from mt_eval.translators.base import SystemRun

_SACREBLEU = ("bleu", "chrf", "chrf++", "ter")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _good_run(testset: TestSet, spec: str) -> SystemRun:
    """The good translation: ``file:PATH`` read in place (as ``score --hyp``), else any system spec."""
    from mt_eval.errors import MtEvalError
    from mt_eval.pipeline import SystemRequest, hypothesis_system, translate_system
    from mt_eval.translators.outputs import TranslateRules

    if spec.startswith("file:") and "?" not in spec:
        return hypothesis_system(testset, spec[len("file:"):])
    run = translate_system(testset, SystemRequest(spec), TranslateRules(strict=True))
    if run.status != "ok":
        raise MtEvalError(f"--good {spec}: {run.reason}")
    return run


def _with_arabic_options(specs: list[str]) -> list[str]:
    """Each sacrebleu metric also with every ``ar_*`` normalisation on (``--ar-options``)."""
    from mt_eval.metrics.sacrebleu_metrics import AR_OPTIONS

    extra = []
    for spec in specs:
        name, _, options = spec.partition(":")
        if name.lower() in _SACREBLEU and "ar_" not in options:
            on = ",".join(f"{option}=true" for option in AR_OPTIONS)
            extra.append(f"{name}:{options + ',' if options else ''}{on}")
    return [*specs, *[s for s in extra if s not in specs]]


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
    from mt_eval.canaries.report import FILE_NAME, build_document, write_canaries
    from mt_eval.canaries.runner import CanarySettings, plan_canaries, run_canaries
    from mt_eval.data.readers import load_testset
    from mt_eval.evaluate import resolve_metrics
    from mt_eval.fsio import check_output_folder
    from mt_eval.pipeline import usable_default_metrics
    from mt_eval.reports.layout import RunLayout
    from mt_eval.settings import EVAL_DEFAULTS

    folder = check_output_folder(output, "-o")
    ts = load_testset(testset)
    specs = list(metric or [])
    if not specs:
        specs, notes = usable_default_metrics(list(EVAL_DEFAULTS.metrics))
        for note in notes:
            _console(stderr=True).print(note, style="yellow", markup=False)
    metrics = resolve_metrics(_with_arabic_options(specs) if ar_options else specs)
    given: dict[str, Any] = {"seed": seed, "max_segments": max_segments, "resamples": resamples,
                             "workers": workers}
    settings = CanarySettings(perturbations=tuple(perturbation or ()),
                              invariance_tolerance_pct=invariance_tolerance,
                              **{k: v for k, v in given.items() if v is not None})
    run = _good_run(ts, good)
    plan = plan_canaries(ts, run.outputs, settings)
    err = _console(stderr=True)
    per_metric = plan.texts_per_metric()
    err.print(f"canaries: {len(plan.indices)} of {len(ts)} segments, {len(plan.perturbations)} perturbations:"
              f" {per_metric} texts per metric × {len(metrics)} metrics = {per_metric * len(metrics)}"
              " segments to score (an LLM judge: one request per text not in its cache)", markup=False)
    same = sum(run.outputs[i] in ts.references[i] for i in plan.indices)
    if 2 * same >= len(plan.indices):
        err.print(f"note: the good translation equals the reference on {same} of {len(plan.indices)}"
                  " segments: reference-based metrics start at their best, so their 'should get worse'"
                  " canaries pass trivially; read the invariance rows", style="yellow", markup=False)
    entries = run_canaries(plan, metrics, settings, progress=lambda m: err.print(f"[dim]… {m}[/dim]"))
    document = build_document(plan, entries, settings, {
        "name": run.name, "spec": run.spec, "signature": dict(run.signature)})
    path = write_canaries(folder / FILE_NAME, document)
    _print_table(document)
    if RunLayout.of(folder).results_json.is_file():
        from mt_eval.reports.run_folder import RunFolder

        for written in RunFolder.open(folder).update():
            _console().print(f"wrote {written}")
    _console().print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``mt-eval canary`` to the top-level app."""
    app.command("canary")(canary)
