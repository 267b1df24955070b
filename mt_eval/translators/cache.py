"""The translation cache: SQLite in WAL mode, keyed by (translator signature, source text).

Each completed batch is one transaction, so a crash loses at most the batch in flight and a rerun
translates only what is missing. WAL lets concurrent runs read while one writes; rows are inserted
with ``INSERT OR IGNORE`` on the primary key, so two runs that translate the same segment never
duplicate it. The seconds and output tokens spent per segment are stored with it, so a run served
from the cache reports the original measurement.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mt_eval.errors import MtEvalError

DEFAULT_CACHE_PATH = Path(".mt-eval-cache") / "translations.sqlite"
CACHE_ENV = "MT_EVAL_CACHE"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS systems (
    sig_key TEXT PRIMARY KEY,
    signature TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS translations (
    sig_key TEXT NOT NULL,
    source_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    output TEXT NOT NULL,
    seconds REAL NOT NULL,
    output_tokens INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (sig_key, source_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (
    sig_key TEXT NOT NULL,
    source_hash TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (sig_key, source_hash)
) WITHOUT ROWID;
"""
CLAIM_TTL_S = 3600.0


def default_cache_path() -> Path:
    """``$MT_EVAL_CACHE`` or ``.mt-eval-cache/translations.sqlite`` in the current directory."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else DEFAULT_CACHE_PATH


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedTranslation:
    output: str
    seconds: float
    output_tokens: int


class TranslationCache:
    """One SQLite file; safe for several processes at once (WAL, busy timeout, idempotent inserts)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            with self._transaction():
                for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    self._conn.execute(statement)
                self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                                   (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise MtEvalError(f"{self.path}: cannot open the translation cache ({exc})") from None

    # ------------------------------------------------------------------ plumbing
    def _transaction(self) -> Any:
        conn = self._conn

        class _Tx:
            def __enter__(self) -> None:
                conn.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: Any, *_: Any) -> None:
                conn.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ data
    def register_system(self, sig_key: str, signature: dict[str, Any], *, name: str, spec: str) -> None:
        """Remember which signature a key stands for (for ``cache stats`` / ``cache clear``)."""
        with self._transaction():
            self._conn.execute(
                "INSERT INTO systems VALUES (?, ?, ?, ?, ?) ON CONFLICT(sig_key) DO UPDATE SET"
                " name = excluded.name, spec = excluded.spec",
                (sig_key, json.dumps(signature, sort_keys=True, default=str), name, spec, time.time()),
            )

    def get_many(self, sig_key: str, sources: Iterable[str]) -> dict[str, CachedTranslation]:
        """The cached translations among ``sources`` (absent ones are simply not in the result)."""
        wanted = {source_hash(s): s for s in sources}
        found: dict[str, CachedTranslation] = {}
        keys = list(wanted)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT source_hash, source, output, seconds, output_tokens FROM translations"
                f" WHERE sig_key = ? AND source_hash IN ({marks})",
                [sig_key, *chunk],
            ).fetchall()
            for h, src, output, seconds, tokens in rows:
                if wanted.get(h) == src:
                    found[src] = CachedTranslation(output, float(seconds), int(tokens))
        return found

    def put_many(self, sig_key: str, items: Sequence[tuple[str, str, float, int]]) -> int:
        """Store ``(source, output, seconds, output_tokens)`` rows in one transaction; returns rows added."""
        now = time.time()
        with self._transaction():
            before = self._conn.total_changes
            self._conn.executemany(
                "INSERT OR IGNORE INTO translations VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(sig_key, source_hash(s), s, o, float(sec), int(tok), now) for s, o, sec, tok in items],
            )
            return self._conn.total_changes - before

    # ------------------------------------------------------------------ work sharing
    def new_owner(self) -> str:
        """An id for one run's claims: host, pid (to spot a dead owner) and a random part."""
        return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @staticmethod
    def _owner_dead(owner: str) -> bool:
        host, _, rest = owner.partition(":")
        pid_text = rest.partition(":")[0]
        if host != socket.gethostname() or not pid_text.isdigit():
            return False
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def claim(self, sig_key: str, sources: Sequence[str], owner: str,
              ttl: float = CLAIM_TTL_S) -> tuple[list[str], list[str]]:
        """Claim the sources nobody has translated or is translating: returns (mine, taken by others).

        Claims of a dead process (same host) or older than ``ttl`` are taken over, so a run killed
        mid-batch never blocks the rerun that resumes it.
        """
        now = time.time()
        mine: list[str] = []
        others: list[str] = []
        with self._transaction():
            done = {h for (h,) in self._conn.execute(
                f"SELECT source_hash FROM translations WHERE sig_key = ? AND source_hash IN"
                f" ({','.join('?' * len(sources))})", [sig_key, *(source_hash(s) for s in sources)])}
            claimed = {h: (o, e) for h, o, e in self._conn.execute(
                f"SELECT source_hash, owner, expires FROM claims WHERE sig_key = ? AND source_hash IN"
                f" ({','.join('?' * len(sources))})", [sig_key, *(source_hash(s) for s in sources)])}
            rows = []
            for src in sources:
                h = source_hash(src)
                if h in done:
                    continue
                row = claimed.get(h)
                if row is not None and row[0] != owner and row[1] > now and not self._owner_dead(row[0]):
                    others.append(src)
                    continue
                rows.append((sig_key, h, owner, now + ttl))
                mine.append(src)
            self._conn.executemany("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)", rows)
        return mine, others

    def release(self, sig_key: str, owner: str) -> None:
        with self._transaction():
            self._conn.execute("DELETE FROM claims WHERE sig_key = ? AND owner = ?", (sig_key, owner))

    def stats(self) -> list[dict[str, Any]]:
        """One row per system: name, spec, backend, segments, seconds spent translating them."""
        rows = self._conn.execute(
            "SELECT s.sig_key, s.name, s.spec, s.signature, COUNT(t.source_hash), COALESCE(SUM(t.seconds), 0)"
            " FROM systems s LEFT JOIN translations t ON t.sig_key = s.sig_key"
            " GROUP BY s.sig_key ORDER BY s.name"
        ).fetchall()
        result = []
        for key, name, spec, signature, count, seconds in rows:
            backend = json.loads(signature).get("backend", "")
            result.append({"key": key[:12], "name": name, "spec": spec, "backend": backend,
                           "segments": int(count), "seconds": float(seconds)})
        return result

    def count(self, sig_key: str | None = None) -> int:
        if sig_key is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM translations").fetchone()[0])
        return int(self._conn.execute("SELECT COUNT(*) FROM translations WHERE sig_key = ?",
                                      (sig_key,)).fetchone()[0])

    def clear(self, system: str | None = None) -> int:
        """Delete the entries of systems whose name, spec or key prefix matches (glob); all if None."""
        with self._transaction():
            if system is None:
                n = self._conn.execute("DELETE FROM translations").rowcount
                self._conn.execute("DELETE FROM systems")
                return int(n)
            keys = [key for key, name, spec in self._conn.execute("SELECT sig_key, name, spec FROM systems")
                    if fnmatch.fnmatchcase(name, system) or fnmatch.fnmatchcase(spec, system)
                    or key.startswith(system)]
            removed = 0
            for key in keys:
                removed += self._conn.execute("DELETE FROM translations WHERE sig_key = ?", (key,)).rowcount
                self._conn.execute("DELETE FROM systems WHERE sig_key = ?", (key,))
            return removed

    def integrity_ok(self) -> bool:
        return bool(self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
