"""The translation cache: SQLite in WAL mode, keyed by (translator signature, source text).

Three layers, usable apart:

* :class:`TranslationCache` — the SQLite file: lookups, idempotent inserts, claims.
* :class:`ClaimQueue` — one owner's claims on one system's segments, kept alive by a heartbeat
  thread. It knows nothing about translating, so one process can claim segments, hand them to
  workers elsewhere and commit what comes back.
* :class:`CachingTranslator` — wraps any :class:`~mt_eval.translators.base.Translator` (as lm-eval's
  ``CachingLM`` wraps a model): serves what is cached, claims and translates the rest in length-sorted
  batches, commits finished work, and waits for segments another live run is translating.

Work is committed in few, large transactions (about one per second of translation, and at the end),
so a crash loses at most that much and a rerun translates only what is missing. WAL lets concurrent
runs read while one writes; ``INSERT OR IGNORE`` on the primary key means two runs that translate the
same segment never duplicate it. Only text is stored: a failed request is never cached. The seconds,
output tokens and truncation of each segment are stored with it, so a run served from the cache
reports the original measurement.

A cold run pays little for this: a signature without rows skips the lookup queries, claims skip the
"already done?" query while no other connection has written (``PRAGMA data_version``), claims are
inserted in one statement, rows in key order, the WAL is not checkpointed mid-run, and the checkpoint
at close runs on a thread of its own (:func:`wait_for_closes`; done before any ``fork``).

A claim names its owner's host, boot id, PID namespace, PID and process start time, so a dead, zombie
or PID-reused owner on this host is recognised at once; an owner elsewhere must keep its claims fresh
with a heartbeat (``CLAIM_TTL_S``) or lose them.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import logging
import operator
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mt_eval.errors import MtEvalError, SystemFailed
from mt_eval.processes import pid_alive, start_ticks
from mt_eval.translators.base import Translator, TranslatorOptions, signature_key

log = logging.getLogger(__name__)

DEFAULT_CACHE_PATH = Path(".mt-eval-cache") / "translations.sqlite"
CACHE_ENV = "MT_EVAL_CACHE"
SCHEMA_VERSION = 2

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
    truncated TEXT NOT NULL DEFAULT '',
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
#: A claim lapses this many seconds after its owner's last heartbeat (sent every third of it).
CLAIM_TTL_S = 30.0
#: Per connection: a 32 MiB page cache (a large transaction does not spill to the WAL half-done)
#: and a WAL checkpoint every 64 MiB instead of 4 MiB (fewer fsyncs; readers see the WAL anyway).
_PRAGMAS = ("PRAGMA cache_size = -32768", "PRAGMA wal_autocheckpoint = 16384")
#: Bound variables per ``IN (...)`` query: under SQLite's smallest compiled-in limit (999).
IN_CHUNK = 500
#: Most hashes a connection remembers per signature to skip the "already done?" query (~100 MB).
OWN_ROWS_MAX = 1 << 20
_INSERT_TRANSLATION = ("INSERT OR IGNORE INTO translations (sig_key, source_hash, source, output, seconds,"
                       " output_tokens, created, truncated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_second = operator.itemgetter(1)  # the source hash of a translations or claims row


def default_cache_path() -> Path:
    """``$MT_EVAL_CACHE`` or ``.mt-eval-cache/translations.sqlite`` in the current directory."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else DEFAULT_CACHE_PATH


@functools.lru_cache(maxsize=1 << 16)
def source_hash(text: str) -> str:
    """The key of a source (memoised: one run looks each source up, claims and stores it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def owner_id(pid: int | None = None) -> str:
    """``host|boot id|pid namespace|pid|start ticks|random``: enough to tell whether the owner still runs."""
    pid = os.getpid() if pid is None else pid
    parts = [socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), _pid_namespace(), str(pid),
             start_ticks(pid), uuid.uuid4().hex[:8]]
    return "|".join(p.replace("|", "/") for p in parts)


def owner_alive(owner: str) -> bool | None:
    """Whether the process behind a claim still runs: False when it is known gone (exited, zombie, its
    PID reused by another process, or the machine rebooted); None when it cannot be told from here
    (another host or PID namespace: its heartbeat decides); True when it runs."""
    parts = owner.split("|")
    if len(parts) == 6:
        host, boot, namespace, pid_text, start, _ = parts
    else:  # a version 1 claim: host:pid:random
        host, _, rest = owner.partition(":")
        boot, namespace, start = "", "", ""
        pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    if boot and boot != _read("/proc/sys/kernel/random/boot_id"):
        return False
    if namespace and namespace != _pid_namespace():
        return None
    return pid_alive(int(pid_text), start)


#: Threads closing a connection (see :meth:`TranslationCache.close`).
_CLOSING: set[threading.Thread] = set()


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error as exc:  # e.g. the folder was removed meanwhile; every row was committed
        log.debug("closing the translation cache: %s", exc)
    finally:
        _CLOSING.discard(threading.current_thread())


def wait_for_closes() -> None:
    """Wait until every closed cache's connection is really closed. Run before ``fork``: a connection
    open across a fork copies SQLite's in-process lock state into the child, which can corrupt the file."""
    for thread in list(_CLOSING):
        thread.join()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=wait_for_closes)


def describe_owner(owner: str) -> str:
    parts = owner.split("|")
    return f"pid {parts[3]} on {parts[0]}" if len(parts) == 6 else owner


@dataclass(frozen=True)
class CachedTranslation:
    output: str
    seconds: float
    output_tokens: int
    truncated: str = ""


class TranslationCache:
    """One SQLite file; safe for several processes at once (WAL, busy timeout, idempotent inserts)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._closing = False
        self._json = True  # SQLite has json_each (built in since 3.38, usually compiled in before)
        #: sig_key -> (data_version, hashes stored through this connection): see _own_rows
        self._own: dict[str, tuple[int, set[str]]] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: close() hands the connection to a thread that closes it
            self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA journal_mode = WAL")
            # a run's claims and rows fit in memory, and the WAL is folded back into the file at close
            # rather than every 4 MB mid-run (each fold is an fsync): see _PRAGMAS
            for pragma in _PRAGMAS:
                self._conn.execute(pragma)
            if self._schema_version() != SCHEMA_VERSION:  # a current cache is opened without writing
                with self._transaction():
                    for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                        self._conn.execute(statement)
                    columns = {row[1] for row in self._conn.execute("PRAGMA table_info(translations)")}
                    if "truncated" not in columns:  # a version 1 cache: keep its rows
                        self._conn.execute("ALTER TABLE translations ADD COLUMN truncated TEXT NOT NULL"
                                           " DEFAULT ''")
                    self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                                       (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise MtEvalError(f"{self.path}: cannot open the translation cache ({exc})") from None
        except OSError as exc:
            raise MtEvalError(f"{self.path}: cannot create the translation cache ({exc.strerror})") from None

    # ------------------------------------------------------------------ plumbing
    def _schema_version(self) -> int:
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table: a new file
            return 0
        return int(row[0]) if row and str(row[0]).isdigit() else 0

    def _transaction(self) -> Any:
        conn = self._conn
        own = self._own

        class _Tx:
            def __enter__(self) -> None:
                conn.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: Any, *_: Any) -> None:
                if exc_type:
                    own.clear()  # the rows it stored are gone again
                conn.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()

    def close(self) -> None:
        """Close the connection off the caller's path: when it is the file's last connection, SQLite
        folds the WAL back into the file and fsyncs both (milliseconds, tens under disk load). Every
        row was committed before, so this adds no durability; the interpreter waits for the thread at
        exit, and a process killed meanwhile leaves a WAL that the next opener replays."""
        if self._closing:
            return
        self._closing = True
        thread = threading.Thread(target=_close_quietly, args=(self._conn,), name="mt-eval-cache-close")
        _CLOSING.add(thread)
        try:
            thread.start()
        except RuntimeError:  # no new threads at interpreter shutdown
            _CLOSING.discard(thread)
            _close_quietly(self._conn)

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ data
    def remember_environment(self, sig_key: str, environment: dict[str, Any]) -> None:
        """The machine fingerprint that produced this signature's outputs (the latest translating run)."""
        value = json.dumps(environment, sort_keys=True, default=str)
        with self._transaction():
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"environment:{sig_key}", value))

    def environment_of(self, sig_key: str) -> dict[str, Any]:
        """What :meth:`remember_environment` stored, or ``{}``."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?",
                                 (f"environment:{sig_key}",)).fetchone()
        try:
            value = json.loads(row[0]) if row is not None else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def register_system(self, sig_key: str, signature: dict[str, Any], *, name: str, spec: str) -> None:
        """Remember which signature a key stands for (for ``cache stats`` / ``cache clear``)."""
        known = self._conn.execute("SELECT name, spec FROM systems WHERE sig_key = ?", (sig_key,)).fetchone()
        if known is not None and tuple(known) == (name, spec):
            return
        with self._transaction():
            self._conn.execute(
                "INSERT INTO systems VALUES (?, ?, ?, ?, ?) ON CONFLICT(sig_key) DO UPDATE SET"
                " name = excluded.name, spec = excluded.spec",
                (sig_key, json.dumps(signature, sort_keys=True, default=str), name, spec, time.time()),
            )

    def _select_in(self, head: str, sig_key: str, hashes: Sequence[str]) -> list[tuple[Any, ...]]:
        """``head WHERE sig_key = ? AND source_hash IN (...)`` in chunks under the variable limit."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(hashes), IN_CHUNK):
            chunk = hashes[start:start + IN_CHUNK]
            sql = f"{head} WHERE sig_key = ? AND source_hash IN ({','.join('?' * len(chunk))})"
            rows += self._conn.execute(sql, [sig_key, *chunk]).fetchall()
        return rows

    def has_rows(self, sig_key: str) -> bool:
        """Whether any translation of this signature is stored (one index probe)."""
        return self._conn.execute("SELECT 1 FROM translations WHERE sig_key = ? LIMIT 1",
                                  (sig_key,)).fetchone() is not None

    def get_many(self, sig_key: str, sources: Iterable[str]) -> dict[str, CachedTranslation]:
        """The cached translations among ``sources`` (absent ones are simply not in the result)."""
        found: dict[str, CachedTranslation] = {}
        if not self.has_rows(sig_key):  # a system not translated yet: no per-source queries
            return found
        wanted = {source_hash(s): s for s in sources}
        rows = self._select_in("SELECT source_hash, source, output, seconds, output_tokens, truncated"
                               " FROM translations", sig_key, list(wanted))
        for h, src, output, seconds, tokens, truncated in rows:
            if wanted.get(h) == src:
                found[src] = CachedTranslation(output, float(seconds), int(tokens), str(truncated or ""))
        return found

    def put_many(self, sig_key: str, items: Sequence[tuple[Any, ...]], *, owner: str | None = None) -> int:
        """Store ``(source, output, seconds, output_tokens[, truncated])`` rows in one transaction.

        Only text is stored: a row whose output is not a string is refused (a backend bug must not
        poison the cache). ``owner`` is accepted for symmetry with claims: a stored translation
        outranks any claim, and the owner's remaining claims go with :meth:`release`. Returns the rows
        added.
        """
        with self._transaction():
            return self._store(sig_key, items, owner)

    def _store(self, sig_key: str, items: Sequence[tuple[Any, ...]], owner: str | None) -> int:
        now = time.time()
        for item in items:
            if not isinstance(item[1], str) or not isinstance(item[0], str):
                raise TypeError(f"translation cache: output for {item[0]!r:.40} is {type(item[1]).__name__},"
                                " not text")
        rows = [(sig_key, source_hash(item[0]), item[0], item[1], float(item[2]), int(item[3]), now,
                 str(item[4]) if len(item) > 4 else "") for item in items]
        rows.sort(key=_second)  # in key order: B-tree inserts touch neighbouring pages (~30% faster)
        before = self._conn.total_changes
        self._conn.executemany(_INSERT_TRANSLATION, rows)
        known = self._own.get(sig_key)
        if known is not None:
            known[1].update(map(_second, rows))
            if len(known[1]) > OWN_ROWS_MAX:
                del self._own[sig_key]
        # The claims on these rows are left for ``release``: a stored translation wins over any claim.
        return self._conn.total_changes - before

    def _own_rows(self, sig_key: str) -> set[str] | None:
        """The hashes of every stored row of ``sig_key`` while this connection stored them all, else None.

        Known from the moment this connection found the signature without rows, for as long as no other
        connection writes to the file (``PRAGMA data_version``): :meth:`claim` then needs no query to
        tell which sources are done. Call inside a transaction, before storing."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        known = self._own.get(sig_key)
        if known is not None and known[0] == version:
            return known[1]
        self._own.pop(sig_key, None)
        if self.has_rows(sig_key):
            return None
        self._own[sig_key] = (version, set())
        return self._own[sig_key][1]

    # ------------------------------------------------------------------ work sharing
    def new_owner(self) -> str:
        """An id for one run's claims that says which process holds them (see :func:`owner_id`)."""
        return owner_id()

    def claim(self, sig_key: str, sources: Sequence[str], owner: str, ttl: float = CLAIM_TTL_S, *,
              store: Sequence[tuple[Any, ...]] = ()) -> tuple[list[str], list[str]]:
        """Claim the sources nobody has translated or is translating: returns (mine, taken by others).

        A claim is honoured while its owner's heartbeat keeps it fresh (``ttl``) and the owner is not
        known dead: a dead, zombie or PID-reused process on this host loses its claims at once, so a
        run killed mid-batch never blocks the rerun that resumes it. Already translated sources are in
        neither list. One transaction, queries chunked under SQLite's variable limit; ``store`` rows
        (finished work, as for :meth:`put_many`) are committed in the same transaction.
        """
        now = time.time()
        mine: list[str] = []
        others: list[str] = []
        by_hash = {source_hash(s): s for s in sources}
        hashes = list(by_hash)
        liveness: dict[str, bool | None] = {}
        with self._transaction():
            own = self._own_rows(sig_key)  # before storing: it also sees the rows stored now
            if store:
                self._store(sig_key, store, owner)
            done = ({h for h in hashes if h in own} if own is not None else
                    {h for (h,) in self._select_in("SELECT source_hash FROM translations", sig_key, hashes)})
            foreign = self._conn.execute("SELECT 1 FROM claims WHERE sig_key = ? AND owner != ? LIMIT 1",
                                         (sig_key, owner)).fetchone()
            claimed = {h: (o, e) for h, o, e in self._select_in(
                "SELECT source_hash, owner, expires FROM claims", sig_key, hashes)} if foreign else {}
            rows: list[str] = []
            if not claimed:  # nobody else holds claims on this system (the usual case): all mine
                rows = [h for h in by_hash if h not in done]
                mine = [by_hash[h] for h in rows]
            for h, src in by_hash.items() if claimed else ():
                if h in done:
                    continue
                row = claimed.get(h)
                if row is not None and row[0] != owner and row[1] > now:
                    if row[0] not in liveness:
                        liveness[row[0]] = owner_alive(row[0])
                    if liveness[row[0]] is not False:
                        others.append(src)
                        continue
                rows.append(h)
                mine.append(src)
            rows.sort()  # in key order: B-tree inserts touch neighbouring pages
            self._insert_claims(sig_key, rows, owner, now + ttl)
        return mine, others

    def _insert_claims(self, sig_key: str, hashes: list[str], owner: str, expires: float) -> None:
        """One statement over a JSON array of hashes: half the cost of ``executemany``, which remains
        for an SQLite built without JSON functions."""
        if not hashes:
            return
        if self._json:
            try:
                self._conn.execute("INSERT OR REPLACE INTO claims SELECT ?, value, ?, ? FROM json_each(?)",
                                   (sig_key, owner, expires, json.dumps(hashes)))
                return
            except sqlite3.OperationalError as exc:
                if "json_each" not in str(exc):
                    raise
                self._json = False
        self._conn.executemany("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)",
                               [(sig_key, h, owner, expires) for h in hashes])

    def holders(self, sig_key: str, sources: Sequence[str]) -> list[str]:
        """The distinct owners holding claims on ``sources`` (for the waiting message)."""
        rows = self._select_in("SELECT DISTINCT owner FROM claims", sig_key,
                               list({source_hash(s) for s in sources}))
        return sorted({o for (o,) in rows})

    def heartbeat(self, sig_key: str, owner: str, ttl: float = CLAIM_TTL_S) -> None:
        """Keep ``owner``'s claims alive for another ``ttl`` seconds."""
        with self._transaction():
            self._conn.execute("UPDATE claims SET expires = ? WHERE sig_key = ? AND owner = ?",
                               (time.time() + ttl, sig_key, owner))

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
        claims = dict(self._conn.execute("SELECT sig_key, COUNT(*) FROM claims GROUP BY sig_key").fetchall())
        for key, name, spec, signature, count, seconds in rows:
            try:
                parsed = json.loads(signature)
            except ValueError:
                parsed = None
            backend = str(parsed.get("backend", "")) if isinstance(parsed, dict) else "?"
            result.append({"key": key[:12], "name": name, "spec": spec, "backend": backend,
                           "segments": int(count), "seconds": float(seconds or 0),
                           "claimed": int(claims.get(key, 0))})
        return result

    def count(self, sig_key: str | None = None) -> int:
        if sig_key is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM translations").fetchone()[0])
        return int(self._conn.execute("SELECT COUNT(*) FROM translations WHERE sig_key = ?",
                                      (sig_key,)).fetchone()[0])

    def clear(self, system: str | None = None) -> int:
        """Delete the entries of systems whose name, spec or key prefix matches (glob); all if None."""
        self._own.clear()  # this connection's deletes do not move data_version
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


# ---------------------------------------------------------------------------------------- claim queue
Row = tuple[str, str, float, int, str]  # source, output, seconds, output tokens, truncation reason


class ClaimQueue:
    """One owner's claims on one system's segments, kept fresh by a heartbeat thread.

    ``claim`` hands out sources nobody else has done or is doing, ``commit`` stores finished
    translations (a stored translation outranks any claim), ``close`` releases the claims.
    Translating is the caller's business: it may happen in this process or on workers elsewhere.
    """

    def __init__(self, cache: TranslationCache, sig_key: str, *, owner: str | None = None,
                 ttl: float = CLAIM_TTL_S) -> None:
        self.cache = cache
        self.sig_key = sig_key
        self.owner = owner or cache.new_owner()
        self.ttl = ttl
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _heartbeat(self) -> None:
        """Own connection (SQLite connections stay in their thread), opened at the first beat so that a
        short run never pays for it; a missed beat only shortens a claim."""
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self.ttl / 3):
                try:
                    if conn is None:
                        conn = sqlite3.connect(str(self.cache.path), timeout=self.ttl / 3,
                                               isolation_level=None)
                    conn.execute("UPDATE claims SET expires = ? WHERE sig_key = ? AND owner = ?",
                                 (time.time() + self.ttl, self.sig_key, self.owner))
                except sqlite3.Error as exc:  # busy past the timeout: try again next beat
                    log.debug("heartbeat failed: %s", exc)
        finally:
            if conn is not None:
                conn.close()

    def claim(self, sources: Sequence[str], *, commit: Sequence[Row] = ()) -> tuple[list[str], list[str]]:
        """``(mine, held by others)``; sources already translated are in neither list. ``commit``: finished
        rows to store in the same transaction (one transaction per round instead of two)."""
        if self._beat is None:
            self._beat = threading.Thread(target=self._heartbeat, name="mt-eval-claims", daemon=True)
            self._beat.start()
        return self.cache.claim(self.sig_key, sources, self.owner, self.ttl, store=commit)

    def lookup(self, sources: Sequence[str]) -> dict[str, CachedTranslation]:
        return self.cache.get_many(self.sig_key, sources)

    def commit(self, rows: Sequence[Row]) -> int:
        return self.cache.put_many(self.sig_key, rows, owner=self.owner) if rows else 0

    def holders(self, sources: Sequence[str]) -> list[str]:
        return self.cache.holders(self.sig_key, sources)

    def close(self) -> None:
        self._stop.set()
        if self._beat is not None:  # it claimed something: release what was not committed
            self._beat.join(timeout=5)
            self.cache.release(self.sig_key, self.owner)

    def __enter__(self) -> ClaimQueue:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def storable_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows to commit: an empty output for a non-empty source is returned but not cached, so a
    rerun asks again."""
    return [r for r in rows if r[1] or not r[0]]


# ---------------------------------------------------------------------------------------- wrapper
class CachingTranslator(Translator):
    """Any translator behind the cache: only sources missing from it reach the backend.

    Unique sources are translated longest first in ``inner.batch_size`` batches (the order of the
    result is the order asked for). Fast batches are grouped so that a transaction holds about
    ``commit_interval`` seconds of work. A backend that raises, returns the wrong number of outputs
    or a non-text output fails the system (:class:`SystemFailed`); nothing of that batch is cached.
    An empty output for a non-empty source is returned but not cached, so a rerun asks again.
    With ``cache=None`` it only batches.
    """

    backend: ClassVar[str] = "cache"
    Options: ClassVar[type[TranslatorOptions]] = TranslatorOptions
    #: seconds between polls of segments another run is translating, and between waiting messages
    poll_s: ClassVar[float] = 0.2
    notice_every_s: ClassVar[float] = 60.0

    def __init__(self, inner: Translator, cache: TranslationCache | None, *, name: str = "",
                 spec: str = "", commit_interval: float = 1.0,
                 progress: Callable[[int], None] | None = None,
                 signature: dict[str, Any] | None = None) -> None:
        super().__init__(inner.target, inner.options, source_lang=inner.source_lang,
                         target_lang=inner.target_lang)
        self.inner = inner
        #: ``inner.signature()`` when the caller has it already (a backend may hash files for it)
        self._signature = signature
        self.cache = cache
        self.name = name or spec or inner.backend
        self.spec = spec or inner.backend
        self.commit_interval = commit_interval
        self.progress = progress
        #: of the last call: unique sources served from the cache / translated by this process
        self.cached = 0
        self.translated = 0
        self._sig_key: str | None = None

    @property
    def batch_size(self) -> int:
        return max(1, self.inner.batch_size)

    def signature(self) -> dict[str, Any]:
        return self._signature if self._signature is not None else self.inner.signature()

    def sig_key(self) -> str:
        if self._sig_key is None:
            signature = self.signature()
            self._sig_key = signature_key(signature)
            if self.cache is not None:
                self.cache.register_system(self._sig_key, signature, name=self.name, spec=self.spec)
        return self._sig_key

    def count_tokens(self, outputs: Sequence[str]) -> int:
        return self.inner.count_tokens(outputs)

    def translate(self, sources: Sequence[str]) -> list[str]:
        records = self.translate_records(sources)
        self.last_output_tokens = [records[s].output_tokens for s in sources]
        self.last_truncated = [records[s].truncated for s in sources]
        return [records[s].output for s in sources]

    def close(self) -> None:
        self.inner.close()

    def environment(self) -> dict[str, Any]:
        """The fingerprint of the machine that translates (the inner backend's; a cluster's worker's)."""
        return self.inner.environment()

    def translate_rows(self, batch: list[str]) -> list[Row]:
        """Translate one batch with the inner backend, checked, as cache rows (no cache access): what
        a worker elsewhere runs for a driver that owns the cache (``mt_eval.cluster``)."""
        return self._run_batch(batch)

    # ------------------------------------------------------------------ the work
    def _run_batch(self, batch: list[str]) -> list[Row]:
        inner = self.inner
        inner.last_output_tokens = None
        inner.last_truncated = None
        t0 = time.perf_counter()
        try:
            outs = inner.translate(batch)
        except MtEvalError:
            raise
        except Exception as exc:  # a crashed backend fails the system with its message, in one line
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise SystemFailed(f"system {self.name}: backend {inner.backend!r} failed: "
                               f"{type(exc).__name__}{': ' + first if first else ''}") from exc
        seconds = time.perf_counter() - t0
        if not isinstance(outs, list | tuple) or len(outs) != len(batch):
            got = len(outs) if isinstance(outs, list | tuple) else type(outs).__name__
            raise SystemFailed(f"system {self.name}: backend returned {got} outputs for {len(batch)} sources")
        bad = [type(o).__name__ for o in outs if not isinstance(o, str)]
        if bad:
            raise SystemFailed(f"system {self.name}: backend returned a {bad[0]} output, not text")
        counts = inner.last_output_tokens
        if counts is None or len(counts) != len(batch):
            counts = [inner.count_tokens([out]) for out in outs]
        cut = inner.last_truncated
        if cut is not None and len(cut) != len(batch):
            cut = None
        each = seconds / len(batch)
        return [(src, out, each, int(tok), cut[i] if cut else "")
                for i, (src, out, tok) in enumerate(zip(batch, outs, counts, strict=True))]

    def _start_records(self, sources: Sequence[str]
                       ) -> tuple[dict[str, CachedTranslation], ClaimQueue | None, list[str]]:
        """What the cache already holds, the claim queue (None without a cache), and the sources still
        to translate, longest first (as every translating path batches them)."""
        unique = list(dict.fromkeys(sources))
        done: dict[str, CachedTranslation] = {}
        queue: ClaimQueue | None = None
        if self.cache is not None:
            queue = ClaimQueue(self.cache, self.sig_key())
            done.update(queue.lookup(unique))
        self.cached = len(done)
        self.translated = 0
        (self.progress or (lambda n: None))(self.cached)
        missing = sorted((s for s in unique if s not in done), key=len, reverse=True)
        return done, queue, missing

    def translate_records(self, sources: Sequence[str]) -> dict[str, CachedTranslation]:
        """Every unique source -> its translation record (from the cache or translated now)."""
        done, queue, missing = self._start_records(sources)
        advance = self.progress or (lambda n: None)
        pending: list[Row] = []
        last_commit = time.monotonic()

        def take_pending() -> list[Row]:
            nonlocal pending, last_commit
            storable = storable_rows(pending)
            pending = []
            last_commit = time.monotonic()
            return storable

        def flush() -> None:
            if queue is not None and pending:
                queue.commit(take_pending())

        def work(batch: list[str]) -> None:
            rows = self._run_batch(batch)
            for row in rows:
                done[row[0]] = CachedTranslation(row[1], row[2], row[3], row[4])
            pending.extend(rows)
            self.translated += len(rows)
            advance(len(rows))
            if time.monotonic() - last_commit >= self.commit_interval:
                flush()

        size = self.batch_size
        try:
            if queue is None:
                for start in range(0, len(missing), size):
                    work(missing[start:start + size])
                return done
            deferred: list[str] = []
            window = size  # claim this many at once; grows while batches are quick
            start = 0
            while start < len(missing):
                group = missing[start:start + window]
                start += len(group)
                t0 = time.monotonic()
                mine, others = queue.claim(group, commit=take_pending())  # one transaction for both
                deferred += others
                taken = set(mine) | set(others)
                gone = [s for s in group if s not in taken]
                if gone:  # another run finished them meanwhile
                    done.update(queue.lookup(gone))
                    advance(len(gone))
                for b in range(0, len(mine), size):
                    work(mine[b:b + size])
                if mine and time.monotonic() - t0 < self.commit_interval / 2:
                    window = min(window * 4, size * 64)
            flush()
            self._wait_for_others(queue, deferred, done, work, flush, advance)
            return done
        finally:
            if queue is not None:
                try:
                    flush()  # what was translated before a failure is kept
                finally:
                    queue.close()

    def _wait_for_others(self, queue: ClaimQueue, deferred: list[str], done: dict[str, CachedTranslation],
                         work: Callable[[list[str]], None], flush: Callable[[], None],
                         advance: Callable[[int], None]) -> None:
        """Segments another live run claimed: wait for its results, or take them over when it dies."""
        size = self.batch_size
        noticed = 0.0
        delay = self.poll_s
        while deferred:
            found = queue.lookup(deferred)
            done.update(found)
            advance(len(found))
            deferred = [s for s in deferred if s not in done]
            if not deferred:
                break
            mine, deferred = queue.claim(deferred)
            for b in range(0, len(mine), size):
                work(mine[b:b + size])
            flush()
            if deferred:
                now = time.monotonic()
                if now - noticed >= self.notice_every_s:
                    noticed = now
                    who = ", ".join(describe_owner(o) for o in queue.holders(deferred)) or "another run"
                    log.warning("%s: waiting for %d segments that %s is translating (cache %s)",
                                self.name, len(deferred), who, queue.cache.path)
                time.sleep(delay)
                delay = min(2.0, delay * 1.5) if not mine else self.poll_s
