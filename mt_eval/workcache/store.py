"""The work cache's store: one SQLite file in WAL mode, keyed by (signature, item text).

An item is a translation source (keyed by the translator's signature) or a judge request (keyed by the
judge's signature, :class:`CacheKey`); a row holds the output text with the seconds, output tokens and
truncation of its making, so a run served from the cache reports the original measurement. Only text is
stored: a failed request is never cached. WAL lets concurrent runs read while one writes; ``INSERT OR
IGNORE`` on the primary key means two runs that do the same item never duplicate it. Claims (who is
doing which item) live in the same file: :mod:`mt_eval.workcache.leases` keeps them alive, and the
scheduler (:mod:`mt_eval.workcache.scheduler`) hands them out.

A cold run pays little for this: a signature without rows skips the lookup queries, claims skip the
"already done?" query while no other connection has written (``PRAGMA data_version``), claims are
inserted in one statement, rows in key order, the WAL is not checkpointed mid-run, and the checkpoint
at close runs on a thread of its own (:func:`mt_eval.forked.start_thread`: done before any ``fork``).

A claim names its owner (:func:`mt_eval.processes.owner_id`), so a dead, zombie or PID-reused owner on
this host is recognised at once; an owner elsewhere must keep its claims fresh with a heartbeat
(``CLAIM_TTL_S``) or lose them.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import hashlib
import json
import logging
import operator
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mt_eval.errors import MtEvalError
from mt_eval.forked import start_thread
from mt_eval.processes import owner_alive
from mt_eval.translators.base import signature_key

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
#: A finished item: source (item text), output, seconds, output tokens, truncation reason
Row = tuple[str, str, float, int, str]
#: The backend prefix that marks a judge's signature (a translator's never has it: see CacheKey)
JUDGE_BACKEND = "judge/"


def default_cache_path() -> Path:
    """``$MT_EVAL_CACHE`` or ``.mt-eval-cache/translations.sqlite`` in the current directory."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else DEFAULT_CACHE_PATH


@functools.lru_cache(maxsize=1 << 16)
def source_hash(text: str) -> str:
    """The key of a source (memoised: one run looks each source up, claims and stores it)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error as exc:  # e.g. the folder was removed meanwhile; every row was committed
        log.debug("closing the translation cache: %s", exc)


@dataclass(frozen=True)
class CachedTranslation:
    output: str
    seconds: float
    output_tokens: int
    truncated: str = ""


@dataclass(frozen=True)
class CacheKey:
    """Whose rows: the signature that made them (its sha256, :attr:`sig_key`, is the key) and the name and
    spec ``mt-eval cache stats`` shows. A translation key's signature may not name a ``judge/`` backend
    and a judge key's must (:class:`~mt_eval.judges.client.JudgeKey`), so a judge answer and a translation
    of the same text never share a key."""

    signature: Mapping[str, Any]
    name: str
    spec: str
    judge: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if str(self.signature.get("backend", "")).startswith(JUDGE_BACKEND) != self.judge:
            kind = "judge" if self.judge else "translation"
            raise MtEvalError(f"system {self.name}: a {kind} signature must {'' if self.judge else 'not '}"
                              f"name a backend {JUDGE_BACKEND}…")

    @functools.cached_property
    def sig_key(self) -> str:
        return signature_key(dict(self.signature))


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

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._own.clear()  # the rows it stored are gone again
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection off the caller's path: when it is the file's last connection, SQLite
        folds the WAL back into the file and fsyncs both (milliseconds, tens under disk load). Every
        row was committed before, so this adds no durability; the interpreter waits for the thread at
        exit, and a process killed meanwhile leaves a WAL that the next opener replays."""
        if self._closing:
            return
        self._closing = True
        # a fork waits for the close: a connection open across a fork copies SQLite's in-process lock
        # state into the child, which can corrupt the file
        if not start_thread(_close_quietly, self._conn, name="mt-eval-cache-close"):
            _close_quietly(self._conn)  # no new threads at interpreter shutdown

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
        poison the cache). The claims on the stored items (anyone's) are dropped in the same
        transaction: a stored translation outranks any claim. ``owner`` is accepted for symmetry with
        claims; the owner's remaining claims go with :meth:`release`. Returns the rows added.
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
        added = self._conn.total_changes - before
        self._drop_claims(sig_key, [row[1] for row in rows])
        return added

    def _drop_claims(self, sig_key: str, hashes: list[str]) -> None:
        """Claims on committed items go with the commit, whoever holds them: a process killed after its
        commit would otherwise leave them behind (``cache stats`` would report them as claimed)."""
        self._over_hashes("DELETE FROM claims WHERE sig_key = ? AND source_hash IN"
                          " (SELECT value FROM json_each(?))", (sig_key,),
                          "DELETE FROM claims WHERE sig_key = ? AND source_hash = ?",
                          [(sig_key, h) for h in hashes])

    def _over_hashes(self, json_sql: str, head: tuple[Any, ...], many_sql: str,
                     rows: list[tuple[Any, ...]]) -> None:
        """One statement over a JSON array of hashes (``head`` + the array as its parameters): half the cost
        of ``executemany`` over ``rows``, which remains for an SQLite built without JSON functions."""
        if not rows:
            return
        if self._json:
            try:
                self._conn.execute(json_sql, (*head, json.dumps([row[1] for row in rows])))
                return
            except sqlite3.OperationalError as exc:
                if "json_each" not in str(exc):
                    raise
                self._json = False
        self._conn.executemany(many_sql, rows)

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
        self._over_hashes("INSERT OR REPLACE INTO claims SELECT ?, value, ?, ? FROM json_each(?)",
                          (sig_key, owner, expires), "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)",
                          [(sig_key, h, owner, expires) for h in hashes])

    def holders(self, sig_key: str, sources: Sequence[str]) -> list[str]:
        """The distinct owners holding claims on ``sources`` (for the waiting message)."""
        rows = self._select_in("SELECT DISTINCT owner FROM claims", sig_key,
                               list({source_hash(s) for s in sources}))
        return sorted({o for (o,) in rows})

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
        claims = dict(self._conn.execute(  # claims on committed items (left by older versions) do not count
            "SELECT c.sig_key, COUNT(*) FROM claims c WHERE NOT EXISTS (SELECT 1 FROM translations t WHERE"
            " t.sig_key = c.sig_key AND t.source_hash = c.source_hash) GROUP BY c.sig_key").fetchall())
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
