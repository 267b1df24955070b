"""Canaries as part of ``mt-eval run``: ``--canaries`` and ``canaries = true`` in a run config write
``canaries.json`` into the run folder (the report shows it), on the baseline's outputs, never ``copy``'s."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import run_cli

from mt_eval.canaries.for_run import choose_good_system, is_floor
from mt_eval.canaries.report import load_canaries
from mt_eval.canaries.verdict import canary_verdict
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.translators.base import SystemRun


@pytest.fixture
def saved(ar_en: tuple[TestSet, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    testset, good = ar_en
    testset.save(tmp_path / "ts")
    (tmp_path / "good.txt").write_text("\n".join(good) + "\n", encoding="utf-8")
    return tmp_path


def test_run_canaries_flag_uses_the_first_non_copy_system(saved: Path, capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    run = saved / "run"
    code, _, err = run_cli(capsys, "run", "--testset", saved / "ts", "-s", "copy", "-s",
                           f"file:{saved / 'good.txt'}", "--baseline", "copy", "-m", "bleu", "-m", "chrf",
                           "--resamples", "50", "-o", run, "--canaries")
    assert code == 0, err
    doc = load_canaries(run)
    assert doc["good"]["name"] == "good.txt" and "the baseline 'copy' is a copy-like floor" in \
        doc["good"]["chosen"]
    assert list(doc["metrics"]) == ["bleu", "chrf"]
    bleu = doc["metrics"]["bleu"]
    assert bleu["verdict"] != "fail" and bleu["rows"]["empty"]["share_pct"] > 90
    assert "canaries: bleu:" in err and "the good translation was" in err
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "Metric canaries" in report and "canaries-table" in report
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    for key in ("bleu", "chrf"):  # the gate finds them by the run's own signatures
        ok, why = canary_verdict(run, results["testset"]["hash"], results["metrics"][key]["signature_string"])
        assert ok, why
    # a re-run without canaries replaces the folder: no stale canaries.json
    code, _, err = run_cli(capsys, "run", "--testset", saved / "ts", "-s", f"file:{saved / 'good.txt'}",
                           "-m", "bleu", "--resamples", "50", "-o", run)
    assert code == 0, err
    assert not (run / "canaries.json").exists()
    assert "Metric canaries" not in (run / "report.html").read_text(encoding="utf-8")


def test_run_config_canaries_key_uses_the_baseline(saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (saved / "other.txt").write_text((saved / "good.txt").read_text(encoding="utf-8").replace(" the ", " a "),
                                     encoding="utf-8")
    config = saved / "run.toml"
    config.write_text('name = "canary-run"\ntestset = "ts"\nmetrics = ["bleu"]\nbaseline = "base"\n'
                      'resamples = 50\noutput = "out"\ncanaries = true\n'
                      '[[systems]]\nspec = "file:other.txt"\nname = "other"\n'
                      '[[systems]]\nspec = "file:good.txt"\nname = "base"\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "run", config)
    assert code == 0, err
    doc = load_canaries(saved / "out")
    assert doc["good"]["name"] == "base" and doc["good"]["chosen"] == "the baseline system 'base'"
    assert "Metric canaries" in (saved / "out" / "report.html").read_text(encoding="utf-8")
    code, _, err = run_cli(capsys, "run", config, "--shard", "0/2")
    assert code == 2 and "canaries cannot be run on a --shard" in err


def test_choose_good_system_skips_floors(ar_en: tuple[TestSet, list[str]]) -> None:
    testset, good = ar_en
    copy = SystemRun("copy", "copy", list(testset.sources), {"backend": "copy"})
    untranslated = SystemRun("echo", "file:echo.txt", list(testset.sources), {"backend": "file"})
    mt = SystemRun("mt", "file:mt.txt", list(good), {"backend": "file"})
    assert is_floor(copy, testset) and is_floor(untranslated, testset) and not is_floor(mt, testset)
    assert choose_good_system(testset, [copy, untranslated, mt], None)[0] is mt
    assert choose_good_system(testset, [mt], "mt")[1] == "the baseline system 'mt'"
    with pytest.raises(MtEvalError, match="copy-like floor"):
        choose_good_system(testset, [copy, untranslated], "copy")
