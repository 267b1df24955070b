"""Claims that name their owner: dead, zombie and PID-reused owners never block a resume; heartbeats;
chunked queries; the claim queue apart from translating; backends that crash or return non-text."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers.corpora import make_testset

from mt_eval.errors import SystemFailed
from mt_eval.processes import owner_alive, owner_id
from mt_eval.testing.backends import SlowTranslator
from mt_eval.translators.base import signature_key
from mt_eval.translators.runner import translate_testset
from mt_eval.workcache import scheduler
from mt_eval.workcache.leases import ClaimQueue
from mt_eval.workcache.store import TranslationCache, source_hash

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")


def _fake_claims(db: Path, sources: Sequence[str], owner: str, expires_in: float = 3600.0) -> str:
    """Claim ``sources`` of the ``slow`` system for ``owner``, as a crashed run would have left them."""
    key = signature_key(SlowTranslator("").signature())
    with TranslationCache(db) as cache:
        cache._conn.executemany("INSERT INTO claims VALUES (?, ?, ?, ?)",
                                [(key, source_hash(s), owner, time.time() + expires_in) for s in sources])
    return key


def _resume(db: Path, n: int) -> tuple[float, list[str]]:
    ts = make_testset(n)
    t0 = time.perf_counter()
    run = translate_testset(ts, "slow", cache=db, progress=False, translator=SlowTranslator(""))
    return time.perf_counter() - t0, run.outputs


@linux_only
def test_a_zombie_owner_does_not_block_a_resume(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    ts = make_testset(6)
    TranslationCache(db).close()
    pid = os.fork()
    if pid == 0:  # the child claims everything, then dies without anyone reaping it
        try:
            with TranslationCache(db) as cache:
                key = signature_key(SlowTranslator("").signature())
                cache.claim(key, ts.sources, owner_id())
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 20
        while Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "child did not become a zombie"
            time.sleep(0.02)
        with TranslationCache(db) as cache:
            owners = {o for (o,) in cache._conn.execute("SELECT owner FROM claims")}
        assert len(owners) == 1 and f"|{pid}|" in next(iter(owners))
        assert owner_alive(next(iter(owners))) is False
        elapsed, outputs = _resume(db, 6)
        assert outputs == [f"T({s})" for s in ts.sources]
        assert elapsed < 5  # not the claim TTL, let alone the old 3600 s
    finally:
        os.waitpid(pid, 0)


@linux_only
def test_a_reused_pid_does_not_own_old_claims(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    live = owner_id()
    host, boot, ns, pid, start, _rand = live.split("|")
    assert pid == str(os.getpid()) and start.isdigit()
    reused = "|".join([host, boot, ns, pid, str(int(start) + 12345), "deadbeef"])  # same PID, other process
    assert owner_alive(live) is True and owner_alive(reused) is False
    _fake_claims(db, make_testset(5).sources, reused)
    elapsed, outputs = _resume(db, 5)
    assert outputs == [f"T({s})" for s in make_testset(5).sources] and elapsed < 5


def test_owner_identity_edge_cases() -> None:
    me = owner_id()
    parts = me.split("|")
    assert owner_alive("|".join(["another-host", *parts[1:]])) is None  # its heartbeat decides
    if parts[1]:
        assert owner_alive("|".join([parts[0], "other-boot-id", *parts[2:]])) is False
    assert owner_alive(f"{socket.gethostname()}:{os.getpid()}:abcd") is True  # a version 1 claim
    with_dead_pid = "|".join([*parts[:3], str(2**22 + 7), "1", "x"])
    assert owner_alive(with_dead_pid) is False


def test_a_live_remote_owner_is_waited_for_then_its_lapsed_claims_are_taken(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "c.sqlite"
    sources = make_testset(4).sources
    remote = "|".join(["some-other-host", "boot", "ns", "4242", "99", "feedf00d"])
    _fake_claims(db, sources[:2], remote, expires_in=1.0)  # its heartbeat stopped a moment ago
    monkeypatch.setattr(scheduler, "POLL_S", 0.05)
    with caplog.at_level(logging.WARNING, logger="mt_eval.workcache.scheduler"):
        elapsed, outputs = _resume(db, 4)
    assert outputs == [f"T({s})" for s in sources]
    assert 0.8 <= elapsed < 10
    waiting = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert waiting and "2 segments" in waiting[0] and "pid 4242 on some-other-host" in waiting[0]


def test_heartbeat_keeps_claims_fresh_and_close_releases_them(tmp_path: Path) -> None:
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        queue = ClaimQueue(cache, "k" * 64, ttl=1.0)
        mine, others = queue.claim(["a", "b"])
        assert mine == ["a", "b"] and others == []
        time.sleep(2.5)  # longer than the TTL: only the heartbeat (every third of it) keeps the claims
        expires = [e for (e,) in cache._conn.execute("SELECT expires FROM claims")]
        assert len(expires) == 2 and min(expires) > time.time()
        other = ClaimQueue(cache, "k" * 64, owner="|".join(["elsewhere", "b", "n", "1", "1", "r"]))
        assert other.cache.claim("k" * 64, ["a", "c"], other.owner) == (["c"], ["a"])
        queue.close()
        assert [o for (o,) in cache._conn.execute("SELECT owner FROM claims")] == [other.owner]


def test_queries_are_chunked_under_the_variable_limit(tmp_path: Path) -> None:
    if sys.version_info < (3, 11):
        pytest.skip("Connection.setlimit needs Python 3.11")
    sources = [f"segment {i}" for i in range(2500)]
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        cache._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 600)
        with pytest.raises(sqlite3.OperationalError):  # what an unchunked query would hit
            cache._conn.execute(f"SELECT 1 WHERE 1 IN ({','.join('?' * 700)})", list(range(700)))
        mine, _ = cache.claim("k", sources, "me")
        assert len(mine) == 2500
        cache.put_many("k", [(s, s.upper(), 0.1, 2) for s in sources], owner="me")
        assert len(cache.get_many("k", sources)) == 2500
        assert cache.claim("k", sources, "me") == ([], [])
        assert cache.claim("k", sources, "someone else") == ([], [])  # stored rows outrank the claims
        cache.release("k", "me")
        assert cache._conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_one_process_claims_and_commits_for_workers_elsewhere(tmp_path: Path) -> None:
    """The claim queue needs no translator: a coordinator hands segments out and commits what returns."""
    ts = make_testset(6)
    db = tmp_path / "c.sqlite"
    key = signature_key(SlowTranslator("").signature())
    with TranslationCache(db) as cache, ClaimQueue(cache, key) as queue:
        mine, _ = queue.claim(ts.sources)
        remote_results = [(s, f"T({s})", 0.5, 3, "") for s in mine]  # computed by "workers elsewhere"
        assert queue.commit(remote_results) == 6
    calls: list[list[str]] = []

    class Spy(SlowTranslator):
        def translate(self, sources):  # type: ignore[no-untyped-def]
            calls.append(list(sources))
            return super().translate(sources)

    with TranslationCache(db) as cache:
        run = translate_testset(ts, "slow", cache=cache, progress=False, translator=Spy(""))
        assert run.outputs == [f"T({s})" for s in ts.sources]
    assert calls == [] and run.throughput["cached_segments"] == 6
    assert run.throughput["translated_segments"] == 0


class _Broken(SlowTranslator):
    """Fails on a chosen source: raises, returns None, or returns the wrong number of outputs."""

    mode = "raise"

    def translate(self, sources):  # type: ignore[no-untyped-def]
        outs: list = super().translate(sources)
        if any("رقم 0 " in s or s.endswith("رقم 0 ") for s in sources):
            if self.mode == "raise":
                raise RuntimeError("CUDA error: device-side assert\nsecond line")
            if self.mode == "none":
                outs[0] = None
            if self.mode == "short":
                outs = outs[1:]
        return outs


@pytest.mark.parametrize(("mode", "message"), [
    ("raise", r"system brk: backend 'slow' failed: RuntimeError: CUDA error: device-side assert$"),
    ("none", r"returned a NoneType output, not text"),
    ("short", r"returned 1 outputs for 2 sources"),
])
def test_a_crashing_backend_fails_the_system_and_keeps_earlier_batches(tmp_path: Path, mode: str,
                                                                       message: str) -> None:
    ts = make_testset(8)
    db = tmp_path / "c.sqlite"
    broken = _Broken("", SlowTranslator.Options(batch_size=2))
    broken.mode = mode
    with pytest.raises(SystemFailed, match=message):
        translate_testset(ts, "slow", cache=db, progress=False, translator=broken, name="brk")
    with TranslationCache(db) as cache:
        key = signature_key(broken.signature())
        stored = cache.get_many(key, ts.sources)
        assert all(c.output == f"T({s})" for s, c in stored.items())  # only good outputs, no None
        assert 0 < len(stored) < 8  # the batches before the failure are kept
        assert cache._conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_an_empty_output_is_returned_but_not_cached(tmp_path: Path) -> None:
    class Empty(SlowTranslator):
        def translate(self, sources):  # type: ignore[no-untyped-def]
            return ["" for _ in sources]

    ts = make_testset(3)
    run = translate_testset(ts, "slow", cache=tmp_path / "c.sqlite", progress=False, translator=Empty(""))
    assert run.outputs == ["", "", ""]
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        assert cache.count() == 0


def test_a_version_1_cache_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema_version', '1');
            CREATE TABLE translations (sig_key TEXT NOT NULL, source_hash TEXT NOT NULL, source TEXT NOT NULL,
                output TEXT NOT NULL, seconds REAL NOT NULL, output_tokens INTEGER NOT NULL,
                created REAL NOT NULL, PRIMARY KEY (sig_key, source_hash)) WITHOUT ROWID;
        """)
        conn.execute("INSERT INTO translations VALUES ('k', ?, 'src', 'out', 1.5, 4, 0)",
                     (source_hash("src"),))
    with TranslationCache(db) as cache:
        got = cache.get_many("k", ["src"])["src"]
        assert (got.output, got.seconds, got.output_tokens, got.truncated) == ("out", 1.5, 4, "")
        cache.put_many("k", [("new", "NEW", 0.1, 1, "output")])
        assert cache.get_many("k", ["new"])["new"].truncated == "output"


def test_fewer_transactions_for_fast_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Quick batches are grouped and commits ride on claims: far fewer write transactions than batches
    (issue 11: cache overhead)."""
    ts = make_testset(200)
    writes: list[int] = []
    real = TranslationCache._transaction

    def counting(self):  # type: ignore[no-untyped-def]
        writes.append(1)
        return real(self)

    db = tmp_path / "c.sqlite"
    TranslationCache(db).close()  # the schema is created once, not counted
    monkeypatch.setattr(TranslationCache, "_transaction", counting)
    run = translate_testset(ts, "slow", cache=db, progress=False,
                            translator=SlowTranslator("", SlowTranslator.Options(batch_size=2)))
    monkeypatch.undo()
    assert run.outputs == [f"T({s})" for s in ts.sources]
    with TranslationCache(db) as cache:
        assert cache.count() == 200
    # register + 4 claims (2, 8, 32, 128 at a time) + final commit + release + the machine fingerprint
    assert len(writes) <= 9
