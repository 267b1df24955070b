"""Verdicts a team can act on: ties, Holm across the family, identity by content, human agreement.

Every case goes through the real CLI: ``mt-eval score`` writes the run folders, ``baseline save``
the baseline, ``mt-eval gate`` the verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_helpers import RunMaker, cli, corrupt, references

from mt_eval.data.testset import TestSet

N = 60


@pytest.fixture
def sixty(tmp_path: Path) -> tuple[Path, list[str]]:
    refs = references(N, seed=3)
    ts = TestSet.from_pairs([(f"src {i}", [r]) for i, r in enumerate(refs)], source_lang="ar",
                            target_lang="en", name="sixty")
    return ts.save(tmp_path / "ts"), refs


def _verdict(tmp_path: Path, baseline: Path, candidate: Path, *extra: object) -> tuple[int, dict]:
    out = tmp_path / f"verdict-{candidate.name}-{len(extra)}.json"
    code = cli("gate", "--baseline", baseline, "--candidate", candidate, "--json", out, *extra)
    verdict = json.loads(out.read_text(encoding="utf-8"))
    assert verdict["exit_code"] == code
    return code, verdict


def _baseline(tmp_path: Path, make_run: RunMaker, ts_dir: Path, hyps: list[str],
              metrics: tuple[str, ...] = ("bleu", "chrf")) -> Path:
    run = make_run("base", ts_dir, {"mt": hyps}, metrics=metrics)
    assert cli("baseline", "save", run, "-o", tmp_path / "baseline.json") == 0
    return tmp_path / "baseline.json"


@pytest.mark.parametrize("method", ["paired-bs", "paired-ar"])
def test_one_changed_segment_of_sixty_passes(tmp_path, sixty, make_run, method) -> None:
    ts_dir, refs = sixty
    hyps = corrupt(refs, 0.3, seed=1)
    baseline = _baseline(tmp_path, make_run, ts_dir, hyps)
    changed = list(hyps)
    changed[17] = "completely different words"
    code, verdict = _verdict(tmp_path, baseline, make_run("one", ts_dir, {"mt": changed}),
                             "--method", method)
    assert code == 0, verdict["comparisons"]
    assert all(c["status"] == "no-significant-change" for c in verdict["comparisons"])
    if method == "paired-ar":  # one differing segment: both swaps reproduce ±Δ, exact p = 1
        assert all(c["p_value"] == 1.0 for c in verdict["comparisons"])
    assert any("only 60 segments" in note for note in verdict["notes"])  # small test sets are called small


@pytest.mark.parametrize("method", ["paired-bs", "paired-ar"])
def test_ten_badly_degraded_segments_of_sixty_fail(tmp_path, sixty, make_run, method) -> None:
    ts_dir, refs = sixty
    hyps = corrupt(refs, 0.3, seed=1)
    baseline = _baseline(tmp_path, make_run, ts_dir, hyps)
    degraded = list(hyps)
    for i in range(0, N, 6):
        degraded[i] = "zzz"
    code, verdict = _verdict(tmp_path, baseline, make_run("ten", ts_dir, {"mt": degraded}),
                             "--method", method)
    assert code == 1, verdict["comparisons"]
    for c in verdict["comparisons"]:
        assert c["status"] == "regression"
        assert c["p_adjusted"] >= c["p_value"]  # Holm over bleu and chrf


def test_default_method_on_a_small_test_set_is_exact_ar(tmp_path, sixty, make_run) -> None:
    ts_dir, refs = sixty
    baseline = _baseline(tmp_path, make_run, ts_dir, corrupt(refs, 0.3, seed=1))
    _, verdict = _verdict(tmp_path, baseline, make_run("again", ts_dir, {"mt": corrupt(refs, 0.3, seed=2)}))
    assert verdict["policy"]["method"] == "paired-ar"


def test_a_renamed_identical_test_set_compares(tmp_path, sixty, make_run) -> None:
    ts_dir, refs = sixty
    hyps = corrupt(refs, 0.3, seed=1)
    baseline = _baseline(tmp_path, make_run, ts_dir, hyps)
    renamed = TestSet.load(ts_dir)
    renamed = TestSet(segments=renamed.segments, source_lang="ar", target_lang="en", name="another-name")
    other_dir = renamed.save(tmp_path / "elsewhere")
    code, verdict = _verdict(tmp_path, baseline, make_run("renamed", other_dir, {"mt": hyps}))
    assert code == 0 and not verdict["errors"]
    assert any("under another name" in note for note in verdict["notes"])


@pytest.mark.slow
def test_a_run_only_option_does_not_block_the_comparison(tmp_path, sixty, make_run) -> None:
    ts_dir, refs = sixty
    hyps = corrupt(refs, 0.3, seed=1)
    baseline = _baseline(tmp_path, make_run, ts_dir, hyps, metrics=("chrf", "semantic"))
    candidate = make_run("threads", ts_dir, {"mt": hyps}, metrics=("chrf", "semantic:threads=2"))
    code, verdict = _verdict(tmp_path, baseline, candidate)
    assert code == 0, verdict
    assert {c["metric"] for c in verdict["comparisons"]} == {"chrf", "semantic"}
    # an option that changes scores is still refused, naming the option
    other = make_run("order", ts_dir, {"mt": hyps}, metrics=("chrf:char_order=4", "semantic"))
    code, verdict = _verdict(tmp_path, baseline, other)
    assert code == 2
    refused = [c["reason"] for c in verdict["comparisons"] if c["status"] == "cannot-compare"]
    assert len(refused) == 1 and "nc (baseline '6', candidate '4')" in refused[0]  # chrF's char order


def test_primary_metric_alone_can_fail(tmp_path, sixty, make_run) -> None:
    ts_dir, refs = sixty
    hyps = corrupt(refs, 0.3, seed=1)
    baseline = _baseline(tmp_path, make_run, ts_dir, hyps, metrics=("bleu", "chrf", "ter"))
    degraded = [("zzz" if i % 6 == 0 else h) for i, h in enumerate(hyps)]
    candidate = make_run("deg", ts_dir, {"mt": degraded}, metrics=("bleu", "chrf", "ter"))
    policy = tmp_path / "policy.toml"
    policy.write_text('[gate]\nprimary_metric = "chrf"\n', encoding="utf-8")
    code, verdict = _verdict(tmp_path, baseline, candidate, "--policy", policy)
    by_metric = {c["metric"]: c for c in verdict["comparisons"]}
    assert code == 1 and by_metric["chrf"]["status"] == "regression"
    assert by_metric["bleu"]["status"] == by_metric["ter"]["status"] == "reported"
    assert not by_metric["bleu"]["in_family"]
    # a family that leaves chrf out: nothing can fail any more
    policy.write_text('[gate]\nfamily = ["bleu"]\nmin_human_agreement = 99.9\n', encoding="utf-8")
    code, verdict = _verdict(tmp_path, baseline, candidate, "--policy", policy)
    by_metric = {c["metric"]: c for c in verdict["comparisons"]}
    assert by_metric["chrf"]["status"] == "reported"
    # BLEU dropped a lot, but the policy asks for 99.9% human agreement, which the curve never reaches
    assert by_metric["bleu"]["status"] == "not-noticeable" and code == 0
    assert by_metric["bleu"]["human_agreement"] is not None and by_metric["bleu"]["human_agreement"] < 99.9


def test_min_human_agreement_on_a_metric_without_a_curve(tmp_path, sixty, make_run) -> None:
    ts_dir, refs = sixty
    hyps = corrupt(refs, 0.3, seed=1)
    baseline = _baseline(tmp_path, make_run, ts_dir, hyps, metrics=("ter",))
    degraded = [("zzz" if i % 6 == 0 else h) for i, h in enumerate(hyps)]
    candidate = make_run("deg", ts_dir, {"mt": degraded}, metrics=("ter",))
    code, verdict = _verdict(tmp_path, baseline, candidate)
    assert code == 1  # without the requirement: a regression
    code, verdict = _verdict(tmp_path, baseline, candidate, "--min-human-agreement", "80")
    (c,) = verdict["comparisons"]
    assert code == 0 and c["status"] == "not-noticeable" and c["human_agreement"] is None
    assert "no human-agreement curve" in c["reason"]


def test_a_metric_outside_the_family_may_be_missing_from_the_candidate(tmp_path, sixty, make_run) -> None:
    ts_dir, refs = sixty
    hyps = corrupt(refs, 0.3, seed=1)
    baseline = _baseline(tmp_path, make_run, ts_dir, hyps, metrics=("bleu", "chrf"))
    candidate = make_run("chrf-only", ts_dir, {"mt": hyps}, metrics=("chrf",))
    code, verdict = _verdict(tmp_path, baseline, candidate)
    assert code == 2  # bleu is a gate metric: its absence means the comparison is incomplete
    policy = tmp_path / "family.toml"
    policy.write_text('[gate]\nfamily = ["chrf"]\n', encoding="utf-8")
    code, verdict = _verdict(tmp_path, baseline, candidate, "--policy", policy)
    by_metric = {c["metric"]: c for c in verdict["comparisons"]}
    assert code == 0 and by_metric["bleu"]["status"] == "reported"


def test_a_misspelt_primary_metric_or_family_cannot_compare(tmp_path, sixty, make_run) -> None:
    """Otherwise every metric would be 'reported' and the gate could never fail: a silent pass."""
    ts_dir, refs = sixty
    hyps = corrupt(refs, 0.3, seed=1)
    baseline = _baseline(tmp_path, make_run, ts_dir, hyps)
    candidate = make_run("same", ts_dir, {"mt": hyps})
    code, verdict = _verdict(tmp_path, baseline, candidate, "--primary-metric", "chrff")
    assert code == 2 and "'chrff'" in verdict["errors"][0]
    policy = tmp_path / "typo.toml"
    policy.write_text('[gate]\nfamily = ["bleu", "cherf"]\n', encoding="utf-8")
    code, verdict = _verdict(tmp_path, baseline, candidate, "--policy", policy)
    assert code == 2 and "'cherf'" in verdict["errors"][0]
