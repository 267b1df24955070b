"""Bootstrap confidence intervals over sufficient statistics (one matrix product per chunk of resamples)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric
from mt_eval.settings import CONFIDENCE, RESAMPLES, SEED
from mt_eval.stats.resampling import DEFAULT_CHUNK_BYTES, StatsSummer, iter_resample_counts


@dataclass(frozen=True)
class ConfidenceInterval:
    """Percentile bootstrap interval around the corpus score, plus sacrebleu's ``mean ± ci`` summary."""

    score: float
    low: float
    high: float
    mean: float
    sacrebleu_ci: float  # sacrebleu's half-width: 0.5 * (upper - lower) at ranks n//40 and n-n//40-1
    confidence: float
    n_resamples: int
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_stats(metric: Metric, stats: np.ndarray) -> np.ndarray:
    arr = np.asarray(stats)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise MtEvalError(f"metric {metric.name}: statistics must be a non-empty (N, D) array, "
                          f"got shape {arr.shape}")
    return arr


def bootstrap_scores(items: Sequence[tuple[Metric, np.ndarray]], n_resamples: int = RESAMPLES,
                     seed: int | None = SEED, *,
                     max_bytes: int = DEFAULT_CHUNK_BYTES) -> list[np.ndarray]:
    """Scores of the same B resamples for every ``(metric, stats)`` item: a list of ``(B,)`` arrays.

    All items must cover the same N segments; they share one draw of resample counts (that is what
    makes a bootstrap paired) and one ``counts @ stats`` product per dtype and chunk.
    """
    if not items:
        return []
    arrays = [_check_stats(m, s) for m, s in items]
    n = arrays[0].shape[0]
    for (metric, _), arr in zip(items, arrays, strict=True):
        if arr.shape[0] != n:
            raise MtEvalError(f"metric {metric.name}: statistics cover {arr.shape[0]} segments, expected {n}")
    groups: dict[str, list[int]] = {}
    for index, arr in enumerate(arrays):
        groups.setdefault("int" if arr.dtype.kind in "iub" else "float", []).append(index)
    # every resample row sums to n: that bounds every partial sum of the product
    summers = {kind: StatsSummer(np.concatenate([arrays[i] for i in idx], axis=1), n)
               for kind, idx in groups.items()}
    out: list[list[np.ndarray]] = [[] for _ in items]
    for counts in iter_resample_counts(n, n_resamples, seed, max_bytes=max_bytes):
        for kind, idx in groups.items():
            sums = summers[kind](counts)
            col = 0
            for i in idx:
                width = arrays[i].shape[1]
                scored = items[i][0].score_from_stats(sums[:, col:col + width])
                out[i].append(np.asarray(scored, dtype=np.float64))
                col += width
    return [np.concatenate(parts) for parts in out]


def bootstrap_ci(metric: Metric, stats: np.ndarray, n_resamples: int = RESAMPLES,
                 confidence: float = CONFIDENCE, seed: int | None = SEED, *,
                 max_bytes: int = DEFAULT_CHUNK_BYTES) -> ConfidenceInterval:
    """Percentile bootstrap CI of the corpus score (segments resampled with replacement)."""
    if not 0.0 < confidence < 1.0:
        raise MtEvalError(f"confidence must be between 0 and 1, got {confidence}")
    arr = _check_stats(metric, stats)
    (scores,) = bootstrap_scores([(metric, arr)], n_resamples, seed, max_bytes=max_bytes)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(scores, [alpha, 1.0 - alpha])
    ordered = np.sort(scores)
    lower_idx = len(ordered) // 40
    half = 0.5 * (ordered[len(ordered) - lower_idx - 1] - ordered[lower_idx])
    return ConfidenceInterval(score=metric.corpus_score(arr), low=float(low), high=float(high),
                              mean=float(scores.mean()), sacrebleu_ci=float(half), confidence=confidence,
                              n_resamples=n_resamples, seed=seed)
