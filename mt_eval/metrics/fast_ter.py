"""Exact compiled TER statistics (bit-identical to sacrebleu's ``TER``), with numba.

sacrebleu's TER (``sacrebleu/metrics/lib_ter.py``) greedily applies the block shift that lowers a
beam-limited word edit distance most, re-running that edit distance in Python for every candidate
shift. That search is restated here, step for step, as a numba-compiled kernel over integer token ids:

* **tokens**: sacrebleu's own ``TercomTokenizer`` (``TER._preprocess_segment``) then ``str.split``,
  each distinct token an exact dense integer id (never hashed);
* **edit distance**: the same beam (``_BEAM_WIDTH`` 25 cells either side of the pseudo-diagonal
  ``floor(i · len_ref / len_hyp)``, widened the same way for very unequal lengths, the last row in
  full), the same integer "infinity" for cells outside the beam, the same preference between equal
  costs (substitution or match, then deletion, then insertion; an operation replaces the cell only when
  strictly cheaper) and the same back-trace and alignment;
* **shift search**: candidate pairs in sacrebleu's order (hypothesis start, then reference start, then
  length up to ``_MAX_SHIFT_SIZE``, start distance at most ``_MAX_SHIFT_DIST``), the same skip rules,
  target positions, ``_perform_shift`` slicing, ranking key ``(gain, length, -start, -target)`` (the
  first of equal keys kept) and the running ``_MAX_SHIFT_CANDIDATES`` budget that, once spent, ends the
  search without applying the last best shift.

sacrebleu's row cache only skips recomputing rows whose hypothesis prefix it has seen (every shifted
hypothesis has the same length, so a row never depends on anything else); the kernel does the same by
reusing the current hypothesis' rows up to the first position a candidate changes. Identical
(hypothesis, reference) token sequences are scored once. The parity tests compare every option, FLORES,
adversarial Unicode, long segments and 20,000 random segments with sacrebleu's own statistics exactly.

The kernel is compiled on first use and cached on disk by numba (``cache=True``); ``import mt_eval``
does not import numba, and numba's start in a process skips its ``scipy.linalg`` probe
(:func:`_numba_start_without_scipy`). Where numba cannot be imported, :func:`available` is False and
the caller uses sacrebleu's per-segment code.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from sacrebleu.metrics import lib_ter

__all__ = ["available", "edit_counts", "ter_stats"]

# sacrebleu's limits, read from its module and passed to the kernel at run time (never compiled in, so
# numba's on-disk cache cannot keep an old value after a sacrebleu upgrade)
_LIMITS = np.array([lib_ter._BEAM_WIDTH, lib_ter._MAX_SHIFT_SIZE, lib_ter._MAX_SHIFT_DIST,
                    lib_ter._MAX_SHIFT_CANDIDATES, lib_ter._INT_INFINITY], dtype=np.int64)
# the unit costs the kernel's arithmetic assumes
_SUPPORTED = (lib_ter._COST_INS, lib_ter._COST_DEL, lib_ter._COST_SUB) == (1, 1, 1)

# segments whose word lists ter_stats holds at once (about 25 MB for 25-word segments)
_BLOCK = 5_000

# operations in the back-trace (sacrebleu: ' ', 's', 'd', 'i', 'x')
_NOP, _SUB, _DEL, _INS, _UNDEF = 0, 1, 2, 3, 4

try:
    import numba

    _NUMBA = True
except Exception:  # not installed, or built for another numpy: sacrebleu's code is used instead
    _NUMBA = False


def _jit(function: Any) -> Any:
    """Compiled on first use and cached on disk; without a writable cache directory (the package's
    ``__pycache__``, then numba's user-wide one or ``NUMBA_CACHE_DIR``), compiled in memory each run."""
    if not _NUMBA:
        return function  # plain Python, unused: available() is False
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except Exception:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(function)


@_jit
def _fill_rows(words: np.ndarray, ref: np.ndarray, first: int, dist: np.ndarray, ops: np.ndarray,
               lo: np.ndarray, hi: np.ndarray, inf: int) -> None:
    # rows first..len(words) of BeamEditDistance._edit_distance, from row first - 1 (already in dist)
    n_ref = len(ref)
    for i in range(first, len(words) + 1):
        word = words[i - 1]
        for j in range(n_ref + 1):
            dist[i, j] = inf
            ops[i, j] = _UNDEF
        for j in range(lo[i], hi[i]):
            if j == 0:
                dist[i, 0] = dist[i - 1, 0] + 1
                ops[i, 0] = _DEL
                continue
            best = inf
            op = _UNDEF
            if word == ref[j - 1]:
                cost = dist[i - 1, j - 1]
                if cost < best:
                    best = cost
                    op = _NOP
            else:
                cost = dist[i - 1, j - 1] + 1
                if cost < best:
                    best = cost
                    op = _SUB
            cost = dist[i - 1, j] + 1
            if cost < best:
                best = cost
                op = _DEL
            cost = dist[i, j - 1] + 1
            if cost < best:
                best = cost
                op = _INS
            dist[i, j] = best
            ops[i, j] = op


@_jit
def _shift_into(words: np.ndarray, start: int, length: int, target: int, out: np.ndarray) -> None:
    # sacrebleu's _perform_shift (Python slicing clips at the end, so does min(n, ...))
    n = len(words)
    k = 0
    if target < start:
        parts = ((0, target), (start, start + length), (target, start), (start + length, n))
    elif target > start + length:
        parts = ((0, start), (start + length, target), (start, start + length), (target, n))
    else:
        end = min(n, length + target)
        parts = ((0, start), (start + length, end), (start, start + length), (end, n))
    for a, b in parts:
        for p in range(a, b):
            out[k] = words[p]
            k += 1


@_jit
def _beam(n_hyp: int, n_ref: int, beam_width: int) -> tuple[np.ndarray, np.ndarray]:
    # the columns lo[i]..hi[i]-1 of row i that BeamEditDistance computes (widened for unequal lengths)
    ratio = n_ref / n_hyp if n_hyp > 0 else 1.0
    width = beam_width
    if ratio / 2 > beam_width:
        width = math.ceil(ratio / 2 + beam_width)
    lo = np.zeros(n_hyp + 1, dtype=np.int64)
    hi = np.zeros(n_hyp + 1, dtype=np.int64)
    for i in range(1, n_hyp + 1):
        diag = math.floor(i * ratio)
        lo[i] = max(0, diag - width)
        hi[i] = min(n_ref + 1, diag + width)
    hi[n_hyp] = n_ref + 1
    return lo, hi


@_jit
def _trace(ops: np.ndarray, align: np.ndarray, hyp_err: np.ndarray, ref_err: np.ndarray) -> bool:
    # the back-trace read as the alignment of the flipped trace (trace_to_alignment); False where
    # sacrebleu itself would raise (an unreachable cell)
    i, j = ops.shape[0] - 1, ops.shape[1] - 1
    while i > 0 or j > 0:
        op = ops[i, j]
        if op <= _SUB:  # _NOP or _SUB
            err = 1 if op == _SUB else 0
            align[j - 1] = i - 1
            hyp_err[i - 1] = err
            ref_err[j - 1] = err
            i -= 1
            j -= 1
        elif op == _INS:
            align[j - 1] = i - 1
            ref_err[j - 1] = 1
            j -= 1
        elif op == _DEL:
            hyp_err[i - 1] = 1
            i -= 1
        else:
            return False
    return True


@_jit
def _same_prefix(a: np.ndarray, b: np.ndarray) -> int:
    first = 0
    while first < len(a) and a[first] == b[first]:
        first += 1
    return first


@_jit
def _may_shift(errors: tuple[np.ndarray, np.ndarray, np.ndarray], start_h: int, start_r: int,
               length: int) -> bool:
    # _shift's skip rules: both spans already correct, or the reference span aligned inside the hypothesis one
    hyp_err, ref_err, align = errors
    wrong = False
    for p in range(start_h, start_h + length):
        wrong = wrong or hyp_err[p] != 0
    if not wrong:
        return False
    wrong = False
    for p in range(start_r, start_r + length):
        wrong = wrong or ref_err[p] != 0
    return wrong and not start_h <= align[start_r] < start_h + length


@_jit
def _better(best: np.ndarray, found: bool, candidate: tuple[int, int, int, int]) -> bool:
    # sacrebleu's ranking of (gain, length, start, target): larger gain, longer span, earlier start, target
    if not found:
        return True
    for k in range(4):
        if candidate[k] != best[k]:
            return candidate[k] > best[k] if k < 2 else candidate[k] < best[k]
    return False


@_jit
def _pair_edits(words_in: np.ndarray, ref: np.ndarray, limits: np.ndarray) -> int:
    # sacrebleu's translation_edit_rate: number of edits (shifts + edit distance); -1 where
    # sacrebleu itself would raise (an unreachable cell on the back-trace)
    n_hyp, n_ref = len(words_in), len(ref)
    if n_ref == 0:
        return n_hyp
    max_size, max_dist, max_candidates, inf = limits[1], limits[2], limits[3], limits[4]
    lo, hi = _beam(n_hyp, n_ref, limits[0])
    dist = np.empty((n_hyp + 1, n_ref + 1), dtype=np.int64)
    ops = np.empty((n_hyp + 1, n_ref + 1), dtype=np.int8)
    for j in range(n_ref + 1):
        dist[0, j] = j
        ops[0, j] = _INS
    cand_dist, cand_ops = dist.copy(), ops.copy()
    words, shifted = words_in.copy(), words_in.copy()
    _fill_rows(words, ref, np.int64(1), dist, ops, lo, hi, inf)
    # hypothesis errors, reference errors, alignment (reference position -> hypothesis position)
    errors = (np.zeros(n_hyp, dtype=np.int64), np.zeros(n_ref, dtype=np.int64),
              np.zeros(n_ref, dtype=np.int64))
    best = np.zeros(4, dtype=np.int64)  # gain, length, start, target of the best shift so far
    shifts = checked = 0
    while True:
        pre_score = dist[n_hyp, n_ref]
        if not _trace(ops, errors[2], errors[0], errors[1]):
            return -1
        found = stop = False
        for start_h in range(n_hyp):
            for start_r in range(n_ref):
                if abs(start_r - start_h) > max_dist:
                    continue
                length = 0
                while words[start_h + length] == ref[start_r + length] and length < max_size:
                    length += 1  # one candidate pair (start_h, start_r, length), as _shift consumes it
                    if _may_shift(errors, start_h, start_r, length):
                        prev_idx = -1
                        for offset in range(-1, min(length, n_ref - start_r)):
                            idx = 0 if start_r + offset == -1 else errors[2][start_r + offset] + 1
                            if idx == prev_idx:
                                continue
                            prev_idx = idx
                            _shift_into(words, np.int64(start_h), np.int64(length), idx, shifted)
                            first = _same_prefix(shifted, words)
                            cost = pre_score
                            if first < n_hyp:
                                cand_dist[first, :] = dist[first, :]
                                _fill_rows(shifted, ref, first + 1, cand_dist, cand_ops, lo, hi, inf)
                                cost = cand_dist[n_hyp, n_ref]
                            checked += 1
                            candidate = (pre_score - cost, np.int64(length), np.int64(start_h), idx)
                            if _better(best, found, candidate):
                                found = True
                                best[0], best[1], best[2], best[3] = candidate
                    stop = checked >= max_candidates
                    if stop:
                        break
                    if n_hyp == start_h + length or n_ref == start_r + length:
                        break
                if stop:
                    break
            if stop:
                break
        if checked >= max_candidates or not found or best[0] <= 0:
            break
        shifts += 1
        _shift_into(words, best[2], best[1], best[3], shifted)
        first = _same_prefix(shifted, words)
        words[:] = shifted
        if first < n_hyp:
            _fill_rows(words, ref, first + 1, dist, ops, lo, hi, inf)
    return shifts + dist[n_hyp, n_ref]


@_jit
def _all_pairs(tokens: np.ndarray, hyp_span: np.ndarray, ref_span: np.ndarray,
               limits: np.ndarray) -> np.ndarray:
    # edits of each (hypothesis, reference) pair: spans index the token ids
    out = np.empty(len(hyp_span), dtype=np.int64)
    for k in range(len(hyp_span)):
        words = tokens[hyp_span[k, 0]:hyp_span[k, 1]]
        ref = tokens[ref_span[k, 0]:ref_span[k, 1]]
        out[k] = _pair_edits(words, ref, limits)
    return out


@contextmanager
def _numba_start_without_scipy() -> Iterator[None]:
    """numba's first compile or cache load in a process imports all of its implementations, among them
    ``numba.np.arraymath``, which imports ``scipy.linalg`` (with ``numpy.f2py``: 0.41 → 0.25 CPU s for
    numba's start and the cached kernel's load) only to set its ``_HAVE_BLAS`` flag. The kernel uses no
    BLAS: that import is refused while numba starts, and the flag is then set as numba would have set it
    (scipy installed); numba's linear algebra imports ``scipy.linalg`` itself when a function first needs
    it. Changes nothing where numba already started in this process."""
    if "numba.np.arraymath" in sys.modules or "scipy.linalg.cython_blas" in sys.modules:
        yield
        return
    sys.modules["scipy.linalg.cython_blas"] = None  # type: ignore[assignment]  # import fails at once
    try:
        yield
    finally:
        if sys.modules.get("scipy.linalg.cython_blas", 0) is None:
            del sys.modules["scipy.linalg.cython_blas"]
        arraymath = sys.modules.get("numba.np.arraymath")
        if arraymath is not None and not getattr(arraymath, "_HAVE_BLAS", True):
            arraymath._HAVE_BLAS = importlib.util.find_spec("scipy") is not None  # type: ignore[attr-defined]


def _all_pairs_started(tokens: np.ndarray, hyp_span: np.ndarray, ref_span: np.ndarray,
                       limits: np.ndarray) -> np.ndarray:
    """:func:`_all_pairs`, numba started (the first call in a process) without importing scipy."""
    with _numba_start_without_scipy():
        return np.asarray(_all_pairs(tokens, hyp_span, ref_span, limits))


def available() -> bool:
    """True where numba imports and sacrebleu's TER constants are the ones the kernel restates."""
    return _NUMBA and _SUPPORTED


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel now, e.g. once before forking workers."""
    if available():
        _all_pairs_started(np.zeros(1, np.int64), np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int64),
                           _LIMITS)


def edit_counts(pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> np.ndarray:
    """sacrebleu's ``translation_edit_rate(hyp_words, ref_words)[0]`` for each (hyp, ref) word list."""
    words: list[str] = []
    lengths = np.empty(2 * len(pairs) + 1, dtype=np.int64)
    lengths[0] = 0
    for k, (hyp, ref) in enumerate(pairs):
        words += hyp
        words += ref
        lengths[2 * k + 1] = len(hyp)
        lengths[2 * k + 2] = len(ref)
    ids = {word: i for i, word in enumerate(dict.fromkeys(words))}  # exact: equal strings, equal ids
    tokens = np.fromiter(map(ids.__getitem__, words), dtype=np.int64, count=len(words))
    bounds = np.cumsum(lengths)
    hyp_span = np.stack([bounds[0:-1:2], bounds[1::2]], axis=1)
    ref_span = np.stack([bounds[1::2], bounds[2::2]], axis=1)
    edits = _all_pairs_started(tokens if len(tokens) else np.zeros(1, np.int64), hyp_span, ref_span, _LIMITS)
    for k in np.flatnonzero(edits < 0).tolist():  # sacrebleu raises on these: let it, with its message
        hyp, ref = pairs[k]
        edits[k] = lib_ter.translation_edit_rate(list(hyp), list(ref))[0]
    return np.asarray(edits)


def ter_stats(sb: Any, hyps: Sequence[str], refs: Sequence[Sequence[str]],
              cache: dict[str, Any] | None = None) -> np.ndarray:
    """``(N, 2)`` float64 ``[best_num_edits, average_reference_length]``, as sacrebleu's
    ``TER._extract_corpus_statistics`` computes them with the sacrebleu ``TER`` object ``sb``.

    References are tokenised twice, as sacrebleu does (``_cache_references``, then
    ``TER._extract_reference_info``); that is not idempotent with ``normalized=True``
    (``'..3`` → ``' . .3`` → ``' . . 3``). Each distinct (hypothesis, reference) pair is scored once.
    ``cache`` (a dict the caller keeps with ``sb``) holds tokenised references between calls. A long
    corpus goes through in blocks of ``_BLOCK`` segments, whose word lists are all that is held at once.
    """
    if len(hyps) > _BLOCK:
        return np.concatenate([ter_stats(sb, hyps[i:i + _BLOCK], refs[i:i + _BLOCK], cache)
                               for i in range(0, len(hyps), _BLOCK)])
    prep = sb._preprocess_segment
    ref_memo: dict[str, tuple[str, list[str]]] = cache.setdefault("ter_refs", {}) if cache is not None else {}
    if len(ref_memo) > 500_000:
        ref_memo.clear()
    pair_index: dict[tuple[str, str], int] = {}
    pairs: list[tuple[list[str], list[str]]] = []
    owners: list[int] = []
    ref_lens: list[int] = []
    for hyp, rs in zip(hyps, refs, strict=True):
        hyp = prep(hyp)
        total = 0
        for raw in rs:
            known = ref_memo.get(raw)
            if known is None:
                ref = prep(prep(raw))
                known = ref_memo[raw] = (ref, ref.split())
            ref, ref_words = known
            total += len(ref_words)
            index = pair_index.setdefault((hyp, ref), len(pairs))
            if index == len(pairs):
                pairs.append((hyp.split(), ref_words))
            owners.append(index)
        ref_lens.append(total)
    n_refs = np.fromiter((len(rs) for rs in refs), dtype=np.int64, count=len(hyps))
    edits = edit_counts(pairs)[np.asarray(owners, dtype=np.int64)]
    best = np.full(len(hyps), _LIMITS[4], dtype=np.int64)
    np.minimum.at(best, np.repeat(np.arange(len(hyps)), n_refs), edits)
    out = np.empty((len(hyps), 2), dtype=np.float64)
    out[:, 0] = best
    out[:, 1] = np.asarray(ref_lens, dtype=np.int64) / n_refs
    return out
