"""Leases on work: one owner's claims on one signature's items, kept alive by a heartbeat thread.

:class:`ClaimQueue` knows nothing about translating or judging, so one process can claim items, hand
them to workers elsewhere (``mt_eval.cluster``) and commit what comes back. Which items to claim, and
when, is the scheduler's business (:mod:`mt_eval.workcache.scheduler`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

from mt_eval.processes import owner_id
from mt_eval.workcache.store import CLAIM_TTL_S, CachedTranslation, Row, TranslationCache

log = logging.getLogger(__name__)


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
        self.owner = owner or owner_id()
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
