"""Output checks split over forked workers give exactly the flags and counts of one process."""

from __future__ import annotations

import random

import pytest

from mt_eval.checks import PARALLEL_MIN_SEGMENTS, check_outputs
from mt_eval.testing.corpora import synthetic_corpus


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_checks_equal_serial(workers: int) -> None:
    corpus = synthetic_corpus(PARALLEL_MIN_SEGMENTS + 37, seed=5)
    rng = random.Random(1)
    words = ["قال", "المدينة", "الحكومة", "في", "من", "على", "النهر", "تقرير"]
    sources = [" ".join(rng.choice(words) for _ in range(len(r.split()))) for r in corpus["refs"]]
    refs = [[r] for r in corpus["refs"]]
    outputs = list(corpus["B"])
    for i in rng.sample(range(len(outputs)), 300):  # every kind of flag, spread over all chunks
        outputs[i] = rng.choice(["", sources[i], "the the the the the the the the the the the the",
                                 "ok", outputs[i] * 4, "مرحبا بكم في المدينة الجديدة اليوم"])
    serial = check_outputs(sources, outputs, target_lang="en", references=refs)
    parallel = check_outputs(sources, outputs, target_lang="en", references=refs, workers=workers)
    assert parallel.flags == serial.flags
    assert parallel.counts == serial.counts
    assert all(serial.counts[name] > 0 for name in serial.counts)  # the test exercises every flag


def test_small_lists_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import mt_eval.checks as checks

    def no_fork(*_args: object) -> None:
        raise AssertionError("a pool was started for a small list")

    monkeypatch.setattr(checks, "fork_map", no_fork)
    result = check_outputs(["a b c"] * 3, ["", "a b c", "fine words here"], target_lang="en", workers=4)
    assert result.flags[0] == ["empty"]
    assert "copy_of_source" in result.flags[1]
