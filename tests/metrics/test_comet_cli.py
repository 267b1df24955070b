"""``mt-eval run -m 'comet:model=PATH'`` end to end on the seed test set, with the tiny COMET checkpoints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from comet_fixture import SEED_FILE, TinyComet
from helpers.cli import run_cli

from mt_eval.reports.layout import RunLayout
from mt_eval.reports.run_folder import load_run

pytestmark = pytest.mark.slow


def _run(capsys: pytest.CaptureFixture[str], tiny: TinyComet, testset: Path, out: Path) -> tuple[str, str]:
    reg, xc = f"comet:model={tiny.regression},threads=1", f"comet:model={tiny.xcomet},threads=1,batch_size=3"
    code, _, err = run_cli(capsys, "run", "--testset", testset, "-s", "copy", "-s",
                           f"file:{testset}/reference.en", "-m", "chrf", "-m", reg, "-m", xc,
                           "--resamples", "100", "-o", out)
    assert code == 0, err
    return reg, xc


def test_run_scores_comet_with_the_model_hash_deterministically(capsys, tiny_comet: TinyComet,
                                                               tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "testset", "build", SEED_FILE, "-o", tmp_path / "ts")
    assert code == 0, err
    reg, xc = _run(capsys, tiny_comet, tmp_path / "ts", tmp_path / "run1")
    _run(capsys, tiny_comet, tmp_path / "ts", tmp_path / "run2")
    first, second = load_run(tmp_path / "run1"), load_run(tmp_path / "run2")
    systems = ["copy", "reference.en"]
    for key, folder in ((reg, tiny_comet.regression), (xc, tiny_comet.xcomet)):
        sha = hashlib.sha256((folder / "checkpoints" / "model.ckpt").read_bytes()).hexdigest()
        signature = first.metrics[key].signature
        assert signature["model_hash"] == f"sha256:{sha}" and signature["metric"] == "COMET"
        assert f"model_hash:sha256:{sha}" in first.scores["copy"][key].signature
        assert first.metrics[key].higher_is_better
        for system in systems:
            a, b = first.scores[system][key], second.scores[system][key]
            assert a.score == b.score and a.ci_low == b.ci_low and a.ci_high == b.ci_high
            stats = np.load(RunLayout(tmp_path / "run1").stats_path(system, key), allow_pickle=False)
            again = np.load(RunLayout(tmp_path / "run2").stats_path(system, key), allow_pickle=False)
            assert stats.shape == (7, 2) and stats.dtype == np.float64
            np.testing.assert_array_equal(stats, again)
            np.testing.assert_array_equal(stats[:, 1], np.ones(7))
            assert a.score == pytest.approx(100 * stats[:, 0].mean())
        assert first.scores["copy"][key].score != first.scores["reference.en"][key].score
    # batch_size is run-only: it is in the spec but not in the identity the gate compares
    assert first.metrics[xc].spec["options"]["batch_size"] == 3

    # xCOMET's spans land in segments.jsonl, inside the hypotheses; the regression model has none
    records = [json.loads(line) for line in
               (tmp_path / "run1" / "segments.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 7
    sources = set()
    count = 0
    for record in records:
        for system, spans in record.get("spans", {}).items():
            hypothesis = record["outputs"][system]
            for span in spans:
                sources.add(span["source"])
                assert 0 <= span["start"] < span["end"] <= len(hypothesis)
                assert span["text"] == hypothesis[span["start"]:span["end"]]
                assert span["severity"] in {"minor", "major", "critical"}
                count += 1
    assert sources == {xc} and count > 0
    counts = json.loads((tmp_path / "run1" / "results.json").read_text(encoding="utf-8"))["span_counts"]
    assert sum(counts["copy"][xc][s] + counts["reference.en"][xc][s]
               for s in ("minor", "major", "critical")) == count
    assert reg not in counts["copy"]
