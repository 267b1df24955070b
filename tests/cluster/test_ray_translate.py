"""Translation on a real Ray cluster: same outputs as locally, the cache only on the driver."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from helpers.corpora import make_testset

from mt_eval.testing.backends import SlowTranslator
from mt_eval.translators.base import signature_key
from mt_eval.translators.runner import translate_testset
from mt_eval.workcache import scheduler
from mt_eval.workcache.store import TranslationCache, source_hash


def _log(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split("\t", 1)) for line in path.read_text(encoding="utf-8").splitlines()]  # type: ignore[misc]


@pytest.mark.slow
def test_ray_translation_equals_local_each_segment_once(tmp_path: Path, ray_executor, slow_backend) -> None:
    ts = make_testset(23, repeat=True)
    local_log, ray_log = tmp_path / "local.log", tmp_path / "ray.log"
    local = translate_testset(ts, "slow", options={"log": str(local_log)}, cache=tmp_path / "local.sqlite",
                              progress=False)
    with TranslationCache(tmp_path / "ray.sqlite") as cache:
        run = translate_testset(ts, "slow", options={"log": str(ray_log)}, cache=cache, progress=False,
                                executor=ray_executor)
        assert cache.count() == 22  # unique sources, committed by the driver
    assert run.outputs == local.outputs
    assert run.signature == local.signature
    calls = _log(ray_log)
    assert sorted(src for _, src in calls) == sorted(set(ts.sources))  # each unique source exactly once
    assert os.getpid() not in {int(pid) for pid, _ in calls}  # translated by Ray workers, not here
    assert run.throughput["translated_segments"] == 22 and run.throughput["model_loads"] >= 1
    # a rerun is served from the cache: no worker is asked for anything
    again = translate_testset(ts, "slow", options={"log": str(ray_log)}, cache=tmp_path / "ray.sqlite",
                              progress=False, executor=ray_executor)
    assert again.outputs == local.outputs
    assert len(_log(ray_log)) == len(calls)
    assert again.throughput["cached_segments"] == 22 and again.throughput["model_loads"] == 0


@pytest.mark.slow
def test_ray_waits_for_another_runs_claims_in_the_one_scheduler_loop(
        tmp_path: Path, ray_executor, slow_backend, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ray path claims, waits and takes over through the scheduler a local run uses (its log)."""
    ts = make_testset(6)
    db, log = tmp_path / "ray.sqlite", tmp_path / "ray.log"
    held = sorted(ts.sources, key=len, reverse=True)[:2]
    key = signature_key(SlowTranslator("").signature())
    remote = "|".join(["some-other-host", "boot", "ns", "4242", "99", "feedf00d"])
    with TranslationCache(db) as cache:
        cache._conn.executemany("INSERT INTO claims VALUES (?, ?, ?, ?)",
                                [(key, source_hash(s), remote, time.time() + 1.0) for s in held])
    stop = threading.Event()

    def heartbeat() -> None:  # the other run stays alive until this one says it waits, then stops
        with sqlite3.connect(db, timeout=10) as conn:
            while not stop.wait(0.2) and not any("waiting for" in r.getMessage() for r in caplog.records):
                conn.execute("UPDATE claims SET expires = ? WHERE owner = ?", (time.time() + 1.0, remote))
                conn.commit()
        conn.close()

    monkeypatch.setattr(scheduler, "POLL_S", 0.05)
    beat = threading.Thread(target=heartbeat)
    beat.start()
    try:
        with caplog.at_level(logging.WARNING, logger="mt_eval.workcache.scheduler"):
            run = translate_testset(ts, "slow", options={"log": str(log)}, cache=db, progress=False,
                                    executor=ray_executor)
    finally:
        stop.set()
        beat.join()
    assert run.outputs == [f"T({s})" for s in ts.sources]
    assert sorted(src for _, src in _log(log)) == sorted(ts.sources)  # the held ones taken over, once
    waiting = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert waiting and "2 segments" in waiting[0] and "pid 4242 on some-other-host" in waiting[0]
