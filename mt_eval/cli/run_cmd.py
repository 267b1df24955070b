"""CLI: ``mt-eval run``, ``score``, ``compare`` and ``report`` — the evaluation half of mt-eval.

Heavy work (metrics, translators) is imported inside the commands, so ``mt-eval --help``
stays instant and never touches torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mt_eval.settings import RESAMPLES, SEED, SMALL_SAMPLE, WORKERS

if TYPE_CHECKING:
    from mt_eval.evaluate import RunResult
    from mt_eval.reports.results import Results


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------- console
def print_results(results: Results, path: Path | None = None) -> None:
    """The systems × metrics table (with CIs and significance marks) as a rich table on stdout."""
    from rich.table import Table
    from rich.text import Text

    from mt_eval.reports.tables import (
        cell,
        comparison_rows,
        detail_tables,
        flag_names,
        legend_lines,
        ordered_systems,
    )

    console = _console()
    sig = results.significance
    ts = results.testset
    title = f"{results.run_name}: {ts.name or 'test set'} ({ts.num_segments} segments)"
    table = Table(title=title)
    table.add_column("system")
    for key, metric_info in results.metrics.items():
        table.add_column(key + ("" if metric_info.higher_is_better else " ↓"), justify="right")
    flags = flag_names(results)
    if flags:
        table.add_column("flags", justify="right")
    table.add_column("status")
    for system in ordered_systems(results):
        info = results.systems[system]
        label = system + (" (baseline)" if sig and system == sig.baseline else "")
        row = [label] + [cell(results, system, key).text() for key in results.metrics]
        if flags:
            counts = results.flags.get(system)
            listed = ", ".join(f"{k} {v}" for k, v in (counts or {}).items() if v) or "0"
            row.append("—" if counts is None else listed)
        row.append("ok" if info.status == "ok" else "[yellow]skipped[/yellow] (reason below)")
        table.add_row(*row, style="dim" if info.status != "ok" else None)
    console.print(table)
    for line in legend_lines(results):
        if not line.startswith(tuple(results.metrics)):  # signatures are in results.json and the report
            console.print(line, markup=False, highlight=False)
    rows = comparison_rows(results)
    if rows:
        tests = Table(title="paired comparisons")
        for column in ("A", "B", "metric", "Δ (B − A)", "p (Holm)", "humans agree", "verdict"):
            tests.add_column(column)
        for r in rows:
            p_adj = r["p_adjusted"] if r["p_adjusted"] is not None else r["p_value"]
            agreement = r["human_agreement"]
            tests.add_row(str(r["a"]), str(r["b"]), str(r["metric"]), f"{r['delta']:+.2f}",
                          f"{p_adj:.4f}", "n/a" if agreement is None else f"{agreement:.0f}%",
                          str(r["verdict"]))
        console.print(tests)
    for title, header, body in detail_tables(results):  # error spans, judge failures and cost
        extra = Table(title=title)
        for column in header:
            extra.add_column(column)
        for values in body:
            extra.add_row(*(Text(v) for v in values))  # names are text, not rich markup
        console.print(extra)
    for system, reason in results.skipped_systems.items():
        console.print(f"[yellow]skipped[/yellow] {system}: {reason}")
    if path is not None:
        console.print(f"run folder: {path}  (report: {path / 'report.html'})")


def _progress(message: str) -> None:
    _console(stderr=True).print(f"[dim]… {message}[/dim]")


def _warn(message: str) -> None:
    _console(stderr=True).print(message, style="yellow", markup=False)


def _finish(run: RunResult) -> None:
    print_results(run.results, run.path)


# ---------------------------------------------------------------------------------------- commands
MetricOpt = Annotated[list[str] | None, typer.Option(
    "--metric", "-m",
    help="Metric spec, repeatable (bleu, chrf, chrf++, ter, semantic, 'bleu:tokenize=intl').")]
ResamplesOpt = Annotated[int | None, typer.Option("--resamples", min=1, help="Bootstrap/AR resamples"
                                                  f" (default {RESAMPLES}, or the config's).")]
SeedOpt = Annotated[int | None, typer.Option("--seed", min=0, help=f"Random seed of resampling (default"
                                             f" {SEED}, or the config's).")]
MethodOpt = Annotated[str | None, typer.Option(
    "--method", help="Paired test: paired-bs or paired-ar (aliases bootstrap, ar; default: paired-bs, exact"
    f" paired-ar below {SMALL_SAMPLE} segments).")]
AllPairsOpt = Annotated[bool, typer.Option("--all-pairs", help="Also test every pair of systems.")]
WorkersOpt = Annotated[str | None, typer.Option("--workers", help="Processes for statistics extraction: a"
                                                " number, or auto (the usable cores from 10000 segments"
                                                f" on; default {WORKERS}).")]
ShardOpt = Annotated[str | None, typer.Option(
    "--shard", help="i/N: evaluate only shard i (0-based) of N contiguous slices of the test set, writing a"
    " partial run folder; join the N parts with `mt-eval merge`.")]
ExecutorOpt = Annotated[str | None, typer.Option(
    "--executor", help="Where translation and scoring run: local (this process, default) or ray (a Ray"
    " cluster; needs mt-eval's ray extra).")]
RayAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", help="Ray cluster address for --executor ray (default: $RAY_ADDRESS, else a cluster"
    " started on this machine with `ray start`, else a new local one).")]
RayConnectOpt = Annotated[float | None, typer.Option(
    "--ray-connect-timeout", help="Seconds the --ray-address may take to answer as a Ray head before the"
    " command stops with one line (default: $MT_EVAL_RAY_CONNECT_S, else 10).")]


def run(
    config: Annotated[Path | None, typer.Argument(help="TOML run config (default: seed test set,"
                                                       " built-in systems).")] = None,
    system: Annotated[list[str] | None, typer.Option("--system", "-s", help="System spec, repeatable"
                                                     " (replaces the config's systems).")] = None,
    metric: MetricOpt = None,
    testset: Annotated[Path | None, typer.Option("--testset", help="Test-set folder.")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline system name.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail when a system cannot be loaded.")] = False,
    allow_skip: Annotated[bool, typer.Option("--allow-skip", help="Skip a system that fails while running"
                                             " (server errors after all retries), do not exit 2.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Run folder.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name (default results/<name>).")] = None,
    resamples: ResamplesOpt = None,
    seed: SeedOpt = None,
    method: MethodOpt = None,
    all_pairs: AllPairsOpt = False,
    workers: WorkersOpt = None,
    gate: Annotated[Path | None, typer.Option("--gate", help="Baseline file: gate this run against it"
                                              " (exit 0 pass, 1 regression, 2 cannot compare).")] = None,
    gate_policy: Annotated[Path | None, typer.Option("--gate-policy", help="Gate policy TOML"
                                                     " (tolerances, alpha, floors).")] = None,
    shard: ShardOpt = None,
    executor: ExecutorOpt = None,
    ray_address: RayAddressOpt = None,
    ray_connect_timeout: RayConnectOpt = None,
    canaries: Annotated[bool, typer.Option("--canaries", help="Also run the metric canaries on the baseline"
                                           " system's outputs (else the first system that is not copy):"
                                           " canaries.json and a report section.")] = False,
) -> None:
    """Translate a test set with every system, score, test significance, write tables and a report."""
    from mt_eval import pipeline
    from mt_eval.config import run_config

    cfg = run_config(config, {"systems": system or None, "metrics": metric or None,
                              "testset": None if testset is None else str(testset), "baseline": baseline,
                              "resamples": resamples, "seed": seed, "method": method,
                              "all_pairs": all_pairs or None, "name": name, "executor": executor,
                              "ray_address": ray_address, "ray_connect_timeout": ray_connect_timeout,
                              "canaries": canaries or None})
    request = pipeline.RunRequest(cfg, output=output, workers=workers, strict=strict, allow_skip=allow_skip,
                                  shard=shard, gate=gate, gate_policy=gate_policy)
    result = pipeline.run(request, progress=_progress, warn=_warn)
    _finish(result)
    code = pipeline.gate(request, result, echo=typer.echo, warn=lambda line: typer.echo(line, err=True))
    if code:
        raise typer.Exit(code)


def score(
    testset: Annotated[Path, typer.Option("--testset", help="Test-set folder (saved or plain files).")],
    hyp: Annotated[list[str], typer.Option("--hyp", help="Hypothesis file, one line per segment (or .jsonl"
                                           " keyed by segment id); NAME=PATH names the system (default:"
                                           " the file name without its extension).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder to write.")],
    metric: MetricOpt = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline system name"
                                                 " (default: none; every pair is compared).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name.")] = None,
    resamples: ResamplesOpt = None,
    seed: SeedOpt = None,
    method: MethodOpt = None,
    all_pairs: AllPairsOpt = False,
    workers: WorkersOpt = None,
    shard: ShardOpt = None,
    executor: ExecutorOpt = None,
    ray_address: RayAddressOpt = None,
    ray_connect_timeout: RayConnectOpt = None,
) -> None:
    """Score precomputed outputs against a test set (no translation).

    Each ``--hyp`` is read by the ``file:`` translator (plain text, or JSONL keyed by segment id for
    ``.jsonl``), so its identity is the file's content hash, as for ``run -s file:PATH``.
    """
    from mt_eval import pipeline
    from mt_eval.config import run_config

    cfg = run_config(None, {"metrics": metric or None, "baseline": baseline, "resamples": resamples,
                            "seed": seed, "method": method, "all_pairs": all_pairs or None,
                            "executor": executor, "ray_address": ray_address,
                            "ray_connect_timeout": ray_connect_timeout})
    _finish(pipeline.score(pipeline.ScoreRequest(testset, hyp, output, cfg, name=name, workers=workers,
                                                 shard=shard), progress=_progress, warn=_warn))


def compare(
    run_dir: Annotated[Path, typer.Argument(help="Run folder.")],
    baseline: Annotated[str | None, typer.Option(
        "--baseline", help="Baseline system name (default: every pair, with rank clusters).")] = None,
    all_pairs: AllPairsOpt = False,
    method: MethodOpt = None,
    resamples: ResamplesOpt = None,
    seed: SeedOpt = None,
    with_runs: Annotated[list[Path] | None, typer.Option(
        "--with", help="Another run folder on the same test set whose systems join the comparison.")] = None,
    save: Annotated[bool, typer.Option("--save", help="Store the result in the run folder"
                                       " (results.json, tables, report).")] = False,
) -> None:
    """Paired tests against a baseline, or between every pair with rank clusters, from saved statistics."""
    from mt_eval import pipeline

    asked = {"baseline": baseline, "all_pairs": all_pairs, "method": method, "resamples": resamples,
             "seed": seed}
    results = pipeline.compare(run_dir, with_runs or [], asked, save=save)
    print_results(results, run_dir if save else None)


def report(run_dir: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """Re-render tables and report.html from results.json, segments.jsonl and the saved statistics."""
    from mt_eval.reports.run_folder import RunFolder

    folder = RunFolder.open(run_dir)
    results = folder.results()
    paths = folder.update()
    print_results(results)
    for path in paths:
        _console().print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("run")(run)
    app.command("score")(score)
    app.command("compare")(compare)
    app.command("report")(report)
