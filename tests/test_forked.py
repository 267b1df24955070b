"""Forked workers (``mt_eval.forked``): results in order, errors raised in the parent, and a pool that
ends whatever ``SIGTERM`` handler the parent process has (a Ray driver's logs under a lock)."""

from __future__ import annotations

import multiprocessing.pool
import os
import signal
import threading

import pytest

from mt_eval import forked
from mt_eval.forked import fork_available, fork_map, start_thread

pytestmark = pytest.mark.skipif(not fork_available(), reason="needs fork (Linux, macOS)")


def test_results_come_in_order_and_closures_reach_the_children():
    data = list(range(1000))  # reaches the children by the fork, not by pickling
    parent = os.getpid()

    def part_sum(span: tuple[int, int]) -> tuple[int, bool]:
        return sum(data[span[0]:span[1]]), os.getpid() != parent

    spans = [(k, k + 100) for k in range(0, 1000, 100)]
    results = fork_map(part_sum, spans, workers=2)
    assert [total for total, _ in results] == [sum(range(k, k + 100)) for k in range(0, 1000, 100)]
    assert all(in_child for _, in_child in results)


def test_an_error_in_a_worker_is_raised_in_the_parent():
    def fails_on_three(part: int) -> int:
        if part == 3:
            raise ValueError("part 3 is bad")
        return part

    with pytest.raises(ValueError, match="part 3 is bad"):
        fork_map(fails_on_three, range(8), workers=2)


def test_workers_do_not_run_the_parents_sigterm_handler():
    """A handler inherited from the parent (Ray's, in a Ray driver, logs under a lock that may have been
    taken at the fork) is reset in each worker, so a terminated worker dies."""
    def reset(_part: int) -> bool:
        return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        from_main = fork_map(reset, range(4), 2)
        from_thread: list[list[bool]] = []  # a pool started by another thread than the main one
        thread = threading.Thread(target=lambda: from_thread.append(fork_map(reset, range(4), 2)))
        thread.start()
        thread.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert from_main == [True] * 4 and from_thread == [[True] * 4]


def test_only_the_error_path_signals_the_workers(monkeypatch):
    """A pool that did its work is closed and joined (its workers exit by themselves); only an error
    terminates it."""
    terminated: list[bool] = []
    terminate = multiprocessing.pool.Pool.terminate

    def spy(pool: multiprocessing.pool.Pool) -> None:
        terminated.append(True)
        terminate(pool)

    monkeypatch.setattr(multiprocessing.pool.Pool, "terminate", spy)
    assert fork_map(abs, [-1, -2, -3], workers=2) == [1, 2, 3]
    assert terminated == []
    with pytest.raises(TypeError):
        fork_map(abs, ["not a number"], workers=2)
    assert terminated == [True]


def test_a_fork_waits_for_start_thread_threads_and_a_thread_that_cannot_start_is_not_waited_for(monkeypatch):
    release = threading.Event()
    finished: list[bool] = []

    def slow() -> None:
        release.wait(10)
        finished.append(True)

    assert start_thread(slow, name="slow")
    timer = threading.Timer(0.3, release.set)
    timer.start()
    pid = os.fork()
    if pid == 0:  # the child: nothing of pytest's may run here
        os._exit(0)
    finished_at_fork = list(finished)
    os.waitpid(pid, 0)
    timer.join()
    assert finished_at_fork == [True] and not forked._THREADS

    def no_threads(_self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", no_threads)
    assert start_thread(slow, name="never") is False
    assert not forked._THREADS
    forked.join_threads()  # returns at once: nothing to wait for
