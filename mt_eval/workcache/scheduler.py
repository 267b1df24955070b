"""The work cache's one scheduler loop: look up → claim → run → commit → wait for others' claims.

:func:`fetch` turns items (translation sources, judge requests) into their records: what the store holds
is served; the rest is claimed a window at a time (longest first), run by a :class:`BatchRunner`,
committed, and what another live run has claimed is waited for — or taken over when that run dies.
How the batches run is the runner's business: :class:`InProcess` here, or Ray actors
(``mt_eval.cluster.ray_executor.RayBatches``); the claims, commits and waits are the same for both.

Work is committed in few, large transactions (about one per ``commit_interval`` seconds of work, riding
on the next claim when there is one, and at the end), so a crash loses at most that much and a rerun
does only what is missing. An empty output for a non-empty item is returned but not stored, so a rerun
asks again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mt_eval.processes import describe_owner
from mt_eval.workcache.leases import ClaimQueue
from mt_eval.workcache.store import CachedTranslation, CacheKey, Row, TranslationCache

log = logging.getLogger(__name__)

#: seconds between polls of items another run is doing, and between waiting messages
POLL_S = 0.2
NOTICE_EVERY_S = 60.0

RowSink = Callable[[list[Row]], None]


class BatchRunner(Protocol):
    """How claimed items are run: in this process or on workers elsewhere."""

    #: seconds of finished work per commit (0: every delivery of rows is committed at once)
    commit_interval: float

    def window(self) -> tuple[int, int]:
        """How many items to claim first, and at most (the window grows while runs are quick)."""

    def run(self, items: list[str], on_rows: RowSink) -> None:
        """Run ``items`` (claimed, longest first); ``on_rows`` gets every finished part as it comes."""

    def environment(self) -> dict[str, Any]:
        """The fingerprint of where the batches ran, ``{}`` for this process."""

    def finish(self) -> None:
        """After a :func:`fetch`: stop what was started for it (workers, actors)."""


@dataclass
class InProcess:
    """A :class:`BatchRunner` that runs ``run_batch`` here on ``batch_size`` items at a time."""

    run_batch: Callable[[list[str]], list[Row]]
    batch_size: int
    commit_interval: float = 1.0

    def window(self) -> tuple[int, int]:
        return self.batch_size, self.batch_size * 64

    def run(self, items: list[str], on_rows: RowSink) -> None:
        for start in range(0, len(items), self.batch_size):
            on_rows(self.run_batch(items[start:start + self.batch_size]))

    def environment(self) -> dict[str, Any]:
        return {}

    def finish(self) -> None:
        return None


def one_line(exc: BaseException) -> str:
    """A batch's unexpected exception as ``Type: first line`` (at most 300 characters of it)."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}{': ' + first if first else ''}"


def storable_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows to commit: an empty output for a non-empty item is returned but not stored."""
    return [r for r in rows if r[1] or not r[0]]


def fetch(items: Sequence[str], store: TranslationCache | None, key: CacheKey | None, runner: BatchRunner,
          progress: Callable[[int], None] | None = None) -> Fetch:
    """Every unique item of ``items`` -> its record, from ``store`` (None: no cache; then ``key`` may be
    None too: it names the store's rows) or run now.

    A runner that fails (its error propagates) keeps what was finished before: it is committed, and
    the claims on the rest are released."""
    unique = list(dict.fromkeys(items))
    queue: ClaimQueue | None = None
    if store is not None:
        assert key is not None, "a store needs the key of the rows"
        store.register_system(key.sig_key, dict(key.signature), name=key.name, spec=key.spec)
        queue = ClaimQueue(store, key.sig_key)
    work = Fetch(queue, runner, progress or (lambda n: None), key.name if key is not None else "")
    work.found(queue.lookup(unique) if queue is not None else {})
    work.cached = len(work.records)
    missing = sorted((s for s in unique if s not in work.records), key=len, reverse=True)
    try:
        if queue is None:
            runner.run(missing, work.on_rows)
        else:
            work.wait_for(work.claim_and_run(missing))
    finally:
        try:
            work.close()
        finally:
            runner.finish()
    return work


class Fetch:
    """One :func:`fetch`: every item's ``records`` (from the store or run now), how many were ``cached``
    (served from the store) and ``done_here`` (run by this call); rows not committed yet, the claims."""

    def __init__(self, queue: ClaimQueue | None, runner: BatchRunner, advance: Callable[[int], None],
                 name: str) -> None:
        self.queue = queue
        self.runner = runner
        self.advance = advance
        self.name = name
        self.records: dict[str, CachedTranslation] = {}
        self.pending: list[Row] = []
        self.cached = 0
        self.done_here = 0
        self.last_commit = time.monotonic()

    def found(self, records: dict[str, CachedTranslation]) -> None:
        self.records.update(records)
        self.advance(len(records))

    def on_rows(self, rows: list[Row]) -> None:
        for row in rows:
            self.records[row[0]] = CachedTranslation(row[1], row[2], row[3], row[4])
        self.pending.extend(rows)
        self.done_here += len(rows)
        self.advance(len(rows))
        if time.monotonic() - self.last_commit >= self.runner.commit_interval:
            self.flush()

    def take_pending(self) -> list[Row]:
        storable = storable_rows(self.pending)
        self.pending = []
        self.last_commit = time.monotonic()
        return storable

    def flush(self) -> None:
        if self.queue is not None and self.pending:
            self.queue.commit(self.take_pending())

    def close(self) -> None:
        if self.queue is not None:
            try:
                self.flush()  # what was done before a failure is kept
            finally:
                self.queue.close()

    def claim_and_run(self, missing: list[str]) -> list[str]:
        """Claim ``missing`` a window at a time (finished rows ride on the claim's transaction) and run
        what this call got; returns the items other live runs hold."""
        assert self.queue is not None
        deferred: list[str] = []
        window, largest = self.runner.window()
        start = 0
        while start < len(missing):
            group = missing[start:start + window]
            start += len(group)
            t0 = time.monotonic()
            mine, others = self.queue.claim(group, commit=self.take_pending())
            deferred += others
            taken = set(mine) | set(others)
            gone = [s for s in group if s not in taken]
            if gone:  # another run finished them meanwhile
                self.found(self.queue.lookup(gone))
            self.runner.run(mine, self.on_rows)
            if mine and time.monotonic() - t0 < self.runner.commit_interval / 2:
                window = min(window * 4, largest)
        self.flush()
        return deferred

    def wait_for(self, deferred: list[str]) -> None:
        """Items another live run claimed: wait for its results, or take them over when it dies."""
        assert self.queue is not None
        noticed = 0.0
        delay = POLL_S
        while deferred:
            self.found(self.queue.lookup(deferred))
            deferred = [s for s in deferred if s not in self.records]
            if not deferred:
                break
            mine, deferred = self.queue.claim(deferred)
            self.runner.run(mine, self.on_rows)
            self.flush()
            if deferred:
                now = time.monotonic()
                if now - noticed >= NOTICE_EVERY_S:
                    noticed = now
                    who = ", ".join(describe_owner(o) for o in self.queue.holders(deferred)) or "another run"
                    log.warning("%s: waiting for %d segments that %s is translating (cache %s)",
                                self.name, len(deferred), who, self.queue.cache.path)
                time.sleep(delay)
                delay = min(2.0, delay * 1.5) if not mine else POLL_S
