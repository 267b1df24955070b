"""Score every perturbation with every metric through the metric contract, and judge each metric × canary.

A metric is only asked for what every metric gives (:mod:`mt_eval.metrics.base`): ``segment_stats`` of
all texts at once (the good outputs of the sampled segments, then every applicable perturbed text; one
call, so batched neural metrics and judges run as in a normal run), then ``sentence_scores``. Built-in,
COMET, judge and third-party metrics are treated alike; a judge's failed segments (``details``) are
counted apart, never scored.

Per metric × perturbation, on the segments where the perturbation applies:

* sensitivity: the share of segments whose sentence score got worse (direction-aware: TER is
  lower-is-better), strictly; *critical* canaries (empty, omission, copy, hallucination) fail below
  ``critical_min_pct`` (90%), the other sensitivity canaries warn below ``sensitivity_min_pct`` (75%);
* invariance: the share whose score moved by at most ``invariance_tolerance_pct`` (1%) of the metric's
  scale, the range of its sentence scores over the good and the empty outputs (BLEU, chrF: 1 point;
  a metric scored 0-1: 0.01); below ``invariance_min_pct`` (95%) it warns;
* the mean change of the sentence score with a percentile bootstrap interval (segments resampled with
  :func:`mt_eval.stats.resampling.iter_resample_counts`) and the change of the corpus score.

Fewer than ``min_applicable`` applicable segments make a row ``n/a``. A metric's verdict is ``fail`` when
a critical canary fails, ``incomplete`` when one is missing or ``n/a``, else ``warn`` or ``pass``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mt_eval.canaries.perturbations import (
    CRITICAL,
    INVARIANCE,
    Perturbation,
    Segments,
    select,
)
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric
from mt_eval.metrics.signature import MetricSignature, nrefs
from mt_eval.settings import CONFIDENCE, RESAMPLES, SEED
from mt_eval.stats.resampling import iter_resample_counts

MAX_SEGMENTS = 200  # default sample: ~200 × 22 texts per metric, affordable for an LLM judge
_EPS = 1e-9  # score changes below this are float noise, not a change

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


@dataclass(frozen=True)
class CanarySettings:
    """How canaries are drawn, scored and judged (percentages are of applicable segments)."""

    seed: int = SEED
    max_segments: int | None = MAX_SEGMENTS  # None or 0: every segment
    perturbations: tuple[str, ...] = ()  # empty: all of them
    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    critical_min_pct: float = 90.0
    sensitivity_min_pct: float = 75.0
    invariance_min_pct: float = 95.0
    invariance_tolerance_pct: float = 1.0
    min_applicable: int = 10
    workers: int = 1

    def thresholds(self) -> dict[str, float]:
        """The pass/warn thresholds, as recorded in ``canaries.json``."""
        return {k: v for k, v in asdict(self).items() if k.endswith("_pct") or k == "min_applicable"}


@dataclass
class Plan:
    """The sampled segments and every perturbed text (None: not applicable), before any scoring."""

    testset: TestSet
    segments: Segments
    indices: list[int]
    perturbations: list[Perturbation]
    texts: dict[str, list[str | None]] = field(default_factory=dict)

    def texts_per_metric(self) -> int:
        """Texts each metric scores: the good output of every sampled segment plus each perturbed text."""
        return len(self.indices) + sum(t is not None for texts in self.texts.values() for t in texts)

    def applicable(self) -> dict[str, int]:
        return {name: sum(t is not None for t in texts) for name, texts in self.texts.items()}


def sample_indices(n: int, max_segments: int | None, seed: int) -> list[int]:
    """A deterministic sample of segment positions (all when ``max_segments`` is None, 0 or ≥ n), sorted."""
    if not max_segments or max_segments >= n:
        return list(range(n))
    rng = np.random.default_rng([seed, n])
    return sorted(int(i) for i in rng.choice(n, size=max_segments, replace=False))


def plan_canaries(testset: TestSet, good: Sequence[str], settings: CanarySettings) -> Plan:
    """Draw the sample and build every perturbation (cheap: no metric runs)."""
    if len(good) != len(testset):
        raise MtEvalError(f"the good translation has {len(good)} outputs but the test set has {len(testset)}"
                          " segments")
    segments = Segments(testset.sources, testset.references, list(good), testset.target_lang)
    chosen = select(settings.perturbations)
    plan = Plan(testset, segments, sample_indices(len(testset), settings.max_segments, settings.seed),
                [p for p in chosen if p.applies_to(segments)])
    for p in plan.perturbations:
        plan.texts[p.name] = [p.apply(segments, i, settings.seed) for i in plan.indices]
    return plan


def _mean_ci(values: np.ndarray, settings: CanarySettings) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (segments resampled)."""
    n = len(values)
    means = np.concatenate([counts @ values for counts in
                            iter_resample_counts(n, settings.resamples, settings.seed)]) / n
    tail = (1.0 - settings.confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


@dataclass
class _Scored:
    """One metric's statistics and sentence scores of a plan's texts (NaN where the metric failed)."""

    metric: Metric
    stats: np.ndarray
    scores: np.ndarray
    offsets: dict[str, list[int]]  # perturbation -> row of each applicable text (-1: not applicable)
    seconds: float

    @property
    def good(self) -> np.ndarray:
        return self.scores[:len(self.offsets["__good__"])]


def score_plan(plan: Plan, metric: Metric, settings: CanarySettings) -> _Scored:
    """Every text of the plan scored by ``metric`` in one ``segment_stats`` call."""
    idx = plan.indices
    hyps = [plan.segments.good[i] for i in idx]
    rows = [*idx]
    offsets: dict[str, list[int]] = {"__good__": list(range(len(idx)))}
    for name, texts in plan.texts.items():
        offsets[name] = []
        for k, text in enumerate(texts):
            offsets[name].append(len(hyps) if text is not None else -1)
            if text is not None:
                hyps.append(text)
                rows.append(idx[k])
    refs = [plan.testset.references[i] for i in rows]
    sources = [plan.testset.sources[i] for i in rows]
    start = time.perf_counter()
    metric.use_languages(plan.testset.source_lang, plan.testset.target_lang)
    stats = np.asarray(metric.segment_stats(hyps, refs, sources=sources, workers=settings.workers))
    scores = np.asarray(metric.sentence_scores(stats), dtype=np.float64).copy()
    details = metric.details if metric.reports_details else None
    if details is not None and len(details) == len(hyps):
        scores[[k for k, d in enumerate(details) if d.failure is not None]] = np.nan
    scores[~np.isfinite(scores)] = np.nan
    return _Scored(metric, stats, scores, offsets, time.perf_counter() - start)


def _scale(scored: _Scored) -> float:
    """The range of the metric's sentence scores over the good and the empty outputs (its scale)."""
    empty = [r for r in scored.offsets.get("empty", []) if r >= 0]
    values = np.concatenate([scored.good, scored.scores[empty]]) if empty else scored.scores
    values = values[np.isfinite(values)]
    return float(values.max() - values.min()) if values.size else 0.0


def _status(p: Perturbation, share: float, usable: int, settings: CanarySettings) -> tuple[str, float]:
    if p.kind == INVARIANCE:
        threshold = settings.invariance_min_pct
    else:
        threshold = settings.critical_min_pct if p.critical else settings.sensitivity_min_pct
    if usable < settings.min_applicable:
        return "n/a", threshold
    if share >= threshold:
        return "pass", threshold
    return ("fail" if p.critical else "warn"), threshold


def judge_row(p: Perturbation, scored: _Scored, settings: CanarySettings, tolerance: float) -> dict[str, Any]:
    """One metric × perturbation row of ``canaries.json``."""
    pairs = [(k, r) for k, r in enumerate(scored.offsets[p.name]) if r >= 0]
    failed = {k for k, r in pairs if not (np.isfinite(scored.scores[r]) and np.isfinite(scored.good[k]))}
    ok = [(k, r) for k, r in pairs if k not in failed]
    delta = np.array([scored.scores[r] - scored.good[k] for k, r in ok], dtype=np.float64)
    sign = 1.0 if scored.metric.higher_is_better else -1.0
    worse = int(np.sum(sign * delta < -_EPS))
    better = int(np.sum(sign * delta > _EPS))
    stable = int(np.sum(np.abs(delta) <= tolerance + _EPS))
    n = len(ok)
    caught = stable if p.kind == INVARIANCE else worse
    share = 100.0 * caught / n if n else 0.0
    status, threshold = _status(p, share, n, settings)
    row: dict[str, Any] = {
        "kind": p.kind, "critical": p.critical, "applicable": len(pairs),
        "not_applicable": len(scored.offsets[p.name]) - len(pairs), "failed": len(failed), "worse": worse,
        "unchanged": n - worse - better, "better": better, "stable": stable, "share_pct": round(share, 2),
        "threshold_pct": threshold, "status": status, "mean_delta": None, "ci_low": None, "ci_high": None,
        "corpus_delta": None}
    if n:
        low, high = _mean_ci(delta, settings)
        good_rows = np.array([k for k, _ in ok])
        corpus_delta = (scored.metric.corpus_score(scored.stats[[r for _, r in ok]])
                        - scored.metric.corpus_score(scored.stats[good_rows]))
        row.update(mean_delta=round(float(delta.mean()), 4), ci_low=round(low, 4), ci_high=round(high, 4),
                   corpus_delta=round(float(corpus_delta), 4))
    return row


def metric_verdict(rows: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]]:
    """``fail`` / ``incomplete`` / ``warn`` / ``pass`` and the reasons (one per canary that is not pass)."""
    reasons = []
    verdict = "pass"
    for name in CRITICAL:
        row = rows.get(name)
        if row is None or row["status"] == "n/a":
            reasons.append(f"{name}: not measured" if row is None else
                           f"{name}: only {row['applicable'] - row['failed']} applicable segments")
            verdict = "incomplete" if verdict != "fail" else verdict
        elif row["status"] == "fail":
            reasons.append(f"{name}: caught {row['share_pct']:.0f}% < {row['threshold_pct']:.0f}%")
            verdict = "fail"
    for name, row in rows.items():
        if row["status"] == "warn":
            what = "stable" if row["kind"] == INVARIANCE else "caught"
            reasons.append(f"{name}: {what} {row['share_pct']:.0f}% < {row['threshold_pct']:.0f}%")
            verdict = "warn" if verdict == "pass" else verdict
    return verdict, reasons


def metric_entry(plan: Plan, metric: Metric, settings: CanarySettings) -> dict[str, Any]:
    """Score one metric on the plan and judge every perturbation: its ``canaries.json`` entry."""
    scored = score_plan(plan, metric, settings)
    scale = _scale(scored)
    tolerance = settings.invariance_tolerance_pct / 100.0 * scale
    rows = {p.name: judge_row(p, scored, settings, tolerance) for p in plan.perturbations}
    verdict, reasons = metric_verdict(rows)
    signature = MetricSignature.of(metric, nrefs(plan.testset.references))
    return {"spec": metric.spec(), "signature": signature.as_dict(), "signature_string": str(signature),
            "higher_is_better": metric.higher_is_better, "scale": round(scale, 4),
            "tolerance": round(tolerance, 6), "texts_scored": len(scored.scores),
            "failed_good": int(np.sum(~np.isfinite(scored.good))), "seconds": round(scored.seconds, 2),
            "verdict": verdict, "reasons": reasons, "rows": rows}


def run_canaries(plan: Plan, metrics: Mapping[str, Metric], settings: CanarySettings,
                 progress: Progress = _quiet) -> dict[str, dict[str, Any]]:
    """Every metric's entry (``key -> entry``), metrics closed afterwards."""
    out: dict[str, dict[str, Any]] = {}
    try:
        for key, metric in metrics.items():
            progress(f"canaries: scoring {plan.texts_per_metric()} texts with {key}")
            out[key] = metric_entry(plan, metric, settings)
    finally:
        for metric in metrics.values():
            metric.close()
    return out
