"""How many processes statistics extraction uses: ``--workers N`` or ``--workers auto``.

``auto`` takes the cores this process may run on (``os.sched_getaffinity``, which honours ``taskset``
and container CPU sets, unlike ``os.cpu_count``) once the test set is large enough for forked workers
to pay for their start-up; below that, one process. The choice and its reason are recorded in
``results.json`` (``config.workers``) and printed by the command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.settings import MAX_WORKERS

__all__ = ["AUTO_MIN_SEGMENTS", "WorkerChoice", "resolve_workers", "usable_cores"]

# Below this many segments the vectorised statistics take well under a second per system and metric,
# so forking workers (and re-encoding the references in each) costs about what it saves.
AUTO_MIN_SEGMENTS = 10_000


def usable_cores() -> int:
    """Cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # platforms without affinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class WorkerChoice:
    """The resolved worker count, what was asked for and why."""

    requested: str
    workers: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"requested": self.requested, "workers": self.workers, "reason": self.reason}

    def describe(self) -> str:
        return f"workers: {self.workers} ({self.reason})"


def resolve_workers(requested: int | str | None, num_segments: int) -> WorkerChoice:
    """``"auto"`` (or None) → usable cores when ``num_segments >= AUTO_MIN_SEGMENTS``, else 1; N → N."""
    text = "auto" if requested is None else str(requested).strip().lower()
    if text == "auto":
        cores = usable_cores()
        if cores <= 1:
            return WorkerChoice("auto", 1, "auto: 1 usable core")
        if num_segments < AUTO_MIN_SEGMENTS:
            return WorkerChoice("auto", 1, f"auto: {num_segments} segments, parallel from"
                                           f" {AUTO_MIN_SEGMENTS}")
        return WorkerChoice("auto", cores, f"auto: {cores} usable cores, {num_segments} segments")
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise MtEvalError(f"--workers: expected a positive integer or 'auto', got {requested!r}")
    if workers > MAX_WORKERS:  # a typo must not fork a million processes
        raise MtEvalError(f"--workers {workers}: at most {MAX_WORKERS}")
    return WorkerChoice(text, workers, "as requested")
