"""Exact vectorised BLEU / chrF / chrF++ sufficient statistics (bit-identical to sacrebleu's).

sacrebleu builds a Python ``Counter`` of n-grams per segment and reference; that per-n-gram Python is
most of the cost of scoring a large corpus. Here the strings are still split the way sacrebleu splits
them (its own tokenizer object and ``str.split`` for BLEU, with 13a's own compiled patterns applied to a
whole chunk at once; ``str.split`` whitespace and its punctuation rule for chrF words; code points for
chrF characters), but the n-grams are counted with numpy:

* every token (word or character) becomes a dense integer id; exact, never hashed;
* an n-gram is the exact integer ``id_1·A^(n-1) + … + id_n`` (``A`` = alphabet size). When that could
  overflow int64 the (n-1)-gram keys are first replaced by their dense rank (``np.unique``), which
  keeps identity exact; every bound is checked with Python integers before numpy computes it;
* segment index, n-gram key and stream (hypothesis or reference ``r``) are packed into one int64,
  sorted once per order, and counted and clipped per segment from the runs of the sorted array.

Segments are processed in chunks of :data:`CHUNK` so memory stays bounded on any corpus size.
Selection rules are sacrebleu's: BLEU takes, per n-gram, the maximum count over references and the
closest reference length (ties → shorter); chrF scores every reference and keeps the first one with the
best f-score, computed with the same float operations in the same order as ``CHRF._compute_f_score``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from itertools import chain, count
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mt_eval.metrics.sacrebleu_metrics import CHRFOptions

CHUNK = 2048  # segments per chunk: bounds memory and keeps the packed keys small
_LIMIT = 1 << 62  # packed keys stay below this (headroom under int64's 2**63)

# Tokenizers whose statistics the parity tests prove identical (sacrebleu's own tokenizer object does
# the tokenising). Model-based ones (spm, flores101/200, spBLEU-1K) fall back to sacrebleu's code.
VECTORISED_TOKENIZERS = frozenset({"13a", "intl", "none", "char", "zh", "ja-mecab", "ko-mecab"})


@lru_cache(maxsize=1)
def python_whitespace_mask() -> np.ndarray:
    """``mask[c]``: code point ``c`` is whitespace for ``str.split()`` (``str.isspace``), all of Unicode.

    Computed by numpy's string ``isspace`` (CPython's own predicate) over a zero-copy view of every
    code point; the tests compare it with ``chr(c).isspace()`` for all 1,114,112 code points.
    """
    every = np.arange(0x110000, dtype=np.uint32).view("<U1")
    return np.asarray(np.char.isspace(every), dtype=bool)


# ---------------------------------------------------------------------------------------- kernel
def _run_starts(values: np.ndarray) -> np.ndarray:
    """Indices where a run of equal adjacent values begins (``values`` sorted by the run key)."""
    new_run = np.empty(len(values), dtype=bool)
    new_run[:1] = True
    np.not_equal(values[1:], values[:-1], out=new_run[1:])
    return np.flatnonzero(new_run)


class _Runs:
    """One order's sorted (n-gram, segment, stream) keys, as runs of equal keys.

    Runs of one (n-gram, segment) group are adjacent, the hypothesis run (stream 0) first.
    ``hyp[i]`` is the hypothesis count of run ``i``'s group (0 when the hypothesis lacks the n-gram).
    """

    __slots__ = ("count", "group_starts", "hyp", "seg", "stream")

    def __init__(self, packed: np.ndarray, n_seg: int, n_streams: int) -> None:
        starts = _run_starts(packed)
        self.count = np.diff(np.append(starts, len(packed)))
        values = packed[starts]
        group_key = values // n_streams
        self.stream = values - group_key * n_streams
        self.seg = group_key % n_seg
        self.group_starts = _run_starts(group_key)
        first = self.group_starts
        hyp_of_group = np.where(self.stream[first] == 0, self.count[first], 0)
        self.hyp = np.repeat(hyp_of_group, np.diff(np.append(first, len(values))))


class _Streams:
    """Token ids of one chunk: ``S`` streams (0 = hypothesis, 1.. = references) × ``n`` segments."""

    def __init__(self, ids: np.ndarray, lengths: np.ndarray, n_seg: int, n_streams: int,
                 alphabet: int) -> None:
        self.ids = ids.astype(np.int64, copy=False)
        self.lengths = lengths.astype(np.int64, copy=False)  # (S * n_seg,), unit u = stream * n_seg + seg
        self.n_seg = n_seg
        self.n_streams = n_streams
        self.alphabet = max(int(alphabet), 1)
        units = np.arange(n_streams * n_seg, dtype=np.int64)
        unit_of_pos = np.repeat(units, self.lengths)
        starts = np.cumsum(self.lengths) - self.lengths
        pos_in_unit = np.arange(len(self.ids), dtype=np.int64) - np.repeat(starts, self.lengths)
        self.remaining = self.lengths[unit_of_pos] - pos_in_unit  # tokens from here to the unit's end
        # low part of every packed key: segment, then stream (unit = stream * n_seg + seg)
        seg = unit_of_pos % n_seg
        self.low = seg * n_streams + unit_of_pos // n_seg

    def sorted_keys(self, max_order: int) -> Iterator[np.ndarray]:
        """Per order 1..``max_order``: sorted keys ``(n-gram · n_seg + segment) · S + stream``."""
        keys = self.ids.copy()
        bound = self.alphabet  # every n-gram key < bound
        n_pos = len(keys)
        width = self.n_seg * self.n_streams
        if bound * width >= _LIMIT:
            raise OverflowError("token ids do not fit in packed int64 keys")
        for n in range(1, max_order + 1):
            if n > 1:
                if bound * self.alphabet * width >= _LIMIT:
                    # replace (n-1)-gram keys by their dense rank: exact, and small again
                    valid_prev = self.remaining >= n - 1
                    uniq, inverse = np.unique(keys[valid_prev], return_inverse=True)
                    keys = np.zeros(n_pos, dtype=np.int64)
                    keys[valid_prev] = inverse.reshape(-1)
                    bound = max(len(uniq), 1)
                    if bound * self.alphabet * width >= _LIMIT:
                        raise OverflowError("n-gram keys do not fit in packed int64 keys")
                nxt = np.zeros(n_pos, dtype=np.int64)
                if n_pos >= n:
                    np.multiply(keys[:n_pos - n + 1], self.alphabet, out=nxt[:n_pos - n + 1])
                    nxt[:n_pos - n + 1] += self.ids[n - 1:]
                keys = nxt
                bound *= self.alphabet
            packed = keys * width
            packed += self.low
            packed = packed[self.remaining >= n]
            packed.sort()
            yield packed

    def matches(self, max_order: int, *, per_reference: bool) -> list[np.ndarray]:
        """Clipped n-gram matches per order.

        ``per_reference``: ``(R, n_seg)``, reference ``r``'s ``sum_g min(hyp_g, ref_r_g)`` (chrF);
        otherwise ``(n_seg,)``, ``sum_g min(hyp_g, max_r ref_r_g)`` (BLEU's clipping).
        """
        n_refs = self.n_streams - 1
        out = []
        for packed in self.sorted_keys(max_order):
            if len(packed) == 0:
                out.append(np.zeros((n_refs, self.n_seg) if per_reference else self.n_seg, dtype=np.int64))
            elif n_refs == 1:
                out.append(self._single_reference(packed)[None, :] if per_reference
                           else self._single_reference(packed))
            else:
                out.append(self._many_references(packed, per_reference))
        return out

    def _single_reference(self, packed: np.ndarray) -> np.ndarray:
        """One reference (S = 2): the last bit is the stream, the rest the (n-gram, segment) group."""
        group = packed >> 1
        starts = _run_starts(group)
        ref = np.add.reduceat(packed & 1, starts)
        clipped = np.minimum(np.diff(np.append(starts, len(packed))) - ref, ref)
        hit = clipped > 0
        seg = group[starts[hit]] % self.n_seg
        return np.bincount(seg, weights=clipped[hit], minlength=self.n_seg).astype(np.int64)

    def _many_references(self, packed: np.ndarray, per_reference: bool) -> np.ndarray:
        runs = _Runs(packed, self.n_seg, self.n_streams)
        n_refs = self.n_streams - 1
        if per_reference:  # a reference run matches min(its count, the hypothesis count)
            is_ref = (runs.stream > 0) & (runs.hyp > 0)
            clipped = np.minimum(runs.hyp[is_ref], runs.count[is_ref])
            slot = (runs.stream[is_ref] - 1) * self.n_seg + runs.seg[is_ref]
            match = np.bincount(slot, weights=clipped, minlength=n_refs * self.n_seg)
            return match.astype(np.int64).reshape(n_refs, self.n_seg)
        # min(hyp count, max over references) == max over references of min(hyp count, reference count)
        clipped = np.where(runs.stream > 0, np.minimum(runs.hyp, runs.count), 0)
        per_group = np.maximum.reduceat(clipped, runs.group_starts)
        return np.bincount(runs.seg[runs.group_starts], weights=per_group,
                           minlength=self.n_seg).astype(np.int64)


def _encode_tokens(token_lists: Sequence[Sequence[str]], vocab: defaultdict[str, int]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids (shared vocabulary, exact string identity) and the number of tokens per list."""
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    flat = list(chain.from_iterable(token_lists))
    ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
    return ids, lengths


def _new_vocab() -> defaultdict[str, int]:
    return defaultdict(count().__next__)


def _ref_slots(refs: Sequence[Sequence[str]]) -> tuple[int, np.ndarray]:
    """Most references of a segment in this chunk and the ``(R, n)`` mask of existing ones."""
    n_refs = max((len(r) for r in refs), default=1)
    exists = np.zeros((n_refs, len(refs)), dtype=bool)
    for i, r in enumerate(refs):
        exists[:len(r), i] = True
    return n_refs, exists


def _chunks(n: int) -> list[tuple[int, int]]:
    return [(s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]


# ---------------------------------------------------------------------------------------- BLEU
_TWO_GROUPS = re.compile(r"\([^()]*\)\([^()]*\)")  # a pattern that is exactly two capturing groups
_SPACED = re.compile(r"( ?)\\1( ?)\\2( ?)")  # a replacement "\1", "\2" with optional spaces around


def _substitute(pattern: re.Pattern[str], repl: str, text: str) -> str:
    """``pattern.sub(repl, text)`` for ``(A)(B)`` → `` \\1 \\2 ``-like replacements, built from
    ``pattern.split`` (matches interleaved with their groups) without a Python call per match."""
    spaced = _SPACED.fullmatch(repl)
    if not (_TWO_GROUPS.fullmatch(pattern.pattern) and pattern.groups == 2 and spaced):
        return pattern.sub(repl, text)
    before, between, after = spaced.groups()
    parts = pattern.split(text)
    parts[1::3] = [before + g + between for g in parts[1::3]]
    parts[2::3] = [g + after for g in parts[2::3]]
    return "".join(parts)


def _tokenize_13a_corpus(sb: Any, lines: Sequence[str]) -> list[list[str]] | None:
    """sacrebleu's ``13a`` tokens of many lines with one pass of each regular expression.

    Same steps as ``BLEU._preprocess_segment`` → ``Tokenizer13a`` → ``TokenizerRegexp`` (whose compiled
    expressions are used), on the lines joined by ``\\n``: each line is padded with spaces and holds no
    ``\\n`` (13a replaces them first), so no match can touch the separator or cross a line. Each
    substitution is rebuilt from ``pattern.split`` (the first, one character class replaced by
    `` \\1 ``, as ``" ".join(pattern.split())``): the same string, without Python's per-match template
    expansion. None when the tokenizer is not the expected one.
    """
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tokenizer = getattr(sb, "tokenizer", None)
    if type(tokenizer) is not Tokenizer13a:
        return None
    rules = tokenizer._post_tokenizer._re
    if not rules or rules[0][1] != r" \1 " or rules[0][0].groups != 1:
        return None
    lowercase = bool(sb.lowercase)
    padded = []
    for line in lines:
        if lowercase:
            line = line.lower()
        line = line.rstrip().replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
        if "&" in line:
            line = (line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                    .replace("&gt;", ">"))
        padded.append(f" {line} ")
    joined = " ".join(rules[0][0].split("\n".join(padded)))
    for pattern, repl in rules[1:]:
        joined = _substitute(pattern, repl, joined)
    return [part.split() for part in joined.split("\n")]


def tokenize_bleu(sb: Any, lines: Sequence[str]) -> list[list[str]]:
    """``sb._preprocess_segment(line).split()`` for every line (13a: whole-corpus regex passes)."""
    tokens = _tokenize_13a_corpus(sb, lines) if lines else []
    if tokens is None or len(tokens) != len(lines):
        preprocess = sb._preprocess_segment
        return [preprocess(line).split() for line in lines]
    return tokens


def _cached_refs(cache: dict[str, Any] | None, refs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Per-metric cache of reference-side work, reset when the references change."""
    if cache is None:
        return {"vocab": _new_vocab(), "chunks": {}}
    if cache.get("refs") != refs:
        cache.clear()
        cache.update(refs=[list(r) for r in refs], vocab=_new_vocab(), chunks={})
    return cache


def _reference_parts(store: dict[str, Any], refs: Sequence[Sequence[str]], n: int,
                     encode: Callable[[Sequence[str]], tuple[Any, Any]],
                     keep: bool) -> Iterator[tuple[int, int, Any]]:
    """``(start, stop, reference part)`` per chunk of ``n`` segments: the chunk's references (slot by
    slot, ``""`` where a segment has fewer) ``encode``-d, plus how many slots and which exist; with
    ``keep``, kept in ``store`` (:func:`_cached_refs`) for the next call with the same references."""
    for start, stop in _chunks(n):
        part = store["chunks"].get(start)
        if part is None:
            ref_chunk = refs[start:stop]
            n_refs, exists = _ref_slots(ref_chunk)
            part = (*encode([rs[r] if len(rs) > r else "" for r in range(n_refs) for rs in ref_chunk]),
                    n_refs, exists)
            if keep:
                store["chunks"][start] = part
        yield start, stop, part


def bleu_stats(hyps: Sequence[str], refs: Sequence[Sequence[str]], *, sb: Any, max_order: int,
               cache: dict[str, Any] | None = None) -> np.ndarray:
    """``[hyp_len, ref_len, correct_1..m, total_1..m]`` per segment, as sacrebleu's BLEU computes them.

    ``sb`` is the sacrebleu ``BLEU`` object (its tokenizer and lowercasing are used); ``cache`` (a dict
    owned by the caller) keeps the references' token ids between calls with the same references.
    """
    out = np.zeros((len(hyps), 2 + 2 * max_order), dtype=np.int64)
    store = _cached_refs(cache, refs)
    vocab = store["vocab"]

    def encode(lines: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return _encode_tokens(tokenize_bleu(sb, lines), vocab)

    for start, stop, part in _reference_parts(store, refs, len(hyps), encode, cache is not None):
        ids_h, len_h = encode(hyps[start:stop])
        out[start:stop] = _bleu_chunk(ids_h, len_h, part, max_order, len(vocab))
    return out


def _bleu_chunk(ids_h: np.ndarray, len_h: np.ndarray, part: tuple[np.ndarray, np.ndarray, int, np.ndarray],
                max_order: int, alphabet: int) -> np.ndarray:
    ids_r, len_r, n_refs, exists = part
    n = len(len_h)
    streams = _Streams(np.concatenate((ids_h, ids_r)), np.concatenate((len_h, len_r)), n, 1 + n_refs,
                       alphabet)
    hyp_len = len_h
    ref_lens = np.where(exists, len_r.reshape(n_refs, n), 0)
    # closest reference length; ties go to the shorter one (sacrebleu's _get_closest_ref_len)
    big = np.iinfo(np.int64).max
    diff = np.where(exists, np.abs(hyp_len[None, :] - ref_lens), big)
    best = diff.min(axis=0)
    ref_len = np.where(diff == best[None, :], ref_lens, big).min(axis=0)
    stats = np.zeros((n, 2 + 2 * max_order), dtype=np.int64)
    stats[:, 0] = hyp_len
    stats[:, 1] = ref_len
    for order, match in enumerate(streams.matches(max_order, per_reference=False), start=1):
        stats[:, 1 + order] = match
        stats[:, 1 + max_order + order] = np.maximum(hyp_len - order + 1, 0)
    return stats


# ---------------------------------------------------------------------------------------- chrF
_PUNCTS = re.escape('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')
# sacrebleu's CHRF._remove_punctuation as one substitution: a word of 2+ characters ending in a
# punctuation mark loses it to a separate token; otherwise one starting with a mark loses that one.
# `\S` is `not str.isspace()`, the same boundary as str.split(); unmatched groups substitute as "".
_PUNCT_SPLIT = re.compile(rf"(?<!\S)(?:(\S+)([{_PUNCTS}])|([{_PUNCTS}])(\S+))(?!\S)")


def chrf_words(text: str) -> list[str]:
    """``CHRF._remove_punctuation(text)`` computed by one regular-expression substitution."""
    return _PUNCT_SPLIT.sub(r"\1\3 \2\4", text).split()


def chrf_stats(hyps: Sequence[str], refs: Sequence[Sequence[str]], options: CHRFOptions,
               cache: dict[str, Any] | None = None) -> np.ndarray:
    """``[hyp, ref, match]`` per character order then word order, for sacrebleu's best reference.

    ``cache`` (a dict owned by the caller, one per option set) keeps the references' code points and
    word ids between calls with the same references.
    """
    char_order, word_order, whitespace = options.char_order, options.word_order, options.whitespace
    out = np.zeros((len(hyps), 3 * (char_order + word_order)), dtype=np.int64)
    store = _cached_refs(cache, refs)
    vocab = store["vocab"]

    def encode(lines: Sequence[str]) -> tuple[Any, Any]:
        texts = [line.lower() for line in lines] if options.lowercase else list(lines)
        return (_codes(texts, whitespace) if char_order else None,
                _encode_tokens([chrf_words(t) for t in texts], vocab) if word_order else None)

    for start, stop, part in _reference_parts(store, refs, len(hyps), encode, cache is not None):
        out[start:stop] = _chrf_chunk(encode(hyps[start:stop]), part, options, len(vocab))
    return out


def _codes(texts: list[str], whitespace: bool) -> tuple[np.ndarray, np.ndarray]:
    """Code points of every text (``str.split`` whitespace removed unless ``whitespace``) and lengths."""
    joined = "".join(texts)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int32)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    if not whitespace and len(codes):
        keep = ~python_whitespace_mask()[codes]
        if not keep.all():
            unit = np.repeat(np.arange(len(texts)), lengths)
            lengths = np.bincount(unit[keep], minlength=len(texts)).astype(np.int64)
            codes = codes[keep]
    return codes, lengths


_Pair = tuple[np.ndarray, np.ndarray]


def _chrf_chunk(hyp_part: tuple[_Pair | None, _Pair | None],
                ref_part: tuple[_Pair | None, _Pair | None, int, np.ndarray], options: CHRFOptions,
                n_words: int) -> np.ndarray:
    char_order, word_order = options.char_order, options.word_order
    chars_r, words_r, n_refs, exists = ref_part
    chars_h, words_h = hyp_part
    n = exists.shape[1]
    n_streams = 1 + n_refs
    orders: list[tuple[_Streams, int]] = []
    if char_order > 0 and chars_h is not None and chars_r is not None:
        codes = np.concatenate((chars_h[0], chars_r[0]))
        # renumber the code points used here densely (0..A-1, order kept): shorter packed keys
        present = np.zeros(0x110000, dtype=bool)
        present[codes] = True
        dense = np.cumsum(present, dtype=np.int64)
        orders.append((_Streams(dense[codes] - 1, np.concatenate((chars_h[1], chars_r[1])), n, n_streams,
                                int(dense[-1])), char_order))
    if word_order > 0 and words_h is not None and words_r is not None:
        orders.append((_Streams(np.concatenate((words_h[0], words_r[0])),
                                np.concatenate((words_h[1], words_r[1])), n, n_streams, n_words),
                       word_order))
    n_total = char_order + word_order
    # per reference slot r: (n, 3 * n_total) statistics as sacrebleu's _get_match_statistics
    per_ref = np.zeros((n_refs, n, 3 * n_total), dtype=np.int64)
    column = 0
    for streams, max_order in orders:
        hyp_len = streams.lengths[:n]
        ref_len = streams.lengths[n:].reshape(n_refs, n)
        for order, match in enumerate(streams.matches(max_order, per_reference=True), start=1):
            hyp_count = np.maximum(hyp_len - order + 1, 0)
            ref_count = np.maximum(ref_len - order + 1, 0)
            per_ref[:, :, 3 * column] = np.where(ref_count > 0, hyp_count[None, :], 0)
            per_ref[:, :, 3 * column + 1] = ref_count
            per_ref[:, :, 3 * column + 2] = match
            column += 1
    if n_refs == 1:
        return per_ref[0]
    f_scores = np.stack([chrf_f_scores(per_ref[r], n_total, options.beta, options.eps_smoothing)
                         for r in range(n_refs)])
    f_scores = np.where(exists, f_scores, -np.inf)
    best = np.argmax(f_scores, axis=0)  # first maximum, like sacrebleu's strict ``>``
    return per_ref[best, np.arange(n)]


def chrf_f_scores(stats: np.ndarray, n_orders: int, beta: int, eps_smoothing: bool) -> np.ndarray:
    """``CHRF._compute_f_score`` of every row of ``(N, 3 * n_orders)`` statistics, bit-identical.

    The same float operations in the same order as sacrebleu's Python (integer counts below 2**53
    convert exactly, and IEEE division/multiplication/addition round the same in numpy).
    """
    eps = 1e-16
    factor = beta ** 2
    rows = stats.shape[0]
    score = np.zeros(rows)
    effective = np.zeros(rows, dtype=np.int64)
    avg_prec = np.zeros(rows)
    avg_rec = np.zeros(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(n_orders):
            n_hyp = stats[:, 3 * i]
            n_ref = stats[:, 3 * i + 1]
            n_match = stats[:, 3 * i + 2]
            prec = np.where(n_hyp > 0, n_match / np.where(n_hyp > 0, n_hyp, 1), eps)
            rec = np.where(n_ref > 0, n_match / np.where(n_ref > 0, n_ref, 1), eps)
            denom = factor * prec + rec
            term = np.where(denom > 0, (1 + factor) * prec * rec / np.where(denom > 0, denom, 1.0), eps)
            score = score + term
            both = (n_hyp > 0) & (n_ref > 0)
            avg_prec = np.where(both, avg_prec + prec, avg_prec)
            avg_rec = np.where(both, avg_rec + rec, avg_rec)
            effective = effective + both
        if eps_smoothing:
            return np.asarray(100 * score / n_orders)
        safe = np.where(effective > 0, effective, 1)
        avg_prec = np.where(effective > 0, avg_prec / safe, 0.0)
        avg_rec = np.where(effective > 0, avg_rec / safe, 0.0)
        total = avg_prec + avg_rec
        f = (1 + factor) * avg_prec * avg_rec
        f = f / np.where(total != 0, factor * avg_prec + avg_rec, 1.0)
        return np.where(total != 0, 100 * f, 0.0)


def supports_bleu(sb: Any) -> bool:
    """True when sacrebleu's BLEU object uses a tokenizer whose vectorised statistics are proven.

    Decided by the tokenizer's class (its signature carries versions, e.g. ``ja-mecab-0.996-IPA``).
    """
    from sacrebleu.metrics.bleu import _TOKENIZERS

    classes = {_TOKENIZERS[name] for name in VECTORISED_TOKENIZERS if name in _TOKENIZERS}
    tokenizer = type(getattr(sb, "tokenizer", None))
    return f"{tokenizer.__module__.rsplit('.', 1)[-1]}.{tokenizer.__name__}" in classes
