"""CLI: ``mt-eval run``, ``score``, ``compare`` and ``report`` — the evaluation half of mt-eval.

Heavy work (metrics, matplotlib, translators) is imported inside the commands, so ``mt-eval --help``
stays instant and never touches torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mt_eval.errors import MtEvalError, SystemUnavailable

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet
    from mt_eval.evaluate import RunResult
    from mt_eval.reports.results import Results
    from mt_eval.translators.base import SystemRun

# three-letter file extensions used by OPUS/FLORES-style plain folders
_LANG3 = {"ara": "ar", "arb": "ar", "eng": "en", "fra": "fr", "deu": "de", "spa": "es", "rus": "ru",
          "zho": "zh", "heb": "he", "fas": "fa", "urd": "ur"}


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------- inputs
def read_hypotheses(path: Path) -> list[str]:
    """One hypothesis per line; only the line terminator is removed (text is scored as written)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MtEvalError(f"{path}: hypothesis file not found") from None
    except UnicodeDecodeError as exc:
        raise MtEvalError(f"{path}: not UTF-8 (byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _read_plain_testset(folder: Path) -> TestSet:
    """A folder of ``source.<lang>`` and ``reference[-k].<lang>`` plain files (one segment a line).

    The text is taken exactly as written (only line ends removed), as sacrebleu reads it: the
    importer's normalisation (NFC, invisible characters, edge blanks) would change published scores.
    """
    from mt_eval.data.testset import TestSet

    sources = sorted(p for p in folder.glob("source.*") if p.is_file())
    refs = sorted((p for p in folder.glob("reference*.*") if p.is_file()), key=lambda p: p.name)
    if len(sources) != 1 or not refs:
        raise MtEvalError(f"{folder}: not a test set folder (needs manifest.json + testset.jsonl, or one"
                          " source.<lang> and reference.<lang> files)")
    src_lines = read_hypotheses(sources[0])
    ref_streams = [read_hypotheses(p) for p in refs]
    for path, stream in zip(refs, ref_streams, strict=True):
        if len(stream) != len(src_lines):
            raise MtEvalError(f"{path}: {len(stream)} lines but {sources[0].name} has {len(src_lines)}")
    src_ext, tgt_ext = sources[0].suffix.lstrip("."), refs[0].suffix.lstrip(".")
    pairs = [(src, [stream[i] for stream in ref_streams]) for i, src in enumerate(src_lines)]
    return TestSet.from_pairs(pairs, source_lang=_LANG3.get(src_ext, src_ext),
                              target_lang=_LANG3.get(tgt_ext, tgt_ext), name=folder.name,
                              provenance={"imported_from": str(folder), "normalised": False})


def load_testset(path: str | Path) -> TestSet:
    """A saved test-set folder (``TestSet.load``) or a plain-text folder."""
    from mt_eval.data.testset import MANIFEST_FILE, TestSet

    folder = Path(path)
    if not folder.is_dir():
        raise MtEvalError(f"{folder}: test set folder not found")
    if (folder / MANIFEST_FILE).is_file():
        return TestSet.load(folder)
    return _read_plain_testset(folder)


def _default_testset() -> TestSet:
    from mt_eval.data.build import default_testset

    return default_testset()


def _default_systems() -> list[str]:
    from mt_eval.translators.registry import DEFAULT_SYSTEMS

    return [s if isinstance(s, str) else str(getattr(s, "spec", s)) for s in DEFAULT_SYSTEMS]


def translate_system(testset: TestSet, spec: str, *, name: str | None = None,
                     options: dict[str, Any] | None = None, strict: bool = False) -> SystemRun:
    """Translate with one system; an unavailable one becomes a skipped :class:`SystemRun`."""
    from mt_eval.translators.base import SystemRun
    from mt_eval.translators.runner import translate_testset

    if name is None and spec.startswith("file:"):
        name = Path(spec[5:].split("?")[0]).stem or None
    try:
        return translate_testset(testset, spec, options=options or None, name=name, progress=True)
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

    from mt_eval.reports.tables import cell, flag_names, ordered_systems

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
    if sig is not None and sig.results:
        console.print(f"* p < {sig.alpha:g} against {sig.baseline} ({sig.method},"
                      f" {sig.n_resamples} resamples, seed {sig.seed})")
    if sig is not None and sig.pairs:
        pairs = Table(title="all pairs (p-values)")
        for column in ("system A", "system B", *results.metrics):
            pairs.add_column(column)
        for a, per_b in sig.pairs.items():
            for b, per_metric in per_b.items():
                pairs.add_row(a, b, *(f"{per_metric[k].p_value:.4f}" if k in per_metric else "—"
                                      for k in results.metrics))
        console.print(pairs)
    for system, reason in results.skipped_systems.items():
        console.print(f"[yellow]skipped[/yellow] {system}: {reason}")
    if path is not None:
        console.print(f"run folder: {path}  (report: {path / 'report.html'})")


def _progress(message: str) -> None:
    _console(stderr=True).print(f"[dim]… {message}[/dim]")


def _finish(run: RunResult) -> None:
    print_results(run.results, run.path)


# ---------------------------------------------------------------------------------------- commands
MetricOpt = Annotated[list[str] | None, typer.Option(
    "--metric", "-m",
    help="Metric spec, repeatable (bleu, chrf, chrf++, ter, semantic, 'bleu:tokenize=intl').")]
ResamplesOpt = Annotated[int | None, typer.Option("--resamples", min=1, help="Bootstrap/AR resamples.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed of resampling.")]
MethodOpt = Annotated[str | None, typer.Option("--method", help="Paired test: bootstrap or ar.")]
AllPairsOpt = Annotated[bool, typer.Option("--all-pairs", help="Also test every pair of systems.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Processes for statistics extraction"
                                         " (used from 2000 segments on).")]


def run(
    config: Annotated[Path | None, typer.Argument(help="TOML run config (default: seed test set,"
                                                       " built-in systems).")] = None,
    system: Annotated[list[str] | None, typer.Option("--system", "-s", help="System spec, repeatable"
                                                     " (replaces the config's systems).")] = None,
    metric: MetricOpt = None,
    testset: Annotated[Path | None, typer.Option("--testset", help="Test-set folder.")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline system name.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail when a system cannot be loaded.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Run folder.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run name (default results/<name>).")] = None,
    resamples: ResamplesOpt = None,
    seed: SeedOpt = None,
    method: MethodOpt = None,
    all_pairs: AllPairsOpt = False,
    workers: WorkersOpt = 1,
    gate: Annotated[Path | None, typer.Option("--gate", help="Baseline file: gate this run against it"
                                              " (exit 0 pass, 1 regression, 2 cannot compare).")] = None,
    gate_policy: Annotated[Path | None, typer.Option("--gate-policy", help="Gate policy TOML"
                                                     " (tolerances, alpha, floors).")] = None,
) -> None:
    """Translate a test set with every system, score, test significance, write tables and a report."""
    from mt_eval.config import RunConfig, load_config
    from mt_eval.evaluate import evaluate

    # Check the gate's inputs before spending minutes on translation.
    for label, path in (("--gate", gate), ("--gate-policy", gate_policy)):
        if path is not None and not path.is_file():
            raise MtEvalError(f"{label} {path}: file not found")
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
    cfg = RunConfig.model_validate({**cfg.model_dump(), **updates})
    if not explicit_metrics:
        cfg = cfg.model_copy(update={"metrics": _usable_default_metrics(list(cfg.metrics))})
    run_name = cfg.name or "default"
    out = output or (Path(cfg.output) if cfg.output else Path("results") / run_name)
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
        result = translate_system(ts, spec, name=sys_name, options=options, strict=strict)
        if result.status != "ok":
            _console(stderr=True).print(f"[yellow]skipped[/yellow] {result.name}: {result.reason}")
        runs.append(result)
    record = cfg.model_dump(mode="json")  # what was actually run, defaults spelled out
    record["testset"] = str(testset or cfg.testset or "builtin:seeds")
    record["systems"] = [{"spec": spec, "name": r.name, "options": options}
                         for (spec, _, options), r in zip(wanted, runs, strict=True)]
    if not any(r.status == "ok" for r in runs):
        raise MtEvalError("no system could be loaded: " + "; ".join(f"{r.name}: {r.reason}" for r in runs))
    result_run = evaluate(ts, runs, cfg.metrics, baseline=cfg.baseline, n_resamples=cfg.resamples,
                          confidence=cfg.confidence, seed=cfg.seed, method=cfg.method,
                          all_pairs=cfg.all_pairs, alpha=cfg.alpha, check_options=cfg.checks, output=out,
                          run_name=run_name, config=record, progress=_progress,
                          workers=workers)
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
    workers: WorkersOpt = 1,
) -> None:
    """Score precomputed outputs against a test set (no translation)."""
    from mt_eval.config import DEFAULT_METRICS
    from mt_eval.evaluate import DEFAULT_RESAMPLES, DEFAULT_SEED, evaluate
    from mt_eval.translators.base import SystemRun

    ts = load_testset(testset)
    runs = []
    for value in hyp:
        sys_name, path = _split_named(value)
        lines = read_hypotheses(path)
        if len(lines) != len(ts):
            raise MtEvalError(f"{path}: {len(lines)} lines but the test set has {len(ts)} segments")
        digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
        runs.append(SystemRun(name=sys_name or path.stem, spec=f"file:{path}", outputs=lines,
                              signature={"backend": "file", "file": path.name, "sha256": digest}))
    metrics = list(metric) if metric else _usable_default_metrics(list(DEFAULT_METRICS))
    run_result = evaluate(
        ts, runs, metrics, baseline=baseline,
        n_resamples=resamples or DEFAULT_RESAMPLES, seed=seed if seed is not None else DEFAULT_SEED,
        method=method or "bootstrap", all_pairs=all_pairs, output=output, run_name=name or output.name,
        config={"command": "score", "testset": str(testset), "hyps": hyp, "metrics": metrics},
        progress=_progress, workers=workers)
    _finish(run_result)


def compare(
    run_dir: Annotated[Path, typer.Argument(help="Run folder.")],
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline system name.")],
    all_pairs: AllPairsOpt = False,
    method: Annotated[str, typer.Option("--method", help="bootstrap or ar.")] = "bootstrap",
    resamples: ResamplesOpt = None,
    seed: SeedOpt = None,
    with_runs: Annotated[list[Path] | None, typer.Option(
        "--with", help="Another run folder on the same test set whose systems join the comparison.")] = None,
    save: Annotated[bool, typer.Option("--save", help="Store the result in the run folder"
                                       " (results.json, tables, report).")] = False,
) -> None:
    """Paired significance tests of every system against a baseline, from the saved statistics."""
    from mt_eval.evaluate import combine_runs, rebuild_metrics, significance

    if method not in ("bootstrap", "ar"):
        raise MtEvalError(f"--method must be bootstrap or ar, not {method!r}")
    results, records, stats = combine_runs(run_dir, with_runs or [])
    metrics = rebuild_metrics(results)
    ok = results.ok_systems
    if baseline not in ok:
        raise MtEvalError(f"baseline {baseline!r} is not an evaluated system of {run_dir}"
                          f" (have: {', '.join(ok)})")
    previous = results.significance
    n = resamples or (previous.n_resamples if previous else 1000)
    s = seed if seed is not None else (previous.seed if previous else 12345)
    alpha = previous.alpha if previous else 0.05
    results.significance = significance(metrics, stats, ok, baseline, method=method, n_resamples=n, seed=s,
                                        all_pairs=all_pairs, alpha=alpha)
    if save:
        if with_runs:
            raise MtEvalError("--save cannot be combined with --with (the run folder would hold systems"
                              " whose outputs live elsewhere)")
        from mt_eval.evaluate import rerender

        rerender(run_dir, results, records)
    print_results(results, run_dir if save else None)


def report(run_dir: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """Re-render tables and report.html from results.json, segments.jsonl and the saved statistics."""
    from mt_eval.evaluate import rerender
    from mt_eval.reports.results import load_run

    results = load_run(run_dir)
    paths = rerender(run_dir)
    print_results(results)
    for path in paths:
        _console().print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("run")(run)
    app.command("score")(score)
    app.command("compare")(compare)
    app.command("report")(report)
