"""Bootstrap CIs and paired tests: agreement with sacrebleu (API and CLI) and calibration on null data."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from sacrebleu.significance import PairedTest

from mt_eval.errors import MtEvalError
from mt_eval.metrics.registry import get_metric
from mt_eval.stats.bootstrap import bootstrap_ci, bootstrap_scores
from mt_eval.stats.significance import (
    approximate_randomization,
    compare_metrics_to_baseline,
    compare_to_baseline,
    paired_bootstrap,
)
from mt_eval.testing.corpora import synthetic_corpus

logging.getLogger("sacrebleu").setLevel(logging.ERROR)

FLORES = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "flores-ara-eng"
N_SEG = 250


@pytest.fixture(scope="module", params=["synthetic", "flores"])
def three_systems(request) -> dict:
    """Three systems and references: a seeded synthetic corpus always, FLORES when ../shared is there."""
    if request.param == "synthetic":
        return synthetic_corpus(N_SEG)
    if not (FLORES / "reference.eng").is_file():
        pytest.skip(f"FLORES validation data absent ({FLORES}); it is not shipped in the repo")

    def read(path: Path) -> list[str]:
        return path.read_text(encoding="utf-8").splitlines()[:N_SEG]

    return {
        "refs": read(FLORES / "reference.eng"),
        "A": read(FLORES / "systems" / "opus-mt-ar-en.eng"),
        "B": read(FLORES / "systems" / "opus-mt-ara-eng-2021-02-23.eng"),
        "C": read(FLORES / "systems" / "opus-mt-tc-big-ar-en.eng"),
    }


def _stats(key: str, hyps: list[str], refs: list[str]) -> np.ndarray:
    return get_metric(key).segment_stats(hyps, [[r] for r in refs])


@pytest.mark.parametrize("test_type", ["bs", "ar"])
def test_p_values_equal_sacrebleu_api(three_systems, test_type):
    """Same seed, same draws: sacrebleu's p-values to the last digit (paired-bs with its own p rule)."""
    d = three_systems
    n_samples = 1000 if test_type == "bs" else 2000
    _, table = PairedTest(
        [("A", d["A"]), ("B", d["B"]), ("C", d["C"])],
        {"BLEU": sacrebleu.BLEU(), "chrF2": sacrebleu.CHRF()},
        [d["refs"]],
        test_type=test_type,
        n_samples=n_samples,
    )()
    for key, name in (("bleu", "BLEU"), ("chrf", "chrF2")):
        stats = {s: _stats(key, d[s], d["refs"]) for s in "ABC"}
        method = "paired-bs" if test_type == "bs" else "paired-ar"
        ours = compare_to_baseline(
            get_metric(key), stats, "A", method=method, n_resamples=n_samples, p_value_rule="sacrebleu"
        )
        for i, system in enumerate("BC", start=1):
            result = ours[("A", system)]
            assert result.p_value == pytest.approx(table[name][i].p_value, abs=1e-12)
            assert result.system_score == table[name][i].score
            assert result.baseline_score == table[name][0].score


@pytest.mark.parametrize("flag", ["--paired-bs", "--paired-ar"])
def test_p_values_agree_with_sacrebleu_cli(tmp_path, three_systems, flag):
    d = three_systems
    files = {}
    for name in ("refs", "A", "B"):
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text("".join(f"{line}\n" for line in d[name]), encoding="utf-8")
    n = 1000 if flag == "--paired-bs" else 2000
    count_flag = "--paired-bs-n" if flag == "--paired-bs" else "--paired-ar-n"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sacrebleu",
            str(files["refs"]),
            "-i",
            str(files["A"]),
            str(files["B"]),
            "-m",
            "bleu",
            "chrf",
            flag,
            count_flag,
            str(n),
            "-f",
            "text",
            "-q",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cli_p = [float(p) for p in re.findall(r"p = ([0-9.]+)", out)]
    assert len(cli_p) == 2
    for key, p_cli in zip(("bleu", "chrf"), cli_p, strict=True):
        metric = get_metric(key)
        a, b = _stats(key, d["A"], d["refs"]), _stats(key, d["B"], d["refs"])
        if flag == "--paired-bs":
            same_rule = paired_bootstrap(metric, a, b, n, p_value_rule="sacrebleu")
            assert same_rule.p_value == pytest.approx(p_cli, abs=1e-4)  # CLI prints 4 decimals
            # another seed: a different Monte-Carlo draw, still within Monte-Carlo error
            other = paired_bootstrap(metric, a, b, n, seed=99, p_value_rule="sacrebleu")
        else:
            same_rule = approximate_randomization(metric, a, b, n, p_value_rule="sacrebleu")
            assert same_rule.p_value == pytest.approx(p_cli, abs=1e-4)
            other = approximate_randomization(metric, a, b, n, seed=99, p_value_rule="sacrebleu")
        mc_error = 4 * np.sqrt(max(p_cli, 0.01) * (1 - p_cli) / n) + 2 / n
        assert abs(other.p_value - p_cli) <= mc_error


def test_ci_contains_corpus_score_and_matches_sacrebleu_summary(three_systems):
    d = three_systems
    for key in ("bleu", "chrf", "ter"):
        metric = get_metric(key)
        stats = _stats(key, d["A"], d["refs"])
        ci = bootstrap_ci(metric, stats, n_resamples=300)
        assert ci.low < ci.score < ci.high
        assert ci.score == metric.corpus_score(stats)
    score = sacrebleu.BLEU().corpus_score(d["A"], [d["refs"]], n_bootstrap=1000)
    ci = bootstrap_ci(get_metric("bleu"), _stats("bleu", d["A"], d["refs"]))
    assert ci.mean == pytest.approx(score._mean, abs=1e-3)  # sacrebleu sums in float32
    assert ci.sacrebleu_ci == pytest.approx(score._ci, abs=1e-3)


def test_ci_contains_score_on_synthetic_metrics():
    rng = np.random.default_rng(1)
    semantic_like = np.stack([rng.uniform(0.2, 1.0, 300), np.ones(300)], axis=1)
    metric = get_metric("semantic")
    ci = bootstrap_ci(metric, semantic_like, n_resamples=500, confidence=0.9)
    assert ci.low < ci.score < ci.high
    assert ci.score == pytest.approx(100 * semantic_like[:, 0].mean())


def _null_pair(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """chrF-style statistics (char_order=2) of two systems drawn from one process: exchangeable."""
    ref = rng.integers(20, 60, size=n)
    out = []
    for _ in range(2):
        cols = []
        for order, rate in ((0, 0.6), (1, 0.4)):
            r = ref - order
            h = r + rng.integers(-5, 6, size=n)
            cols += [h, r, rng.binomial(np.minimum(h, r), rate)]
        out.append(np.stack(cols, axis=1).astype(np.int64))
    return out[0], out[1]


def test_sacrebleu_bootstrap_rule_is_anticonservative():
    """Why the default p rule is 'centered': sacrebleu's rule rejects far more than 5% of true nulls."""
    metric = get_metric("chrf", char_order=2)
    rng = np.random.default_rng(7)
    sims = 400
    rejected = sum(
        paired_bootstrap(metric, *_null_pair(rng, 200), 200, seed=s, p_value_rule="sacrebleu").p_value < 0.05
        for s in range(sims)
    )
    assert rejected / sims > 0.08


def test_identical_systems_are_not_significant():
    rng = np.random.default_rng(3)
    a, _ = _null_pair(rng, 100)
    metric = get_metric("chrf", char_order=2)
    assert paired_bootstrap(metric, a, a.copy(), 200).p_value == 1.0
    assert paired_bootstrap(metric, a, a.copy(), 200, p_value_rule="sacrebleu").p_value == 1.0
    result = approximate_randomization(metric, a, a.copy(), 500)
    assert result.delta == 0.0 and result.p_value == 1.0  # sacrebleu's strict ">" would give 1/501


def test_compare_all_pairs_and_errors():
    rng = np.random.default_rng(4)
    a, b = _null_pair(rng, 80)
    c, _ = _null_pair(rng, 80)
    metric = get_metric("chrf", char_order=2)
    stats = {"base": a, "x": b, "y": c}
    only = compare_to_baseline(metric, stats, "base", n_resamples=100)
    assert list(only) == [("base", "x"), ("base", "y")]
    assert only[("base", "x")].signature() == {"test": "paired-bs", "bs": "100", "seed": "12345",
                                               "prule": "centered"}
    low, high = only[("base", "x")].system_ci_low, only[("base", "x")].system_ci_high
    assert low is not None and high is not None and low < metric.corpus_score(b) < high
    pairs = compare_to_baseline(metric, stats, "base", method="ar", all_pairs=True, n_resamples=100)
    assert list(pairs) == [("base", "x"), ("base", "y"), ("x", "y")]
    assert pairs[("x", "y")].delta == pytest.approx(metric.corpus_score(c) - metric.corpus_score(b))
    # the same draws whichever way the systems are grouped
    assert pairs[("x", "y")].p_value == approximate_randomization(metric, b, c, 100).p_value
    with pytest.raises(MtEvalError, match="baseline system 'nope'"):
        compare_to_baseline(metric, stats, "nope")
    with pytest.raises(MtEvalError, match="unknown significance method"):
        compare_to_baseline(metric, stats, "base", method="t-test")
    with pytest.raises(MtEvalError, match="do not match"):
        paired_bootstrap(metric, a, a[:10])


def test_multi_metric_bootstrap_shares_draws():
    rng = np.random.default_rng(5)
    a, _ = _null_pair(rng, 50)
    m1, m2 = get_metric("chrf", char_order=2), get_metric("chrf", char_order=2, beta=1)
    both = bootstrap_scores([(m1, a), (m2, a)], 100, seed=9)
    alone = bootstrap_scores([(m1, a)], 100, seed=9)
    np.testing.assert_array_equal(both[0], alone[0])
    ter_like = np.stack([rng.integers(0, 9, 50).astype(float), rng.uniform(5, 20, 50)], axis=1)
    mixed = bootstrap_scores([(m1, a), (get_metric("ter"), ter_like)], 100, seed=9)
    np.testing.assert_array_equal(mixed[0], alone[0])
    assert mixed[1].shape == (100,)


def test_multi_metric_comparison_equals_separate_calls():
    rng = np.random.default_rng(6)
    a, b = _null_pair(rng, 120)
    c, _ = _null_pair(rng, 120)
    chrf, chrf1 = get_metric("chrf", char_order=2), get_metric("chrf", char_order=2, beta=1)
    stats = {"x": {"base": a, "s1": b, "s2": c}, "y": {"base": a, "s1": b, "s2": c}}
    for method in ("paired-bs", "paired-ar"):
        together = compare_metrics_to_baseline({"x": chrf, "y": chrf1}, stats, "base", method=method,
                                               all_pairs=True, n_resamples=150)
        alone = compare_to_baseline(chrf1, stats["y"], "base", method=method, all_pairs=True, n_resamples=150)
        assert together["y"] == alone
        assert set(together["x"]) == {("base", "s1"), ("base", "s2"), ("s1", "s2")}


# ------------------------------------------------------------------ ties: systems that differ in few segments
def _sixty_segments(changed: int, seed: int = 11) -> tuple[list[str], list[str], list[str]]:
    """References, a good system, and the same system with ``changed`` segments badly degraded."""
    corpus = synthetic_corpus(60, seed=seed)
    good = corpus["C"]
    worse = list(good)
    for i in range(changed):
        worse[i * 5] = "completely unrelated words here"
    return corpus["refs"], good, worse


@pytest.mark.parametrize("key", ["bleu", "chrf", "ter"])
def test_one_changed_segment_in_sixty_is_not_significant(key):
    refs, good, worse = _sixty_segments(changed=1)
    metric = get_metric(key)
    a, b = _stats(key, good, refs), _stats(key, worse, refs)
    ar = approximate_randomization(metric, a, b)
    assert ar.p_value_rule == "exact" and ar.n_resamples == 2 and ar.p_value == 1.0
    assert paired_bootstrap(metric, a, b).p_value > 0.3
    # the rule this replaces: most swaps reproduce ±Δ exactly and are never counted
    strict = approximate_randomization(metric, a, b, p_value_rule="sacrebleu")
    assert strict.p_value < 0.01


@pytest.mark.parametrize("key", ["bleu", "chrf", "ter"])
def test_ten_degraded_segments_in_sixty_are_significant(key):
    refs, good, worse = _sixty_segments(changed=10)
    metric = get_metric(key)
    a, b = _stats(key, good, refs), _stats(key, worse, refs)
    ar = approximate_randomization(metric, a, b)
    assert ar.p_value_rule == "exact" and ar.n_resamples == 1024
    assert ar.p_value < 0.01
    assert paired_bootstrap(metric, a, b).p_value < 0.01


def _brute_force_ar(metric, a: np.ndarray, b: np.ndarray) -> float:
    """Every swap of every segment, scored from scratch with corpus_score (independent of the fast path)."""
    import itertools

    observed = abs(metric.corpus_score(a) - metric.corpus_score(b))
    hits = total = 0
    for swaps in itertools.product([False, True], repeat=len(a)):
        mask = np.array(swaps)[:, None]
        x, y = np.where(mask, b, a), np.where(mask, a, b)
        hits += abs(metric.corpus_score(x) - metric.corpus_score(y)) >= observed - 1e-9
        total += 1
    return hits / total


@pytest.mark.parametrize("key", ["bleu", "chrf", "ter"])
def test_exact_enumeration_equals_brute_force(key):
    corpus = synthetic_corpus(10, seed=5)
    refs, a_h, b_h = corpus["refs"], corpus["B"], list(corpus["B"])
    for i in (1, 4, 7):
        b_h[i] = corpus["A"][i]  # three segments differ, seven are identical
    metric = get_metric(key)
    a, b = _stats(key, a_h, refs), _stats(key, b_h, refs)
    result = approximate_randomization(metric, a, b)
    differing = int(np.any(a != b, axis=1).sum())  # TER may score a changed segment identically
    assert 1 <= differing <= 3
    assert result.p_value_rule == "exact" and result.n_resamples == 2**differing
    # enumerating only the differing segments equals enumerating all 2^10 swaps
    assert result.p_value == pytest.approx(_brute_force_ar(metric, a, b), abs=1e-12)


def test_many_differing_segments_use_monte_carlo_with_ties_counted():
    corpus = synthetic_corpus(120, seed=8)
    metric = get_metric("bleu")
    a, b = _stats("bleu", corpus["A"], corpus["refs"]), _stats("bleu", corpus["B"], corpus["refs"])
    ge = approximate_randomization(metric, a, b, 2000)
    strict = approximate_randomization(metric, a, b, 2000, p_value_rule="sacrebleu")
    assert ge.p_value_rule == "ge" and ge.n_resamples == 2000
    assert strict.p_value_rule == "sacrebleu"
    assert ge.p_value >= strict.p_value  # ties only ever add to the count
