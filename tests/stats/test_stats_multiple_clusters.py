"""Holm adjustment, rank clusters and human agreement: hand-worked cases and published points."""

from __future__ import annotations

import numpy as np
import pytest

from mt_eval.stats.clusters import rank_clusters, significantly_better
from mt_eval.stats.human_agreement import human_agreement
from mt_eval.stats.multiple_testing import holm


def test_holm_hand_worked():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.06, 0.04·1) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == []
    assert holm([0.5]) == [0.5]
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_holm_controls_familywise_error_on_independent_nulls():
    rng = np.random.default_rng(0)
    sims, m = 4000, 5
    any_false = sum(min(holm(rng.uniform(size=m))) < 0.05 for _ in range(sims))
    assert any_false / sims <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / sims)
    assert (rng.uniform(size=(sims, m)) < 0.05).any(axis=1).mean() > 0.2  # uncorrected: ≈ 23%


def test_clusters_hand_worked():
    scores = {"A": 40.0, "B": 35.0, "C": 34.5, "D": 20.0}
    # A beats everyone; B and C are tied; both beat D
    wins = {("A", "B"): True, ("A", "C"): True, ("A", "D"): True, ("B", "D"): True, ("C", "D"): True}
    ranking = rank_clusters(scores, wins)
    assert ranking.clusters == [["A"], ["B", "C"], ["D"]]
    assert ranking.bands == {"A": (1, 1), "B": (2, 3), "C": (2, 3), "D": (4, 4)}
    # lower is better: the order flips
    assert rank_clusters({"x": 30.0, "y": 60.0}, {("x", "y"): True}, higher_is_better=False).clusters == \
        [["x"], ["y"]]


def test_a_cut_needs_every_system_above_to_beat_every_system_below():
    scores = {"A": 40.0, "B": 39.0, "C": 30.0}
    # A beats C but B does not: no cut between B and C; A does not beat B: no cut after A
    ranking = rank_clusters(scores, {("A", "C"): True})
    assert ranking.clusters == [["A", "B", "C"]]
    assert ranking.bands == {"A": (1, 2), "B": (1, 3), "C": (2, 3)}


def test_significantly_better_respects_direction():
    # (a, b, delta = b − a, adjusted p)
    pairs = [("base", "x", +2.0, 0.01), ("base", "y", -3.0, 0.001), ("x", "y", -5.0, 0.2)]
    assert significantly_better(pairs, 0.05, True) == {("x", "base"): True, ("base", "y"): True}
    assert significantly_better(pairs, 0.05, False) == {("base", "x"): True, ("y", "base"): True}


@pytest.mark.parametrize(("name", "delta", "expected"), [
    # Kocmi et al., ACL 2024, "Navigating the Metrics Maze": the deltas that reach 70% accuracy
    ("bleu", 1.39, 70.0), ("chrf", 1.00, 70.0),
])
def test_human_agreement_reproduces_the_papers_thresholds(name, delta, expected):
    spec = {"name": name, "options": {}}
    assert human_agreement(spec, delta) == pytest.approx(expected, abs=0.5)
    assert human_agreement(spec, -delta) == human_agreement(spec, delta)  # |Δ|


def test_human_agreement_comet22_uses_points_times_100():
    spec = {"name": "comet", "options": {"model": "Unbabel/wmt22-comet-da"}}
    assert human_agreement(spec, 0.0035) == pytest.approx(70.0, abs=0.5)  # 0.35 points on 0-100


@pytest.mark.parametrize("spec", [
    {"name": "ter", "options": {}}, {"name": "chrf++", "options": {}}, {"name": "semantic", "options": {}},
    {"name": "bleu", "options": {"tokenize": "char"}}, {"name": "chrf", "options": {"word_order": 2}},
    {"name": "comet", "options": {"model": "/models/my-comet"}},
    {"name": "bleu", "options": {"lowercase": True}},
])
def test_human_agreement_is_na_without_a_curve(spec):
    assert human_agreement(spec, 2.0) is None
