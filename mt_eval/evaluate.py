"""Orchestration: test set + system outputs + metrics → a complete run folder.

Each (system, metric) pair is reduced once to per-segment sufficient statistics; corpus scores,
sentence scores, bootstrap CIs and paired tests all reuse them. The statistics are cached as
``.npy`` in the run folder under a key of (test set, outputs, metric spec), so re-running or
re-comparing the same run never repeats the string processing. The folder is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mt_eval.data.testset import TestSet
from mt_eval.errors import IncompatibleError, MtEvalError
from mt_eval.metrics.base import Metric, SegmentDetail
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
from mt_eval.reports.run_folder import (  # noqa: F401  (re-exported: the run-folder I/O moved there)
    StatsCache,
    _check_output_folder,
    _readable,
    combine_runs,
    load_stats,
    rerender,
    write_run_folder,
)
from mt_eval.reports.segments import build_segment_records
from mt_eval.settings import ALPHA, CONFIDENCE, RESAMPLES, SEED
from mt_eval.settings import DEFAULT_METRICS as _DEFAULT_METRICS
from mt_eval.translators.base import SystemRun

log = logging.getLogger(__name__)

# the defaults are defined once, in mt_eval.settings (these names are kept for importers)
DEFAULT_METRICS: tuple[str, ...] = _DEFAULT_METRICS
DEFAULT_RESAMPLES = RESAMPLES
DEFAULT_SEED = SEED

Progress = Callable[[str], None]


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
class GivenStats:
    """Per-segment statistics computed elsewhere (the shards ``mt-eval merge`` joins), used as they are."""

    stats: np.ndarray
    signature: dict[str, str]
    details: list[SegmentDetail] | None = None


# ---------------------------------------------------------------------------------------- metrics
def resolve_metrics(metrics: Sequence[str | Metric] | Mapping[str, str | Metric | dict[str, Any]]
                    ) -> dict[str, Metric]:
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


def _stats_key(testset_hash: str, outputs: Sequence[str], metric: Metric) -> str:
    """Everything the statistics depend on: test set, outputs, metric options and library versions."""
    signature = {k: v for k, v in metric.signature().items() if k != "nrefs"}
    blob = json.dumps({"testset": testset_hash, "outputs": hashlib.sha256(
        "\n".join(outputs).encode("utf-8")).hexdigest() + f":{len(outputs)}",
        "spec": metric.identity_spec(), "class": type(metric).__qualname__, "signature": signature},
        sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------- checks
def run_checks(testset: TestSet, outputs: Sequence[str], options: Mapping[str, Any] | None = None,
               workers: int = 1) -> tuple[list[list[str]], dict[str, int]]:
    """Per-segment flags and per-flag counts (every enabled flag, zeros included) of one system."""
    from mt_eval.checks import check_outputs

    result = check_outputs(testset.sources, list(outputs), target_lang=testset.target_lang,
                           references=testset.references, config=dict(options or {}), workers=workers)
    return [list(flags) for flags in result.flags], dict(result.counts)


def check_config(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The effective check settings (defaults filled in), recorded in results.json."""
    from mt_eval.checks import make_config

    return _jsonable(make_config(dict(options or {})).model_dump(mode="json"))  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------- stats
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


def significance(metrics: Mapping[str, Metric], stats: Mapping[str, Mapping[str, np.ndarray]],
                 systems: Sequence[str], baseline: str | None, *, method: str | None = None,
                 n_resamples: int = DEFAULT_RESAMPLES, seed: int | None = DEFAULT_SEED,
                 all_pairs: bool = False, alpha: float = ALPHA) -> Significance:
    """Paired tests, Holm-adjusted per metric, with rank clusters when every pair is tested.

    With a ``baseline`` every other system is tested against it (and every pair too with
    ``all_pairs``); without one, every pair is tested and systems are ranked into clusters. The
    Holm family is the set of tests shown for one metric, so a mark in a table column keeps its
    family-wise error at α. ``method=None`` picks the method for the test-set size.
    """
    from mt_eval.stats.clusters import rank_clusters, significantly_better
    from mt_eval.stats.multiple_testing import holm
    from mt_eval.stats.significance import choose_method, compare_metrics_to_baseline

    if baseline is not None and baseline not in systems:
        raise MtEvalError(f"baseline {baseline!r} is not an evaluated system (have: {', '.join(systems)})")
    n_segments = next(iter(next(iter(stats.values())).values())).shape[0] if stats else 0
    chosen, warnings = choose_method(n_segments, method)
    every_pair = all_pairs or baseline is None
    sig = Significance(baseline=baseline, method=chosen, n_resamples=n_resamples, seed=seed, alpha=alpha,
                       correction="holm", n_segments=n_segments, warnings=warnings)  # always Holm here
    if len(systems) < 2:
        return sig
    anchor = baseline if baseline is not None else systems[0]
    tested = compare_metrics_to_baseline(
        metrics, {key: {s: stats[s][key] for s in systems} for key in metrics}, anchor, method=chosen,
        all_pairs=every_pair, n_resamples=n_resamples, seed=seed)
    for key, metric in metrics.items():
        pairs = list(tested[key].items())
        adjusted = holm([result.p_value for _, result in pairs])
        scores: dict[str, float] = {}
        for ((a, b), result), p_adj in zip(pairs, adjusted, strict=True):
            entry = _entry(result, metric, p_adj)
            scores[a], scores[b] = entry.baseline_score, entry.system_score
            if baseline is not None and a == baseline:
                sig.results.setdefault(b, {})[key] = entry
            if every_pair:
                sig.pairs.setdefault(a, {}).setdefault(b, {})[key] = entry
        if every_pair:
            wins = significantly_better([(a, b, r.delta, p) for ((a, b), r), p in zip(pairs, adjusted,
                                                                                      strict=True)],
                                        alpha, metric.higher_is_better)
            ranking = rank_clusters(scores, wins, metric.higher_is_better)
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


# ---------------------------------------------------------------------------------------- main
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


def evaluate(testset: TestSet, systems: Sequence[SystemRun],
             metrics: Sequence[str | Metric] | Mapping[str, Any] = DEFAULT_METRICS, *,
             baseline: str | None = None, n_resamples: int = DEFAULT_RESAMPLES,
             confidence: float = CONFIDENCE, seed: int | None = DEFAULT_SEED, method: str | None = None,
             all_pairs: bool = False, alpha: float = ALPHA, checks: bool = True,
             check_options: Mapping[str, Any] | None = None, output: str | Path | None = None,
             run_name: str | None = None, config: Mapping[str, Any] | None = None,
             progress: Progress | None = None, workers: int = 1,
             given: Mapping[str, Mapping[str, GivenStats]] | None = None,
             given_flags: Mapping[str, tuple[list[list[str]], dict[str, int]]] | None = None,
             stats_fn: Callable[..., np.ndarray] | None = None) -> RunResult:
    """Score every system with every metric, add CIs, paired tests and checks; write the run folder.

    ``output=None`` computes everything without writing. Systems with ``status == "skipped"`` are
    recorded with their reason and not scored. ``workers > 1`` lets metrics that support it split
    statistics extraction over processes (large test sets only). ``given`` and ``given_flags``
    (``mt-eval merge``) are statistics and check flags computed elsewhere, used instead of computing them.
    ``stats_fn`` replaces :func:`_segment_stats` (same arguments), e.g. to compute on a Ray cluster.
    """
    say = progress or (lambda _msg: None)
    names = [s.name for s in systems]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MtEvalError(f"system name(s) used twice: {', '.join(duplicates)}; give each a unique name")
    resolved = resolve_metrics(metrics)
    for metric in resolved.values():  # e.g. an LLM judge names the test set's languages in its prompt
        metric.use_languages(testset.source_lang, testset.target_lang)
    ok = [s for s in systems if s.status == "ok"]
    skipped = {s.name: s.reason for s in systems if s.status != "ok"}
    for system in ok:
        if len(system.outputs) != len(testset):
            raise MtEvalError(f"system {system.name}: {len(system.outputs)} output lines but the test set"
                              f" has {len(testset)} segments")
    chosen = choose_baseline(baseline, [s.name for s in ok], skipped)
    root = Path(output) if output is not None else None
    if root is not None:
        _check_output_folder(root)
    cache = StatsCache(root)

    references = testset.references
    all_stats: dict[str, dict[str, np.ndarray]] = {}
    stats_index: dict[str, Any] = {}
    signatures: dict[str, dict[str, str]] = {}
    details: dict[str, dict[str, list[SegmentDetail]]] = {}
    for system in ok:
        all_stats[system.name] = {}
        for key, metric in resolved.items():
            cache_key = _stats_key(testset.content_hash, system.outputs, metric)
            hit = cache.get(system.name, key, cache_key)
            # details (spans, failures, usage) are cached beside the statistics; a hit without them recomputes
            kept = (cache.get_details(system.name, key, len(testset))
                    if hit is not None and metric.reports_details else None)
            if metric.reports_details and kept is None:
                hit = None
            known = (given or {}).get(system.name, {}).get(key)  # mt-eval merge: the shards' statistics
            if known is not None:
                hit, kept = (known.stats, dict(known.signature)), known.details
            if hit is not None:
                arr, signature = hit
            else:
                say(f"{system.name}: {key}")
                arr = np.asarray((stats_fn or _segment_stats)(metric, system.outputs, references,
                                                              testset.sources, workers))
                signature = dict(metric.signature())
            if arr.shape[0] != len(testset):
                raise MtEvalError(f"metric {key}: {arr.shape[0]} statistics rows for {len(testset)} segments")
            all_stats[system.name][key] = arr
            if metric.reports_details:
                details.setdefault(system.name, {})[key] = kept if kept is not None else check_details(
                    key, metric.details, len(testset))
            signatures.setdefault(key, signature)
            stats_index[f"{system.name}\t{key}"] = {"key": cache_key, "signature": signature}
    for key, metric in resolved.items():
        signatures.setdefault(key, dict(metric.signature()))

    scores: dict[str, dict[str, ScoreEntry]] = {}
    sentence: dict[str, dict[str, list[float]]] = {}
    pairs = [(system.name, key) for system in ok for key in resolved]
    if pairs:
        say("bootstrap confidence intervals")
    intervals = dict(zip(pairs, confidence_intervals(
        [(resolved[key], all_stats[name][key]) for name, key in pairs], n_resamples, confidence, seed),
        strict=True))
    for system in ok:
        scores[system.name] = {}
        sentence[system.name] = {}
        for key, metric in resolved.items():
            arr = all_stats[system.name][key]
            low, high = intervals[(system.name, key)]
            scores[system.name][key] = ScoreEntry(
                score=metric.corpus_score(arr), ci_low=_finite_or_none(low), ci_high=_finite_or_none(high),
                signature=_signature_string(signatures[key]))
            sentence[system.name][key] = [float(v) for v in metric.sentence_scores(arr)]

    sig = None
    if ok:
        say(f"paired tests against {chosen}" if chosen else "paired tests between every pair of systems")
        sig = significance(resolved, all_stats, [s.name for s in ok], chosen, method=method,
                           n_resamples=n_resamples, seed=seed, all_pairs=all_pairs, alpha=alpha)

    flags: dict[str, list[list[str]]] = {}
    flag_counts: dict[str, dict[str, int]] = {}
    run_config = _jsonable(dict(config or {}))
    if checks:
        run_config["checks"] = check_config(check_options)
        for system in ok:
            if given_flags is not None and system.name in given_flags:  # mt-eval merge: the shards' flags
                flags[system.name], flag_counts[system.name] = given_flags[system.name]
                continue
            flags[system.name], flag_counts[system.name] = run_checks(testset, system.outputs, check_options,
                                                                      workers)
            _flag_truncation(system, flags[system.name], flag_counts[system.name])

    results = Results(
        schema_version=SCHEMA_VERSION,
        run_name=run_name or (root.name if root is not None else "run"),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        testset=TestsetInfo(hash=testset.content_hash, name=testset.name, source_lang=testset.source_lang,
                            target_lang=testset.target_lang, num_segments=len(testset),
                            manifest=testset.manifest()),
        systems={s.name: SystemInfo(spec=s.spec, signature=_jsonable(s.signature),
                                    environment=_jsonable(getattr(s, "environment", None) or {}),
                                    throughput=_jsonable(s.throughput),
                                    status="ok" if s.status == "ok" else "skipped", reason=s.reason)
                 for s in systems},
        metrics={key: MetricInfo(spec=_jsonable(m.spec()), signature=signatures[key],
                                 signature_string=_signature_string(signatures[key]),
                                 higher_is_better=bool(m.higher_is_better))
                 for key, m in resolved.items()},
        scores=scores,
        significance=sig,
        flags=flag_counts,
        bootstrap=BootstrapInfo(n_resamples=n_resamples, confidence=confidence, seed=seed),
        environment=environment_info(),
        config=run_config,
    )
    records = build_segment_records(testset, {s.name: s.outputs for s in ok}, sentence, flags)
    results = apply_details(results, records, details)
    run = RunResult(results=results, records=records, stats=all_stats, path=root, details=details)
    if root is not None:
        say(f"writing {root}")
        write_run_folder(root, run, {s.name: s.outputs for s in ok}, stats_index)
    return run


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


def _segment_stats(metric: Metric, hyps: Sequence[str], refs: Sequence[Sequence[str]],
                   sources: Sequence[str], workers: int) -> np.ndarray:
    """Every metric gets the sources (COMET-style metrics read them; the others ignore them)."""
    return metric.segment_stats(hyps, refs, sources=sources, workers=workers)


def _signature_string(signature: Mapping[str, Any]) -> str:
    return "|".join(f"{k}:{v}" for k, v in signature.items())


def _jsonable(obj: Any) -> Any:
    """Round-trip through JSON so that results.json holds only plain data (no pickle, no objects)."""
    return json.loads(json.dumps(obj, default=str))


# ---------------------------------------------------------------------------------------- re-reading
def rebuild_metrics(results: Results) -> dict[str, Metric]:
    """Metric objects from the specs recorded in a run; refuses one whose signature changed since."""
    from mt_eval.metrics.registry import metric_from_spec

    metrics: dict[str, Metric] = {}
    for key, info in results.metrics.items():
        metric = metric_from_spec(info.spec)
        _check_signature(key, info.signature, metric.signature(), where="this installation")
        metrics[key] = metric
    return metrics


def _check_signature(key: str, recorded: Mapping[str, Any], current: Mapping[str, Any], *,
                     where: str) -> None:
    """Fields known on both sides must agree (``?`` marks a field not known until statistics exist)."""
    for name in sorted(set(recorded) & set(current)):
        a, b = str(recorded[name]), str(current[name])
        if a != b and "?" not in (a, b):
            raise IncompatibleError(f"metric {key}: signature field {name} differs ({a} in the run,"
                                    f" {b} in {where}); scores cannot be combined")
