"""Resample counts drawn once, and resampled corpus statistics as ``counts @ stats``.

A bootstrap resample of N segments is a row of counts (how often each segment was drawn), so the
summed statistics of B resamples are one matrix product ``(B, N) @ (N, D)`` instead of a B×N×D
gather. The indices come from ``np.random.default_rng(seed).integers(0, N, (B, N))`` — the same
stream sacrebleu's ``rng.choice`` draws — so a seeded run resamples exactly as sacrebleu does.
Large B×N are processed in row chunks; chunking does not change the draws.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mt_eval.errors import MtEvalError

# Working-memory budget for one chunk: the (rows, N) index draw and counts (int64), and later the
# counts and their float64 copy for BLAS — two (rows, N) 8-byte buffers alive at a time.
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
_EXACT_FLOAT = 2.0 ** 53


def _check(n: int, n_resamples: int) -> None:
    if n < 1:
        raise MtEvalError(f"cannot resample an empty corpus (n={n})")
    if n_resamples < 1:
        raise MtEvalError(f"number of resamples must be >= 1, got {n_resamples}")


def chunk_rows(n: int, n_resamples: int, max_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Rows of an ``(rows, n)`` int64 matrix that fit (twice: draw + counts) in ``max_bytes``."""
    return max(1, min(n_resamples, max_bytes // (16 * max(n, 1))))


def _counts_from_indices(idx: np.ndarray, n: int) -> np.ndarray:
    rows = idx.shape[0]
    idx += (np.arange(rows, dtype=np.int64) * n)[:, None]  # in place: one (rows, n) buffer, not two
    return np.bincount(idx.ravel(), minlength=rows * n).reshape(rows, n).astype(np.int64, copy=False)


def iter_resample_counts(n: int, n_resamples: int, seed: int | None,
                         *, max_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[np.ndarray]:
    """Yield the rows of :func:`resample_counts` in chunks that fit in ``max_bytes``."""
    _check(n, n_resamples)
    rng = np.random.default_rng(seed)
    step = chunk_rows(n, n_resamples, max_bytes)
    for start in range(0, n_resamples, step):
        rows = min(step, n_resamples - start)
        yield _counts_from_indices(rng.integers(0, n, size=(rows, n), dtype=np.int64), n)


def resample_counts(n: int, n_resamples: int, seed: int | None) -> np.ndarray:
    """``(B, N)`` int64: how many times each of N segments appears in each of B bootstrap resamples.

    Every row sums to N. The draw is sacrebleu's (``default_rng(seed).choice(N, (B, N))``).
    """
    return np.concatenate(list(iter_resample_counts(n, n_resamples, seed, max_bytes=2 ** 62)), axis=0)


def iter_sign_masks(n: int, n_trials: int, seed: int | None,
                    *, max_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[np.ndarray]:
    """Approximate-randomisation swaps: chunks of a ``(T, N)`` bool matrix, True = swap the segment.

    Drawn like sacrebleu's ``rng.integers(2, size=(T, N), dtype=bool)``; identical to it whenever all
    T rows fit in one chunk (the chunk size depends only on N, T and ``max_bytes``).
    """
    _check(n, n_trials)
    rng = np.random.default_rng(seed)
    step = max(1, min(n_trials, max_bytes // (9 * max(n, 1))))
    for start in range(0, n_trials, step):
        rows = min(step, n_trials - start)
        yield rng.integers(2, size=(rows, n), dtype=bool)


class StatsSummer:
    """Exact ``weights @ stats`` for many weight chunks against one statistics matrix.

    Integer statistics give int64 sums. The product runs through float64 BLAS when every partial sum
    is provably below 2^53 (then float64 is exact whatever the summation order) and through int64
    otherwise; float statistics are summed in float64. Never float32 (inexact past 2^24). The float64
    copy of the statistics is made once, not once per chunk.
    """

    def __init__(self, stats: np.ndarray, max_weight_sum: int) -> None:
        s = np.asarray(stats)
        self.integer = s.dtype.kind in "iub"
        bound = float(max_weight_sum) * float(np.abs(s).max(initial=0))
        self.use_float = not self.integer or bound < _EXACT_FLOAT
        self._stats = s.astype(np.float64) if self.use_float else s.astype(np.int64)

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights)
        if not self.use_float:
            return w.astype(np.int64, copy=False) @ self._stats
        out = w.astype(np.float64, copy=False) @ self._stats
        return np.rint(out).astype(np.int64) if self.integer else out


def resampled_sums(weights: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """``weights @ stats`` computed exactly: ``(B, N) @ (N, D) -> (B, D)`` (see :class:`StatsSummer`)."""
    w = np.asarray(weights)
    max_weight_sum = int(np.abs(w).sum(axis=1).max(initial=0)) if w.size else 0
    return StatsSummer(stats, max_weight_sum)(w)
