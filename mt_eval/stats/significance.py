"""Paired significance tests with sacrebleu's semantics, vectorised over resamples.

* ``paired_bootstrap`` — sacrebleu ``--paired-bs``: B bootstrap resamples shared by both systems.
  ``p_value_rule="sacrebleu"`` gives sacrebleu's p = (#{|Δ_b| − mean_b|Δ_b| > |Δ|} + 1) / (B + 1)
  bit for bit. Taking the absolute value *before* centring makes that rule reject about 12% of
  true null hypotheses at α = 0.05 (tests/stats), so the default is ``"centered"``:
  p = (#{|Δ_b − Δ| ≥ |Δ|} + 1) / (B + 1), the bootstrap two-sided test, which is calibrated.
* Identical statistics for both systems give p = 1 (sacrebleu's strict ">" would give 1/(B+1),
  calling a system significantly different from itself).
* ``approximate_randomization`` — sacrebleu ``--paired-ar``: T trials, each segment's outputs swapped
  between the two systems with probability ½. Default: p = (#{|Δ_t| ≥ |Δ|} + 1) / (T + 1) — ties
  count, since swapping segments whose statistics are equal reproduces ±Δ exactly — and, when only k
  segments differ and 2^k ≤ T, every one of the 2^k swaps is enumerated: p = c / 2^k, exact.
  sacrebleu's strict p = (#{|Δ_t| > |Δ|} + 1) / (T + 1) calls one changed segment in 60 "p = 0.0001";
  it is kept only under ``p_value_rule="sacrebleu"``.

Both draw their randomness exactly as sacrebleu does for a given seed (default 12345, sacrebleu's
default), so with ``p_value_rule="sacrebleu"`` the p-values equal its CLI's, up to float32 rounding in
sacrebleu's own sums. Resampled statistics are ``counts @ stats``
in int64/float64, in chunks of resamples that fit a memory budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric, summed_stats
from mt_eval.settings import ALPHA, AR_TRIALS, PAIRED_BS, RESAMPLES, SEED, SMALL_SAMPLE
from mt_eval.settings import canonical_method as _canonical
from mt_eval.stats.bootstrap import bootstrap_scores
from mt_eval.stats.resampling import StatsSummer, iter_sign_masks

# Calibration (scripts/calibrate_tests.py → results/bench/calibration.json, α = 0.05): the paired
# bootstrap's type-I error is 6.4–9.9% at N ≤ 30 segments and 5.1–5.4% at 50–100, while AR stays at
# 3.0–5.1% at every N. Below 100 segments (a margin over the hard limit of ~50) the default method is
# therefore AR, whose exact enumeration needs no large-sample argument, and every verdict warns.
# (SMALL_SAMPLE itself is defined in mt_eval.settings, with the other defaults)
PValueRule = Literal["centered", "sacrebleu"]



@dataclass(frozen=True)
class PairedTestResult:
    """One system against one baseline on one metric."""

    method: str
    baseline_score: float
    system_score: float
    delta: float  # system - baseline
    p_value: float
    n_resamples: int
    seed: int | None
    delta_ci_low: float | None = None  # 95% percentile interval of the resampled delta (paired-bs only)
    delta_ci_high: float | None = None
    # paired-bs: "centered" or "sacrebleu"; paired-ar: "ge" (ties count), "exact" (all 2^k swaps
    # enumerated; n_resamples is then 2^k) or "sacrebleu" (strict ">")
    p_value_rule: str = "sacrebleu"
    # 95% percentile intervals of each system's score from the same resamples (paired-bs only), as
    # sacrebleu's --paired-bs table reports them
    baseline_ci_low: float | None = None
    baseline_ci_high: float | None = None
    system_ci_low: float | None = None
    system_ci_high: float | None = None

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p_value < alpha

    def signature(self) -> dict[str, str]:
        """sacrebleu's test fields (``bs``/``ar`` trials, ``seed``) plus the p-value rule."""
        trials = "bs" if self.method == "paired-bs" else "ar"
        return {"test": self.method, trials: str(self.n_resamples), "seed": str(self.seed).lower(),
                "prule": self.p_value_rule}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def canonical_method(method: str) -> str:
    """``paired-bs`` or ``paired-ar`` for any accepted spelling (``bootstrap``, ``ar``, …); the
    vocabulary is :data:`mt_eval.settings.METHOD_ALIASES`."""
    try:
        return _canonical(method)
    except ValueError as exc:
        raise MtEvalError(str(exc)) from None


def choose_method(n_segments: int, requested: str | None) -> tuple[str, list[str]]:
    """The test to run and the warnings a reader must see: small test sets default to exact AR."""
    warnings = []
    if 0 < n_segments < SMALL_SAMPLE:
        warnings.append(f"only {n_segments} segments: bootstrap p-values and intervals are unreliable below "
                        f"{SMALL_SAMPLE} segments; treat every verdict on this test set as indicative")
    if requested is not None:
        return canonical_method(requested), warnings
    return ("paired-ar" if 0 < n_segments < SMALL_SAMPLE else "paired-bs"), warnings


def _as_stats(metric: Metric, stats: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(stats)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise MtEvalError(f"metric {metric.name}: {what} statistics must be a non-empty (N, D) array")
    return arr


def _observed(metric: Metric, stats: np.ndarray) -> float:
    """Corpus score through the vectorised formula, the one the resamples use (no ulp mismatch at ties)."""
    return float(metric.score_from_stats(summed_stats(stats)))


Group = tuple[Metric, np.ndarray, list[np.ndarray]]  # (metric, baseline stats, systems' stats)


def _bootstrap_groups(groups: Sequence[Group], n_resamples: int, seed: int | None,
                      rule: str) -> list[list[PairedTestResult]]:
    """Every (metric, baseline, systems) group on the same B resamples: one draw, one product per chunk."""
    items = [(metric, stats) for metric, bl, systems in groups for stats in [bl, *systems]]
    all_scores = bootstrap_scores(items, n_resamples, seed)
    out = []
    offset = 0
    for metric, baseline, systems in groups:
        scores = all_scores[offset:offset + 1 + len(systems)]
        offset += 1 + len(systems)
        bl_obs = _observed(metric, baseline)
        bl_score = metric.corpus_score(baseline)
        bl_low, bl_high = np.quantile(scores[0], [0.025, 0.975])
        results = []
        for sys_stats, sys_scores in zip(systems, scores[1:], strict=True):
            sys_obs = _observed(metric, sys_stats)
            diff = abs(bl_obs - sys_obs)
            deltas = sys_scores - scores[0]
            if rule == "sacrebleu":
                sample = np.abs(deltas)
                extreme = int(np.sum(sample - sample.mean() > diff))
            else:
                extreme = int(np.sum(np.abs(deltas - (sys_obs - bl_obs)) >= diff))
            p = (extreme + 1) / (n_resamples + 1)
            if np.array_equal(sys_stats, baseline):
                p = 1.0  # the same outputs: no evidence of a difference (sacrebleu's rule says 1/(B+1))
            low, high = np.quantile(deltas, [0.025, 0.975])
            sys_low, sys_high = np.quantile(sys_scores, [0.025, 0.975])
            sys_score = metric.corpus_score(sys_stats)
            results.append(PairedTestResult("paired-bs", bl_score, sys_score, sys_score - bl_score, p,
                                            n_resamples, seed, float(low), float(high), rule,
                                            float(bl_low), float(bl_high), float(sys_low), float(sys_high)))
        out.append(results)
    return out


def _tie_tolerance(observed: float) -> float:
    """Resampled |Δ| that equal the observed |Δ| up to float summation order count as ties (≥)."""
    return 1e-9 * max(1.0, abs(observed))


def _differing_rows(baseline: np.ndarray, system: np.ndarray) -> np.ndarray:
    """Indices of the segments whose statistics differ: only these can move Δ when swapped."""
    return np.flatnonzero(np.any(baseline != system, axis=1))


def _exact_ar(metric: Metric, baseline: np.ndarray, system: np.ndarray, rows: np.ndarray,
              observed: float) -> tuple[int, int]:
    """All 2^k swaps of the k differing segments: (number with |Δ_t| ≥ |Δ|, 2^k)."""
    k = len(rows)
    total = 1 << k
    diffs = (baseline[rows] - system[rows])
    bl_total, sys_total = baseline.sum(axis=0), system.sum(axis=0)
    count = 0
    step = max(1, min(total, (1 << 16)))
    for start in range(0, total, step):
        codes = np.arange(start, min(total, start + step), dtype=np.int64)
        masks = ((codes[:, None] >> np.arange(k, dtype=np.int64)) & 1).astype(diffs.dtype)
        moved = masks @ diffs
        score_a = metric.score_from_stats(sys_total + moved)
        score_b = metric.score_from_stats(bl_total - moved)
        count += int(np.sum(np.abs(score_a - score_b) >= observed - _tie_tolerance(observed)))
    return count, total


def _ar_groups(groups: Sequence[Group], n_trials: int, seed: int | None,
               rule: str) -> list[list[PairedTestResult]]:
    """Every group on the same T swap masks (sacrebleu reuses one mask for every system too).

    ``rule="sacrebleu"``: sacrebleu's p = (#{|Δ_t| > |Δ|} + 1) / (T + 1), bit for bit. Otherwise ties
    count (|Δ_t| ≥ |Δ|): with few differing segments most swaps reproduce ±Δ exactly, and the strict
    rule would call a one-segment change "p = 0.0001". When the k differing segments allow no more
    than T distinct swaps (2^k ≤ T), all of them are enumerated and p = c / 2^k is exact.
    """
    n = groups[0][1].shape[0]
    prepared = []
    exact: list[list[tuple[int, int] | None]] = []
    for metric, baseline, systems in groups:
        # shuffled A = sys + swap @ (bl - sys); shuffled B = bl - swap @ (bl - sys)
        diffs = StatsSummer(np.concatenate([baseline - s for s in systems], axis=1), n)
        bl_obs = _observed(metric, baseline)
        observed = [abs(bl_obs - _observed(metric, s)) for s in systems]
        prepared.append((diffs, baseline.sum(axis=0), [s.sum(axis=0) for s in systems], observed))
        group_exact: list[tuple[int, int] | None] = []
        for s, obs in zip(systems, observed, strict=True):
            rows = _differing_rows(baseline, s)
            if rule != "sacrebleu" and (1 << min(len(rows), 62)) <= n_trials:
                group_exact.append(_exact_ar(metric, baseline, s, rows, obs))
            else:
                group_exact.append(None)
        exact.append(group_exact)
    counted = [np.zeros(len(g[2]), dtype=np.int64) for g in groups]
    if any(e is None for group_exact in exact for e in group_exact):
        for mask in iter_sign_masks(n, n_trials, seed):
            for (metric, baseline, _), (diffs, bl_total, sys_totals, observed), count, group_exact in zip(
                    groups, prepared, counted, exact, strict=True):
                d = baseline.shape[1]
                moved = diffs(mask)
                for k, sys_total in enumerate(sys_totals):
                    if group_exact[k] is not None:
                        continue
                    part = moved[:, k * d:(k + 1) * d]
                    deltas = np.abs(metric.score_from_stats(sys_total + part)
                                    - metric.score_from_stats(bl_total - part))
                    if rule == "sacrebleu":
                        count[k] += int(np.sum(deltas > observed[k]))
                    else:
                        count[k] += int(np.sum(deltas >= observed[k] - _tie_tolerance(observed[k])))
    out = []
    for (metric, baseline, systems), count, group_exact in zip(groups, counted, exact, strict=True):
        bl_score = metric.corpus_score(baseline)
        results = []
        for k, sys_stats in enumerate(systems):
            sys_score = metric.corpus_score(sys_stats)
            found = group_exact[k]
            if found is not None:
                c, total = found
                p, trials, used = c / total, total, "exact"
            else:
                p, trials = (int(count[k]) + 1) / (n_trials + 1), n_trials
                used = "sacrebleu" if rule == "sacrebleu" else "ge"
            if np.array_equal(sys_stats, baseline):
                p = 1.0  # the same outputs: no evidence of a difference
            results.append(PairedTestResult("paired-ar", bl_score, sys_score, sys_score - bl_score, p,
                                            trials, seed, p_value_rule=used))
        out.append(results)
    return out


def _run_groups(groups: Sequence[tuple[Metric, np.ndarray, Sequence[np.ndarray]]], method: str,
                n_resamples: int | None, seed: int | None,
                rule: str = "centered") -> list[list[PairedTestResult]]:
    kind = canonical_method(method)
    if rule not in ("centered", "sacrebleu"):
        raise MtEvalError(f"unknown p-value rule {rule!r} (centered or sacrebleu)")
    checked: list[Group] = []
    n_segments = None
    for metric, baseline_stats, system_stats in groups:
        bl = _as_stats(metric, baseline_stats, "baseline")
        systems = [_as_stats(metric, s, "system") for s in system_stats]
        for s in systems:
            if s.shape != bl.shape:
                raise MtEvalError(f"metric {metric.name}: system statistics {s.shape} do not match the "
                                  f"baseline's {bl.shape} (different test set or metric options)")
        if n_segments is not None and bl.shape[0] != n_segments:
            raise MtEvalError(f"metric {metric.name}: {bl.shape[0]} segments, other metrics have "
                              f"{n_segments}")
        n_segments = bl.shape[0]
        checked.append((metric, bl, systems))
    if not checked:
        return []
    if kind == "paired-bs":
        return _bootstrap_groups(checked, n_resamples or RESAMPLES, seed, rule)
    return _ar_groups(checked, n_resamples or AR_TRIALS, seed, rule)


def paired_bootstrap(metric: Metric, baseline_stats: np.ndarray, system_stats: np.ndarray,
                     n_resamples: int = RESAMPLES, seed: int | None = SEED, *,
                     p_value_rule: PValueRule = "centered") -> PairedTestResult:
    """sacrebleu's paired bootstrap resampling test (``--paired-bs``) on precomputed statistics."""
    return _run_groups([(metric, baseline_stats, [system_stats])], "paired-bs", n_resamples, seed,
                       p_value_rule)[0][0]


def approximate_randomization(metric: Metric, baseline_stats: np.ndarray, system_stats: np.ndarray,
                              n_resamples: int = AR_TRIALS, seed: int | None = SEED, *,
                              p_value_rule: PValueRule = "centered") -> PairedTestResult:
    """Paired approximate randomisation (sacrebleu's ``--paired-ar`` draws) on precomputed statistics.

    Ties count and small differences are enumerated exactly; ``p_value_rule="sacrebleu"`` gives
    sacrebleu's strict-inequality p-value instead.
    """
    return _run_groups([(metric, baseline_stats, [system_stats])], "paired-ar", n_resamples, seed,
                       p_value_rule)[0][0]


def compare_to_baseline(metric: Metric, stats_by_system: Mapping[str, np.ndarray], baseline: str, *,
                        method: str = PAIRED_BS, all_pairs: bool = False, n_resamples: int | None = None,
                        seed: int | None = SEED,
                        p_value_rule: PValueRule = "centered") -> dict[tuple[str, str], PairedTestResult]:
    """Test every system against ``baseline`` and, with ``all_pairs``, every other pair too.

    Returns ``{(baseline_name, system_name): result}``; every pair shares the same random draws.
    ``n_resamples`` defaults to sacrebleu's (1000 for paired-bs, 10000 for paired-ar).
    """
    return compare_metrics_to_baseline({metric.name: metric}, {metric.name: stats_by_system}, baseline,
                                       method=method, all_pairs=all_pairs, n_resamples=n_resamples, seed=seed,
                                       p_value_rule=p_value_rule)[metric.name]


def _pairs(names: Sequence[str], baseline: str, all_pairs: bool) -> list[tuple[str, list[str]]]:
    others = [n for n in names if n != baseline]
    groups: list[tuple[str, list[str]]] = [(baseline, others)]
    if all_pairs:
        groups += [(a, others[i + 1:]) for i, a in enumerate(others) if others[i + 1:]]
    return [(anchor, rivals) for anchor, rivals in groups if rivals]


def compare_metrics_to_baseline(metrics: Mapping[str, Metric], stats: Mapping[str, Mapping[str, np.ndarray]],
                                baseline: str, *, method: str = PAIRED_BS, all_pairs: bool = False,
                                n_resamples: int | None = None, seed: int | None = SEED,
                                p_value_rule: PValueRule = "centered",
                                ) -> dict[str, dict[tuple[str, str], PairedTestResult]]:
    """:func:`compare_to_baseline` for several metrics at once: ``stats[metric_key][system]``.

    All metrics share one draw of resample counts (or swap masks) and one product per chunk, and the
    results equal separate :func:`compare_to_baseline` calls with the same seed.
    """
    groups, where = [], []
    for key, metric in metrics.items():
        by_system = stats[key]
        if baseline not in by_system:
            raise MtEvalError(f"baseline system {baseline!r} not among the systems: {', '.join(by_system)}")
        for anchor, rivals in _pairs(list(by_system), baseline, all_pairs):
            groups.append((metric, by_system[anchor], [by_system[r] for r in rivals]))
            where.append((key, anchor, rivals))
    results = _run_groups(groups, method, n_resamples, seed, p_value_rule)
    out: dict[str, dict[tuple[str, str], PairedTestResult]] = {key: {} for key in metrics}
    for (key, anchor, rivals), group_results in zip(where, results, strict=True):
        for rival, result in zip(rivals, group_results, strict=True):
            out[key][(anchor, rival)] = result
    return out
