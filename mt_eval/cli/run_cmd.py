"""CLI: ``mt-eval run``, ``score``, ``compare`` and ``report`` — the evaluation half of mt-eval.

Heavy work (metrics, matplotlib, translators) is imported inside the commands, so ``mt-eval --help``
stays instant and never touches torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mt_eval.data.readers import load_testset, read_hypotheses
from mt_eval.errors import MtEvalError, SystemUnavailable
from mt_eval.metrics.parallel import resolve_workers

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet
    from mt_eval.evaluate import RunResult
    from mt_eval.reports.results import Results
    from mt_eval.translators.base import SystemRun

def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------- inputs
# The readers live in mt_eval.data.readers (imported here so that old imports keep working).


def _default_testset() -> TestSet:
    from mt_eval.data.build import default_testset

    return default_testset()


def _default_systems() -> list[str]:
    from mt_eval.translators.registry import DEFAULT_SYSTEMS

    return [s if isinstance(s, str) else str(getattr(s, "spec", s)) for s in DEFAULT_SYSTEMS]


def translate_system(testset: TestSet, spec: str, *, name: str | None = None,
                     options: dict[str, Any] | None = None, strict: bool = False,
                     allow_skip: bool = False) -> SystemRun:
    """Translate with one system; an unavailable one becomes a skipped :class:`SystemRun`.

    A system that fails while running (``SystemFailed``) raises, so ``run`` exits 2 naming it, unless
    ``allow_skip`` records it as failed.
    """
    from mt_eval.errors import SystemFailed
    from mt_eval.translators.base import SystemRun
    from mt_eval.translators.runner import translate_testset

    if name is None and spec.startswith("file:"):
        name = Path(spec[5:].split("?")[0]).name or None  # the whole file name: q.en and q.en2 differ
    try:
        return translate_testset(testset, spec, options=options or None, name=name, progress=True)
    except SystemFailed as exc:
        if not allow_skip:
            raise
        return SystemRun(name=name or spec, spec=spec, outputs=[], signature={}, status="failed",
                         reason=f"failed while running: {exc}")
    except SystemUnavailable as exc:
        if strict:
            raise
        return SystemRun(name=name or spec, spec=spec, outputs=[], signature={}, status="skipped",
                         reason=str(exc))


def _usable_default_metrics(metrics: list[str]) -> list[str]:
    """Default metrics whose optional package is missing are left out with a note, not an error
    (asked-for metrics are never dropped: those fail with the install hint)."""
    from mt_eval.metrics.registry import available_metrics, install_hint

    available = available_metrics()
    usable = [m for m in metrics if available.get(m, True)]
    for missing in (m for m in metrics if m not in usable):
        _console(stderr=True).print(f"[yellow]metric {missing} left out[/yellow]: its package is not"
                                    f" installed (pip install {install_hint(missing)})")
    return usable


def _split_named(value: str) -> tuple[str | None, Path]:
    """``NAME=PATH`` or ``PATH`` (a path that exists as given wins over the ``=`` reading)."""
    if "=" in value and not Path(value).exists():
        name, _, path = value.partition("=")
        if name and "/" not in name:
            return name, Path(path)
    return None, Path(value)


# ---------------------------------------------------------------------------------------- console
def print_results(results: Results, path: Path | None = None) -> None:
    """The systems × metrics table (with CIs and significance marks) as a rich table on stdout."""
    from rich.table import Table

    from mt_eval.reports.tables import cell, comparison_rows, flag_names, legend_lines, ordered_systems

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
ResamplesOpt = Annotated[int | None, typer.Option("--resamples", min=1, help="Bootstrap/AR resamples.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", min=0, help="Random seed of resampling.")]
MethodOpt = Annotated[str | None, typer.Option(
    "--method", help="Paired test: paired-bs or paired-ar (default: paired-bs; exact paired-ar below 100 "
    "segments).")]
AllPairsOpt = Annotated[bool, typer.Option("--all-pairs", help="Also test every pair of systems.")]
WorkersOpt = Annotated[str, typer.Option("--workers", help="Processes for statistics extraction: a number,"
                                         " or auto (the usable cores from 10000 segments on).")]


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
    workers: WorkersOpt = "auto",
    gate: Annotated[Path | None, typer.Option("--gate", help="Baseline file: gate this run against it"
                                              " (exit 0 pass, 1 regression, 2 cannot compare).")] = None,
    gate_policy: Annotated[Path | None, typer.Option("--gate-policy", help="Gate policy TOML"
                                                     " (tolerances, alpha, floors).")] = None,
) -> None:
    """Translate a test set with every system, score, test significance, write tables and a report."""
    from mt_eval.config import RunConfig, load_config, validate_run_config
    from mt_eval.evaluate import evaluate
    from mt_eval.fsio import check_input_file
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
    cfg = validate_run_config({**cfg.model_dump(), **updates}, where="command line")
    run_name = cfg.name or "default"
    out = output or (Path(cfg.output) if cfg.output else Path("results") / run_name)
    RunFolder(out).check_writable()  # before minutes of translation, not after
    if not explicit_metrics:
        cfg = cfg.model_copy(update={"metrics": _usable_default_metrics(list(cfg.metrics))})
    ts = load_testset(testset) if testset is not None else (
        load_testset(cfg.testset) if cfg.testset else _default_testset())
    wanted: list[tuple[str, str | None, dict[str, Any]]]
    if system:
        wanted = [(s, None, {}) for s in system]
    elif cfg.systems is not None:
        wanted = [(s.spec, s.name, dict(s.options)) for s in cfg.systems]
    else:
        wanted = [(s, None, {}) for s in _default_systems()]
    if not wanted:
        raise MtEvalError("no system to evaluate")
    runs = []
    for spec, sys_name, options in wanted:
        _progress(f"translating with {sys_name or spec}")
        result = translate_system(ts, spec, name=sys_name, options=options, strict=strict,
                                  allow_skip=allow_skip)
        if result.status != "ok":
            _console(stderr=True).print(f"[yellow]skipped[/yellow] {result.name}: {result.reason}")
        runs.append(result)
    record = cfg.model_dump(mode="json")  # what was actually run, defaults spelled out
    record["testset"] = str(testset or cfg.testset or "builtin:seeds")
    record["systems"] = [{"spec": spec, "name": r.name, "options": options}
                         for (spec, _, options), r in zip(wanted, runs, strict=True)]
    if not any(r.status == "ok" for r in runs):
        raise MtEvalError("no system could be loaded: " + "; ".join(f"{r.name}: {r.reason}" for r in runs))
    choice = resolve_workers(workers, len(ts))
    record["workers"] = choice.to_dict()
    result_run = evaluate(ts, runs, cfg.metrics, baseline=cfg.baseline, n_resamples=cfg.resamples,
                          confidence=cfg.confidence, seed=cfg.seed, method=cfg.method,
                          all_pairs=cfg.all_pairs, alpha=cfg.alpha, check_options=cfg.checks, output=out,
                          run_name=run_name, config=record,
                          progress=_progress_after(choice.describe()), workers=choice.workers)
    _finish(result_run)
    if gate is not None:
        from mt_eval.cli.gate_cmd import gate_after_run

        code = gate_after_run(out, gate, policy_file=gate_policy)
        if code:
            raise typer.Exit(code)


def score(
    testset: Annotated[Path, typer.Option("--testset", help="Test-set folder (saved or plain files).")],
    hyp: Annotated[list[str], typer.Option("--hyp", help="Hypothesis file, one line per segment;"
                                           " NAME=PATH to name the system (default: file stem).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder to write.")],
    metric: MetricOpt = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline system name"
                                                 " (default: copy, else the first --hyp).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name.")] = None,
    resamples: ResamplesOpt = None,
    seed: SeedOpt = None,
    method: MethodOpt = None,
    all_pairs: AllPairsOpt = False,
    workers: WorkersOpt = "auto",
) -> None:
    """Score precomputed outputs against a test set (no translation)."""
    from mt_eval.config import DEFAULT_METRICS, check_run_name
    from mt_eval.evaluate import DEFAULT_RESAMPLES, DEFAULT_SEED, evaluate
    from mt_eval.reports.run_folder import RunFolder
    from mt_eval.translators.base import SystemRun

    if name is not None:
        check_run_name(name, "--name")
    RunFolder(output).check_writable()
    ts = load_testset(testset)
    runs = []
    for value in hyp:
        sys_name, path = _split_named(value)
        lines = read_hypotheses(path)
        if len(lines) != len(ts):
            raise MtEvalError(f"{path}: {len(lines)} lines but the test set has {len(ts)} segments")
        digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
        runs.append(SystemRun(name=sys_name or path.stem or path.name, spec=f"file:{path}", outputs=lines,
                              signature={"backend": "file", "file": path.name, "sha256": digest}))
    metrics = list(metric) if metric else _usable_default_metrics(list(DEFAULT_METRICS))
    choice = resolve_workers(workers, len(ts))
    run_result = evaluate(
        ts, runs, metrics, baseline=baseline,
        n_resamples=resamples or DEFAULT_RESAMPLES, seed=seed if seed is not None else DEFAULT_SEED,
        method=method, all_pairs=all_pairs, output=output,
        run_name=name or output.resolve().name,
        config={"command": "score", "testset": str(testset), "hyps": hyp, "metrics": metrics,
                "workers": choice.to_dict()},
        progress=_progress_after(choice.describe()), workers=choice.workers)
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
    previous = results.significance
    n = resamples or (previous.n_resamples if previous else 1000)
    s = seed if seed is not None else (previous.seed if previous else 12345)
    alpha = previous.alpha if previous else 0.05
    results.significance = significance(metrics, stats, ok, baseline, method=method, n_resamples=n, seed=s,
                                        all_pairs=all_pairs, alpha=alpha)
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
