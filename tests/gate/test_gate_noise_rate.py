"""Noise must not fail the gate: equal-quality outputs, shuffled, across many seeds.

Each segment has a pool of outputs of the same quality (same word-corruption rate); every trial
draws a baseline and a candidate from the pools independently. Under this null hypothesis the
two-sided paired test is significant in about α of the trials, and a regression (significant AND
worse) is declared in about α/2 of them. Statistics are computed once; trials only index them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gate_helpers import corrupt, references

from mt_eval.gate.policy import GatePolicy
from mt_eval.gate.verdict import assess
from mt_eval.metrics.registry import get_metric

N_SEGMENTS = 100
POOL = 8
TRIALS = 200


def _pmf(n: int, p: float) -> list[float]:
    return [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]


def _binomial_upper(n: int, p: float, tail: float = 1e-3) -> int:
    """Smallest k with P(X > k) < tail for X ~ Binomial(n, p)."""
    pmf = _pmf(n, p)
    return next(k for k in range(n + 1) if 1.0 - sum(pmf[:k + 1]) < tail)


def _binomial_lower(n: int, p: float, tail: float = 1e-3) -> int:
    """Largest k with P(X < k) < tail for X ~ Binomial(n, p)."""
    pmf = _pmf(n, p)
    return max(k for k in range(n + 1) if sum(pmf[:k]) < tail)


@pytest.mark.parametrize("metric_key", ["bleu", "chrf"])
def test_noise_passes_at_the_expected_rate(metric_key: str) -> None:
    refs = references(N_SEGMENTS, seed=11)
    metric = get_metric(metric_key)
    pool = np.stack([metric.segment_stats(corrupt(refs, 0.3, seed=100 + k), [[r] for r in refs])
                     for k in range(POOL)])  # (POOL, N, D)
    policy = GatePolicy()  # default α = 0.05, tolerance 0: only the test stands between noise and a failure
    rows = np.arange(N_SEGMENTS)
    regressions = significant = 0
    for trial in range(TRIALS):
        rng = np.random.default_rng(trial)
        first = rng.integers(0, POOL, N_SEGMENTS)
        second = (first + rng.integers(1, POOL, N_SEGMENTS)) % POOL  # a different output of equal quality
        c = assess(metric, pool[first, rows], pool[second, rows], system="mt", key=metric_key, policy=policy)
        regressions += c.status == "regression"
        significant += bool(c.significant)
        assert c.status in {"regression", "improvement", "no-significant-change"}
    alpha = policy.alpha
    # false failures: about α/2 of the trials, and never more than chance allows
    assert regressions <= _binomial_upper(TRIALS, alpha / 2)
    # the test is neither broken-open nor dead: about α of the trials are significant either way
    assert _binomial_lower(TRIALS, alpha) <= significant <= _binomial_upper(TRIALS, alpha)
