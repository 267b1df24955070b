"""One scheduler loop for the work cache, whatever runs the batches: the local path and the Ray path
(its actors replaced by in-process chunks, everything else real) claim, commit and wait for other runs'
claims through the same loop, and give the same outputs and cache rows."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.corpora import make_testset

from mt_eval.testing.backends import SlowTranslator
from mt_eval.translators.base import signature_key
from mt_eval.translators.runner import translate_rows, translate_testset
from mt_eval.workcache import scheduler
from mt_eval.workcache.leases import ClaimQueue
from mt_eval.workcache.store import CacheKey, TranslationCache, source_hash

REMOTE = "|".join(["some-other-host", "boot", "ns", "4242", "99", "feedf00d"])


def _ray_executor(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real :class:`RayExecutor` whose actors are replaced by chunks translated in this process."""
    ray_executor = pytest.importorskip("mt_eval.cluster.ray_executor", reason="needs Ray")

    def fly(self: Any) -> None:  # the chunks the actors would get, in the order they would get them
        while self.queue:
            self.on_rows(translate_rows(self.pool.translator, self.queue.popleft(), name=self.pool.name))

    monkeypatch.setattr(ray_executor.RayExecutor, "connect", lambda self: None)
    monkeypatch.setattr(ray_executor.RayBatches, "_start", lambda self, n_chunks: None)
    monkeypatch.setattr(ray_executor._Flight, "fly", fly)
    return ray_executor.RayExecutor(chunk=4)


def _record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Every claim (items asked, rows committed with it) and commit (rows) the scheduler makes."""
    events: list[tuple[str, int, int]] = []
    claim, commit = ClaimQueue.claim, ClaimQueue.commit

    def claiming(self: ClaimQueue, sources: Any, *, commit: Any = ()) -> Any:
        events.append(("claim", len(sources), len(commit)))
        return claim(self, sources, commit=commit)

    def committing(self: ClaimQueue, rows: Any) -> int:
        events.append(("commit", len(rows), 0))
        return commit(self, rows)

    monkeypatch.setattr(ClaimQueue, "claim", claiming)
    monkeypatch.setattr(ClaimQueue, "commit", committing)
    return events


def _rows(db: Path) -> list[tuple[str, str]]:
    with TranslationCache(db) as cache:
        return sorted(cache._conn.execute("SELECT source, output FROM translations"))


def test_local_and_ray_batches_go_through_one_scheduler_loop(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ts = make_testset(12)
    events = _record(monkeypatch)
    local = translate_testset(ts, "slow", cache=tmp_path / "local.sqlite", progress=False,
                              translator=SlowTranslator(""))
    # in process: a growing claim window (one batch, then 4x while batches are quick), finished rows
    # riding on the next claim, the rest committed at the end
    assert events == [("claim", 2, 0), ("claim", 8, 2), ("claim", 2, 8), ("commit", 2, 0)]
    events.clear()
    ray = translate_testset(ts, "slow", cache=tmp_path / "ray.sqlite", progress=False,
                            translator=SlowTranslator(""), executor=_ray_executor(monkeypatch))
    # on Ray: everything claimed at once (every actor busy), each finished chunk of 4 committed at once
    assert events == [("claim", 12, 0), ("commit", 4, 0), ("commit", 4, 0), ("commit", 4, 0)]
    assert ray.outputs == local.outputs == [f"T({s})" for s in ts.sources]
    assert _rows(tmp_path / "ray.sqlite") == _rows(tmp_path / "local.sqlite")
    assert ray.throughput["translated_segments"] == local.throughput["translated_segments"] == 12
    with TranslationCache(tmp_path / "ray.sqlite") as cache:
        assert cache._conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0  # released


@pytest.mark.parametrize("where", ["local", "ray"])
def test_both_paths_wait_for_another_runs_claims_then_take_them_over(
        where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    ts = make_testset(6)
    db = tmp_path / "c.sqlite"
    executor = _ray_executor(monkeypatch) if where == "ray" else None
    key = signature_key(SlowTranslator("").signature())
    held = sorted(ts.sources, key=len, reverse=True)[:2]  # claimed by a live run elsewhere, lapsing soon
    with TranslationCache(db) as cache:
        cache._conn.executemany("INSERT INTO claims VALUES (?, ?, ?, ?)",
                                [(key, source_hash(s), REMOTE, time.time() + 1.0) for s in held])
    monkeypatch.setattr(scheduler, "POLL_S", 0.05)
    translated: list[str] = []

    class Spy(SlowTranslator):
        def translate(self, sources):  # type: ignore[no-untyped-def]
            translated.extend(sources)
            return super().translate(sources)

    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="mt_eval.workcache.scheduler"):
        run = translate_testset(ts, "slow", cache=db, progress=False, translator=Spy(""), executor=executor)
    assert run.outputs == [f"T({s})" for s in ts.sources]
    assert time.perf_counter() - t0 >= 0.8  # the claims were honoured until they lapsed
    assert sorted(translated) == sorted(ts.sources) and translated[-2:] == held  # taken over last
    waiting = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert waiting and "2 segments" in waiting[0] and "pid 4242 on some-other-host" in waiting[0]


def test_a_failing_runner_keeps_what_it_finished_and_releases_the_rest(tmp_path: Path) -> None:
    """The scheduler, not the runner, commits and releases: a runner that fails mid-way loses nothing."""

    class HalfRunner(scheduler.InProcess):
        def run(self, items: list[str], on_rows: scheduler.RowSink) -> None:
            on_rows(self.run_batch(items[:3]))
            raise RuntimeError("worker lost")

    inner = SlowTranslator("")
    key = CacheKey(inner.signature(), "slow", "slow")
    runner = HalfRunner(lambda batch: translate_rows(inner, batch, name="slow"), 4)  # claims 4 at first
    sources = make_testset(6).sources
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(RuntimeError, match="worker lost"):
            scheduler.fetch(sources, cache, key, runner)
        assert len(cache.get_many(key.sig_key, sources)) == 3
        assert cache._conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
        outcome = scheduler.fetch(sources, cache, key, scheduler.InProcess(runner.run_batch, 2))
    assert (outcome.cached, outcome.done_here) == (3, 3)
    assert [outcome.records[s].output for s in sources] == [f"T({s})" for s in sources]
