"""CLI: ``mt-eval meta RUN --human NAME`` — which metric agrees with the humans on this run.

The command parses and prints; the statistics are in :mod:`mt_eval.meta`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mt_eval.cli.output import FormatOpt
from mt_eval.errors import MtEvalError
from mt_eval.settings import CONFIDENCE, RESAMPLES, SEED


def meta(
    run_dir: Annotated[Path, typer.Argument(help="Run folder with human scores (mt-eval humeval import).")],
    human: Annotated[str, typer.Option("--human", help="Metric key of the human scores.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the JSON here.")] = None,
    resamples: Annotated[int, typer.Option("--resamples", min=1,
                                           help="Bootstrap resamples (segments).")] = RESAMPLES,
    seed: Annotated[int | None, typer.Option("--seed", min=0,
                                             help="Bootstrap seed (default: the run's).")] = None,
    permutations: Annotated[int | None, typer.Option("--permutations", min=1, help="Permutations per SPA"
                                                     " p-value (default 1000).")] = None,
    spa_resamples: Annotated[int | None, typer.Option("--spa-resamples", min=0, help="Bootstrap resamples"
                                                      " for SPA's CI (each reruns every permutation test;"
                                                      " default 200).")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Do not write meta.json into the run"
                                          " folder.")] = False,
    fmt: FormatOpt = None,
) -> None:
    """Pairwise accuracy, soft pairwise accuracy, Pearson and acc_eq of every metric against humans."""
    from mt_eval.cli.output import resolve, say
    from mt_eval.fsio import atomic_write_json, check_output_file
    from mt_eval.meta import MetaSettings, meta_evaluate
    from mt_eval.reports.run_folder import RunFolder

    if output is not None:  # every output path is checked before any work (and before meta.json)
        check_output_file(output, "-o")
    folder = RunFolder.open(run_dir)
    if not no_save:
        folder.check_writable()
    results = folder.results()
    if human not in results.metrics:
        raise MtEvalError(f"--human {human!r} is not a metric of {run_dir} (have:"
                          f" {', '.join(results.metrics)}); add human scores with `mt-eval humeval import`")
    from mt_eval.evaluate import rebuild_metrics

    metrics = rebuild_metrics(results)
    stats = folder.all_stats(results)
    boot_seed = seed if seed is not None else (results.bootstrap.seed if results.bootstrap else SEED)
    confidence = results.bootstrap.confidence if results.bootstrap else CONFIDENCE
    chosen = {key: value for key, value in (("permutations", permutations),
                                            ("spa_resamples", spa_resamples)) if value is not None}
    settings = MetaSettings(n_resamples=resamples, confidence=confidence, seed=boot_seed, **chosen)
    result = meta_evaluate(metrics, stats, results.ok_systems, human, settings)
    document = result.to_json(run_name=results.run_name,
                              human_signature=results.metrics[human].signature_string,
                              signatures={k: v.signature_string for k, v in results.metrics.items()})
    shown = resolve(fmt)
    print_meta(document, shown)
    if output is not None:  # first: a failure here leaves the run folder as it was
        atomic_write_json(output, document)
        say(f"wrote {output}", shown)
    if not no_save:
        say(f"wrote {folder.write_meta(document)}", shown)


def _cell(entry: dict[str, Any]) -> str:
    value = entry.get("value")
    if value is None:
        return "n/a"
    text = f"{value:.3f}"
    if entry.get("ci_low") is not None and entry.get("ci_high") is not None:
        text += f" [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"
    return text


def print_meta(document: dict[str, Any], fmt: str | None = None) -> None:
    """The metrics × statistics table on stdout (``--format json``: the meta document itself)."""
    from mt_eval.cli.output import Table, emit, resolve

    settings = document["settings"]
    title = (f"agreement with {document['human']} ({len(document['systems'])} systems,"
             f" {document['num_segments']} segments; {settings['confidence']:.0%} bootstrap CIs)")
    columns = (("metric", None), ("pairwise acc", "pairwise_accuracy"), ("SPA", "spa"),
               ("Pearson", "pearson"), ("acc_eq (ε)", "acc_eq"), ("acc23", "acc23"))
    rows = []
    for key, entry in document["metrics"].items():
        cells = [key]
        for _, stat in columns[1:]:
            text = _cell(entry[stat])
            if stat == "acc_eq" and entry[stat].get("value") is not None:
                text += f" (ε {entry[stat]['epsilon']:.3g})"
            cells.append(text)
        rows.append(cells)
    table = Table(title, [label for label, _ in columns], rows,
                  right=frozenset(label for label, stat in columns if stat))
    notes = [f"note: {warning}" for warning in document.get("warnings", [])]
    emit([table, *notes], resolve(fmt), document=document)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("meta")(meta)
