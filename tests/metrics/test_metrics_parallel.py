"""``--workers auto``: the usable cores on a large test set, one process on a small one; recorded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.metrics import parallel
from mt_eval.metrics.registry import get_metric
from mt_eval.reports.run_folder import load_run


def test_auto_uses_the_affinity_cores_only_on_large_test_sets(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2}, raising=False)
    assert parallel.usable_cores() == 3
    big = parallel.resolve_workers("auto", parallel.AUTO_MIN_SEGMENTS)
    assert (big.workers, big.requested) == (3, "auto")
    assert "3 usable cores" in big.describe()
    small = parallel.resolve_workers(None, parallel.AUTO_MIN_SEGMENTS - 1)
    assert small.workers == 1 and "parallel from" in small.reason
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {5}, raising=False)
    assert parallel.resolve_workers("AUTO", 10**6).workers == 1


def test_explicit_counts_and_bad_values():
    assert parallel.resolve_workers("4", 10).to_dict() == {"requested": "4", "workers": 4,
                                                           "reason": "as requested"}
    assert parallel.resolve_workers(2, 10).workers == 2
    for bad in ("0", "-1", "many", "1.5"):
        with pytest.raises(MtEvalError, match="--workers: expected a positive integer or 'auto'"):
            parallel.resolve_workers(bad, 10)


def test_forked_workers_give_the_vectorised_statistics():
    rng = np.random.default_rng(1)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", ".", "مرحبا"]
    hyps = [" ".join(rng.choice(words, size=rng.integers(0, 20))) for _ in range(2600)]
    refs = [[" ".join(rng.choice(words, size=rng.integers(1, 20)))] for _ in range(2600)]
    for key in ("bleu", "chrf++"):
        metric = get_metric(key)
        assert np.array_equal(metric.segment_stats(hyps, refs, workers=2), metric.segment_stats(hyps, refs))


def test_score_prints_and_records_the_choice(capsys, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(tmp_path / "ts")
    (tmp_path / "good.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "score", "--testset", tmp_path / "ts", "--hyp", tmp_path / "good.txt",
                           "-m", "bleu", "--resamples", "50", "-o", tmp_path / "run")
    assert code == 0, err
    assert "workers: 1 (auto: 6 segments, parallel from" in err
    recorded = load_run(tmp_path / "run").config["workers"]
    assert recorded["requested"] == "auto" and recorded["workers"] == 1
    code, _, err = run_cli(capsys, "score", "--testset", tmp_path / "ts", "--hyp", tmp_path / "good.txt",
                           "-m", "bleu", "--workers", "3", "--resamples", "50", "-o", tmp_path / "run2")
    assert code == 0, err
    assert load_run(tmp_path / "run2").config["workers"] == {"requested": "3", "workers": 3,
                                                              "reason": "as requested"}
    code, _, err = run_cli(capsys, "score", "--testset", tmp_path / "ts", "--hyp", tmp_path / "good.txt",
                           "--workers", "zero", "-o", tmp_path / "run3")
    assert code == 2 and "--workers: expected a positive integer or 'auto'" in err
