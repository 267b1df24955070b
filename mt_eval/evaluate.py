"""The evaluation core: test set + system outputs + metrics + settings → a run (and its folder).

:func:`evaluate` reads as its stages: **statistics** (each system × metric reduced once to per-segment
sufficient statistics, by a :class:`StatsSource`), **scores** (corpus scores, sentence scores and
bootstrap CIs from them), **tests** (paired tests, Holm, rank clusters), **checks** (per-segment output
flags) and **assembly** (the ``results.json`` model and the segment records), then the sink writes the
run folder atomically.

Where statistics come from is the one thing that varies: :class:`LocalStats` computes them here, a Ray
executor's source shards batch-invariant metrics over a cluster, ``mt-eval merge`` joins the shards'
(:mod:`mt_eval.cluster.shards`); with a run folder as sink, :class:`CachedStats` reuses the folder's
statistics whose cache key (test set, outputs, metric identity) still matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mt_eval.analysis.core import analyse_run
from mt_eval.data.testset import TestSet
from mt_eval.environment import git_info
from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric, SegmentDetail
from mt_eval.metrics.signature import NREFS, MetricSignature, nrefs
from mt_eval.reports.details import apply_details, check_details
from mt_eval.reports.results import (
    SCHEMA_VERSION,
    BootstrapInfo,
    MetricInfo,
    PairedEntry,
    Results,
    ScoreEntry,
    Significance,
    SystemInfo,
    TestsetInfo,
    environment_info,
)
from mt_eval.reports.run_folder import RunFolder
from mt_eval.reports.segments import build_segment_records
from mt_eval.settings import EVAL_DEFAULTS, EvalSettings
from mt_eval.translators.base import SystemRun

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
Flags = tuple[list[list[str]], dict[str, int]]  # per-segment flags, per-flag counts
MetricsArg = Sequence[str | Metric] | Mapping[str, str | Metric | dict[str, Any]]


def _quiet(_message: str) -> None:
    return None


@dataclass
class RunResult:
    """What :func:`evaluate` produced; ``stats[system][metric_key]`` are the per-segment statistics."""

    results: Results
    records: list[dict[str, Any]]
    stats: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    path: Path | None = None
    # details[system][metric key]: per-segment spans/failures/usage of metrics with reports_details
    details: dict[str, dict[str, list[SegmentDetail]]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """What ``results.json`` says about the run besides its scores: its name and its settings as run."""

    name: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    # the commit the run was made from (mt_eval.environment.git_info); None: read it from the current
    # directory now (``mt-eval merge`` passes the shards' own)
    git: Mapping[str, Any] | None = None


# ---------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class StatsJob:
    """One system × metric whose per-segment statistics a :class:`StatsSource` is asked for."""

    testset: TestSet
    system: SystemRun
    key: str
    metric: Metric
    workers: int = 1
    say: Progress = _quiet

    @cached_property
    def cache_key(self) -> str:
        """Everything the statistics depend on: test set, outputs, metric options and library versions."""
        outputs = self.system.outputs
        blob = json.dumps({"testset": self.testset.content_hash, "outputs": hashlib.sha256(
            "\n".join(outputs).encode("utf-8")).hexdigest() + f":{len(outputs)}",
            "spec": self.metric.identity_spec(), "class": type(self.metric).__qualname__,
            "signature": MetricSignature.of(self.metric).without([NREFS]).as_dict()},
            sort_keys=True, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SegmentStats:
    """What a source gives for one job: ``(N, D)`` statistics, the signature they were computed under
    (``nrefs`` is filled in from the test set by the run) and, for metrics that report them, details."""

    stats: np.ndarray
    signature: Mapping[str, Any]
    details: list[SegmentDetail] | None = None


class StatsSource(Protocol):
    """Where per-segment results come from: metric statistics and output-check flags. A source may also
    say which jobs it already holds (``holds(job) -> bool``, :func:`holds`): those are not warmed up."""

    def stats(self, job: StatsJob) -> SegmentStats: ...

    def flags(self, testset: TestSet, system: SystemRun, options: Mapping[str, Any],
              workers: int) -> Flags: ...


def holds(source: StatsSource, job: StatsJob) -> bool:
    """Whether ``source`` already has the job's statistics (nothing to compute); False for a source that
    does not say."""
    check = getattr(source, "holds", None)
    return bool(check(job)) if check is not None else False


class LocalStats:
    """Computes everything in this process (``workers > 1``: metrics that can fork do)."""

    def stats(self, job: StatsJob) -> SegmentStats:
        job.say(f"{job.system.name}: {job.key}")
        testset, metric = job.testset, job.metric
        # every metric gets the sources (COMET-style metrics read them; the others ignore them)
        arr = np.asarray(self.segment_stats(metric, job.system.outputs, testset.references, testset.sources,
                                            job.workers))
        return SegmentStats(arr, metric.signature(), metric.details if metric.reports_details else None)

    def holds(self, job: StatsJob) -> bool:
        return False

    def segment_stats(self, metric: Metric, hyps: Sequence[str], refs: Sequence[Sequence[str]],
                      sources: Sequence[str], workers: int) -> np.ndarray:
        """How one metric's statistics are computed (a Ray source shards them over a cluster)."""
        return metric.segment_stats(hyps, refs, sources=sources, workers=workers)

    def flags(self, testset: TestSet, system: SystemRun, options: Mapping[str, Any], workers: int) -> Flags:
        flags, counts = run_checks(testset, system.outputs, options, workers)
        _flag_truncation(system, flags, counts)
        return flags, counts


class CachedStats:
    """The statistics a run folder already holds for a job's cache key; anything else from ``inner``."""

    def __init__(self, folder: RunFolder, inner: StatsSource) -> None:
        self.folder, self.inner = folder, inner
        self.index = folder.stats_index()  # unreadable or absent: {} (recompute)

    def stats(self, job: StatsJob) -> SegmentStats:
        return self._cached(job) or self.inner.stats(job)

    def holds(self, job: StatsJob) -> bool:
        return self._entry(job) is not None or holds(self.inner, job)

    def _entry(self, job: StatsJob) -> dict[str, Any] | None:
        """The index entry of the job's statistics when it was computed under the same cache key."""
        entry = self.index.get(f"{job.system.name}\t{job.key}")
        return entry if isinstance(entry, dict) and entry.get("key") == job.cache_key else None

    def flags(self, testset: TestSet, system: SystemRun, options: Mapping[str, Any], workers: int) -> Flags:
        return self.inner.flags(testset, system, options, workers)

    def _cached(self, job: StatsJob) -> SegmentStats | None:
        entry = self._entry(job)
        if entry is None:
            return None
        try:
            arr = self.folder.stats(job.system.name, job.key)
        except MtEvalError:
            return None  # a damaged cache entry is recomputed, not trusted
        details = None
        if job.metric.reports_details:  # details are cached beside the statistics; without them, recompute
            try:
                details = self.folder.details(job.system.name, job.key, len(job.testset))
            except MtEvalError as exc:
                log.warning("%s; recomputing", exc)
            if details is None:
                return None
        return SegmentStats(arr, dict(entry.get("signature", {})), details)


# ---------------------------------------------------------------------------------------- metrics
def resolve_metrics(metrics: MetricsArg) -> dict[str, Metric]:
    """Metric keys → metric objects. A string is a registry spec (``bleu``, ``chrf:word_order=2``)
    and is also the key used in files; a :class:`Metric` is keyed by its name."""
    from mt_eval.metrics.registry import metric_from_spec

    items: list[tuple[str, str | Metric | dict[str, Any]]]
    if isinstance(metrics, Mapping):
        items = list(metrics.items())
    else:
        items = [(m if isinstance(m, str) else m.name, m) for m in metrics]
    resolved: dict[str, Metric] = {}
    for key, value in items:
        if key in resolved:
            raise MtEvalError(f"metric {key!r} is listed twice")
        resolved[key] = value if isinstance(value, Metric) else metric_from_spec(value)
    if not resolved:
        raise MtEvalError("no metric to compute")
    return resolved


def rebuild_metrics(results: Results) -> dict[str, Metric]:
    """Metric objects from the specs recorded in a run; refuses one whose signature changed since."""
    from mt_eval.metrics.registry import metric_from_spec

    metrics: dict[str, Metric] = {}
    for key, info in results.metrics.items():
        metric = metric_from_spec(info.spec)
        MetricSignature.recorded(info.signature).check_matches(MetricSignature.of(metric), key,
                                                               where="this installation")
        metrics[key] = metric
    return metrics


# ---------------------------------------------------------------------------------------- checks
def run_checks(testset: TestSet, outputs: Sequence[str], options: Mapping[str, Any] | None = None,
               workers: int = 1) -> Flags:
    """Per-segment flags and per-flag counts (every enabled flag, zeros included) of one system."""
    from mt_eval.checks import check_outputs

    config = dict(options or {})
    result = check_outputs(testset.sources, list(outputs), target_lang=testset.target_lang,
                           references=testset.references, config=config, workers=workers,
                           calibration=_calibration(testset, config))
    return [list(flags) for flags in result.flags], dict(result.counts)


_CALIBRATIONS: dict[str, Any] = {}


def _calibration(testset: TestSet, config: Mapping[str, Any]) -> Any:
    """The checks' length calibration of a test set, learnt once per test set and check settings (it
    reads every source and reference: seconds at 100k segments), not again for every system."""
    from mt_eval.checks import calibrate

    key = testset.content_hash + json.dumps(config, sort_keys=True, default=str)
    if key not in _CALIBRATIONS:
        if len(_CALIBRATIONS) >= 4:
            _CALIBRATIONS.clear()
        _CALIBRATIONS[key] = calibrate(testset.sources, testset.references, dict(config))
    return _CALIBRATIONS[key]


def check_config(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The effective check settings (defaults filled in), recorded in results.json."""
    from mt_eval.checks import make_config

    return _jsonable(make_config(dict(options or {})).model_dump(mode="json"))  # type: ignore[no-any-return]


def _flag_truncation(system: SystemRun, flags: list[list[str]], counts: dict[str, int]) -> None:
    """Segments the backend cut (max_length, max_tokens, a repetition stop) are flagged ``truncated``."""
    reasons = getattr(system, "truncated", None) or []
    if not reasons:
        return
    counts["truncated"] = 0
    for segment_flags, reason in zip(flags, reasons, strict=False):
        if reason:
            segment_flags.append("truncated")
            counts["truncated"] += 1


# ---------------------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class PairTest:
    """One paired test: ``system`` against ``baseline`` on ``metric``; Holm adjusts within ``family``
    (``None``: reported unadjusted)."""

    metric: Metric
    baseline: np.ndarray
    system: np.ndarray
    family: str | None = None


def paired_tests(tests: Sequence[PairTest], method: str, n_resamples: int | None,
                 seed: int | None) -> list[tuple[Any, float]]:
    """Every test's ``PairedTestResult`` and Holm-adjusted p-value: the one paired-test function of a run
    and of the CI gate. Tests with the same metric and baseline share one group of draws; every test
    equals a separate ``paired_bootstrap``/``approximate_randomization`` call with the same seed."""
    from mt_eval.stats.multiple_testing import holm
    from mt_eval.stats.significance import compare_metrics_to_baseline

    groups: dict[tuple[int, int], list[int]] = {}
    for i, test in enumerate(tests):
        groups.setdefault((id(test.metric), id(test.baseline)), []).append(i)
    members = list(groups.values())  # each group: the anchor "" against systems "i" (the test's index)
    found = compare_metrics_to_baseline(
        {str(g): tests[m[0]].metric for g, m in enumerate(members)},
        {str(g): {"": tests[m[0]].baseline, **{str(i): tests[i].system for i in m}}
         for g, m in enumerate(members)}, "", method=method, n_resamples=n_resamples, seed=seed)
    raw: list[Any] = [None] * len(tests)
    for g, m in enumerate(members):
        for i in m:
            raw[i] = found[str(g)][("", str(i))]
    adjusted = [float(r.p_value) for r in raw]
    families: dict[str, list[int]] = {}
    for i, test in enumerate(tests):
        if test.family is not None:
            families.setdefault(test.family, []).append(i)
    for family in families.values():
        for i, p_adj in zip(family, holm([raw[i].p_value for i in family]), strict=True):
            adjusted[i] = p_adj
    return list(zip(raw, adjusted, strict=True))


def _entry(result: Any, metric: Metric, p_adjusted: float) -> PairedEntry:
    from mt_eval.stats.human_agreement import human_agreement

    return PairedEntry(method=str(result.method), baseline_score=float(result.baseline_score),
                       system_score=float(result.system_score), delta=float(result.delta),
                       p_value=float(result.p_value), n_resamples=int(result.n_resamples),
                       seed=None if result.seed is None else int(result.seed),
                       delta_ci_low=getattr(result, "delta_ci_low", None),
                       delta_ci_high=getattr(result, "delta_ci_high", None),
                       p_value_rule=str(getattr(result, "p_value_rule", "")), p_adjusted=p_adjusted,
                       human_agreement=human_agreement(metric.spec(), float(result.delta)))


def _pairs(systems: Sequence[str], anchor: str, every_pair: bool) -> list[tuple[str, str]]:
    """The anchor against every other system, then (``every_pair``) every other pair, in system order."""
    others = [s for s in systems if s != anchor]
    pairs = [(anchor, other) for other in others]
    return pairs + ([(a, b) for i, a in enumerate(others) for b in others[i + 1:]] if every_pair else [])


def significance(metrics: Mapping[str, Metric], stats: Mapping[str, Mapping[str, np.ndarray]],
                 systems: Sequence[str], settings: EvalSettings = EVAL_DEFAULTS) -> Significance:
    """Paired tests, Holm-adjusted per metric, with rank clusters when every pair is tested.

    With ``settings.baseline`` every other system is tested against it (and every pair too with
    ``all_pairs``); without one, every pair is tested and systems are ranked into clusters. The
    Holm family is the set of tests shown for one metric, so a mark in a table column keeps its
    family-wise error at α. ``method=None`` picks the method for the test-set size.
    """
    from mt_eval.stats.clusters import rank_clusters, significantly_better
    from mt_eval.stats.significance import choose_method

    baseline = settings.baseline
    if baseline is not None and baseline not in systems:
        raise MtEvalError(f"baseline {baseline!r} is not an evaluated system (have: {', '.join(systems)})")
    n_segments = next(iter(next(iter(stats.values())).values())).shape[0] if stats else 0
    chosen, warnings = choose_method(n_segments, settings.method)
    every_pair = settings.all_pairs or baseline is None
    sig = Significance(baseline=baseline, method=chosen, n_resamples=settings.resamples, seed=settings.seed,
                       alpha=settings.alpha, correction="holm", n_segments=n_segments, warnings=warnings)
    if len(systems) < 2:
        return sig
    pairs = _pairs(systems, baseline if baseline is not None else systems[0], every_pair)
    tests = [PairTest(metric, stats[a][key], stats[b][key], family=key)
             for key, metric in metrics.items() for a, b in pairs]
    done = iter(paired_tests(tests, chosen, settings.resamples, settings.seed))
    for key, metric in metrics.items():
        scores: dict[str, float] = {}
        wins = []
        for (a, b), (result, p_adj) in zip(pairs, done, strict=False):
            entry = _entry(result, metric, p_adj)
            scores[a], scores[b] = entry.baseline_score, entry.system_score
            wins.append((a, b, result.delta, p_adj))
            if baseline is not None and a == baseline:
                sig.results.setdefault(b, {})[key] = entry
            if every_pair:
                sig.pairs.setdefault(a, {}).setdefault(b, {})[key] = entry
        if every_pair:
            better = significantly_better(wins, settings.alpha, metric.higher_is_better)
            ranking = rank_clusters(scores, better, metric.higher_is_better)
            sig.clusters[key] = ranking.clusters
            sig.rank_bands[key] = {s: list(band) for s, band in ranking.bands.items()}
    return sig


def confidence_intervals(items: Sequence[tuple[Metric, np.ndarray]], n_resamples: int, confidence: float,
                         seed: int | None) -> list[tuple[float, float]]:
    """Percentile bootstrap CIs of many (metric, statistics) pairs from one shared draw of resamples.

    Equal to ``bootstrap_ci`` item by item (same seed → same resample counts), but the B×N count
    matrix is drawn once for every system and metric instead of once per pair.
    """
    from mt_eval.stats.bootstrap import bootstrap_scores

    if not 0.0 < confidence < 1.0:
        raise MtEvalError(f"confidence must be between 0 and 1, got {confidence}")
    if not items:
        return []
    alpha = (1.0 - confidence) / 2.0
    out = []
    for scores in bootstrap_scores(list(items), n_resamples, seed):
        low, high = np.quantile(scores, [alpha, 1.0 - alpha])
        out.append((float(low), float(high)))
    return out


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


# ---------------------------------------------------------------------------------------- the run
def choose_baseline(requested: str | None, ok_systems: Sequence[str],
                    skipped: Mapping[str, str]) -> str | None:
    """The requested baseline, checked; ``None`` (every pair is compared) when none is requested.

    ``copy`` stays in the tables as the floor, but is no implicit anchor: "better than untranslated"
    is not the question a researcher asks.
    """
    if requested is None:
        return None
    if requested in skipped:
        raise MtEvalError(f"baseline {requested!r} was skipped: {skipped[requested]}")
    if requested not in ok_systems:
        raise MtEvalError(f"baseline {requested!r} is not a system of this run"
                          f" (have: {', '.join(ok_systems) or 'none'})")
    return requested


@dataclass
class _Work:
    """What the stages of :func:`evaluate` produce, keyed by system name and metric key."""

    stats: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    signatures: dict[str, MetricSignature] = field(default_factory=dict)
    details: dict[str, dict[str, list[SegmentDetail]]] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)  # stats/index.json: cache key + signature
    scores: dict[str, dict[str, ScoreEntry]] = field(default_factory=dict)
    sentence: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    significance: Significance | None = None
    flags: dict[str, list[list[str]]] = field(default_factory=dict)
    flag_counts: dict[str, dict[str, int]] = field(default_factory=dict)


def evaluate(testset: TestSet, systems: Sequence[SystemRun], metrics: MetricsArg | None = None,
             settings: EvalSettings = EVAL_DEFAULTS, *, stats: StatsSource | None = None,
             sink: RunFolder | None = None, record: RunRecord | None = None,
             progress: Progress | None = None) -> RunResult:
    """Score every system with every metric, add CIs, paired tests and checks; write the run folder.

    ``metrics`` default to ``settings.metrics``; ``stats`` is where statistics and check flags come from
    (default :class:`LocalStats`); ``sink=None`` computes everything without writing. Systems with
    ``status != "ok"`` are recorded with their reason and not scored. ``settings.checks=None``: no checks.
    """
    from mt_eval.metrics.parallel import resolve_workers

    say = progress or _quiet
    resolved = resolve_metrics(settings.metrics if metrics is None else metrics)
    try:
        ok = _usable_systems(testset, systems, resolved)
        choose_baseline(settings.baseline, [s.name for s in ok],
                        {s.name: s.reason for s in systems if s.status != "ok"})
        if sink is not None:
            sink.check_writable()
        source: StatsSource = stats or LocalStats()
        source = CachedStats(sink, source) if sink is not None else source
        workers = resolve_workers(settings.workers, len(testset)).workers
        work = compute_statistics(testset, ok, resolved, source, workers, say)
        score_systems(work, resolved, settings, say)
        run_tests(work, resolved, [s.name for s in ok], settings, say)
        check_systems(work, testset, ok, settings.checks, source, workers)
    finally:
        for metric in resolved.values():
            metric.close()
    record = record or RunRecord()
    named = RunRecord(record.name or (sink.root.name if sink is not None else "run"), record.config,
                      record.git)
    run = assemble(testset, systems, resolved, work, settings, named)
    run.results.analysis = analyse_run(testset, {s.name: s.outputs for s in ok}, work.stats, resolved,
                                       work.significance, settings)
    if sink is not None:
        say(f"writing {sink.root}")
        run.path = sink.write(run, {s.name: s.outputs for s in ok}, work.index)
    return run


def _usable_systems(testset: TestSet, systems: Sequence[SystemRun],
                    metrics: Mapping[str, Metric]) -> list[SystemRun]:
    """The systems to score (status ``ok``), checked: unique names, one output per segment."""
    names = [s.name for s in systems]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MtEvalError(f"system name(s) used twice: {', '.join(duplicates)}; give each a unique name")
    for metric in metrics.values():  # e.g. an LLM judge names the test set's languages in its prompt
        metric.use_languages(testset.source_lang, testset.target_lang)
    ok = [s for s in systems if s.status == "ok"]
    for system in ok:
        if len(system.outputs) != len(testset):
            raise MtEvalError(f"system {system.name}: {len(system.outputs)} output lines but the test set"
                              f" has {len(testset)} segments")
    return ok


def compute_statistics(testset: TestSet, systems: Sequence[SystemRun], metrics: Mapping[str, Metric],
                       source: StatsSource, workers: int = 1, say: Progress = _quiet) -> _Work:
    """Stage 1: every system × metric's per-segment statistics (and details), from ``source``."""
    work = _Work()
    refs = nrefs(testset.references)  # nrefs is the test set's
    jobs = [StatsJob(testset, system, key, metric, workers, say) for system in systems
            for key, metric in metrics.items()]
    for key in dict.fromkeys(job.key for job in jobs if not holds(source, job)):
        metrics[key].warm_up()  # e.g. a model's weights load while the first jobs compute
    for job in jobs:
        system, key, metric = job.system, job.key, job.metric
        work.stats.setdefault(system.name, {})
        cache_key = job.cache_key  # before computing: the metric's identity as asked
        got = source.stats(job)
        arr = np.asarray(got.stats)
        if arr.shape[0] != len(testset):
            raise MtEvalError(f"metric {key}: {arr.shape[0]} statistics rows for {len(testset)} segments")
        signature = MetricSignature.recorded(got.signature).with_nrefs(refs)
        work.stats[system.name][key] = arr
        if metric.reports_details:
            work.details.setdefault(system.name, {})[key] = check_details(key, got.details, len(testset))
        work.signatures.setdefault(key, signature)
        work.index[f"{system.name}\t{key}"] = {"key": cache_key, "signature": signature.as_dict()}
    for key, metric in metrics.items():
        work.signatures.setdefault(key, MetricSignature.of(metric).with_nrefs(refs))
    return work


def score_systems(work: _Work, metrics: Mapping[str, Metric], settings: EvalSettings,
                  say: Progress = _quiet) -> None:
    """Stage 2: corpus scores with bootstrap CIs (one shared draw) and sentence scores."""
    pairs = [(name, key) for name in work.stats for key in metrics]
    if pairs:
        say("bootstrap confidence intervals")
    intervals = confidence_intervals([(metrics[key], work.stats[name][key]) for name, key in pairs],
                                     settings.resamples, settings.confidence, settings.seed)
    for (name, key), (low, high) in zip(pairs, intervals, strict=True):
        arr, metric = work.stats[name][key], metrics[key]
        work.scores.setdefault(name, {})[key] = ScoreEntry(
            score=metric.corpus_score(arr), ci_low=_finite_or_none(low), ci_high=_finite_or_none(high),
            signature=str(work.signatures[key]))
        work.sentence.setdefault(name, {})[key] = [float(v) for v in metric.sentence_scores(arr)]


def run_tests(work: _Work, metrics: Mapping[str, Metric], systems: Sequence[str], settings: EvalSettings,
         say: Progress = _quiet) -> None:
    """Stage 3: paired tests against the baseline, or between every pair with rank clusters."""
    if not systems:
        return
    say(f"paired tests against {settings.baseline}" if settings.baseline
        else "paired tests between every pair of systems")
    work.significance = significance(metrics, work.stats, systems, settings)


def check_systems(work: _Work, testset: TestSet, systems: Sequence[SystemRun],
                  options: Mapping[str, Any] | None, source: StatsSource, workers: int = 1) -> None:
    """Stage 4: output checks (``options=None``: none) of every system."""
    if options is None:
        return
    for system in systems:
        flags, counts = source.flags(testset, system, options, workers)
        work.flags[system.name], work.flag_counts[system.name] = flags, counts


def assemble(testset: TestSet, systems: Sequence[SystemRun], metrics: Mapping[str, Metric], work: _Work,
             settings: EvalSettings, record: RunRecord) -> RunResult:
    """Stage 5: the ``results.json`` model and the per-segment records."""
    run_config = _jsonable(dict(record.config))
    if settings.checks is not None:
        run_config["checks"] = check_config(settings.checks)
    results = Results(
        schema_version=SCHEMA_VERSION, run_name=record.name or "run",
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        testset=TestsetInfo(hash=testset.content_hash, name=testset.name, source_lang=testset.source_lang,
                            target_lang=testset.target_lang, num_segments=len(testset),
                            manifest=testset.manifest()),
        systems={s.name: SystemInfo(spec=s.spec, signature=_jsonable(s.signature),
                                    environment=_jsonable(getattr(s, "environment", None) or {}),
                                    throughput=_jsonable(s.throughput),
                                    status="ok" if s.status == "ok" else "skipped", reason=s.reason)
                 for s in systems},
        metrics={key: MetricInfo(spec=_jsonable(m.spec()), signature=work.signatures[key].as_dict(),
                                 signature_string=str(work.signatures[key]),
                                 higher_is_better=bool(m.higher_is_better), run=_jsonable(m.run_info()))
                 for key, m in metrics.items()},
        scores=work.scores, significance=work.significance, flags=work.flag_counts,
        bootstrap=BootstrapInfo(n_resamples=settings.resamples, confidence=settings.confidence,
                                seed=settings.seed),
        environment=environment_info(), config=run_config,
        git=_jsonable(dict(record.git) if record.git is not None else git_info()))
    outputs = {s.name: s.outputs for s in systems if s.name in work.stats}
    records = build_segment_records(testset, outputs, work.sentence, work.flags)
    results = apply_details(results, records, work.details)
    return RunResult(results=results, records=records, stats=work.stats, details=work.details)


def _jsonable(obj: Any) -> Any:
    """Round-trip through JSON so that results.json holds only plain data (no pickle, no objects)."""
    return json.loads(json.dumps(obj, default=str))
