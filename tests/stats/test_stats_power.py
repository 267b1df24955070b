"""The minimum detectable difference: the linearised spread, the formula, and its prediction against the
power the project's paired bootstrap reaches on simulated candidates (every design, within 20%)."""

from __future__ import annotations

import numpy as np
import pytest

from mt_eval.errors import MtEvalError
from mt_eval.metrics.registry import get_metric
from mt_eval.stats.bootstrap import bootstrap_ci
from mt_eval.stats.power import (
    Simulation,
    contributions,
    design_tau2,
    mde,
    mde_table,
    mde_warnings,
    noticeable_delta,
    simulated_power,
    z_total,
)

try:  # the shared synthetic corpus (moving between mt_eval.testing and tests/helpers while this lands)
    from mt_eval.testing.corpora import synthetic_corpus
except ImportError:  # pragma: no cover
    from helpers.corpora import synthetic_corpus  # type: ignore[no-redef]


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[str]]:
    return synthetic_corpus(300, seed=3)


def _stats(key: str, corpus: dict[str, list[str]]) -> np.ndarray:
    return get_metric(key).segment_stats(corpus["C"], [[r] for r in corpus["refs"]])


@pytest.mark.parametrize("key", ["bleu", "chrf", "ter", "chrf++"])
def test_linearised_spread_matches_the_bootstrap(key: str, corpus: dict[str, list[str]]) -> None:
    """σ/√N of the linearised contributions is the bootstrap's standard error of the corpus score."""
    metric = get_metric(key)
    stats = _stats(key, corpus)
    u = contributions(metric, stats)
    ci = bootstrap_ci(metric, stats, n_resamples=2000, seed=1)
    predicted = float(np.std(u, ddof=1)) / np.sqrt(len(u))
    assert abs(predicted / ((ci.high - ci.low) / 3.92) - 1.0) < 0.1
    assert abs(float(np.mean(u)) - metric.corpus_score(stats)) < 1e-6  # contributions average to the score


def test_mean_metric_contributions_are_sentence_scores() -> None:
    from mt_eval.metrics.base import MeanOfSegmentsMetric

    class Mean(MeanOfSegmentsMetric):
        name = "mean-test"

        def segment_stats(self, hypotheses, references, *, sources=None, workers=1):  # type: ignore[no-untyped-def]
            return np.array([[len(h) / 100, 1.0] for h in hypotheses])

        def signature(self) -> dict[str, str]:
            return {}

    stats = Mean().segment_stats(["a" * 10, "a" * 30, "a" * 80], [["x"]] * 3)
    assert np.allclose(contributions(Mean(), stats), [10.0, 30.0, 80.0])


def test_formula_shape() -> None:
    z = z_total(0.05)
    assert abs(z - (1.959964 + 0.841621)) < 1e-5
    values = [mde(10.0, 1000, s, 0.0, z) for s in (0.05, 0.1, 0.5, 1.0)]
    assert all(v is not None for v in values) and values == sorted(values)  # type: ignore[type-var]
    assert mde(10.0, 1000, 0.005, 0.0, z) is None  # 5 changed segments: nothing is detectable
    assert mde(10.0, 1000, 1.0, 0.9, z) == pytest.approx(mde(10.0, 1000, 1.0, 0.0, z) * np.sqrt(0.1))  # type: ignore[operator]
    assert design_tau2("mixed", 1.0, rho=0.9, mix=0.3) == pytest.approx(0.3 * 2 + 0.7 * 0.2)
    with pytest.raises(MtEvalError):
        design_tau2("nope", 1.0)
    with pytest.raises(MtEvalError):
        mde(1.0, 10, 0.0, 0.0, z)


def test_mde_table_and_warnings(corpus: dict[str, list[str]]) -> None:
    metric = get_metric("bleu")
    rows = mde_table(metric, _stats("bleu", corpus), 0.05, family_size=4)
    assert [r.design for r in rows] == ["independent"] * 6 + ["mixed", "paired"]
    assert rows[0].share == 0.01 and rows[0].mde is None and "too few" in rows[0].note
    assert all(r.alpha == 0.0125 for r in rows)
    full = next(r for r in rows if r.design == "independent" and r.share == 1.0)
    assert full.mde is not None and rows[-1].mde is not None and rows[-1].mde < rows[-2].mde < full.mde
    warnings = mde_warnings(rows, {"name": "bleu", "options": {}}, tolerance=0.5)
    assert any("tolerance 0.5 is below" in w for w in warnings)
    assert any("humans already agree" in w for w in warnings)  # 300 segments: too small for ~1.4 BLEU
    assert noticeable_delta({"name": "bleu", "options": {}}) == pytest.approx(1.385, abs=0.01)
    assert noticeable_delta({"name": "ter", "options": {}}) is None


@pytest.mark.parametrize(("key", "design", "share"), [
    ("bleu", "independent", 1.0), ("bleu", "independent", 0.25), ("bleu", "mixed", 1.0),
    ("bleu", "paired", 1.0), ("ter", "independent", 0.5), ("ter", "paired", 1.0)])
def test_predicted_mde_reaches_80_percent_power_in_simulation(key: str, design: str, share: float,
                                                              corpus: dict[str, list[str]]) -> None:
    """The paired bootstrap at the Holm-adjusted α of a 4-metric family finds candidates worse by the
    predicted MDE 80% of the time, within 20% (64–96%)."""
    metric = get_metric(key)
    stats = _stats(key, corpus)
    row = next(r for r in mde_table(metric, stats, 0.05, family_size=4)
               if r.design == design and r.share == share)
    assert row.mde is not None
    result = simulated_power(metric, stats, row.mde, Simulation(design=design, share=share, sims=100,
                                                                resamples=300, alpha=row.alpha, seed=5))
    assert abs(abs(result["mean_delta"]) / row.mde - 1.0) < 0.1  # the simulated shift is the one asked for
    assert 0.64 <= result["power"] <= 0.96, result
    weak = simulated_power(metric, stats, 0.3 * row.mde, Simulation(design=design, share=share, sims=100,
                                                                     resamples=300, alpha=row.alpha, seed=6))
    assert weak["power"] < 0.4  # a third of the MDE is mostly missed: the test can fail
