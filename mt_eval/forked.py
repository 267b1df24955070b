"""Map a function over parts of one job in forked worker processes (statistics, output checks).

The job reaches the workers through the fork itself (copy-on-write memory), not by pickling: only the
parts (e.g. ``(start, stop)`` spans) and the results cross a pipe. Two things make a fork from a busy
parent safe here, since a child gets only the forking thread and every lock the others held stays taken:

- the pool ends by closing its task queue and joining, so a worker exits on its own and no signal is
  sent on the normal path;
- each worker first resets ``SIGTERM`` to the default, so the ``terminate()`` of the error path kills it
  outright. A handler inherited from the parent may block: Ray's core worker, in a process that is a
  Ray driver, logs a stack trace on ``SIGTERM``, through a logger whose lock one of its threads may
  hold at the moment of the fork (this project's CI once hung 79 minutes in a test of forked workers,
  in a test process that was a Ray driver).

A thread of mt-eval's own that holds locks while the caller goes on (the semantic metric's weight
loading, the translation cache's closing) is started by :func:`start_thread`, and every ``fork`` of the
process waits for it first (:func:`join_threads`, an ``os.register_at_fork`` hook).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["fork_available", "fork_map", "join_threads", "start_thread"]

T = TypeVar("T")

# The job of the pool being run, set in the parent right before the fork; children read it.
_JOB: Callable[[Any], Any] | None = None


# Threads started by start_thread that have not finished.
_THREADS: set[threading.Thread] = set()


def start_thread(target: Callable[..., object], *args: object, name: str, daemon: bool = False) -> bool:
    """Run ``target(*args)`` on a new thread that any fork of this process waits for (a child gets only
    the forking thread, so a lock this one held at that moment would stay taken there: an import's, a
    loading lock, SQLite's). False where no thread can be started (interpreter shutdown)."""
    def run() -> None:
        try:
            target(*args)
        finally:
            _THREADS.discard(threading.current_thread())

    thread = threading.Thread(target=run, name=name, daemon=daemon)
    _THREADS.add(thread)
    try:
        thread.start()
    except RuntimeError:
        _THREADS.discard(thread)
        return False
    return True


def join_threads() -> None:
    """Wait until every thread of :func:`start_thread` is done (run before each ``fork``)."""
    for thread in list(_THREADS):
        thread.join()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=join_threads)


def fork_available() -> bool:
    """True where processes can be forked (Linux, macOS; not Windows)."""
    return "fork" in mp.get_all_start_methods()


def _worker_start() -> None:
    # ValueError: not the child's main thread (CPython makes the forking thread the main one): go on
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_part(part: Any) -> Any:
    if _JOB is None:  # pragma: no cover - only reachable when misused
        raise RuntimeError("no job in this forked worker")
    return _JOB(part)


def fork_map(function: Callable[[Any], T], parts: Sequence[Any], workers: int) -> list[T]:
    """``[function(p) for p in parts]``, computed by ``workers`` forked processes, in order. ``function``
    may be any callable (a closure over the job's data): the children inherit it; ``parts`` and the
    results are pickled. An exception in a worker is raised here, after the workers are gone."""
    global _JOB
    _JOB = function
    # Frozen objects are skipped by the children's garbage collector: without this every collection
    # walks (and copy-on-write duplicates) the parent's whole heap, which can cost more than it saves.
    gc.freeze()
    try:
        pool = mp.get_context("fork").Pool(workers, initializer=_worker_start)
        try:
            results = pool.map(_run_part, list(parts))
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
    finally:
        gc.unfreeze()
        _JOB = None
    return results
