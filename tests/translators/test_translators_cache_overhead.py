"""The cache's shortcuts for a cold run (issue 11, item 5) never trade away correctness: claims skip the
"already done?" query only while no other connection has written; a rolled-back or cleared store is not
trusted; the JSON claim insert has its executemany fallback; close() finishes in the background but is
complete before a fork and at forked.join_threads(); a signature is computed once per run."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers.corpora import make_testset

from mt_eval import forked
from mt_eval.testing.backends import SlowTranslator
from mt_eval.translators.runner import translate_testset
from mt_eval.workcache.store import TranslationCache, source_hash

KEY = "k" * 64


def _row(src: str) -> tuple[str, str, float, int, str]:
    return (src, f"T({src})", 0.1, 2, "")


def test_rows_another_connection_stores_between_claims_are_seen(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    with TranslationCache(db) as mine, TranslationCache(db) as other:
        assert mine.claim(KEY, ["a", "b"], "me") == (["a", "b"], [])
        # this connection knows every row of KEY now (none): the next claim needs no per-source query
        mine.claim(KEY, ["x"], "me", store=[_row("a"), _row("b")])
        assert mine._own[KEY][1] == {source_hash("a"), source_hash("b")}
        other.put_many(KEY, [_row("c")])  # another run finished "c" meanwhile
        assert mine.claim(KEY, ["a", "c", "d"], "me") == (["d"], [])  # "a" is mine, "c" theirs: done
        assert KEY not in mine._own  # another connection wrote: back to querying


def test_own_rows_are_done_without_a_query(tmp_path: Path) -> None:
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        cache.claim(KEY, ["a"], "me")
        queries: list[str] = []
        cache._conn.set_trace_callback(queries.append)
        assert cache.claim(KEY, ["a", "b"], "me", store=[_row("a")]) == (["b"], [])
        cache._conn.set_trace_callback(None)
        assert not any("FROM translations WHERE sig_key = ? AND source_hash IN" in q for q in queries)
        assert cache.get_many(KEY, ["a", "b"])["a"].output == "T(a)"


def test_a_rolled_back_store_is_not_taken_for_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        cache.claim(KEY, ["a", "b"], "me")

        def boom(*_: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(cache, "_insert_claims", boom)
        with pytest.raises(sqlite3.OperationalError):
            cache.claim(KEY, ["c"], "me", store=[_row("a")])  # stores "a", then fails: rolled back
        monkeypatch.undo()
        assert cache.get_many(KEY, ["a"]) == {}
        assert cache.claim(KEY, ["a", "c"], "me") == (["a", "c"], [])


def test_clear_forgets_what_this_connection_stored(tmp_path: Path) -> None:
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        cache.register_system(KEY, {"backend": "x"}, name="sysX", spec="x")
        cache.claim(KEY, ["a"], "me")
        cache.claim(KEY, ["b"], "me", store=[_row("a")])
        assert cache.clear("sysX") == 1
        assert cache.claim(KEY, ["a"], "me") == (["a"], [])


def test_claims_without_sqlite_json_functions(tmp_path: Path) -> None:
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        cache._json = False  # as on an SQLite built without JSON1
        assert cache.claim(KEY, ["b", "a"], "me") == (["b", "a"], [])
        assert cache.claim(KEY, ["a", "c"], "someone|else|n|1|1|r") == (["c"], ["a"])
        rows = sorted(cache._conn.execute("SELECT source_hash, owner FROM claims"))
        assert rows == sorted([(source_hash("a"), "me"), (source_hash("b"), "me"),
                               (source_hash("c"), "someone|else|n|1|1|r")])


def test_json_claims_match_executemany_claims(tmp_path: Path) -> None:
    sources = [f"segment {i}" for i in range(1200)]  # more than one IN chunk
    tables = []
    for use_json in (True, False):
        with TranslationCache(tmp_path / f"c{use_json}.sqlite") as cache:
            cache._json = use_json
            mine, _ = cache.claim(KEY, sources, "me")
            assert mine == sources
            tables.append(sorted(cache._conn.execute("SELECT sig_key, source_hash, owner FROM claims")))
    assert tables[0] == tables[1] and len(tables[0]) == 1200


def test_close_completes_in_the_background_and_before_a_fork(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    cache = TranslationCache(db)
    cache.put_many(KEY, [_row("a")])
    cache.close()
    cache.close()  # idempotent
    forked.join_threads()
    assert not forked._THREADS
    assert not Path(f"{db}-wal").exists()  # the last connection folded the WAL back in
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT output FROM translations").fetchall() == [("T(a)",)]
    conn.close()
    if hasattr(os, "fork"):
        TranslationCache(db).close()
        pid = os.fork()  # the fork hook waits for the close: no connection is open across the fork
        if pid == 0:
            os._exit(0 if not forked._THREADS else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def test_a_run_computes_the_signature_once(tmp_path: Path) -> None:
    calls: list[int] = []

    class Counting(SlowTranslator):
        def signature(self) -> dict[str, Any]:
            calls.append(1)
            return super().signature()

    ts = make_testset(4)
    run = translate_testset(ts, "slow", cache=tmp_path / "c.sqlite", progress=False, translator=Counting(""))
    assert run.outputs == [f"T({s})" for s in ts.sources] and len(calls) == 1
