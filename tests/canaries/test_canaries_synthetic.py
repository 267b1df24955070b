"""Canaries end to end on synthetic test sets (no ``../shared``): built-in metrics, a metric plugin that
ignores its input, ``canaries.json``, :func:`canary_verdict`, the CLI and the report section."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.cli import run_cli

from mt_eval.canaries.perturbations import CRITICAL, INVARIANCE, PERTURBATIONS
from mt_eval.canaries.report import (
    SCHEMA_VERSION,
    build_document,
    html_section,
    load_canaries,
    table,
    write_canaries,
)
from mt_eval.canaries.runner import CanarySettings, plan_canaries, run_canaries
from mt_eval.canaries.verdict import canary_verdict
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.evaluate import resolve_metrics
from mt_eval.metrics import registry
from mt_eval.metrics.base import MeanOfSegmentsMetric

LEXICAL = ["bleu", "chrf", "chrf++", "ter"]
AR_ALL = ("ar_remove_diacritics=true,ar_normalize_alef=true,ar_normalize_yaa=true,"
          "ar_normalize_ta_marbuta=true,ar_normalize_digits=true")


class ConstantMetric(MeanOfSegmentsMetric):
    """A third-party metric that ignores its input: every segment scores 0.5."""

    name = "constant-canary"

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        return np.tile([0.5, 1.0], (len(hypotheses), 1))

    def signature(self) -> dict[str, str]:
        return {"metric": "constant-canary", "version": "1"}


@pytest.fixture(scope="module")
def ar_en_doc(ar_en: tuple[TestSet, list[str]]) -> dict[str, Any]:
    testset, good = ar_en
    registry.register_metric("constant-canary", ConstantMetric)
    try:
        metrics = resolve_metrics([*LEXICAL, "constant-canary"])
    finally:
        registry.unregister_metric("constant-canary")
    settings = CanarySettings(max_segments=100, resamples=200)
    plan = plan_canaries(testset, good, settings)
    entries = run_canaries(plan, metrics, settings)
    return build_document(plan, entries, settings, {"name": "C", "spec": "file:C.txt", "signature": {}})


def _share(doc: dict[str, Any], metric: str, canary: str) -> float:
    return float(doc["metrics"][metric]["rows"][canary]["share_pct"])


def test_lexical_metrics_catch_the_critical_canaries(ar_en_doc: dict[str, Any]) -> None:
    """BLEU, chrF, chrF++ get worse on ≥ 90% of segments for empty, omission, copy, hallucination; TER on
    empty, copy, hallucination (its omission share is reported, see the README: TER can improve when an
    output loses words the reference lacks)."""
    for metric in ("bleu", "chrf", "chrf++"):
        for canary in CRITICAL:
            assert _share(ar_en_doc, metric, canary) >= 90, (metric, canary)
        assert ar_en_doc["metrics"][metric]["verdict"] in ("pass", "warn")
    for canary in ("empty", "copy", "hallucination"):
        assert _share(ar_en_doc, "ter", canary) >= 90, canary
    assert ar_en_doc["metrics"]["ter"]["rows"]["omission"]["mean_delta"] > 0  # TER rises on average


def test_a_metric_that_ignores_its_input_fails_every_sensitivity_canary(ar_en_doc: dict[str, Any]) -> None:
    entry = ar_en_doc["metrics"]["constant-canary"]
    sensitivity = [name for name, row in entry["rows"].items() if row["kind"] != INVARIANCE]
    assert len(sensitivity) >= 10
    for name in sensitivity:
        row = entry["rows"][name]
        assert row["worse"] == 0 and row["share_pct"] == 0 and row["status"] in ("fail", "warn", "n/a"), name
    assert entry["verdict"] == "fail"
    assert all(entry["rows"][c]["status"] == "fail" for c in CRITICAL)
    assert all(row["share_pct"] == 100 for row in entry["rows"].values() if row["kind"] == INVARIANCE)


def test_document_schema_and_numbers(ar_en_doc: dict[str, Any], ar_en: tuple[TestSet, list[str]]) -> None:
    doc = ar_en_doc
    assert doc["schema_version"] == SCHEMA_VERSION and doc["testset"]["hash"] == ar_en[0].content_hash
    assert doc["sample"]["segments"] == 100 and len(doc["sample"]["indices"]) == 100
    bleu = doc["metrics"]["bleu"]
    assert bleu["signature_string"].startswith("nrefs:1|") and bleu["higher_is_better"]
    assert doc["metrics"]["ter"]["higher_is_better"] is False
    empty = bleu["rows"]["empty"]
    assert empty["applicable"] == 100 and empty["ci_low"] <= empty["mean_delta"] <= empty["ci_high"] < 0
    assert doc["metrics"]["ter"]["rows"]["empty"]["mean_delta"] > 0  # TER: a rise is worse
    number = bleu["rows"]["number"]
    assert number["applicable"] + number["not_applicable"] == 100 and number["not_applicable"] > 0
    assert set(doc["perturbations"]) == {p.name for p in PERTURBATIONS if not p.name.startswith("ar_")}
    header, rows = table(doc)
    assert header[3:] == [*LEXICAL, "constant-canary"] and rows[-1][0] == "verdict"


def test_canary_verdict(ar_en_doc: dict[str, Any], tmp_path: Path) -> None:
    path = write_canaries(tmp_path / "canaries.json", ar_en_doc)
    hash_ = ar_en_doc["testset"]["hash"]
    bleu_sig = ar_en_doc["metrics"]["bleu"]["signature_string"]
    ok, reason = canary_verdict(path, hash_, bleu_sig)
    assert ok and "passes" in reason
    ok, reason = canary_verdict(tmp_path, hash_, ar_en_doc["metrics"]["bleu"]["signature"])  # folder, dict
    assert ok
    ok, reason = canary_verdict(path, hash_, ar_en_doc["metrics"]["constant-canary"]["signature_string"])
    assert not ok and "empty caught 0% < 90%" in reason and "copy caught 0%" in reason
    ok, reason = canary_verdict(path, "0" * 64, bleu_sig)
    assert not ok and "another test set" not in reason and "not on this one" in reason
    ok, reason = canary_verdict(path, hash_, bleu_sig.replace("tok:13a", "tok:intl"))
    assert not ok and "no canaries for metric signature" in reason
    ok, reason = canary_verdict(tmp_path / "missing", hash_, bleu_sig)
    assert not ok and "missing" in reason
    partial = json.loads(json.dumps(ar_en_doc))
    del partial["metrics"]["bleu"]["rows"]["copy"]
    ok, reason = canary_verdict(partial, hash_, bleu_sig)
    assert not ok and "copy not measured" in reason
    newer = {**ar_en_doc, "schema_version": SCHEMA_VERSION + 1}
    write_canaries(tmp_path / "newer.json", newer)
    ok, reason = canary_verdict(tmp_path / "newer.json", hash_, bleu_sig)
    assert not ok and "schema_version" in reason
    with pytest.raises(MtEvalError, match="schema_version"):
        load_canaries(tmp_path / "newer.json")


def test_html_section_is_escaped_and_marks_failures(ar_en_doc: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(ar_en_doc))
    doc["good"]["name"] = "<script>x</script>"
    text = str(html_section(doc, run_testset_hash="f" * 64))
    assert "<script>x" not in text and "&lt;script&gt;x" in text
    assert "Metric canaries" in text and "another test set" in text and "0✗" in text
    assert text.count("<tr>") == len(doc["perturbations"]) + 2  # header, rows, verdict


def test_arabic_orthography_hurts_plain_metrics_and_the_ar_options_fix_it(
        en_ar: tuple[TestSet, list[str]]) -> None:
    testset, good = en_ar
    specs = [*LEXICAL, *(f"{m}:{AR_ALL}" for m in LEXICAL)]
    settings = CanarySettings(max_segments=0, resamples=100,
                              perturbations=("empty", "ar_diacritics", "ar_tatweel", "ar_alef", "ar_yaa",
                                             "ar_ta_marbuta", "ar_digits"))
    plan = plan_canaries(testset, good, settings)
    doc = build_document(plan, run_canaries(plan, resolve_metrics(specs), settings), settings,
                         {"name": "reference", "spec": "file:ref", "signature": {}})
    assert doc["good"]["equals_reference_pct"] == 100
    for canary in ("ar_diacritics", "ar_tatweel", "ar_alef", "ar_yaa", "ar_ta_marbuta", "ar_digits"):
        assert doc["perturbations"][canary]["applicable"] >= 10, canary
        for metric in LEXICAL:
            assert _share(doc, metric, canary) < 50, (metric, canary)
            assert _share(doc, f"{metric}:{AR_ALL}", canary) == 100, (metric, canary)
    assert doc["metrics"][f"bleu:{AR_ALL}"]["signature"]["arnorm"] == "diac+alef+yaa+teh+digits"


def _write_plain(folder: Path, testset: TestSet, good: list[str]) -> Path:
    folder.mkdir()
    (folder / "source.ara").write_text("\n".join(testset.sources) + "\n", encoding="utf-8")
    refs = "\n".join(r[0] for r in testset.references)
    (folder / "reference.eng").write_text(refs + "\n", encoding="utf-8")
    hyp = folder.parent / "good.eng"
    hyp.write_text("\n".join(good) + "\n", encoding="utf-8")
    return hyp


def test_cli_writes_canaries_and_the_run_report_shows_them(
        ar_en: tuple[TestSet, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    testset, good = ar_en
    ts = tmp_path / "ts"
    hyp = _write_plain(ts, testset, good)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "score", "--testset", ts, "--hyp", hyp, "-m", "bleu", "-o", run)
    assert code == 0, err
    registry.register_metric("constant-canary", ConstantMetric)
    try:
        code, out, err = run_cli(capsys, "canary", "--testset", ts, "--good", f"file:{hyp}", "-m", "bleu",
                                 "-m", "constant-canary", "-o", run, "--max-segments", "40",
                                 "-p", "empty", "-p", "omission", "-p", "copy", "-p", "hallucination",
                                 "-p", "quotes")
    finally:
        registry.unregister_metric("constant-canary")
    assert code == 0, err
    assert "40 of 150 segments, 5 perturbations" in err and "segments to score" in err
    assert "constant-canary: fail (empty: caught 0% < 90%" in out and "\nbleu: " in out
    doc = load_canaries(run)
    assert list(doc["metrics"]) == ["bleu", "constant-canary"] and doc["good"]["name"] == "good"
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "Metric canaries" in report and "canaries-table" in report
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    ok, _ = canary_verdict(run, results["testset"]["hash"], results["metrics"]["bleu"]["signature_string"])
    assert ok
    code, _, err = run_cli(capsys, "canary", "--testset", ts, "--good", f"file:{hyp}", "-m", "bleu",
                           "-o", tmp_path / "other", "-p", "nope")
    assert code == 2 and "unknown perturbation" in err
