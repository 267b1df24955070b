"""The smallest change a paired test can see: the minimum detectable difference (MDE) of a metric.

A paired test (paired bootstrap or approximate randomisation) sees the corpus score difference Δ
against the spread of the per-segment differences, which a baseline alone cannot give. The spread is
therefore modelled from the baseline's own per-segment spread under a stated *design*:

* every metric's corpus score is linearised around the baseline's summed statistics T:
  ``f(T + δ) ≈ f(T) + ∇f(T)·δ``, so segment i contributes ``u_i = f(T) + N ∇f(T)·(s_i − T/N)`` (in
  score points; for a mean of sentence scores, ``u_i`` is the sentence score) and a candidate whose
  segment statistics are ``s'_i`` differs by ``Δ ≈ mean(u'_i − u_i)``. ``σ`` = the standard deviation
  of ``u_i``: the baseline's "sentence-level" spread, on the corpus metric's scale (:func:`contributions`);
* on a *changed* segment the difference ``d_i = u'_i − u_i`` has standard deviation
  ``τ = σ √(2(1 − ρ))``, ρ the correlation of the two outputs' contributions: ``ρ = 0`` when the
  candidate's output there is unrelated to the baseline's (another system), high when it is the
  baseline's output lightly edited (the same system retrained);
* with a share ``s`` of N segments changed, the per-segment differences have variance
  ``s τ² + s (1 − s) μ²`` (``μ = Δ / s``), so the test's standard error is ``√(that / N)``, and at a
  two-sided level α (the policy's Holm-adjusted α: ``α / k`` for a family of k comparisons, Holm's
  first step) with power 1 − β the MDE solves ``Δ = (z_{1−α/2} + z_{1−β}) · SE(Δ)``:
  ``Δ = z √(s τ² / N) / √(1 − z² (1 − s) / (s N))`` — undefined (no change is detectable) when fewer
  than about ``z²`` segments change.

Designs (those of ``scripts/calibrate_tests.py``): **independent** — every changed segment is an
unrelated output, ρ = 0 (the worst case, what ``share`` varies); **paired** — every segment is the
baseline's output lightly edited, ρ = ``rho`` (default 0.9); **mixed** — ``mix`` (30%) of the segments
independent, the rest paired. ``scripts/validate_mde.py`` checks each prediction against the power the
project's own paired bootstrap reaches on simulated candidates built from real statistics
(``results/bench/mde.json``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric
from mt_eval.settings import ALPHA, RESAMPLES

POWER = 0.8
SHARES = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)
DESIGNS = ("independent", "mixed", "paired")
RHO_PAIRED = 0.9  # sentence-level correlation of a lightly edited output with the original
MIX_SHARE = 0.3  # calibrate_tests.py's --mix-share: independent share of the mixed design
MIN_CHANGED = 30  # fewer changed segments: the normal approximation is not trusted (MDE reported, noted)


def gradient(metric: Metric, total: np.ndarray) -> np.ndarray:
    """∇f at the summed statistics ``total`` (central differences, vectorised in one scoring call)."""
    t = np.asarray(total, dtype=np.float64)
    d = t.shape[-1]
    h = 1e-4 * np.maximum(np.abs(t), 1.0)
    points = np.concatenate([t + np.diag(h), t - np.diag(h)], axis=0)  # (2D, D)
    scores = np.asarray(metric.score_from_stats(points), dtype=np.float64)
    return (scores[:d] - scores[d:]) / (2.0 * h)


def contributions(metric: Metric, stats: np.ndarray) -> np.ndarray:
    """Each segment's linearised contribution ``u_i = f(T) + N ∇f(T)·(s_i − T/N)`` to the corpus score
    (score points; their mean is the corpus score, and for a mean of sentence scores they are the
    sentence scores)."""
    arr = np.asarray(stats, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise MtEvalError(f"metric {metric.name}: the MDE needs the statistics of at least 2 segments")
    total = arr.sum(axis=0)
    n = arr.shape[0]
    score = float(np.asarray(metric.score_from_stats(total[None, :]))[0])
    return score + n * ((arr - total / n) @ gradient(metric, total))


def z_total(alpha: float, power: float = POWER) -> float:
    """``z_{1−α/2} + z_{power}``: a two-sided test at α reaching ``power``."""
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise MtEvalError(f"alpha and power must be between 0 and 1 (got {alpha}, {power})")
    normal = NormalDist()
    return normal.inv_cdf(1.0 - alpha / 2.0) + normal.inv_cdf(power)


def mde(sigma: float, n: int, share: float, rho: float, z: float) -> float | None:
    """The MDE (score points) of ``n`` segments, a ``share`` of them changed with correlation ``rho``;
    None when no change of any size reaches the power (too few changed segments)."""
    if not 0.0 < share <= 1.0:
        raise MtEvalError(f"share of changed segments must be in (0, 1], got {share}")
    tau2 = 2.0 * (1.0 - rho) * sigma ** 2
    room = 1.0 - z * z * (1.0 - share) / (share * n)
    if room <= 0.0:
        return None
    return z * math.sqrt(share * tau2 / n) / math.sqrt(room)


def design_tau2(design: str, sigma: float, rho: float = RHO_PAIRED, mix: float = MIX_SHARE) -> float:
    """τ², the variance of a changed segment's difference, under a design (all segments change)."""
    if design == "independent":
        return 2.0 * sigma ** 2
    if design == "paired":
        return 2.0 * (1.0 - rho) * sigma ** 2
    if design == "mixed":
        return mix * 2.0 * sigma ** 2 + (1.0 - mix) * 2.0 * (1.0 - rho) * sigma ** 2
    raise MtEvalError(f"unknown design {design!r} (one of {', '.join(DESIGNS)})")


@dataclass(frozen=True)
class MdeRow:
    """One line of an MDE table: the design, the share of segments that change, and the smallest Δ."""

    metric: str
    design: str
    share: float
    changed_segments: int
    rho: float
    mde: float | None
    sigma: float
    n_segments: int
    alpha: float
    power: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mde_table(metric: Metric, baseline_stats: np.ndarray, alpha: float = ALPHA, *, family_size: int = 1,
              power: float = POWER, shares: Sequence[float] = SHARES, rho: float = RHO_PAIRED,
              mix: float = MIX_SHARE) -> list[MdeRow]:
    """The MDE of ``metric`` on this baseline: per share of changed segments (independent changes), then
    the three designs with every segment changed. ``alpha`` is the policy's family-wise α; Holm's first
    step tests the smallest p against ``alpha / family_size``, so that is the level used."""
    if family_size < 1:
        raise MtEvalError(f"family_size must be >= 1, got {family_size}")
    u = contributions(metric, baseline_stats)
    n, sigma = len(u), float(np.std(u, ddof=1))
    level = alpha / family_size
    z = z_total(level, power)
    rows = []

    def row(design: str, share: float, corr: float) -> MdeRow:
        changed = round(share * n)
        value = mde(sigma, n, share, corr, z)
        note = "" if value is not None else "no change of any size is detectable: too few changed segments"
        if value is not None and changed < MIN_CHANGED:
            note = f"only {changed} segments change: the normal approximation is rough"
        return MdeRow(metric.name, design, share, changed, corr, value, sigma, n, level, power, note)

    for share in shares:
        rows.append(row("independent", share, 0.0))
    for design in ("mixed", "paired"):
        equivalent_rho = 1.0 - design_tau2(design, sigma, rho, mix) / (2.0 * sigma ** 2) if sigma else rho
        rows.append(row(design, 1.0, equivalent_rho))
    return rows


def noticeable_delta(spec: Mapping[str, Any], agreement: float = 70.0) -> float | None:
    """The smallest Δ at which ``agreement`` % of human judgements agree with the metric (Kocmi et al.
    2024's curves, :mod:`mt_eval.stats.human_agreement`); None where no curve exists."""
    from mt_eval.stats.human_agreement import human_agreement

    if human_agreement(spec, 0.0) is None:
        return None
    low, high = 0.0, 100.0
    if (human_agreement(spec, high) or 0.0) < agreement:
        return None
    for _ in range(60):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if (human_agreement(spec, mid) or 0.0) < agreement else (low, mid)
    return high


def mde_warnings(rows: Sequence[MdeRow], spec: Mapping[str, Any], tolerance: float | None = None,
                 agreement: float = 70.0) -> list[str]:
    """Warnings for a gate: a tolerance below the MDE of a whole-test-set change, and a test set too small
    to see a difference humans would notice (independent changes of every segment: the worst case)."""
    full = next((r for r in rows if r.design == "independent" and r.share == 1.0), None)
    if full is None or full.mde is None:
        return []
    out = []
    if tolerance is not None and 0.0 < tolerance < full.mde:
        out.append(f"{full.metric}: the tolerance {tolerance:g} is below the smallest drop this test set can"
                   f" show ({full.mde:.2f} at {full.power:.0%} power when every segment changes)")
    notice = noticeable_delta(spec, agreement)
    if notice is not None and full.mde > notice:
        out.append(f"{full.metric}: with {full.n_segments} segments the gate needs a drop of {full.mde:.2f}"
                   f" to see it; humans already agree {agreement:.0f}% of the time at {notice:.2f}"
                   " (Kocmi et al. 2024): add segments")
    return out


# ------------------------------------------------------------------------------------ validation
@dataclass(frozen=True)
class Simulation:
    """Simulated candidates against a baseline, tested by the project's paired bootstrap."""

    design: str = "independent"
    share: float = 1.0
    rho: float = RHO_PAIRED
    mix: float = MIX_SHARE
    sims: int = 200
    resamples: int = RESAMPLES
    alpha: float = ALPHA
    seed: int = 1
    batch: int = 50


def _tilt(u: np.ndarray, target: float) -> np.ndarray:
    """Draw probabilities over segments, exponentially tilted so the expected contribution is ``target``."""
    centred = (u - u.mean()) / (u.std() or 1.0)
    low, high = -50.0, 50.0
    for _ in range(80):
        lam = 0.5 * (low + high)
        w = np.exp(lam * centred - np.max(lam * centred))
        mean = float(w @ u / w.sum())
        low, high = (lam, high) if mean < target else (low, lam)
    w = np.exp(lam * centred - np.max(lam * centred))
    return w / w.sum()


def candidate_stats(baseline: np.ndarray, u: np.ndarray, sim: Simulation, delta: float,
                    rng: np.random.Generator) -> np.ndarray:
    """One simulated candidate whose corpus score differs by ``delta`` in expectation (linearised): on
    changed segments, another segment's statistics drawn with probabilities tilted toward that shift
    (independent), or the segment's own mixed with such a draw (paired: ``a s_i +
    (1 − a) s_j``, ``a = 1 − √(1 − ρ)``, so Var(d) = 2σ²(1 − ρ)); ``mixed`` picks per segment."""
    n = len(u)
    a = 1.0 - math.sqrt(1.0 - sim.rho)
    weight = np.zeros(n)  # how much of each segment is replaced by a drawn one
    if sim.design == "independent":
        weight[rng.choice(n, size=round(sim.share * n), replace=False)] = 1.0
    elif sim.design == "paired":
        weight[:] = 1.0 - a
    else:
        weight[:] = np.where(rng.random(n) < sim.mix, 1.0, 1.0 - a)
    mean_weight = float(weight.mean()) or 1.0
    probs = _tilt(u, float(u.mean()) + delta / mean_weight)
    drawn = baseline[rng.choice(n, size=n, p=probs)].astype(np.float64)
    return (1.0 - weight)[:, None] * baseline + weight[:, None] * drawn


def simulated_power(metric: Metric, baseline_stats: np.ndarray, delta: float,
                    sim: Simulation) -> dict[str, Any]:
    """Share of ``sim.sims`` candidates, each worse by ``delta`` on average (score points, the direction
    that is worse for the metric), that the paired bootstrap finds worse at ``sim.alpha``."""
    from mt_eval.stats.significance import compare_metrics_to_baseline

    base = np.asarray(baseline_stats)
    u = contributions(metric, base)
    worse = -abs(delta) if metric.higher_is_better else abs(delta)
    rng = np.random.default_rng(sim.seed)
    detected, deltas = 0, []
    for first in range(0, sim.sims, sim.batch):
        size = min(sim.batch, sim.sims - first)
        group = {f"m{j}": metric for j in range(size)}
        stats = {f"m{j}": {"A": base, "B": candidate_stats(base, u, sim, worse, rng)} for j in range(size)}
        out = compare_metrics_to_baseline(group, stats, "A", n_resamples=sim.resamples,
                                          seed=sim.seed * 100_003 + first)
        for key in group:
            result = out[key][("A", "B")]
            deltas.append(result.delta)
            found_worse = result.delta < 0 if metric.higher_is_better else result.delta > 0
            detected += bool(result.p_value < sim.alpha and found_worse)
    return {"power": detected / sim.sims, "mean_delta": float(np.mean(deltas)),
            "sd_delta": float(np.std(deltas, ddof=1)) if len(deltas) > 1 else 0.0, "sims": sim.sims}
