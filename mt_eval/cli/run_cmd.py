"""CLI: ``mt-eval run``, ``score``, ``compare`` and ``report`` — the evaluation half of mt-eval.

Heavy work (metrics, translators) is imported inside the commands, so ``mt-eval --help``
stays instant and never touches torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mt_eval.cli.output import FormatOpt
from mt_eval.settings import RESAMPLES, SEED, SMALL_SAMPLE, WORKERS

if TYPE_CHECKING:
    from mt_eval.cli.output import Block, Table
    from mt_eval.evaluate import RunResult
    from mt_eval.reports.results import Results


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------- console
def print_results(results: Results, path: Path | None = None, fmt: str | None = None) -> None:
    """The systems × metrics table (with CIs and significance marks), the paired comparisons and the
    detail tables on stdout, in ``fmt`` (:mod:`mt_eval.cli.output`; default: by whether it is a terminal)."""
    from mt_eval.cli.output import emit, resolve

    emit(results_blocks(results, path), resolve(fmt))


def _scores_table(results: Results) -> Table:
    from mt_eval.cli.output import Table
    from mt_eval.reports.tables import cell, flag_names, ordered_systems

    sig = results.significance
    ts = results.testset
    metric_columns = [key + ("" if info.higher_is_better else " ↓") for key, info in results.metrics.items()]
    flags = flag_names(results)
    columns = ["system", *metric_columns, *(["flags"] if flags else []), "status"]
    rows, records, styles = [], [], []
    for system in ordered_systems(results):
        info = results.systems[system]
        is_baseline = bool(sig and system == sig.baseline)
        cells = {key: cell(results, system, key) for key in results.metrics}
        row = [system + (" (baseline)" if is_baseline else "")] + [c.text() for c in cells.values()]
        counts = results.flags.get(system)
        if flags:
            listed = ", ".join(f"{k} {v}" for k, v in (counts or {}).items() if v) or "0"
            row.append("—" if counts is None else listed)
        row.append("ok" if info.status == "ok" else "skipped (reason below)")
        rows.append(row)
        styles.append("dim" if info.status != "ok" else None)
        records.append({"system": system, "baseline": is_baseline, "status": info.status,
                        "reason": info.reason or None, "flags": counts,
                        "scores": {key: {"score": c.score, "ci_low": c.ci_low, "ci_high": c.ci_high,
                                         "p_value": c.p_value, "significant": c.significant,
                                         "better": c.better, "cluster": c.cluster}
                                   for key, c in cells.items()}})
    title = f"{results.run_name}: {ts.name or 'test set'} ({ts.num_segments} segments)"
    return Table(title, columns, rows, records=records, right=frozenset([*metric_columns, "flags"]),
                 row_styles=styles)


def results_blocks(results: Results, path: Path | None = None) -> list[Block]:
    """What :func:`print_results` prints, built once for every ``--format``."""
    from mt_eval.cli.output import Line, Table
    from mt_eval.reports.tables import comparison_rows, detail_tables, legend_lines

    blocks: list[Block] = [_scores_table(results)]
    blocks += [line for line in legend_lines(results)  # signatures are in results.json and the report
               if not line.startswith(tuple(results.metrics))]
    rows = comparison_rows(results)
    if rows:
        columns = ["A", "B", "metric", "Δ (B − A)", "p (Holm)", "humans agree", "verdict"]
        cells = []
        for r in rows:
            p_adj = r["p_adjusted"] if r["p_adjusted"] is not None else r["p_value"]
            agreement = r["human_agreement"]
            cells.append([str(r["a"]), str(r["b"]), str(r["metric"]), f"{r['delta']:+.2f}",
                          f"{p_adj:.4f}", "n/a" if agreement is None else f"{agreement:.0f}%",
                          str(r["verdict"])])
        records = [{k: v for k, v in r.items() if k != "entry"} for r in rows]
        blocks.append(Table("paired comparisons", columns, cells, records=records))
    blocks += [Table(title, header, body) for title, header, body in detail_tables(results)]
    blocks += [Line(f"skipped {system}: {reason}", "yellow")
               for system, reason in results.skipped_systems.items()]
    if path is not None:
        blocks.append(f"run folder: {path}  (report: {path / 'report.html'})")
    return blocks


def _progress(message: str) -> None:
    _console(stderr=True).print(f"[dim]… {message}[/dim]")


def _warn(message: str) -> None:
    _console(stderr=True).print(message, style="yellow", markup=False)


def _finish(run: RunResult, fmt: str | None = None) -> None:
    print_results(run.results, run.path, fmt)


def _track(specs: list[str], path: Path | None, strict: bool, code: int, *, gated: bool = False) -> int:
    """``--log``: the run folder to each tracker (mt_eval.trackers); a failure is one line on stderr and
    exit 2 only with ``--log-strict``. ``code``: the exit code so far (the gate's, whose verdict is a tag)."""
    if not specs or path is None:
        return code
    from mt_eval.trackers import log_run

    verdict = {0: "pass", 1: "regression"}.get(code, "cannot-compare") if gated else None
    failed = False
    for logged in log_run(path, specs, gate=verdict):
        if logged.ok:
            _progress(f"logged to {logged.message}")
        else:
            failed = True
            level = "error" if strict else "warning"
            typer.echo(f"mt-eval: {level}: --log {logged.spec}: not logged ({logged.message}); the run folder"
                       " is complete", err=True)
    return 2 if failed and strict else code


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
LogOpt = Annotated[list[str] | None, typer.Option(
    "--log", help="Also log the run to an experiment tracker, repeatable: mlflow[=URI or folder] (default"
    " $MLFLOW_TRACKING_URI, else ./mlruns), wandb[=[ENTITY/]PROJECT] (mt-eval's mlflow and wandb extras;"
    " replaces the config's log).")]
LogStrictOpt = Annotated[bool, typer.Option(
    "--log-strict", help="Exit 2 when a tracker fails (default: one warning line, the exit code unchanged).")]
AnalysisOpt = Annotated[bool | None, typer.Option(
    "--analysis/--no-analysis", help="compare-mt-style analysis in results.json and report.html: scores by"
    " length and word-frequency bucket, word F-measure, n-gram differences (default: on, or the config's).")]
AnalysisCorpusOpt = Annotated[Path | None, typer.Option(
    "--analysis-corpus", help="Text file (e.g. the training target side) whose word counts give the"
    " analysis its word frequencies (default: the test set's references).")]


def run(
    config: Annotated[Path | None, typer.Argument(help="TOML run config (default: seed test set,"
                                                       " built-in systems).")] = None,
    system: Annotated[list[str] | None, typer.Option("--system", "-s", help="System spec, repeatable"
                                                     " (replaces the config's systems).")] = None,
    metric: MetricOpt = None,
    fmt: FormatOpt = None,
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
    log: LogOpt = None,
    log_strict: LogStrictOpt = False,
    analysis: AnalysisOpt = None,
    analysis_corpus: AnalysisCorpusOpt = None,
) -> None:
    """Translate a test set with every system, score, test significance, write tables and a report."""
    from mt_eval import pipeline
    from mt_eval.cli.output import resolve, say
    from mt_eval.config import run_config

    cfg = run_config(config, {"systems": system or None, "metrics": metric or None,
                              "testset": None if testset is None else str(testset), "baseline": baseline,
                              "resamples": resamples, "seed": seed, "method": method,
                              "all_pairs": all_pairs or None, "name": name, "executor": executor,
                              "ray_address": ray_address, "ray_connect_timeout": ray_connect_timeout,
                              "canaries": canaries or None, "log": log or None, "analysis": analysis,
                              "analysis_corpus": None if analysis_corpus is None else str(analysis_corpus)})
    request = pipeline.RunRequest(cfg, output=output, workers=workers, strict=strict, allow_skip=allow_skip,
                                  shard=shard, gate=gate, gate_policy=gate_policy)
    result = pipeline.run(request, progress=_progress, warn=_warn)
    shown = resolve(fmt)
    _finish(result, shown)
    code = pipeline.gate(request, result, echo=lambda text: say(text, shown),
                         warn=lambda line: typer.echo(line, err=True))
    code = _track(cfg.log, result.path, log_strict, code, gated=gate is not None)
    if code:
        raise typer.Exit(code)


def score(
    testset: Annotated[Path, typer.Option("--testset", help="Test-set folder (saved or plain files).")],
    hyp: Annotated[list[str], typer.Option("--hyp", help="Hypothesis file, one line per segment (or .jsonl"
                                           " keyed by segment id); NAME=PATH names the system (default:"
                                           " the file name without its extension).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder to write.")],
    metric: MetricOpt = None,
    fmt: FormatOpt = None,
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
    log: LogOpt = None,
    log_strict: LogStrictOpt = False,
    analysis: AnalysisOpt = None,
    analysis_corpus: AnalysisCorpusOpt = None,
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
                            "ray_connect_timeout": ray_connect_timeout, "log": log or None,
                            "analysis": analysis,
                            "analysis_corpus": None if analysis_corpus is None else str(analysis_corpus)})
    result = pipeline.score(pipeline.ScoreRequest(testset, hyp, output, cfg, name=name, workers=workers,
                                                  shard=shard), progress=_progress, warn=_warn)
    _finish(result, fmt)
    code = _track(cfg.log, result.path, log_strict, 0)
    if code:
        raise typer.Exit(code)


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
    fmt: FormatOpt = None,
) -> None:
    """Paired tests against a baseline, or between every pair with rank clusters, from saved statistics."""
    from mt_eval import pipeline

    asked = {"baseline": baseline, "all_pairs": all_pairs, "method": method, "resamples": resamples,
             "seed": seed}
    results = pipeline.compare(run_dir, with_runs or [], asked, save=save)
    print_results(results, run_dir if save else None, fmt)


def report(run_dir: Annotated[Path, typer.Argument(help="Run folder.")], fmt: FormatOpt = None) -> None:
    """Re-render tables and report.html from results.json, segments.jsonl and the saved statistics."""
    from mt_eval.cli.output import resolve, say
    from mt_eval.reports.run_folder import RunFolder

    folder = RunFolder.open(run_dir)
    results = folder.results()
    paths = folder.update()
    shown = resolve(fmt)
    print_results(results, None, shown)
    for path in paths:
        say(f"wrote {path}", shown)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("run")(run)
    app.command("score")(score)
    app.command("compare")(compare)
    app.command("report")(report)
