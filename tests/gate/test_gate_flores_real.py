"""The gate on real systems: three OPUS-MT translations of FLORES-200 devtest ar→en.

The outputs are read in place from ``../shared/external/flores-ara-eng`` (never copied here);
the test skips, saying so, where that folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_helpers import cli

from mt_eval.gate.baseline import load_baseline

FLORES = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "flores-ara-eng"
pytestmark = pytest.mark.skipif(not (FLORES / "reference.eng").is_file(),
                                reason=f"real validation data absent ({FLORES})")
SYSTEMS = {"tc-big": "opus-mt-tc-big-ar-en", "tatoeba-2021": "opus-mt-ara-eng-2021-02-23",
           "ar-en-2019": "opus-mt-ar-en"}


@pytest.fixture(scope="module")
def flores_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("flores") / "run"
    args: list[object] = ["score", "--testset", FLORES, "-m", "bleu", "-m", "chrf", "--resamples", "20",
                          "-o", run]
    for name, file in SYSTEMS.items():
        args += ["--hyp", f"{name}={FLORES / 'systems' / f'{file}.eng'}"]
    assert cli(*args) == 0
    return run


def _gate(run: Path, baseline: Path, out: Path, *extra: object) -> tuple[int, dict[str, dict]]:
    code = cli("gate", "-b", baseline, "-c", run, "--json", out, *extra)
    return code, {c["metric"]: c for c in json.loads(out.read_text(encoding="utf-8"))["comparisons"]}


def test_baseline_scores_are_the_published_ones(flores_run: Path, tmp_path: Path) -> None:
    assert cli("baseline", "save", flores_run, "-o", tmp_path / "b.json") == 0
    baseline = load_baseline(tmp_path / "b.json")
    published = json.loads((FLORES / "published.json").read_text(encoding="utf-8"))["systems"]
    for name, file in SYSTEMS.items():
        metrics = baseline.systems[name].metrics
        assert round(metrics["bleu"].score, 1) == published[file]["bleu"]
        assert round(metrics["chrf"].score / 100, 5) == pytest.approx(published[file]["chrf"], abs=1e-5)
    # 3 systems × 2 metrics × 1012 segments of statistics, plus a 12-hex output hash per segment and system
    assert (tmp_path / "b.json").stat().st_size < 430_000


def test_older_checkpoint_regresses_small_chrf_drop_tolerated(flores_run: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "tatoeba.json"
    assert cli("baseline", "save", flores_run, "-o", baseline, "--system", "tatoeba-2021") == 0
    code, by_metric = _gate(flores_run, baseline, tmp_path / "v1.json", "--map", "tatoeba-2021=ar-en-2019",
                            "--tolerance", "chrf=1.0")
    assert code == 1
    assert by_metric["bleu"]["status"] == "regression"  # 35.3 -> 33.9 BLEU, significant
    assert by_metric["chrf"]["status"] == "pass-within-tolerance"  # −0.56 chrF: significant but tolerated
    assert by_metric["chrf"]["p_value"] < 0.05
    # the newer, better system against the same baseline is an improvement, not a failure
    code, by_metric = _gate(flores_run, baseline, tmp_path / "v2.json", "--map", "tatoeba-2021=tc-big")
    assert code == 0
    assert {c["status"] for c in by_metric.values()} == {"improvement"}


def test_the_fine_grained_analysis_covers_flores(flores_run: Path) -> None:
    """Issue 21: the analysis is in results.json and report.html for a real test set; every segment is in
    exactly one bucket of each bucketing, and the reference-length buckets agree with compare-mt's
    labelling (``tests/analysis/test_compare_mt_agreement.py`` checks the numbers on a synthetic corpus)."""
    from compare_mt.bucketers import LengthSentenceBucketer

    results = json.loads((flores_run / "results.json").read_text(encoding="utf-8"))
    analysis = results["analysis"]
    assert analysis["metrics"] == ["bleu", "chrf"]
    for bucketing in analysis["bucketings"]:
        assert sum(b["segments"] for b in bucketing["buckets"]) == 1012, bucketing["name"]
        for bucket in bucketing["buckets"]:
            for system in SYSTEMS:
                if bucket["segments"]:
                    entry = bucket["scores"][system]["bleu"]
                    assert entry["ci_low"] <= entry["score"] <= entry["ci_high"]
    refs = (FLORES / "reference.eng").read_text(encoding="utf-8").splitlines()
    bucketer = LengthSentenceBucketer()
    labels = [bucketer.bucket_strs[bucketer.calc_bucket(None, ref=ref.strip().split(" "))] for ref in refs]
    by_ref = {b["label"]: b["segments"] for b in analysis["bucketings"][0]["buckets"]}
    assert analysis["bucketings"][0]["name"] == "ref_length"
    assert {label: labels.count(label) for label in set(labels)} == {k: v for k, v in by_ref.items() if v}
    # no --baseline: every pair was compared, so every pair has its n-gram differences
    pairs = {("tc-big", "tatoeba-2021"), ("tc-big", "ar-en-2019"), ("tatoeba-2021", "ar-en-2019")}
    assert {(p["a"], p["b"]) for p in analysis["ngrams"]} == pairs
    assert all(p["a_only"] and p["b_only"] for p in analysis["ngrams"])
    html = (flores_run / "report.html").read_text(encoding="utf-8")
    assert 'id="analysis"' in html and 'id="analysis-ref_frequency"' in html
