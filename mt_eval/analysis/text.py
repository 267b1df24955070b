"""Words, exact n-gram keys and clipped n-gram matches, vectorised over a whole test set.

Words are whitespace-separated tokens (``str.split()``), as compare-mt reads its (pre-tokenised) files.
Every text of the analysis shares one :class:`Vocabulary`, so a word is an integer id and an n-gram an
exact integer key (ids packed base V; when V**n would overflow int64 the (n-1)-gram keys are first
renumbered densely), never a hash.

A hypothesis n-gram matches a reference n-gram of the same segment as BLEU clips: each of a type's
``min(count in hypothesis, count in reference)`` matches takes the first reference occurrence not yet
taken, so :func:`match_flags` says, per reference n-gram position, whether the system matched it. Small
inputs are matched with numpy sorts; large ones by a numba kernel (numba is a core dependency, imported only
then: it costs more to import than a small test set takes to match). Large inputs are also split into words
by a numba kernel (:func:`encode_texts`: UTF-8 bytes split at ASCII whitespace, words numbered through an
exact hash table), which equals ``str.split`` wherever it is used: texts with non-ASCII whitespace, or a
line break inside a line, are split by Python.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import Any

import numpy as np

#: above this many reference n-gram positions × systems, matching runs compiled (numba)
COMPILED_FROM = 1_500_000
#: from this many characters in all texts together, words are found compiled (numba)
COMPILED_CHARS_FROM = 15_000_000
#: ``True``/``False``: always/never compiled, whatever the size (tests, benchmarks); ``None``: by size,
#: and always once numba is imported (its start is then paid)
COMPILED: bool | None = None
_INT64_ROOM = 2 ** 62


@dataclass(frozen=True)
class Tokens:
    """A text side of the test set: word ids of every segment, concatenated; ``offsets`` (N+1)."""

    ids: np.ndarray
    offsets: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def segment_of(self) -> np.ndarray:
        """The segment of every token."""
        return np.repeat(np.arange(len(self.offsets) - 1), self.lengths)


#: joins the lines of a text for one ``str.split`` (it contains no whitespace, so it is a word of its own)
_SEPARATOR = "\x00"


class Vocabulary:
    """Word → id, in order of first appearance, shared by every text of one analysis."""

    def __init__(self) -> None:
        self._index: dict[str, int] | None = {}
        # after a compiled encode: the UTF-8 bytes and each word's first (start, end) in them
        self._buffer = np.zeros(0, dtype=np.uint8)
        self._spans = np.zeros((0, 2), dtype=np.int64)

    @property
    def index(self) -> dict[str, int]:
        if self._index is None:  # spelled out from the compiled state on first use
            self._index = {w: i for i, w in enumerate(self.words())}
        return self._index

    def encode_all(self, texts: Sequence[Sequence[str]], compiled: bool | None = None,
                   counted: Sequence[Sequence[str]] = ()) -> list[Tokens]:
        """:meth:`encode` of each text, the same words and ids, then the ``counted`` texts, whose words
        are only counted (ids -1); compiled (``None``: for large texts, or where numba is already
        imported) into an empty vocabulary where the texts allow it."""
        every = [*texts, *counted]
        lines = sum(map(len, every))
        if compiled is None:
            compiled = COMPILED
        use = (compiled if compiled is not None else "numba" in sys.modules
               or sum(map(len, chain.from_iterable(every))) >= COMPILED_CHARS_FROM)
        head = _utf8(texts) if use and lines and not len(self) and _kernels() else None
        tail = _utf8(counted) if head is not None else None
        buffer, numbered = None, 0
        if head is not None and tail is not None:
            both = any(map(len, texts)) and any(map(len, counted))
            buffer = np.frombuffer(head + b"\n" + tail if both else head + tail, dtype=np.uint8)
            numbered = len(head) + int(both)  # words from here on are only counted
        found = None
        if buffer is not None:
            tokens, n_lines = _run_kernel("count", buffer)
            if tokens >= 0:  # else whitespace outside ASCII
                found = _run_kernel("tokenise", buffer, numbered, tokens, n_lines)
        # a line with a line break inside is two lines to the kernel: Python splits those texts
        if buffer is None or found is None or len(found[1]) != lines + 1:
            return [self.encode(text) for text in texts] + [_counted(text) for text in counted]
        ids, line_offsets, spans = found
        self._buffer, self._spans, self._index = buffer, spans, None
        out, first = [], 0
        for text in every:
            bounds = line_offsets[first:first + len(text) + 1]
            out.append(Tokens(ids[bounds[0]:bounds[-1]], bounds - bounds[0]))
            first += len(text)
        return out

    def encode(self, lines: Sequence[str]) -> Tokens:
        """The words of every line. The lines are joined with a separator word and split once (a third
        cheaper than a split per line); a line that holds the separator itself is split on its own."""
        text = f" {_SEPARATOR} ".join(lines)
        if text.count(_SEPARATOR) != max(len(lines) - 1, 0):
            parts = [line.split() for line in lines]
            flat = list(chain.from_iterable(parts))
            lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
            return Tokens(self._ids(flat), np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lengths)]))
        words = text.split()
        separator = self.index.setdefault(_SEPARATOR, len(self.index))
        ids = self._ids(words)
        cuts = np.flatnonzero(ids == separator)
        offsets = np.concatenate([[0], cuts - np.arange(len(cuts)), [len(ids) - len(cuts)]]) if lines else \
            np.zeros(1, dtype=np.int64)
        return Tokens(ids[ids != separator], offsets.astype(np.int64))

    def _ids(self, words: list[str]) -> np.ndarray:
        index = self.index
        for word in dict.fromkeys(words):  # the distinct words only: a Python loop over types, not tokens
            if word not in index:
                index[word] = len(index)
        return np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))

    def speller(self) -> Callable[[Sequence[int]], str]:
        """A function that spells ids as their space-separated words (compiled: only those decoded)."""
        if self._index is not None:
            words = list(self._index)
            return lambda ids: " ".join(words[i] for i in ids)
        data, spans = self._buffer.data, self._spans
        return lambda ids: " ".join(str(data[a:b], "utf-8") for a, b in spans[list(ids)].tolist())

    def words(self) -> list[str]:
        """Every word, indexed by its id (the separator included, never in a text)."""
        if self._index is not None:
            return list(self._index)
        data = self._buffer.tobytes()
        return [data[a:b].decode("utf-8") for a, b in self._spans.tolist()]

    def __len__(self) -> int:
        return len(self._index) if self._index is not None else len(self._spans)


def _counted(lines: Sequence[str]) -> Tokens:
    """Tokens of ``lines`` whose words are only counted (ids -1)."""
    lengths = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    offsets = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lengths)])
    return Tokens(np.full(int(offsets[-1]), -1, dtype=np.int64), offsets)


def _utf8(texts: Sequence[Sequence[str]]) -> bytes | None:
    """The lines of every text joined by ``\\n``, as UTF-8 (``None`` where a lone surrogate has none).
    Each text is encoded on its own: one wide (e.g. Arabic) text leaves the others narrow."""
    try:
        return b"\n".join("\n".join(text).encode("utf-8") for text in texts if len(text))
    except UnicodeEncodeError:
        return None


def ngram_keys(sides: Sequence[Tokens], vocabulary_size: int, max_order: int) -> list[list[np.ndarray]]:
    """``keys[side][n - 1]``: per token position the exact key of the n-gram starting there (-1 where it
    would cross the segment's end); keys are comparable across sides."""
    ids = np.concatenate([s.ids for s in sides]) if sides else np.zeros(0, dtype=np.int64)
    ends = np.concatenate([s.offsets[1:][s.segment_of] + base for s, base in
                           zip(sides, np.cumsum([0] + [len(s.ids) for s in sides[:-1]]), strict=True)]
                          ) if sides else np.zeros(0, dtype=np.int64)
    remaining = ends - np.arange(len(ids))
    base = max(vocabulary_size, 1)
    orders = [ids.copy()]
    for n in range(2, max_order + 1):
        previous = orders[-1]
        if previous.size and (int(previous.max()) + 1) > _INT64_ROOM // base:
            previous = _renumber(previous)
        key = np.full(len(ids), -1, dtype=np.int64)
        reach = max(len(ids) - n + 1, 0)
        key[:reach] = previous[:reach] * base + ids[n - 1:]  # contiguous: cheaper than gathering
        key[remaining < n] = -1  # the n-gram would cross its segment's end (garbage computed there)
        orders.append(key)
    cuts = np.cumsum([len(s.ids) for s in sides])[:-1]
    return [list(parts) for parts in zip(*(np.split(k, cuts) for k in orders), strict=True)]


def _renumber(keys: np.ndarray) -> np.ndarray:
    """Dense ids 0..k-1 of the valid (>= 0) keys, -1 kept."""
    out = np.full(len(keys), -1, dtype=np.int64)
    valid = keys >= 0
    out[valid] = np.unique(keys[valid], return_inverse=True)[1]
    return out


class RefIndex:
    """The reference side of one n-gram order, sorted once and shared by every system's matching: the
    distinct keys, each valid position's (segment, n-gram) pair and its rank among equal pairs."""

    def __init__(self, keys: np.ndarray, ref: Tokens) -> None:
        self.keys, self.ref = keys, ref

    @cached_property
    def sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Made on first use (the compiled matcher never needs it): the distinct keys, the distinct
        (segment, key) pairs, and per valid position in pair order its pair's index, its rank among the
        positions of that pair (test-set order) and the position itself."""
        at = np.flatnonzero(self.keys >= 0)
        distinct, dense = np.unique(self.keys[at], return_inverse=True)
        pairs = self.ref.segment_of[at] * max(len(distinct), 1) + dense.reshape(-1)
        order = np.argsort(pairs, kind="stable")
        ranked = pairs[order]
        new = np.concatenate([np.ones(min(len(ranked), 1), dtype=np.bool_), ranked[1:] != ranked[:-1]])
        starts = np.flatnonzero(new)
        group = np.cumsum(new) - 1
        rank = np.arange(len(ranked)) - starts[group]
        return distinct, ranked[starts], group, rank, at[order]


def match_flags(index: RefIndex, hyp_keys: np.ndarray, hyp: Tokens,
                compiled: bool | None = None) -> np.ndarray:
    """Per reference position: matched by the hypothesis n-gram of the same key (clipped, first free
    reference occurrence first). ``compiled=None``: numba when already imported or the input is large."""
    use = _use_compiled(len(index.keys)) if compiled is None else compiled
    matched = np.zeros(len(index.keys), dtype=np.bool_)
    kernel = _kernel() if use else None
    if kernel is not None:
        kernel(index.keys, index.ref.offsets, hyp_keys, hyp.offsets, matched)
        return matched
    # a reference position is matched when its rank among equal (segment, n-gram) positions is below the
    # hypothesis's count of that pair; hypothesis n-grams absent from the reference cannot match
    distinct, unique_pairs, group, rank, positions = index.sorted
    if not len(distinct):
        return matched
    h_at = np.flatnonzero(hyp_keys >= 0)
    found = np.minimum(np.searchsorted(distinct, hyp_keys[h_at]), len(distinct) - 1)
    hit = distinct[found] == hyp_keys[h_at]
    pairs = hyp.segment_of[h_at[hit]] * len(distinct) + found[hit]
    slot = np.minimum(np.searchsorted(unique_pairs, pairs), len(unique_pairs) - 1)
    have = np.bincount(slot[unique_pairs[slot] == pairs], minlength=len(unique_pairs))
    matched[positions[rank < have[group]]] = True
    return matched


def match_ids(ref: Tokens, hyp: Tokens, max_order: int) -> list[np.ndarray]:
    """``flags[n - 1]``: :func:`match_flags` of every order n <= ``max_order``, compiled, comparing the
    words of the n-grams (no keys needed). Requires numba (:func:`_kernels`)."""
    matched = np.zeros((max_order, len(ref.ids)), dtype=np.bool_)
    _run_kernel("match_ids", ref.ids, ref.offsets, hyp.ids, hyp.offsets, matched)
    return list(matched)


def ngram_keys_at(tokens: Tokens, vocabulary_size: int, n: int, positions: np.ndarray) -> np.ndarray:
    """Exact keys of the n-grams starting at ``positions`` (each within its segment): equal keys for
    equal n-grams, comparable only within one call (packed base V, renumbered densely before int64
    would overflow)."""
    base = max(vocabulary_size, 1)
    key = tokens.ids[positions]
    for k in range(1, n):
        if key.size and (int(key.max()) + 1) > _INT64_ROOM // base:
            key = np.unique(key, return_inverse=True)[1].reshape(-1)
        key = key * base + tokens.ids[positions + k]
    return key


def _use_compiled(positions: int) -> bool:
    if COMPILED is not None:
        return COMPILED and _kernel() is not None
    if "numba" not in sys.modules and positions < COMPILED_FROM:
        return False
    return _kernel() is not None


_KERNELS: list[dict[str, Callable[..., Any]] | None] = []


def _kernels() -> dict[str, Callable[..., Any]] | None:
    """The numba-compiled kernels by name (cached on disk where it can be), or ``None`` without numba."""
    if not _KERNELS:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a core dependency
            _KERNELS.append(None)
        else:
            functions: dict[str, Any] = {"match": _match_loop, "match_ids": _match_ids_loop,
                                         "count": _count_loop, "tokenise": _tokenise_loop}
            try:
                _KERNELS.append({k: numba.njit(cache=True, nogil=True)(f) for k, f in functions.items()})
            except Exception:  # no writable cache location: compile in memory
                _KERNELS.append({k: numba.njit(nogil=True)(f) for k, f in functions.items()})
    return _KERNELS[0]


def _kernel() -> Callable[..., Any] | None:
    """The numba-compiled matcher of keys, or ``None`` without numba."""
    kernels = _kernels()
    return None if kernels is None else kernels["match"]


def _run_kernel(name: str, *args: Any) -> Any:
    """A kernel's result; numba's start in this process (if this is it) skips its scipy probe."""
    from mt_eval.metrics.fast_ter import _numba_start_without_scipy

    kernels = _kernels()
    assert kernels is not None
    with _numba_start_without_scipy():
        return kernels[name](*args)


def _match_loop(ref_keys: np.ndarray, ref_offsets: np.ndarray, hyp_keys: np.ndarray,
                hyp_offsets: np.ndarray, matched: np.ndarray) -> None:  # pragma: no cover - compiled
    for s in range(len(ref_offsets) - 1):
        r0, r1 = ref_offsets[s], ref_offsets[s + 1]
        for i in range(hyp_offsets[s], hyp_offsets[s + 1]):
            key = hyp_keys[i]
            if key < 0:
                continue
            for j in range(r0, r1):
                if ref_keys[j] == key and not matched[j]:
                    matched[j] = True
                    break


def _match_ids_loop(ref_ids: np.ndarray, ref_offsets: np.ndarray, hyp_ids: np.ndarray,
                    hyp_offsets: np.ndarray, matched: np.ndarray) -> None:  # pragma: no cover - compiled
    """``_match_loop`` of every order at once (``matched``: orders × reference positions), n-grams
    compared word by word. Per segment, the reference positions holding each output word are listed
    once (ascending); every order then scans only those, as ``_match_loop`` scans the whole segment."""
    longest = 0
    for s in range(len(ref_offsets) - 1):
        longest = max(longest, (ref_offsets[s + 1] - ref_offsets[s]) * (hyp_offsets[s + 1] - hyp_offsets[s]))
    same = np.empty(longest, dtype=np.int64)  # reference positions of equal words, per output word
    first = np.empty(int(np.max(np.diff(hyp_offsets))) + 1 if len(hyp_offsets) > 1 else 1, dtype=np.int64)
    for s in range(len(ref_offsets) - 1):
        r0, r1 = ref_offsets[s], ref_offsets[s + 1]
        h0, h1 = hyp_offsets[s], hyp_offsets[s + 1]
        if r0 == r1 or h0 == h1:
            continue
        found = 0
        for i in range(h0, h1):
            first[i - h0] = found
            word = hyp_ids[i]
            for j in range(r0, r1):
                if ref_ids[j] == word:
                    same[found] = j
                    found += 1
        first[h1 - h0] = found
        for n in range(1, matched.shape[0] + 1):
            row = matched[n - 1]
            for i in range(h0, h1 - n + 1):
                for c in range(first[i - h0], first[i - h0 + 1]):
                    j = same[c]
                    if j > r1 - n:
                        break
                    if row[j]:
                        continue
                    equal = True
                    for k in range(1, n):
                        if ref_ids[j + k] != hyp_ids[i + k]:
                            equal = False
                            break
                    if equal:
                        row[j] = True
                        break


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def _count_loop(buffer: np.ndarray) -> tuple[int, int]:  # pragma: no cover
    """Words and lines of UTF-8 ``buffer`` (split at ASCII whitespace; ``\\n`` also ends a line), or
    ``(-1, 0)`` when it holds whitespace outside ASCII (which ``str.split`` splits at: Python splits those
    texts)."""
    size = len(buffer)
    tokens, lines, inside = 0, 1, False
    for i in range(size):
        c = buffer[i]
        if c == 32 or 9 <= c <= 13 or 28 <= c <= 31:
            inside = False
            if c == 10:
                lines += 1
        elif not inside:
            inside = True
            tokens += 1
        if c >= 0xC2 and c <= 0xE3 and i + 1 < size:  # str.split's whitespace outside ASCII, in UTF-8
            d = buffer[i + 1]
            e = buffer[i + 2] if i + 2 < size else 0
            if ((c == 0xC2 and (d == 0x85 or d == 0xA0)) or (c == 0xE1 and d == 0x9A and e == 0x80)
                    or (c == 0xE2 and d == 0x80 and (e <= 0x8A or e == 0xA8 or e == 0xA9 or e == 0xAF))
                    or (c == 0xE2 and d == 0x81 and e == 0x9F) or (c == 0xE3 and d == 0x80 and e == 0x80)):
                return -1, 0
    return tokens, lines


def _tokenise_loop(buffer: np.ndarray, numbered: int, tokens: int,
                   lines: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Words of UTF-8 ``buffer`` (``tokens`` words and ``lines`` lines, :func:`_count_loop`): every word's
    id (order of first appearance, exact: equal ids for equal bytes; -1 for words starting at or after
    byte ``numbered``, only counted), each line's token offsets, and each id's first ``(start, end)`` byte
    span."""
    size = len(buffer)
    ids = np.empty(tokens, dtype=np.int64)
    offsets = np.zeros(lines + 1, dtype=np.int64)
    slots = np.full(1 << 12, -1, dtype=np.int64)
    spans = np.empty((1 << 11, 2), dtype=np.int64)
    hashes = np.empty(1 << 11, dtype=np.uint64)
    words = t = line = i = 0
    while i < size:
        c = buffer[i]
        if c == 32 or 9 <= c <= 13 or 28 <= c <= 31:
            if c == 10:
                line += 1
                offsets[line] = t
            i += 1
            continue
        start = i
        if start >= numbered:  # a word only counted
            while i < size:
                c = buffer[i]
                if c == 32 or 9 <= c <= 13 or 28 <= c <= 31:
                    break
                i += 1
            ids[t] = -1
            t += 1
            continue
        h = _FNV_OFFSET
        while i < size:
            c = buffer[i]
            if c == 32 or 9 <= c <= 13 or 28 <= c <= 31:
                break
            h = (h ^ np.uint64(c)) * _FNV_PRIME
            i += 1
        mask = len(slots) - 1
        slot = np.int64(h & np.uint64(mask))
        while True:
            w = slots[slot]
            if w < 0:
                if words == len(hashes):  # grow the word arrays
                    spans = np.concatenate((spans, np.empty_like(spans)))
                    hashes = np.concatenate((hashes, np.empty_like(hashes)))
                spans[words, 0], spans[words, 1], hashes[words] = start, i, h
                slots[slot] = words
                w = words
                words += 1
                if 2 * words > len(slots):  # rehash into twice the slots
                    slots = np.full(2 * len(slots), -1, dtype=np.int64)
                    mask = len(slots) - 1
                    for v in range(words):
                        at = np.int64(hashes[v] & np.uint64(mask))
                        while slots[at] >= 0:
                            at = (at + 1) & mask
                        slots[at] = v
                break
            if hashes[w] == h and spans[w, 1] - spans[w, 0] == i - start:
                a = spans[w, 0]
                same = True
                for k in range(i - start):
                    if buffer[a + k] != buffer[start + k]:
                        same = False
                        break
                if same:
                    break
            slot = (slot + 1) & mask
        ids[t] = w
        t += 1
    offsets[line + 1] = t
    return ids, offsets, spans[:words].copy()
