"""CLI: ``mt-eval humeval export`` and ``mt-eval humeval import`` — the human-evaluation round trip.

The commands parse and print; the work is in :mod:`mt_eval.humeval`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mt_eval.cli.output import FormatOpt
from mt_eval.errors import MtEvalError
from mt_eval.settings import SEED

humeval_app = typer.Typer(
    name="humeval",
    help="Human evaluation: export annotation batches of a run, import the judgements as a metric.",
    no_args_is_help=True,
)


@humeval_app.command("export")
def export(
    run_dir: Annotated[Path, typer.Argument(help="Run folder.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the batches and key.json.")],
    per_batch_words: Annotated[int | None, typer.Option(
        "--per-batch-words", min=1, help="Source words per batch (default: 100 × the mean segment length,"
        " about 100 segments).")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the item order.")] = SEED,
    no_reference: Annotated[bool, typer.Option("--no-reference", help="Leave the reference out of the"
                                               " batches (source-based annotation).")] = False,
) -> None:
    """Write annotation batches (TSV and JSONL, systems blinded and shuffled) and key.json."""
    from mt_eval.humeval.export import export_batches

    summary = export_batches(run_dir, output, per_batch_words=per_batch_words, seed=seed,
                             with_reference=not no_reference)
    typer.echo(f"{summary.items} items ({summary.segments} segments × {len(summary.systems)} systems) in"
               f" {len(summary.batches)} batch(es) of about {summary.per_batch_words} source words: {output}")
    typer.echo(f"keep {output / 'key.json'} away from annotators: it maps items to systems")


@humeval_app.command("import")
def import_(
    run_dir: Annotated[Path, typer.Argument(help="Run folder.")],
    annotations: Annotated[list[Path], typer.Argument(help="Annotation files (.tsv or .jsonl).")],
    name: Annotated[str, typer.Option("--name", help="Metric key of the human scores in the run.")] = "human",
    key: Annotated[Path | None, typer.Option("--key", help="key.json of the export (default: next to the"
                                             " first annotation file).")] = None,
    protocol: Annotated[str, typer.Option("--protocol", help="direct (0–100 scores), mqm (score from"
                                          " spans) or auto (direct when any row has a score).")] = "auto",
    weights: Annotated[str, typer.Option("--weights", help="MQM severity weights: wmt (1/5/10), gemba"
                                         " (1/5/25) or minor,major,critical numbers.")] = "wmt",
    replace: Annotated[bool, typer.Option("--replace", help="Replace human scores of the same"
                                          " name.")] = False,
    fmt: FormatOpt = None,
) -> None:
    """Add judged items to the run: a metric with CIs and paired tests, and spans in segments.jsonl."""
    from dataclasses import asdict

    from mt_eval.cli.output import Table, emit, resolve
    from mt_eval.humeval.annotations import import_annotations

    summary = import_annotations(run_dir, annotations, name=name, key_path=key, protocol=protocol,
                                 weights=parse_weights(weights), replace=replace)
    headline = (f"imported {summary.items} judged items as metric {summary.name!r} ({summary.protocol});"
                f" {summary.spans} spans ({summary.unlocated} unlocated)")
    table = Table(f"human scores: {summary.name}", ["system", summary.name],
                  [[system, f"{score:.2f}"] for system, score in summary.scores.items()],
                  records=[{"system": system, "score": score} for system, score in summary.scores.items()],
                  right=frozenset([summary.name]))
    emit([headline, table], resolve(fmt), document=asdict(summary))


def parse_weights(text: str) -> dict[str, float]:
    """``wmt``, ``gemba`` or ``minor,major,critical`` (three numbers)."""
    from mt_eval.spans import SEVERITIES, WEIGHT_PRESETS, check_weights

    preset = WEIGHT_PRESETS.get(text.strip().lower())
    if preset is not None:
        return dict(preset)
    parts = [p.strip() for p in text.split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 3:
        raise MtEvalError(f"--weights {text!r}: use wmt, gemba or three numbers minor,major,critical")
    return check_weights(dict(zip(SEVERITIES, numbers, strict=True)))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.add_typer(humeval_app, name="humeval")
