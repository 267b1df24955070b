"""Resample counts and exact ``counts @ stats`` sums."""

from __future__ import annotations

import numpy as np
import pytest

from mt_eval.errors import MtEvalError
from mt_eval.stats.resampling import (
    chunk_rows,
    iter_resample_counts,
    iter_sign_masks,
    resample_counts,
    resampled_sums,
)


def test_counts_are_sacrebleus_draw_as_counts():
    n, b, seed = 37, 25, 12345
    counts = resample_counts(n, b, seed)
    assert counts.shape == (b, n) and counts.dtype == np.int64
    assert (counts.sum(axis=1) == n).all()
    idx = np.random.default_rng(seed).choice(n, size=(b, n), replace=True)  # what sacrebleu draws
    expected = np.stack([np.bincount(row, minlength=n) for row in idx])
    np.testing.assert_array_equal(counts, expected)


def test_chunking_does_not_change_the_draws():
    whole = resample_counts(101, 50, 7)
    chunked = np.concatenate(list(iter_resample_counts(101, 50, 7, max_bytes=16 * 101 * 3)))
    assert chunk_rows(101, 50, 16 * 101 * 3) == 3
    np.testing.assert_array_equal(whole, chunked)


def test_sign_masks_match_sacrebleu_when_one_chunk():
    masks = np.concatenate(list(iter_sign_masks(40, 30, 5)))
    np.testing.assert_array_equal(masks, np.random.default_rng(5).integers(2, size=(30, 40), dtype=bool))


def test_counts_matmul_equals_gather_sum():
    rng = np.random.default_rng(0)
    stats = rng.integers(0, 50, size=(64, 6))
    counts = resample_counts(64, 20, 3)
    idx = np.random.default_rng(3).choice(64, size=(20, 64))
    np.testing.assert_array_equal(resampled_sums(counts, stats), stats[idx].sum(axis=1))


def test_sums_are_exact_beyond_float32_range():
    # 2**24 + 1 is not representable in float32: a float32 sum would silently round it
    stats = np.array([[2**24], [1], [0]], dtype=np.int64)
    weights = np.array([[1, 1, 0], [1, 3, 5]], dtype=np.int64)
    out = resampled_sums(weights, stats)
    assert out.dtype == np.int64
    assert out[:, 0].tolist() == [2**24 + 1, 2**24 + 3]
    assert np.float32(2**24) + np.float32(1) == np.float32(2**24)  # why float32 is not allowed


def test_sums_switch_to_int64_beyond_float64_exactness():
    big = 2**53 // 3 + 1
    stats = np.array([[big], [big], [big], [1]], dtype=np.int64)
    out = resampled_sums(np.ones((1, 4), dtype=np.int64), stats)
    assert int(out[0, 0]) == 3 * big + 1  # float64 would round this odd number above 2**53


def test_bad_sizes():
    with pytest.raises(MtEvalError):
        resample_counts(0, 10, 1)
    with pytest.raises(MtEvalError):
        resample_counts(5, 0, 1)
