"""Meta-evaluation: how well does each metric of a run agree with the human scores of that run?

Every statistic compares a metric with a *gold* (human) metric on the same systems and segments.
Scores are oriented first, so that higher is better for both (a lower-is-better metric such as TER
is negated). Definitions follow google-research/mt-metrics-eval (``stats.py``, ``pce.py``,
``tau_optimization.py``), which computes the WMT metrics-task results:

- **pairwise accuracy** (system level; Kocmi et al., 2021, "To Ship or Not to Ship"): the share of
  system pairs ``i < j`` with ``sign(h_i - h_j) == sign(m_i - m_j)`` — mt-metrics-eval's
  ``stats.Agreement`` (a pair tied in both counts as agreeing).
- **soft pairwise accuracy, SPA** (system level; Thompson et al., 2024, "Improving Statistical
  Significance in Human Evaluation of Automatic Metrics via Soft Pairwise Accuracy", the WMT24
  metrics-task system-level statistic): ``1 - mean_{i<j} |p_h(i>j) - p_m(i>j)|``, where ``p(i>j)``
  is the one-sided paired-permutation p-value that system i beats system j: the share of
  permutations whose swapped difference is ``>=`` the observed one (``pce.compute_pairwise_p_values``
  and ``compute_one_minus_pce``). Permutation masks are drawn as there (``default_rng(seed).random``
  in float32, rounded to 0/1; default seed 4), so a mean-of-segments metric gets their p-values. A
  corpus metric (BLEU, chrF) is permuted on its per-segment sufficient statistics and re-scored,
  which is the same test for its own corpus score.
- **Pearson** (system level): Pearson's r of the system scores (needs 3 systems).
- **acc_eq** (segment level; Deutsch, Foster and Freitag, 2023, "Ties Matter: Meta-Evaluating Modern
  Metrics with Pairwise Accuracy and Tie Calibration"; WMT23/WMT24 segment level): grouped by item,
  for each segment the pairs of systems are compared; ``acc23 = (concordant + tied in both) / pairs``
  (``KendallVariants(variant='acc23')``), averaged over segments. ``acc_eq`` adds *tie calibration*
  (``KendallWithTiesOpt``, ``sample_rate=1``): metric differences ``<= epsilon`` count as ties, with
  epsilon chosen to maximise the average; ``acc23`` reports epsilon 0.

Confidence intervals are percentile bootstrap intervals over segments (one draw of resample counts
shared by every statistic and metric, like the run's CIs). In a resample, system scores are recomputed
from the resampled statistics; acc_eq keeps the epsilon calibrated on all segments; SPA reruns the
permutation tests on the first ``spa_resamples`` resamples only (it costs a permutation test per
system pair and resample).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric, summed_stats
from mt_eval.settings import CONFIDENCE, RESAMPLES, SEED
from mt_eval.stats.resampling import iter_resample_counts, resampled_sums

FORMAT = "mt-eval-meta"
VERSION = 1
DEFAULT_PERMUTATIONS = 1000
DEFAULT_PERMUTATION_SEED = 4  # mt-metrics-eval's pce.compute_pairwise_p_values default
DEFAULT_SPA_RESAMPLES = 200
#: upper bounds of the options: beyond them a run takes days (a typo, not a wish for precision)
MAX_META_RESAMPLES = 1_000_000
MAX_SPA_RESAMPLES = 10_000
STATISTICS = ("pairwise_accuracy", "spa", "pearson", "acc_eq", "acc23")
_REL_TOL = 1e-9  # an exactly equal permuted difference must count as ">=" despite float rounding

DEFINITIONS = {
    "pairwise_accuracy": "system pairs ordered alike by metric and humans (ties alike count)"
                         " / all pairs; Kocmi et al. 2021; mt-metrics-eval stats.Agreement",
    "spa": "1 - mean |p_human(i>j) - p_metric(i>j)| over system pairs, one-sided paired permutation"
           " p-values; Thompson et al. 2024 (WMT24); mt-metrics-eval pce.py",
    "pearson": "Pearson r of system scores (needs >= 3 systems)",
    "acc_eq": "segment-level pairwise accuracy with ties, grouped by item, tie-calibrated epsilon;"
              " Deutsch et al. 2023 'Ties Matter'; mt-metrics-eval KendallWithTiesOpt(variant='acc23')",
    "acc23": "acc_eq with epsilon 0 (no tie calibration); mt-metrics-eval KendallVariants(variant='acc23')",
}


# ------------------------------------------------------------------------------ plain statistics
def pairwise_accuracy(gold: Sequence[float] | np.ndarray, metric: Sequence[float] | np.ndarray) -> float:
    """Share of pairs ``i < j`` ordered alike (``sign`` equal, ties included); needs two items."""
    h, m = _pair_signs(_rows(gold), _rows(metric))
    if h.shape[-1] == 0:
        raise MtEvalError("pairwise accuracy needs at least 2 systems")
    return float((h == m).mean())


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float | None:
    """Pearson's r; ``None`` with fewer than 3 values or a constant vector (undefined)."""
    r = _pearson_rows(_rows(x), _rows(y))[0]
    return None if not np.isfinite(r) else float(r)


def _rows(values: Any) -> np.ndarray:
    """A vector or matrix of scores as a 2-D float64 array (a vector is one row)."""
    return np.atleast_2d(np.asarray(values, dtype=np.float64))


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise Pearson r of ``(B, S)`` arrays; NaN where undefined."""
    if x.shape[-1] < 3:
        return np.full(x.shape[0], np.nan)
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=1) / den
    scale = np.maximum(np.abs(x).max(axis=1), 1.0) * np.maximum(np.abs(y).max(axis=1), 1.0)
    return np.where(den > 1e-12 * scale, np.clip(r, -1.0, 1.0), np.nan)


def _pair_signs(gold: np.ndarray, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signs of the differences of every pair ``i < j`` along the last axis."""
    i, j = np.triu_indices(gold.shape[-1], 1)
    return np.sign(gold[..., i] - gold[..., j]), np.sign(metric[..., i] - metric[..., j])


@dataclass(frozen=True)
class TieCounts:
    """Kendall sufficient statistics (mt-metrics-eval's ``TauSufficientStats``), summed over items."""

    con: int
    dis: int
    ties_human: int
    ties_metric: int
    ties_both: int

    @property
    def pairs(self) -> int:
        return self.con + self.dis + self.ties_human + self.ties_metric + self.ties_both

    def tau_b(self) -> float:
        """Kendall's tau-b (as scipy.stats.kendalltau), from the same counts."""
        n0 = self.pairs
        return (self.con - self.dis) / np.sqrt((n0 - self.ties_metric - self.ties_both)
                                               * (n0 - self.ties_human - self.ties_both))


def _item_pair_diffs(gold: np.ndarray, metric: np.ndarray, check: bool = False) -> tuple[np.ndarray, ...]:
    """Human and metric differences of every pair of systems ``i < j`` within each item (row)."""
    g, m = _rows(gold), _rows(metric)
    if check and (g.shape != m.shape or g.shape[-1] < 2):
        raise MtEvalError("segment-level accuracy needs the same (segments, systems) shape and >= 2 systems")
    i, j = np.triu_indices(g.shape[-1], 1)
    return g[:, i] - g[:, j], m[:, i] - m[:, j]


def tie_counts(gold: np.ndarray, metric: np.ndarray, epsilon: float = 0.0) -> TieCounts:
    """Pair counts of ``(items, systems)`` arrays, pairs of systems within each item (row).

    A metric difference ``<= epsilon`` is a metric tie; a human difference is a tie only when 0.
    """
    dh, dm = _item_pair_diffs(gold, metric)
    h_tie, m_tie = dh == 0, np.abs(dm) <= epsilon
    return TieCounts(con=int((~h_tie & ~m_tie & (np.sign(dh) == np.sign(dm))).sum()),
                     dis=int((~h_tie & ~m_tie & (np.sign(dh) != np.sign(dm))).sum()),
                     ties_human=int((h_tie & ~m_tie).sum()), ties_metric=int((~h_tie & m_tie).sum()),
                     ties_both=int((h_tie & m_tie).sum()))


def acc23_per_item(gold: np.ndarray, metric: np.ndarray, epsilon: float = 0.0) -> np.ndarray:
    """acc23 of each item (row): ``(concordant + tied in both) / pairs`` with metric ties ``<= epsilon``."""
    dh, dm = _item_pair_diffs(gold, metric, check=True)
    h_tie, m_tie = dh == 0, np.abs(dm) <= epsilon
    correct = np.where(m_tie, h_tie, ~h_tie & (np.sign(dh) == np.sign(dm)))
    return np.asarray(correct.mean(axis=1), dtype=np.float64)


def tie_calibrated_acc(gold: np.ndarray, metric: np.ndarray) -> tuple[float, float]:
    """``(acc_eq, epsilon)``: acc23 averaged over items at the epsilon that maximises it.

    The candidates are 0 and every metric difference within an item, as in mt-metrics-eval's
    ``tau_optimization`` (sample_rate 1); on equal accuracy the smallest epsilon wins. Every item has
    the same number of pairs (no missing scores), so the item average is the pooled share.
    """
    dh, dm = (d.ravel() for d in _item_pair_diffs(gold, metric, check=True))
    h_tie = dh == 0
    as_is = np.where(dm == 0, h_tie, ~h_tie & (np.sign(dh) == np.sign(dm))).astype(np.int64)
    as_tie = h_tie.astype(np.int64)
    order = np.argsort(np.abs(dm), kind="stable")
    diffs = np.abs(dm)[order]
    gain = np.cumsum(as_tie[order] - as_is[order])  # made ties up to k (inclusive), relative to none
    last_of_group = np.r_[diffs[1:] != diffs[:-1], True]
    thresholds = np.r_[0.0, diffs[last_of_group]]
    totals = as_is.sum() + np.r_[0, gain[last_of_group]]
    if diffs.size and diffs[0] == 0.0:  # threshold 0 already holds the ties at 0 (they changed nothing)
        thresholds, totals = thresholds[1:], totals[1:]
    best = int(np.argmax(totals))  # first maximum: the smallest epsilon
    return float(totals[best] / dh.size), float(thresholds[best])


# ------------------------------------------------------------------------------ SPA
def permutation_masks(n_segments: int, n_permutations: int = DEFAULT_PERMUTATIONS,
                      seed: int | None = DEFAULT_PERMUTATION_SEED) -> np.ndarray:
    """``(P, N)`` float64 0/1 swap masks drawn exactly as mt-metrics-eval's ``pce`` draws them."""
    rng = np.random.default_rng(seed)
    return np.rint(rng.random(size=(n_permutations, n_segments), dtype=np.float32)).astype(np.float64)


def pairwise_p_values(metric: Metric, stats: Sequence[np.ndarray], masks: np.ndarray, *,
                      swapped: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """``(S, S)`` matrix, upper triangle: one-sided permutation p-value that system i beats system j.

    ``stats[s]`` are the per-segment statistics of system s; a swap exchanges a segment's statistics
    between the two systems, and both are re-scored: ``p = share(null delta >= observed delta)``
    with the delta oriented so that positive means "i better". ``swapped[s]`` may hold
    ``masks @ stats[s]`` computed beforehand (one product for many metrics is much faster).
    """
    sign = 1.0 if metric.higher_is_better else -1.0
    arrays = [np.asarray(s, dtype=np.float64) for s in stats]
    totals = [summed_stats(a) for a in arrays]
    if swapped is None:
        swapped = [masks @ a for a in arrays]  # (P, D): what the swap takes from each system
    scores = [float(metric.score_from_stats(t)) for t in totals]
    p = np.full((len(arrays), len(arrays)), np.nan)
    for a in range(len(arrays)):
        for b in range(a + 1, len(arrays)):
            moved = swapped[a] - swapped[b]
            null = sign * (metric.score_from_stats(totals[b] + moved)
                           - metric.score_from_stats(totals[a] - moved))
            observed = sign * (scores[a] - scores[b])
            tol = _REL_TOL * max(1.0, abs(scores[a]), abs(scores[b]))
            p[a, b] = float(np.mean(null >= observed - tol))
    return p


def p_values_by_metric(metrics: Mapping[str, Metric], stats: Mapping[str, Sequence[np.ndarray]],
                       masks: np.ndarray, index: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`pairwise_p_values` of several metrics (``stats[key][s]``), with one mask product for all.

    ``index`` selects (and repeats) segments: a bootstrap resample.
    """
    blocks = {key: [_select(a, index) for a in arrays] for key, arrays in stats.items()}
    flat = [a for arrays in blocks.values() for a in arrays]
    product = masks @ np.concatenate(flat, axis=1)
    out: dict[str, np.ndarray] = {}
    column = 0
    for key, arrays in blocks.items():
        swapped = []
        for a in arrays:
            swapped.append(product[:, column:column + a.shape[1]])
            column += a.shape[1]
        out[key] = pairwise_p_values(metrics[key], arrays, masks, swapped=swapped)
    return out


def _select(stats: np.ndarray, index: np.ndarray | None) -> np.ndarray:
    arr = np.asarray(stats, dtype=np.float64)
    return arr if index is None else arr[index]


def soft_pairwise_accuracy(gold_p: np.ndarray, metric_p: np.ndarray) -> float:
    """``1 - mean |p_gold - p_metric|`` over the upper triangle (mt-metrics-eval's one-minus-PCE)."""
    upper = np.triu_indices(gold_p.shape[0], 1)
    return float(1.0 - np.mean(np.abs(gold_p - metric_p)[upper]))


# ------------------------------------------------------------------------------ the run
@dataclass
class MetaSettings:
    n_resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    seed: int | None = SEED
    permutations: int = DEFAULT_PERMUTATIONS
    permutation_seed: int | None = DEFAULT_PERMUTATION_SEED
    spa_resamples: int = DEFAULT_SPA_RESAMPLES

    def check(self) -> None:
        if not 0.0 < self.confidence < 1.0:
            raise MtEvalError(f"confidence must be between 0 and 1, got {self.confidence}")
        for name in ("n_resamples", "permutations"):
            if getattr(self, name) < 1:
                raise MtEvalError(f"{name} must be at least 1")
        if self.spa_resamples < 0:
            raise MtEvalError("spa_resamples must be >= 0")
        for name, most in (("n_resamples", MAX_META_RESAMPLES), ("permutations", MAX_META_RESAMPLES),
                           ("spa_resamples", MAX_SPA_RESAMPLES)):
            if getattr(self, name) > most:  # a typo must not run for days (SPA reruns every permutation)
                flag = "--" + name.replace("n_", "").replace("_", "-")
                raise MtEvalError(f"{flag} {getattr(self, name)}: at most {most}")


@dataclass
class MetaResult:
    """Per metric key: statistic name -> ``{"value", "ci_low", "ci_high", ...}`` (JSON-ready)."""

    human: str
    systems: list[str]
    num_segments: int
    settings: MetaSettings
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self, *, run_name: str = "", human_signature: str = "",
                signatures: Mapping[str, str] | None = None) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "run_name": run_name, "human": self.human,
                "human_signature": human_signature, "systems": list(self.systems),
                "num_segments": self.num_segments, "settings": vars(self.settings).copy(),
                "definitions": dict(DEFINITIONS), "warnings": list(self.warnings),
                "metrics": {key: {"signature": (signatures or {}).get(key, ""), **values}
                            for key, values in self.metrics.items()}}


def meta_evaluate(metrics: Mapping[str, Metric], stats: Mapping[str, Mapping[str, np.ndarray]],
                  systems: Sequence[str], human: str, settings: MetaSettings | None = None) -> MetaResult:
    """Every metric of ``metrics`` other than ``human`` against ``human``, with bootstrap CIs.

    ``stats[system][key]`` are the per-segment statistics (as saved in the run folder).
    """
    cfg = settings or MetaSettings()
    cfg.check()
    if human not in metrics:
        raise MtEvalError(f"no metric {human!r} in the run (have: {', '.join(metrics)})")
    if len(systems) < 2:
        raise MtEvalError(f"meta-evaluation compares systems: the run has {len(systems)} evaluated"
                          " system(s), at least 2 are needed")
    others = [key for key in metrics if key != human]
    if not others:
        raise MtEvalError(f"the run has no metric other than {human!r} to meta-evaluate")
    n = int(np.asarray(stats[systems[0]][human]).shape[0])
    result = MetaResult(human=human, systems=list(systems), num_segments=n, settings=cfg)
    if len(systems) < 3:
        result.warnings.append(f"{len(systems)} systems: Pearson needs 3 (n/a); system-level statistics"
                               " rest on one pair")

    def oriented_system(key: str, summed: np.ndarray) -> np.ndarray:
        sign = 1.0 if metrics[key].higher_is_better else -1.0
        return sign * np.asarray(metrics[key].score_from_stats(summed), dtype=np.float64)

    def oriented_segments(key: str) -> np.ndarray:  # (N, S)
        sign = 1.0 if metrics[key].higher_is_better else -1.0
        return sign * np.stack([np.asarray(metrics[key].sentence_scores(stats[s][key]), dtype=np.float64)
                                for s in systems], axis=1)

    keys = [human, *others]
    full_sys = {k: np.array([oriented_system(k, summed_stats(np.asarray(stats[s][k]))) for s in systems])
                for k in keys}
    seg = {k: oriented_segments(k) for k in keys}
    masks = permutation_masks(n, cfg.permutations, cfg.permutation_seed)
    by_key = {k: [stats[s][k] for s in systems] for k in keys}
    p_full = p_values_by_metric(metrics, by_key, masks)

    point: dict[str, dict[str, float | None]] = {}
    item_acc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key in others:
        acc_eq, eps = tie_calibrated_acc(seg[human], seg[key])
        point[key] = {"pairwise_accuracy": pairwise_accuracy(full_sys[human], full_sys[key]),
                      "spa": soft_pairwise_accuracy(p_full[human], p_full[key]),
                      "pearson": pearson(full_sys[human], full_sys[key]),
                      "acc_eq": acc_eq, "epsilon": eps,
                      "acc23": float(acc23_per_item(seg[human], seg[key]).mean())}
        item_acc[key] = (acc23_per_item(seg[human], seg[key], eps), acc23_per_item(seg[human], seg[key]))

    # bootstrap: one shared draw of segment resamples for every metric and statistic
    samples: dict[str, dict[str, list[np.ndarray]]] = {k: {s: [] for s in STATISTICS} for k in others}
    spa_left = cfg.spa_resamples
    for counts in iter_resample_counts(n, cfg.n_resamples, cfg.seed):
        sys_scores = {k: np.stack([oriented_system(k, resampled_sums(counts, np.asarray(stats[s][k])))
                                   for s in systems], axis=1) for k in keys}  # (b, S)
        spa_rows = counts[:spa_left]
        spa_left -= spa_rows.shape[0]
        boots = [p_values_by_metric(metrics, by_key, masks, np.repeat(np.arange(n), row)) for row in spa_rows]
        hs = _pair_signs(sys_scores[human], sys_scores[human])[0]
        for key in others:
            ms = _pair_signs(sys_scores[key], sys_scores[key])[0]
            out = samples[key]
            out["pairwise_accuracy"].append((hs == ms).mean(axis=1))
            out["pearson"].append(_pearson_rows(sys_scores[human], sys_scores[key]))
            eq, a23 = item_acc[key]
            out["acc_eq"].append(counts @ eq / n)
            out["acc23"].append(counts @ a23 / n)
            if boots:
                out["spa"].append(np.array([soft_pairwise_accuracy(b[human], b[key]) for b in boots]))
    for key in others:
        result.metrics[key] = _with_intervals(point[key], samples[key], cfg.confidence, len(systems))
    return result


def _with_intervals(point: Mapping[str, float | None], samples: Mapping[str, list[np.ndarray]],
                    confidence: float, n_systems: int) -> dict[str, dict[str, Any]]:
    """Each statistic's value with its percentile bootstrap interval (finite resampled values only)."""
    alpha = (1.0 - confidence) / 2.0
    entry: dict[str, dict[str, Any]] = {}
    for name in STATISTICS:
        value = point[name]
        drawn = np.concatenate(samples[name]) if samples[name] else np.zeros(0)
        drawn = drawn[np.isfinite(drawn)]
        low = high = None
        if value is not None and drawn.size:
            low, high = (float(v) for v in np.quantile(drawn, [alpha, 1.0 - alpha]))
        entry[name] = {"value": value, "ci_low": low, "ci_high": high, "n_resamples": int(drawn.size)}
    entry["acc_eq"]["epsilon"] = point["epsilon"]
    entry["pairwise_accuracy"]["pairs"] = n_systems * (n_systems - 1) // 2
    return entry
