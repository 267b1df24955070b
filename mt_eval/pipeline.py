"""The library side of ``mt-eval run``, ``score`` and ``compare``: :func:`run`, :func:`score` and
:func:`compare` do what the commands do — which systems and metrics, where the run folder goes, what the
run records, translating each system (whole, or one shard of the test set), then
:func:`mt_eval.evaluate.evaluate`. The command line only turns options into a request and prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mt_eval.errors import MtEvalError
from mt_eval.settings import ALPHA, RESAMPLES, SEED, EvalSettings

if TYPE_CHECKING:
    from mt_eval.cluster.executor import Executor
    from mt_eval.cluster.shards import Shard
    from mt_eval.config import RunConfig
    from mt_eval.data.testset import TestSet
    from mt_eval.evaluate import RunResult
    from mt_eval.reports.results import Results, Significance
    from mt_eval.translators.base import SystemRun
    from mt_eval.translators.outputs import TranslateRules

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


@dataclass(frozen=True)
class SystemRequest:
    """One system to evaluate: its spec, an optional display name and backend options."""

    spec: str
    name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def systems_to_run(specs: Sequence[str] | None, config: RunConfig) -> list[SystemRequest]:
    """Systems named on the command line win over the config's; neither: the built-in systems."""
    from mt_eval.translators.registry import DEFAULT_SYSTEMS

    if specs:
        wanted = [SystemRequest(s) for s in specs]
    elif config.systems is not None:
        wanted = [SystemRequest(s.spec, s.name, dict(s.options)) for s in config.systems]
    else:
        wanted = [SystemRequest(s) for s in DEFAULT_SYSTEMS]
    if not wanted:
        raise MtEvalError("no system to evaluate")
    return wanted


def file_system_name(spec: str) -> str | None:
    """``file:dir/q.en2`` is system ``q.en2``: the whole file name, so ``q.en`` and ``q.en2`` differ."""
    if not spec.startswith("file:"):
        return None
    return Path(spec[5:].split("?")[0]).name or None


def translate_system(testset: TestSet, request: SystemRequest, rules: TranslateRules | None = None,
                     part: Shard | None = None) -> SystemRun:
    """Translate with one system; an unavailable one becomes a skipped :class:`SystemRun`.

    A system that fails while running (``SystemFailed``) raises, so ``run`` exits 2 naming it, unless
    ``rules.allow_skip`` records it as failed; ``rules.strict`` makes an unavailable system an error too.
    With ``part``, only that shard of the test set is translated (``file:`` and ``copy`` read the whole
    test set and are cut afterwards).
    """
    from mt_eval.cluster.shards import cut_run, reads_whole_testset
    from mt_eval.translators.outputs import TranslateRules, translate_or_skip

    rules = rules or TranslateRules()
    if part is not None:
        if reads_whole_testset(request.spec):
            return cut_run(part, translate_system(testset, request, rules), len(testset))
        testset = part.testset(testset)
    name = request.name if request.name is not None else file_system_name(request.spec)
    run = translate_or_skip(testset, request.spec, rules, options=dict(request.options) or None, name=name)
    if run.status == "failed":
        run.reason = f"failed while running: {run.reason}"
    return run


def usable_default_metrics(metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    """Default metrics whose optional package is installed, and a note for each one left out.

    Only *default* metrics are dropped this way; a metric the user asked for fails with its install hint.
    """
    from mt_eval.metrics.registry import available_metrics, install_hint

    available = available_metrics()
    usable = [m for m in metrics if available.get(m, True)]
    notes = [f"metric {m} left out: its package is not installed (pip install {install_hint(m)})"
             for m in metrics if m not in usable]
    return usable, notes


def split_named(value: str) -> tuple[str | None, Path]:
    """``NAME=PATH`` or ``PATH`` (a path that exists as given wins over the ``=`` reading)."""
    if "=" in value and not Path(value).exists():
        name, _, path = value.partition("=")
        if name and "/" not in name:
            return name, Path(path)
    return None, Path(value)


def hypothesis_system(testset: TestSet, value: str) -> SystemRun:
    """``score --hyp NAME=PATH`` (or ``PATH``, named after the file's stem): the outputs, read by the
    ``file:`` translator, so a scored file and ``run -s file:PATH`` have the same content-hash identity."""
    from mt_eval.translators.precomputed import FileOptions, FileTranslator
    from mt_eval.translators.runner import translate_testset

    name, path = split_named(value)
    translator = FileTranslator(str(path), FileOptions.model_validate({}), source_lang=testset.source_lang,
                                target_lang=testset.target_lang)
    translator.where = str(path)  # messages name the file as the user gave it
    return translate_testset(testset, f"file:{path}", name=name or path.stem or path.name, cache=False,
                             progress=False, translator=translator)


def comparison_settings(previous: Significance | None, *, resamples: int | None = None,
                        seed: int | None = None, baseline: str | None = None, method: str | None = None,
                        all_pairs: bool = False) -> EvalSettings:
    """The settings of a re-comparison: as asked, else as the run recorded, else the defaults."""
    from mt_eval.config import validated

    return validated(EvalSettings, {
        "baseline": baseline, "method": method, "all_pairs": all_pairs,
        "resamples": resamples or (previous.n_resamples if previous else RESAMPLES),
        "seed": seed if seed is not None else (previous.seed if previous else SEED),
        "alpha": previous.alpha if previous else ALPHA}, where="compare")


def check_distinct_systems(specs: Sequence[str]) -> None:
    """Each system gets one hypothesis file (``slug(spec).txt``): a spec given twice, or two specs
    with the same file name, is an error before any work."""
    from mt_eval.fsio import slug

    seen: dict[str, str] = {}
    for spec in specs:
        if not spec.strip():
            raise MtEvalError("empty system spec")
        if slug(spec) in seen:
            raise MtEvalError(f"translate: system {spec!r} given twice (or shares a file name with "
                              f"{seen[slug(spec)]!r})")
        seen[slug(spec)] = spec


def options_per_system(specs: Sequence[str], options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``--opt key=value`` goes to every system whose backend has ``key``; a key no system has is an
    error (a typo must not be ignored)."""
    from mt_eval.translators.registry import load_backend, parse_spec

    fields = {spec: set(load_backend(parse_spec(spec).backend).Options.model_fields) for spec in specs}
    for key in options:
        if not any(key in known for known in fields.values()):
            raise MtEvalError(f"--opt {key}: no selected system has this option")
    return {spec: {k: v for k, v in options.items() if k in known} for spec, known in fields.items()}


# ---------------------------------------------------------------------------------------- commands
@dataclass(frozen=True)
class RunRequest:
    """What ``mt-eval run`` was asked: the run config (file plus command line, :func:`mt_eval.config.
    run_config`) and what only this invocation says (where to write, workers, a shard, a gate)."""

    config: RunConfig
    output: Path | None = None  # -o; else the config's output; else results/<name>
    workers: str | None = None  # --workers; else the config's
    strict: bool = False
    allow_skip: bool = False
    shard: str | None = None
    gate: Path | None = None
    gate_policy: Path | None = None


@dataclass(frozen=True)
class ScoreRequest:
    """What ``mt-eval score`` was asked: hypothesis files against a test set, with these settings."""

    testset: Path
    hyps: Sequence[str]
    output: Path
    config: RunConfig  # the command line's metrics, baseline, resamples, ..., executor
    name: str | None = None
    workers: str | None = None
    shard: str | None = None


@dataclass
class _Target:
    """Where a scored run goes and how it is computed."""

    out: Path
    name: str
    record: dict[str, Any]  # results.json's ``config``
    executor: Executor
    workers: str | None = None
    part: Shard | None = None


def run_folder_path(request: RunRequest, part: Shard | None = None) -> Path:
    """``-o``, else the config's ``output``, else ``results/<name>``; without ``-o`` a shard gets a folder
    of its own (``<folder>-shard-i-of-N``: N array jobs must not share one folder)."""
    cfg = request.config
    out = request.output or (Path(cfg.output) if cfg.output else Path("results") / (cfg.name or "default"))
    if part is not None and request.output is None:
        out = out.with_name(f"{out.name}-shard-{part.index}-of-{part.count}")
    return out


def _shard_and_gate(request: RunRequest) -> Shard | None:
    """The gate's files are checked before minutes of translation; a shard cannot be gated."""
    from mt_eval.cluster.shards import parse_shard
    from mt_eval.fsio import check_input_file

    for label, path in (("--gate", request.gate), ("--gate-policy", request.gate_policy)):
        if path is not None:
            try:
                check_input_file(path)
            except MtEvalError as exc:
                raise MtEvalError(f"{label} {exc}") from None
    if request.gate_policy is not None and request.gate is None:
        raise MtEvalError("--gate-policy needs --gate BASELINE.json")
    part = parse_shard(request.shard) if request.shard is not None else None
    if part is not None and request.gate is not None:
        raise MtEvalError("--gate cannot be used with --shard: gate the merged run (mt-eval merge)")
    return part


def _metrics(config: RunConfig, warn: Progress) -> RunConfig:
    """Default metrics whose package is missing are left out (with a note); named ones never are."""
    if "metrics" in config.model_fields_set:
        return config
    usable, notes = usable_default_metrics(list(config.metrics))
    for note in notes:
        warn(note)
    return config.model_copy(update={"metrics": usable})


def _run_record(config: RunConfig, wanted: Sequence[SystemRequest],
                runs: Sequence[SystemRun]) -> dict[str, Any]:
    """results.json's ``config`` of a run: what was actually run, defaults spelled out, in the config
    file's order (``checks`` after ``output``)."""
    data = config.model_dump(mode="json", exclude={"log"})  # where a run is logged is not what it is
    checks = data.pop("checks")
    record: dict[str, Any] = {}
    for key, value in data.items():
        record[key] = value
        if key == "output":
            record["checks"] = checks
    record["testset"] = config.testset or "builtin:seeds"
    record["systems"] = [{"spec": request.spec, "name": r.name, "options": dict(request.options)}
                         for request, r in zip(wanted, runs, strict=True)]
    return record


def run(request: RunRequest, *, progress: Progress = _quiet, warn: Progress = _quiet) -> RunResult:
    """``mt-eval run``: translate the test set with every system, score, test, check, write the folder."""
    from mt_eval.cluster.executor import get_executor
    from mt_eval.data.build import default_testset
    from mt_eval.data.readers import load_testset
    from mt_eval.reports.run_folder import RunFolder
    from mt_eval.translators.outputs import TranslateRules

    part = _shard_and_gate(request)
    if part is not None and request.config.canaries:
        raise MtEvalError("canaries cannot be run on a --shard: run `mt-eval canary -o RUN` on the merged"
                          " run")
    out = run_folder_path(request, part)
    RunFolder(out).check_writable()  # before minutes of translation, not after
    _check_analysis_corpus(request.config)
    cfg = _metrics(request.config, warn)
    testset = load_testset(cfg.testset) if cfg.testset else default_testset()
    wanted = systems_to_run(None, cfg)
    if part is not None and cfg.executor != "local":
        raise MtEvalError("--shard and --executor ray exclude each other (a Ray run shards by itself)")
    # before any translation: Ray missing or an address that is no Ray head exits 2
    executor = get_executor(cfg.executor, cfg.ray_address, cfg.ray_connect_timeout)
    if part is not None:
        part.bounds(len(testset))  # an N larger than the test set is an error before any work
    rules = TranslateRules(strict=request.strict, allow_skip=request.allow_skip, executor=executor)
    runs = []
    for system in wanted:
        progress(f"translating with {system.name or system.spec}")
        runs.append(translate_system(testset, system, rules, part))
        if runs[-1].status != "ok":
            warn(f"skipped {runs[-1].name}: {runs[-1].reason}")
    record = _run_record(cfg, wanted, runs)
    if not any(r.status == "ok" for r in runs):
        raise MtEvalError("no system could be loaded: " + "; ".join(f"{r.name}: {r.reason}" for r in runs))
    target = _Target(out, cfg.name or "default", record, executor, request.workers, part)
    result = _evaluate(testset, runs, cfg, target, progress)
    if cfg.canaries:
        _run_canaries(testset, runs, out, cfg, progress)
    return result


def _run_canaries(testset: TestSet, runs: Sequence[SystemRun], out: Path, cfg: RunConfig,
                  progress: Progress) -> None:
    """``canaries = true``: the canaries of the run's metrics on the baseline's (else the first non-copy
    system's) outputs, into the run folder with its report re-rendered (``RunFolder.write_canaries``)."""
    from mt_eval.canaries.for_run import canaries_for_run
    from mt_eval.canaries.report import summary_lines
    from mt_eval.canaries.runner import CanarySettings
    from mt_eval.evaluate import resolve_metrics
    from mt_eval.reports.run_folder import RunFolder

    settings = CanarySettings(seed=cfg.seed if cfg.seed is not None else SEED,
                              workers=cfg.workers if isinstance(cfg.workers, int) else 1)
    document = canaries_for_run(testset, runs, cfg.baseline, resolve_metrics(list(cfg.metrics)), settings,
                                progress)
    path = RunFolder(out).write_canaries(document)
    for line in summary_lines(document):
        progress(f"canaries: {line}")
    progress(f"canaries: the good translation was {document['good']['chosen']}; wrote {path}")


def gate(request: RunRequest, result: RunResult, *, echo: Progress = _quiet, warn: Progress = _quiet) -> int:
    """``run --gate B.json``: gate the run folder just written (0 without a gate)."""
    from mt_eval.gate.run import gate_after_run

    if request.gate is None or result.path is None:
        return 0
    return gate_after_run(result.path, request.gate, policy_file=request.gate_policy, echo=echo, warn=warn)


def score(request: ScoreRequest, *, progress: Progress = _quiet, warn: Progress = _quiet) -> RunResult:
    """``mt-eval score``: precomputed outputs (read by the ``file:`` translator) against a test set."""
    from mt_eval.cluster.executor import get_executor
    from mt_eval.cluster.shards import cut_run, parse_shard
    from mt_eval.config import check_run_name
    from mt_eval.data.readers import load_testset
    from mt_eval.reports.run_folder import RunFolder

    part = parse_shard(request.shard) if request.shard is not None else None
    if request.name is not None:
        check_run_name(request.name, "--name")
    RunFolder(request.output).check_writable()
    _check_analysis_corpus(request.config)
    testset = load_testset(request.testset)
    runs = [hypothesis_system(testset, value) for value in request.hyps]
    executor = get_executor(request.config.executor, request.config.ray_address,
                            request.config.ray_connect_timeout)
    cfg = _metrics(request.config, warn)
    if part is not None:  # the hypothesis files cover the whole test set; score one slice
        runs = [cut_run(part, r, len(testset)) for r in runs]
    record = {"command": "score", "testset": str(request.testset), "hyps": list(request.hyps),
              "metrics": list(cfg.metrics)}
    target = _Target(request.output, request.name or request.output.resolve().name, record, executor,
                     request.workers, part)
    return _evaluate(testset, runs, cfg, target, progress)


def _check_analysis_corpus(config: EvalSettings) -> None:
    """An ``analysis_corpus`` that cannot be read is an error before any work, not after it."""
    from mt_eval.analysis.core import corpus_counts

    if config.analysis and config.analysis_corpus is not None:
        corpus_counts(config.analysis_corpus)  # read and kept: the analysis reuses it


def _evaluate(testset: TestSet, runs: Sequence[SystemRun], settings: EvalSettings, target: _Target,
              progress: Progress) -> RunResult:
    """The common tail of run and score: workers chosen and recorded, a shard's slice, then evaluate."""
    from mt_eval.cluster.shards import prepare
    from mt_eval.evaluate import RunRecord, evaluate
    from mt_eval.metrics.parallel import resolve_workers
    from mt_eval.reports.run_folder import RunFolder

    choice = resolve_workers(target.workers if target.workers is not None else settings.workers, len(testset))
    target.record["workers"] = choice.to_dict()
    if target.part is not None:  # config.shard lets `mt-eval merge` redo what does not decompose
        testset, target.record["shard"] = prepare(target.part, testset, settings)
    pending = [choice.describe()]  # said once the inputs are validated, before the first stage

    def say(message: str) -> None:
        while pending:
            progress(pending.pop())
        progress(message)

    return evaluate(testset, runs, None, settings.model_copy(update={"workers": choice.workers}),
                    stats=target.executor.stats(), sink=RunFolder(target.out),
                    record=RunRecord(target.name, target.record), progress=say)


def compare(run_dir: Path, others: Sequence[Path] = (), asked: Mapping[str, Any] | None = None, *,
            save: bool = False) -> Results:
    """``mt-eval compare``: paired tests from a run's saved statistics (and other runs' systems), with the
    ``asked`` settings (``baseline``, ``all_pairs``, ``method``, ``resamples``, ``seed``), else the run's."""
    from mt_eval.evaluate import rebuild_metrics, significance
    from mt_eval.reports.run_folder import RunFolder, combine_runs

    if save and others:
        raise MtEvalError("--save cannot be combined with --with (the run folder would hold systems"
                          " whose outputs live elsewhere)")
    results, records, stats = combine_runs(run_dir, others)
    metrics = rebuild_metrics(results)
    ok = results.ok_systems
    asked = {k: v for k, v in (asked or {}).items() if v is not None}
    baseline = asked.get("baseline")
    if baseline is not None and baseline not in ok:
        raise MtEvalError(f"baseline {baseline!r} is not an evaluated system of {run_dir}"
                          f" (have: {', '.join(ok)})")
    settings = comparison_settings(results.significance, **asked)
    results.significance = significance(metrics, stats, ok, settings)
    if save:  # results.json, tables and report.html replaced together, in one swap
        RunFolder.open(run_dir).update(results, records)
    return results


# ------------------------------------------------------------------------------------ mt-eval canary
# The command only parses and prints; what it decides is here: how the good translation is obtained
# (``file:PATH`` read in place as ``score --hyp`` reads it, any other spec translated), which metrics are
# scored (the default metrics installed here; ``ar_options`` adds each sacrebleu metric with every ``ar_*``
# normalisation on) and where ``canaries.json`` goes (a run folder through ``RunFolder.write_canaries``, so
# its report gains the section; any other folder as a plain file).
#: the metrics whose ``ar_*`` options ``ar_options`` turns on
SACREBLEU_METRICS = ("bleu", "chrf", "chrf++", "ter")


@dataclass(frozen=True)
class CanaryRequest:
    """What ``mt-eval canary`` asks for; ``metrics`` empty: the default metrics installed here."""

    testset: Path
    good: str
    output: Path
    metrics: Sequence[str] = ()
    ar_options: bool = False
    settings: Any = None  # mt_eval.canaries.runner.CanarySettings; None: its defaults


@dataclass
class CanaryOutcome:
    document: dict[str, Any]
    path: Path
    notes: list[str] = field(default_factory=list)


def good_run(testset: TestSet, spec: str) -> SystemRun:
    """The good translation: ``file:PATH`` read in place (as ``score --hyp``), else any system spec."""
    from mt_eval.translators.outputs import TranslateRules

    if spec.startswith("file:") and "?" not in spec:
        return hypothesis_system(testset, spec[len("file:"):])
    run = translate_system(testset, SystemRequest(spec), TranslateRules(strict=True))
    if run.status != "ok":
        raise MtEvalError(f"--good {spec}: {run.reason}")
    return run


def with_arabic_options(specs: Sequence[str]) -> list[str]:
    """Each sacrebleu metric also with every ``ar_*`` normalisation on."""
    from mt_eval.metrics.sacrebleu_metrics import AR_OPTIONS

    extra = []
    for spec in specs:
        name, _, options = spec.partition(":")
        if name.lower() in SACREBLEU_METRICS and "ar_" not in options:
            on = ",".join(f"{option}=true" for option in AR_OPTIONS)
            extra.append(f"{name}:{options + ',' if options else ''}{on}")
    return [*specs, *[s for s in extra if s not in specs]]


def run_canary(request: CanaryRequest, progress: Callable[[str], None]) -> CanaryOutcome:
    """Check the output folder, score the canaries and write ``canaries.json``; ``progress`` gets the
    cost estimate before any scoring."""
    from mt_eval.canaries.report import FILE_NAME, build_document, write_canaries
    from mt_eval.canaries.runner import CanarySettings, plan_canaries, run_canaries
    from mt_eval.data.readers import load_testset
    from mt_eval.evaluate import resolve_metrics
    from mt_eval.fsio import check_output_folder
    from mt_eval.reports.layout import RunLayout
    from mt_eval.reports.run_folder import RunFolder
    from mt_eval.settings import EVAL_DEFAULTS

    folder = check_output_folder(request.output, "-o")
    testset = load_testset(request.testset)
    specs, notes = list(request.metrics), list[str]()
    if not specs:
        specs, notes = usable_default_metrics(list(EVAL_DEFAULTS.metrics))
    metrics = resolve_metrics(with_arabic_options(specs) if request.ar_options else specs)
    run = good_run(testset, request.good)
    settings = request.settings or CanarySettings()
    plan = plan_canaries(testset, run.outputs, settings)
    per_metric = plan.texts_per_metric()
    progress(f"canaries: {len(plan.indices)} of {len(testset)} segments, {len(plan.perturbations)}"
             f" perturbations: {per_metric} texts per metric × {len(metrics)} metrics ="
             f" {per_metric * len(metrics)} segments to score (an LLM judge: one request per text not in its"
             " cache)")
    same = sum(run.outputs[i] in testset.references[i] for i in plan.indices)
    if 2 * same >= len(plan.indices):
        notes.append(f"note: the good translation equals the reference on {same} of {len(plan.indices)}"
                     " segments: reference-based metrics start at their best, so their 'should get worse'"
                     " canaries pass trivially; read the invariance rows")
    entries = run_canaries(plan, metrics, settings, progress=progress)
    document = build_document(plan, entries, settings, {
        "name": run.name, "spec": run.spec, "signature": dict(run.signature)})
    if RunLayout.of(folder).results_json.is_file():  # a run folder: its report shows the section too
        path = RunFolder.open(folder).write_canaries(document)
    else:
        path = write_canaries(folder / FILE_NAME, document)
    return CanaryOutcome(document, path, notes)
