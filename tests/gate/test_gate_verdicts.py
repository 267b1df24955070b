"""The gate on constructed systems, through real run folders: regression, tolerance, cannot-compare."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from gate_helpers import RunMaker, cli, corrupt

from mt_eval.data.testset import TestSet
from mt_eval.gate.baseline import load_baseline


def _small_drop(hyps: list[str], n_segments: int, seed: int = 5) -> list[str]:
    """Break one word in ``n_segments`` segments: a drop that is consistent, hence significant, but small."""
    out = list(hyps)
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(out), n_segments, replace=False):
        words = out[i].split()
        words[int(rng.integers(len(words) - 1))] = "zzz"
        out[i] = " ".join(words)
    return out


@pytest.fixture
def gated(tmp_path: Path, synthetic_testset: tuple[Path, list[str]], make_run: RunMaker
          ) -> tuple[Path, Path, list[str], list[str]]:
    """(baseline.json, test-set dir, references, baseline outputs)."""
    ts_dir, refs = synthetic_testset
    hyps = corrupt(refs, 0.3, seed=1)
    run = make_run("base", ts_dir, {"mt": hyps})
    assert cli("baseline", "save", run, "-o", tmp_path / "baseline.json") == 0
    return tmp_path / "baseline.json", ts_dir, refs, hyps


def _gate(tmp_path: Path, baseline: Path, candidate: Path, *extra: object) -> tuple[int, dict]:
    out = tmp_path / f"verdict-{candidate.name}.json"
    code = cli("gate", "--baseline", baseline, "--candidate", candidate, "--json", out, *extra)
    verdict = json.loads(out.read_text(encoding="utf-8"))
    assert verdict["exit_code"] == code
    return code, verdict


def _by_metric(verdict: dict) -> dict[str, dict]:
    return {c["metric"]: c for c in verdict["comparisons"]}


def test_baseline_holds_sacrebleu_scores_and_exact_statistics(gated) -> None:
    baseline_path, _, refs, hyps = gated
    baseline = load_baseline(baseline_path)
    entry = baseline.systems["mt"].metrics["bleu"]
    assert entry.score == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
    assert baseline.systems["mt"].metrics["chrf"].score == pytest.approx(
        sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)
    assert entry.signature["tok"] == "13a"
    assert entry.stats_dtype == "int64" and len(entry.stats) == 200
    # sums of the stored statistics are sacrebleu's own corpus statistics
    sb = sacrebleu.BLEU()
    assert sb.corpus_score(hyps, [refs]).counts == list(np.asarray(entry.stats).sum(axis=0)[2:6])
    assert baseline_path.stat().st_size < 40_000  # two metrics × 200 segments: small enough to commit


def test_true_regression_fails_with_exit_1(tmp_path: Path, gated, make_run: RunMaker) -> None:
    baseline, ts_dir, refs, _ = gated
    worse = make_run("worse", ts_dir, {"mt": corrupt(refs, 0.5, seed=2)})
    code, verdict = _gate(tmp_path, baseline, worse, "--tolerance", "1.0")
    assert code == 1
    assert verdict["outcome"] == "regression"
    for c in verdict["comparisons"]:
        assert c["status"] == "regression"
        assert c["worsening"] > 1.0 and c["p_value"] < 0.05


def test_same_outputs_pass_with_exit_0(tmp_path: Path, gated, make_run: RunMaker) -> None:
    baseline, ts_dir, _, hyps = gated
    same = make_run("same", ts_dir, {"mt": hyps})
    code, verdict = _gate(tmp_path, baseline, same)
    assert code == 0
    assert {c["status"] for c in verdict["comparisons"]} == {"no-significant-change"}


def test_improvement_is_reported_not_failed(tmp_path: Path, gated, make_run: RunMaker) -> None:
    baseline, ts_dir, refs, _ = gated
    better = make_run("better", ts_dir, {"mt": corrupt(refs, 0.1, seed=3)})
    code, verdict = _gate(tmp_path, baseline, better)
    assert code == 0
    assert {c["status"] for c in verdict["comparisons"]} == {"improvement"}


def test_small_significant_drop_under_tolerance_passes(tmp_path: Path, gated, make_run: RunMaker) -> None:
    baseline, ts_dir, _, hyps = gated
    small = make_run("small", ts_dir, {"mt": _small_drop(hyps, 20)})
    code, verdict = _gate(tmp_path, baseline, small, "--tolerance", "1.0")
    assert code == 0
    for c in verdict["comparisons"]:
        assert c["status"] == "pass-within-tolerance"
        assert 0 < c["worsening"] < 1.0 and c["p_value"] < 0.05  # significant, yet tolerated
    # the same drop with a tighter BLEU tolerance is a regression; a relative 2% tolerates it again
    code, verdict = _gate(tmp_path, baseline, small, "--tolerance", "bleu=0.5", "--tolerance", "chrf=1")
    assert code == 1
    assert _by_metric(verdict)["bleu"]["status"] == "regression"
    assert _by_metric(verdict)["chrf"]["status"] == "pass-within-tolerance"
    code, _ = _gate(tmp_path, baseline, small, "--tolerance", "2%")
    assert code == 0


def test_policy_file_sets_tolerance_and_floor(tmp_path: Path, gated, make_run: RunMaker) -> None:
    baseline, ts_dir, _, hyps = gated
    small = make_run("small", ts_dir, {"mt": _small_drop(hyps, 20)})
    policy = tmp_path / "gate.toml"
    policy.write_text("[gate]\nalpha = 0.05\n[gate.default]\ntolerance = 1.0\n"
                      "[gate.metric.chrf]\nmin_score = 70\n", encoding="utf-8")
    code, verdict = _gate(tmp_path, baseline, small, "--policy", policy)
    assert code == 1
    assert _by_metric(verdict)["bleu"]["status"] == "pass-within-tolerance"
    assert _by_metric(verdict)["chrf"]["status"] == "below-min-score"
    # a flag overrides the file
    code, _ = _gate(tmp_path, baseline, small, "--policy", policy, "--min-score", "chrf=50")
    assert code == 0


def test_changed_tokenizer_cannot_compare_naming_the_field(tmp_path: Path, gated, make_run: RunMaker,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    baseline, ts_dir, _, hyps = gated
    intl = make_run("intl", ts_dir, {"mt": hyps}, metrics=("bleu:tokenize=intl", "chrf"))
    capsys.readouterr()
    code, verdict = _gate(tmp_path, baseline, intl)
    assert code == 2
    bleu = _by_metric(verdict)["bleu"]
    assert bleu["status"] == "cannot-compare"
    assert "signature field tok (baseline '13a', candidate 'intl')" in bleu["reason"]
    assert "tok (baseline '13a', candidate 'intl')" in capsys.readouterr().out


def test_changed_test_set_cannot_compare_naming_the_field(tmp_path: Path, gated, make_run: RunMaker) -> None:
    baseline, ts_dir, refs, hyps = gated
    edited = TestSet.load(ts_dir)
    pairs = [(s.source, list(s.references)) for s in edited.segments]
    pairs[7] = (pairs[7][0], [refs[7] + " extra"])
    other = TestSet.from_pairs(pairs, source_lang="ar", target_lang="en", name="synthetic")
    other_dir = other.save(tmp_path / "edited-testset")
    run = make_run("edited", other_dir, {"mt": hyps})
    code, verdict = _gate(tmp_path, baseline, run)
    assert code == 2
    assert verdict["comparisons"] == []
    assert "testset.hash" in verdict["errors"][0]
    assert "testset.num_segments" not in verdict["errors"][0]  # only what really differs is named


def test_renamed_system_is_paired_and_missing_system_cannot_compare(tmp_path: Path, gated,
                                                                     make_run: RunMaker) -> None:
    baseline, ts_dir, _, hyps = gated
    renamed = make_run("renamed", ts_dir, {"new-checkpoint": hyps})
    code, verdict = _gate(tmp_path, baseline, renamed)
    assert code == 0
    assert "'new-checkpoint'" in verdict["notes"][0]
    two = make_run("two", ts_dir, {"a": hyps, "b": hyps})
    code, verdict = _gate(tmp_path, baseline, two)
    assert code == 2
    assert all("no system 'mt'" in c["reason"] for c in verdict["comparisons"])
    code, verdict = _gate(tmp_path, baseline, two, "--map", "mt=b")
    assert code == 0
    assert {c["candidate_system"] for c in verdict["comparisons"]} == {"b"}


def test_candidate_results_json_path_and_metric_subset(tmp_path: Path, gated, make_run: RunMaker) -> None:
    baseline, ts_dir, _, hyps = gated
    run = make_run("only-bleu", ts_dir, {"mt": hyps}, metrics=("bleu",))
    code, verdict = _gate(tmp_path, baseline, run / "results.json")
    assert code == 2  # chrf is in the baseline but not in the candidate: not silently skipped
    assert "did not compute metric 'chrf'" in _by_metric(verdict)["chrf"]["reason"]
    code, verdict = _gate(tmp_path, baseline, run / "results.json", "--metric", "bleu")
    assert code == 0 and len(verdict["comparisons"]) == 1


def test_stale_candidate_statistics_cannot_compare(tmp_path: Path, gated, make_run: RunMaker) -> None:
    baseline, ts_dir, refs, hyps = gated
    run = make_run("stale", ts_dir, {"mt": hyps})
    worse = make_run("worse", ts_dir, {"mt": corrupt(refs, 0.6, seed=9)})
    (run / "stats" / "mt" / "bleu.npy").write_bytes((worse / "stats" / "mt" / "bleu.npy").read_bytes())
    code, verdict = _gate(tmp_path, baseline, run)
    assert code == 2
    assert "stale stats" in _by_metric(verdict)["bleu"]["reason"]
    (run / "stats" / "mt" / "chrf.npy").unlink()
    code, verdict = _gate(tmp_path, baseline, run)
    assert "statistics file not found" in _by_metric(verdict)["chrf"]["reason"]


def test_metric_key_with_options_takes_the_policy_of_its_metric(tmp_path: Path, synthetic_testset,
                                                                 make_run: RunMaker) -> None:
    ts_dir, refs = synthetic_testset
    hyps = corrupt(refs, 0.3, seed=1)
    base = make_run("intl-base", ts_dir, {"mt": hyps}, metrics=("bleu:tokenize=intl",))
    assert cli("baseline", "save", base, "-o", tmp_path / "intl.json") == 0
    cand = make_run("intl-small", ts_dir, {"mt": _small_drop(hyps, 20)}, metrics=("bleu:tokenize=intl",))
    code, verdict = _gate(tmp_path, tmp_path / "intl.json", cand, "--tolerance", "bleu=1.0")
    assert code == 0
    assert verdict["comparisons"][0]["metric"] == "bleu:tokenize=intl"
    assert verdict["comparisons"][0]["status"] == "pass-within-tolerance"
    code, _ = _gate(tmp_path, tmp_path / "intl.json", cand)  # default tolerance 0: the drop fails
    assert code == 1
