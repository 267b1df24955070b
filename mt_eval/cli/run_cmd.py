"""CLI: ``mt-eval run``, ``score``, ``compare`` and ``report`` — the evaluation half of mt-eval.

Heavy work (metrics, translators) is imported inside the commands, so ``mt-eval --help``
stays instant and never touches torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mt_eval.data.readers import load_testset
from mt_eval.errors import MtEvalError
from mt_eval.metrics.parallel import resolve_workers
from mt_eval.settings import RESAMPLES, SEED, SMALL_SAMPLE, WORKERS

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet
    from mt_eval.evaluate import RunResult
    from mt_eval.reports.results import Results

def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------- inputs
# The readers live in mt_eval.data.readers (imported here so that old imports keep working).


def _default_testset() -> TestSet:
    from mt_eval.data.build import default_testset

    return default_testset()


# Choosing systems, translating one and naming score's files are library logic: mt_eval.pipeline.
def _usable_default_metrics(metrics: list[str]) -> list[str]:
    """:func:`mt_eval.pipeline.usable_default_metrics`, printing a note for each metric left out."""
    from mt_eval.pipeline import usable_default_metrics

    usable, notes = usable_default_metrics(metrics)
    for note in notes:
        _console(stderr=True).print(note, style="yellow", markup=False)
    return usable


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


def _progress_after(first: str) -> Any:
    """A progress printer that says ``first`` (the workers choice) before its first message, i.e. once
    the inputs are validated, so a bad input still gets exactly one line on stderr."""
    pending = [first]

    def say(message: str) -> None:
        while pending:
            _progress(pending.pop())
        _progress(message)

    return say


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
) -> None:
    """Translate a test set with every system, score, test significance, write tables and a report."""
    from functools import partial

    from mt_eval.cluster.executor import get_executor, stats_fn
    from mt_eval.cluster.shards import prepare, shard_option, shard_translator
    from mt_eval.config import RunConfig, load_config, validate_run_config
    from mt_eval.evaluate import evaluate
    from mt_eval.fsio import check_input_file
    from mt_eval.pipeline import systems_to_run, translate_system
    from mt_eval.reports.run_folder import RunFolder

    # Check the gate's inputs before spending minutes on translation.
    for label, path in (("--gate", gate), ("--gate-policy", gate_policy)):
        if path is not None:
            try:
                check_input_file(path)
            except MtEvalError as exc:
                raise MtEvalError(f"{label} {exc}") from None
    if gate_policy is not None and gate is None:
        raise MtEvalError("--gate-policy needs --gate BASELINE.json")
    part = shard_option(shard, with_gate=gate is not None)

    cfg = load_config(config) if config is not None else RunConfig(name="default")
    explicit_metrics = bool(metric) or "metrics" in cfg.model_fields_set
    updates: dict[str, Any] = {}
    if metric:
        updates["metrics"] = list(metric)
    for key, value in (("baseline", baseline), ("resamples", resamples), ("seed", seed), ("method", method)):
        if value is not None:
            updates[key] = value
    if all_pairs:
        updates["all_pairs"] = True
    if name is not None:
        updates["name"] = name
    if executor is not None:
        updates["executor"] = executor
    if ray_address is not None:
        updates["ray_address"] = ray_address
    cfg = validate_run_config({**cfg.model_dump(), **updates}, where="command line")
    run_name = cfg.name or "default"
    out = output or (Path(cfg.output) if cfg.output else Path("results") / run_name)
    if part is not None and output is None:  # N array jobs must not share one folder
        out = out.with_name(f"{out.name}-shard-{part.index}-of-{part.count}")
    RunFolder(out).check_writable()  # before minutes of translation, not after
    if not explicit_metrics:
        cfg = cfg.model_copy(update={"metrics": _usable_default_metrics(list(cfg.metrics))})
    ts = load_testset(testset) if testset is not None else (
        load_testset(cfg.testset) if cfg.testset else _default_testset())
    wanted = systems_to_run(system, cfg)
    if part is not None and cfg.executor != "local":
        raise MtEvalError("--shard and --executor ray exclude each other (a Ray run shards by itself)")
    cluster = get_executor(cfg.executor, cfg.ray_address)  # before any translation: Ray missing exits 2
    translate = (partial(translate_system, executor=cluster) if part is None
                 else shard_translator(part, ts))
    runs = []
    for request in wanted:
        _progress(f"translating with {request.name or request.spec}")
        result = translate(ts, request.spec, name=request.name, options=request.options,
                           strict=strict, allow_skip=allow_skip)
        if result.status != "ok":
            _console(stderr=True).print(f"[yellow]skipped[/yellow] {result.name}: {result.reason}")
        runs.append(result)
    record = cfg.model_dump(mode="json")  # what was actually run, defaults spelled out
    record["testset"] = str(testset or cfg.testset or "builtin:seeds")
    record["systems"] = [{"spec": request.spec, "name": r.name, "options": dict(request.options)}
                         for request, r in zip(wanted, runs, strict=True)]
    if not any(r.status == "ok" for r in runs):
        raise MtEvalError("no system could be loaded: " + "; ".join(f"{r.name}: {r.reason}" for r in runs))
    choice = resolve_workers(workers if workers is not None else cfg.workers, len(ts))
    record["workers"] = choice.to_dict()
    if part is not None:  # --shard: score the slice; config.shard lets `mt-eval merge` redo the rest
        ts, record["shard"] = prepare(part, ts, baseline=cfg.baseline, method=cfg.method,
                                      all_pairs=cfg.all_pairs, n_resamples=cfg.resamples,
                                      confidence=cfg.confidence, seed=cfg.seed, alpha=cfg.alpha)
    result_run = evaluate(ts, runs, cfg.metrics, baseline=cfg.baseline, n_resamples=cfg.resamples,
                          confidence=cfg.confidence, seed=cfg.seed, method=cfg.method,
                          all_pairs=cfg.all_pairs, alpha=cfg.alpha, check_options=cfg.checks, output=out,
                          run_name=run_name, config=record,
                          progress=_progress_after(choice.describe()), workers=choice.workers,
                          stats_fn=stats_fn(cluster))
    _finish(result_run)
    if gate is not None:
        from mt_eval.cli.gate_cmd import gate_after_run

        code = gate_after_run(out, gate, policy_file=gate_policy)
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
) -> None:
    """Score precomputed outputs against a test set (no translation).

    Each ``--hyp`` is read by the ``file:`` translator (plain text, or JSONL keyed by segment id for
    ``.jsonl``), so its identity is the file's content hash, as for ``run -s file:PATH``.
    """
    from mt_eval.cluster.executor import get_executor, stats_fn
    from mt_eval.cluster.shards import cut_run, prepare, shard_option
    from mt_eval.config import check_run_name, validate_run_config
    from mt_eval.evaluate import evaluate
    from mt_eval.pipeline import hypothesis_system
    from mt_eval.reports.run_folder import RunFolder

    part = shard_option(shard)
    if name is not None:
        check_run_name(name, "--name")
    given = {"resamples": resamples, "seed": seed, "method": method, "executor": executor,
             "ray_address": ray_address}
    cfg = validate_run_config({k: v for k, v in given.items() if v is not None}, where="command line")
    RunFolder(output).check_writable()
    ts = load_testset(testset)
    runs = [hypothesis_system(ts, value) for value in hyp]
    cluster = get_executor(cfg.executor, cfg.ray_address)
    metrics = list(metric) if metric else _usable_default_metrics(list(cfg.metrics))
    choice = resolve_workers(workers if workers is not None else cfg.workers, len(ts))
    sharded: dict[str, Any] = {}
    if part is not None:  # --shard: the hypothesis files cover the whole test set; score one slice
        runs = [cut_run(part, r, len(ts)) for r in runs]
        ts, sharded["shard"] = prepare(part, ts, baseline=baseline, method=cfg.method,
                                       all_pairs=all_pairs, n_resamples=cfg.resamples,
                                       confidence=cfg.confidence, seed=cfg.seed, alpha=cfg.alpha)
    run_result = evaluate(
        ts, runs, metrics, baseline=baseline, n_resamples=cfg.resamples, confidence=cfg.confidence,
        seed=cfg.seed, method=cfg.method, alpha=cfg.alpha, all_pairs=all_pairs, output=output,
        run_name=name or output.resolve().name,
        config={"command": "score", "testset": str(testset), "hyps": hyp, "metrics": metrics,
                "workers": choice.to_dict(), **sharded},
        progress=_progress_after(choice.describe()), workers=choice.workers, stats_fn=stats_fn(cluster))
    _finish(run_result)


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
    from mt_eval.evaluate import rebuild_metrics, significance
    from mt_eval.pipeline import comparison_settings
    from mt_eval.reports.run_folder import RunFolder, combine_runs

    if save and with_runs:
        raise MtEvalError("--save cannot be combined with --with (the run folder would hold systems"
                          " whose outputs live elsewhere)")
    results, records, stats = combine_runs(run_dir, with_runs or [])
    metrics = rebuild_metrics(results)
    ok = results.ok_systems
    if baseline is not None and baseline not in ok:
        raise MtEvalError(f"baseline {baseline!r} is not an evaluated system of {run_dir}"
                          f" (have: {', '.join(ok)})")
    chosen = comparison_settings(results.significance, resamples=resamples, seed=seed)
    results.significance = significance(metrics, stats, ok, baseline, method=method,
                                        n_resamples=chosen.n_resamples, seed=chosen.seed,
                                        all_pairs=all_pairs, alpha=chosen.alpha)
    if save:  # results.json, tables and report.html replaced together, in one swap
        RunFolder.open(run_dir).update(results, records)
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
