"""Meta-evaluation statistics against hand-worked cases, scipy, and brute-force re-implementations.

The hand-worked values with ties are those of google-research/mt-metrics-eval's own tests
(``stats_test.py``: acc23 0.6, acc23 at epsilon 2 0.4, tie-calibrated 0.7, Agreement 5/10; PCE test:
SPA 0.872), recomputed here by hand in the comments.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats

from mt_eval.errors import MtEvalError
from mt_eval.humeval.metric import HumanMetric
from mt_eval.meta import (
    MetaSettings,
    acc23_per_item,
    meta_evaluate,
    pairwise_accuracy,
    pairwise_p_values,
    pearson,
    permutation_masks,
    soft_pairwise_accuracy,
    tie_calibrated_acc,
    tie_counts,
)
from mt_eval.metrics.registry import get_metric

GOLD = [1, 2, 2, 3, 4]
METRIC = [2, 1, 1.5, 5, 3]


def test_acc23_and_tie_calibration_hand_worked() -> None:
    # pairs (i<j): (0,1) dis, (0,2) dis, (0,3) con, (0,4) con, (1,2) tied in gold only, (1,3) con,
    # (1,4) con, (2,3) con, (2,4) con, (3,4) dis -> (6 + 0) / 10
    assert tie_counts(np.array([GOLD]), np.array([METRIC])) == tie_counts(GOLD, METRIC)
    counts = tie_counts(GOLD, METRIC)
    found = (counts.con, counts.dis, counts.ties_human, counts.ties_metric, counts.ties_both)
    assert found == (6, 3, 1, 0, 0)
    assert acc23_per_item(GOLD, METRIC)[0] == pytest.approx(0.6)
    # epsilon 2 makes 7 metric ties; only (1,2) is tied in gold too; concordant left: (0,3) (1,3) (2,3)
    assert acc23_per_item(GOLD, METRIC, epsilon=2.0)[0] == pytest.approx(0.4)
    # tying (1,2) (metric difference 0.5) turns a gold-only tie into a tie in both: 7 / 10
    assert tie_calibrated_acc(GOLD, METRIC) == pytest.approx((0.7, 0.5))
    # the tied-in-both pair counts as correct, metric ties against gold order as wrong
    assert acc23_per_item([[1, 1, 2]], [[5, 5, 5]])[0] == pytest.approx(1 / 3)
    assert tie_calibrated_acc([[1, 1, 2]], [[5, 5, 5]]) == pytest.approx((1 / 3, 0.0))


def _brute_acc23(gold: np.ndarray, metric: np.ndarray, eps: float) -> float:
    per_item = []
    for g, m in zip(gold, metric, strict=True):
        good = 0
        pairs = list(itertools.combinations(range(len(g)), 2))
        for i, j in pairs:
            m_tie = abs(m[i] - m[j]) <= eps
            g_tie = g[i] == g[j]
            if m_tie:
                good += g_tie
            else:
                good += (not g_tie) and (g[i] - g[j]) * (m[i] - m[j]) > 0
        per_item.append(good / len(pairs))
    return float(np.mean(per_item))


def test_acc_eq_matches_a_brute_force_search_over_every_epsilon() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        gold = rng.integers(0, 4, size=(7, 4)).astype(float)  # many human ties, like MQM scores
        metric = np.round(rng.normal(size=(7, 4)), 1)  # and some metric ties
        candidates = {0.0} | {abs(a - b) for row in metric for a, b in itertools.combinations(row, 2)}
        best = max(_brute_acc23(gold, metric, e) for e in candidates)
        best_eps = min(e for e in candidates if abs(_brute_acc23(gold, metric, e) - best) < 1e-12)
        assert tie_calibrated_acc(gold, metric) == pytest.approx((best, best_eps))
        assert acc23_per_item(gold, metric).mean() == pytest.approx(_brute_acc23(gold, metric, 0.0))


def test_tie_counts_give_scipy_kendall_tau_b_with_ties() -> None:
    gold = [7, 1, 2, 7, 4, 3, 2]
    metric = [4, 1, 3, 6, 1, 5, 6]
    assert tie_counts(gold, metric).tau_b() == pytest.approx(scipy.stats.kendalltau(gold, metric).statistic)
    rng = np.random.default_rng(0)
    for _ in range(10):
        x, y = rng.integers(0, 5, 30), rng.integers(0, 4, 30)
        assert tie_counts(x, y).tau_b() == pytest.approx(scipy.stats.kendalltau(x, y, variant="b").statistic)


def test_pairwise_accuracy_and_pearson() -> None:
    # mt-metrics-eval Agreement: gold [1,2,3,3,4] vs metric [1,1,2,1,2] agree on 5 of 10 pairs
    assert pairwise_accuracy([1, 2, 3, 3, 4], [1, 1, 2, 1, 2]) == pytest.approx(0.5)
    assert pairwise_accuracy([1, 2, 3], [10, 20, 30]) == 1.0
    assert pairwise_accuracy([1, 2, 3], [30, 20, 10]) == 0.0
    with pytest.raises(MtEvalError):
        pairwise_accuracy([1], [2])
    rng = np.random.default_rng(1)
    for _ in range(10):
        x, y = rng.normal(size=6), rng.normal(size=6)
        assert pearson(x, y) == pytest.approx(scipy.stats.pearsonr(x, y).statistic)
    assert pearson([1, 2], [3, 4]) is None  # two systems: undefined, not a fake 1.0
    assert pearson([1, 2, 3], [5, 5, 5]) is None


def _brute_p(scores: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """One-sided paired permutation p-values, swap by swap, from the definition."""
    n_sys = scores.shape[0]
    p = np.full((n_sys, n_sys), np.nan)
    for i, j in itertools.combinations(range(n_sys), 2):
        observed = scores[i].sum() - scores[j].sum()
        hits = 0
        for mask in masks:
            first = np.where(mask == 1, scores[i], scores[j])
            second = np.where(mask == 1, scores[j], scores[i])
            hits += first.sum() - second.sum() >= observed
        p[i, j] = hits / len(masks)
    return p


def _human_stats(matrix: list[list[float]]) -> list[np.ndarray]:
    return [HumanMetric.stats_from_scores(row) for row in matrix]


def test_spa_hand_worked_and_against_mt_metrics_eval() -> None:
    gold_p = np.array([[np.nan, 0.01, 0.2], [np.nan, np.nan, 0.5], [np.nan] * 3])
    metric_p = np.array([[np.nan, 0.03, 0.6], [np.nan, np.nan, 0.5], [np.nan] * 3])
    assert soft_pairwise_accuracy(gold_p, metric_p) == pytest.approx(1 - (0.02 + 0.4 + 0.0) / 3)
    # mt-metrics-eval's PCE test: 2 systems x 3 segments, 1000 permutations, seed 4 -> 0.872
    human, metric = HumanMetric(), HumanMetric()
    gold = [[1, 2, 3], [2, 3, 4]]
    scores = [[2, 2, 4], [1, 3, 5]]
    masks = permutation_masks(3, 1000, 4)
    p_gold = pairwise_p_values(human, _human_stats(gold), masks)
    p_metric = pairwise_p_values(metric, _human_stats(scores), masks)
    assert soft_pairwise_accuracy(p_gold, p_metric) == pytest.approx(0.872, abs=5e-4)
    # and the p-values are the definition's, computed swap by swap
    np.testing.assert_allclose(p_gold[0, 1], _brute_p(np.array(gold, float), masks)[0, 1])
    rng = np.random.default_rng(5)
    many = rng.integers(0, 101, size=(4, 12)).astype(float)
    masks = permutation_masks(12, 300, 7)
    np.testing.assert_allclose(pairwise_p_values(human, _human_stats(many.tolist()), masks),
                               _brute_p(many, masks), equal_nan=True)


def test_spa_of_a_corpus_metric_permutes_its_statistics() -> None:
    """BLEU's p-values come from swapping its per-segment statistics and re-scoring the corpus."""
    bleu = get_metric("bleu")
    refs = [["the cat sat on the mat"], ["a dog barks"], ["it rains today"], ["we go home now"]]
    a = bleu.segment_stats(["the cat sat on the mat", "a dog barks", "it rains", "we go home"], refs)
    b = bleu.segment_stats(["cat mat", "dog", "rain today", "home"], refs)
    masks = permutation_masks(4, 64, 1)
    p = pairwise_p_values(bleu, [a, b], masks)
    observed = bleu.corpus_score(a) - bleu.corpus_score(b)
    hits = sum(bleu.corpus_score(np.where(m[:, None] == 1, a, b))
               - bleu.corpus_score(np.where(m[:, None] == 1, b, a)) >= observed - 1e-9 for m in masks)
    assert p[0, 1] == pytest.approx(hits / 64)
    ter = get_metric("ter")  # lower is better: "i better than j" means a lower TER
    ta = ter.segment_stats(["the cat sat on the mat", "a dog barks", "it rains", "we go home"], refs)
    tb = ter.segment_stats(["cat mat", "dog", "rain today", "home"], refs)
    assert pairwise_p_values(ter, [ta, tb], masks)[0, 1] < 0.5 < pairwise_p_values(ter, [tb, ta], masks)[0, 1]


def test_meta_evaluate_agreeing_reversed_and_bootstrap() -> None:
    rng = np.random.default_rng(11)
    quality = np.array([80.0, 60.0, 40.0, 20.0])
    human_scores = np.clip(quality[:, None] + rng.normal(0, 5, size=(4, 40)), 0, 100).round()
    systems = ["a", "b", "c", "d"]
    human = HumanMetric()
    same = HumanMetric(annotations="x")  # the same judgements under another name
    reverse = HumanMetric(annotations="y")
    stats = {s: {"human": HumanMetric.stats_from_scores(human_scores[k]),
                 "same": HumanMetric.stats_from_scores(human_scores[k]),
                 "reverse": HumanMetric.stats_from_scores(100 - human_scores[k])}
             for k, s in enumerate(systems)}
    settings = MetaSettings(n_resamples=100, seed=1, permutations=200, spa_resamples=10)
    metrics = {"human": human, "same": same, "reverse": reverse}
    result = meta_evaluate(metrics, stats, systems, "human", settings)
    agree, rev = result.metrics["same"], result.metrics["reverse"]
    for name in ("pairwise_accuracy", "spa", "pearson", "acc_eq", "acc23"):
        assert agree[name]["value"] == pytest.approx(1.0)
        assert agree[name]["ci_low"] == pytest.approx(1.0) and agree[name]["ci_high"] == pytest.approx(1.0)
    assert rev["pairwise_accuracy"]["value"] == 0.0 and rev["pearson"]["value"] == pytest.approx(-1.0)
    assert rev["acc23"]["value"] < 0.2  # only the pairs tied by the humans are "right"
    assert rev["spa"]["value"] < 0.1
    assert rev["pairwise_accuracy"]["n_resamples"] == 100 and rev["spa"]["n_resamples"] == 10
    with pytest.raises(MtEvalError, match="at least 2"):
        meta_evaluate({"human": human, "same": same}, stats, ["a"], "human", settings)
    with pytest.raises(MtEvalError, match="no metric 'nope'"):
        meta_evaluate({"human": human, "same": same}, stats, systems, "nope", settings)
