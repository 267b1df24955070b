"""compare-mt-style analysis from what a run already has: texts, per-segment statistics, compared pairs.

* **Bucket scores.** Segments are split by reference length, by source length (compare-mt's length
  cutoffs 10, 20, ..., 60 words) and by how frequent their reference words are (the geometric mean of
  the words' counts in the frequency corpus, split at its quintiles). A metric's score on a bucket is
  ``score_from_stats`` of the bucket's summed per-segment sufficient statistics (``corpus_score`` of the
  rows, so BLEU/chrF/TER are sacrebleu's on those segments); no metric runs again. Every metric of a
  run has such statistics (the metric contract), so every metric gets bucket scores.
* **Bootstrap CIs.** One seeded draw of resample counts over all N segments (the project's draw,
  :func:`mt_eval.stats.resampling.iter_resample_counts`) serves every bucket, system and metric: a
  bucket's resampled statistics are the counts of its segments times their statistics. A bucket's size
  varies between resamples as it would between test sets; resamples that draw no segment of a (small)
  bucket, or where the score is undefined, are left out of its percentiles.
* **Word accuracy** (compare-mt's ``word_accuracy``): reference and output words bucketed by their
  frequency (cutoffs 1, 2, 3, 4, 5, 10, 100, 1000), clipped matches per segment, precision, recall and
  F-measure per bucket, the F-measure's CI from the same draw.
* **N-gram differences**: for every compared pair, the reference n-gram occurrences (n <= 4) one
  system matches and the other does not, counted per segment, most frequent first, capped.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mt_eval.analysis.model import (
    Analysis,
    Bucket,
    Bucketing,
    BucketScore,
    NgramCount,
    PairNgrams,
    WordBucket,
    WordScore,
)
from mt_eval.analysis.text import (
    RefIndex,
    Tokens,
    Vocabulary,
    _use_compiled,
    match_flags,
    match_ids,
    ngram_keys,
    ngram_keys_at,
)
from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric

#: compare-mt's sentence-length cutoffs (LengthSentenceBucketer) and word-frequency cutoffs
LENGTH_CUTOFFS: tuple[float, ...] = (10, 20, 30, 40, 50, 60)
FREQUENCY_CUTOFFS: tuple[float, ...] = (1, 2, 3, 4, 5, 10, 100, 1000)
#: segments by reference-word frequency: split at these quantiles of the geometric-mean frequency
FREQUENCY_QUANTILES = (0.2, 0.4, 0.6, 0.8)
MAX_NGRAM = 4
#: n-grams listed each way per compared pair
NGRAM_CAP = 20
WORDS = "whitespace-separated tokens (str.split) of the first reference, the source and each output"


@dataclass(frozen=True)
class AnalysisInput:
    """What the analysis reads: texts (the first reference of each segment), the run's per-segment
    statistics ``stats[system][metric key]``, its metrics and the compared pairs."""

    sources: Sequence[str]
    references: Sequence[str]
    outputs: Mapping[str, Sequence[str]]
    stats: Mapping[str, Mapping[str, np.ndarray]]
    metrics: Mapping[str, Metric]
    pairs: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class AnalysisOptions:
    n_resamples: int
    confidence: float
    seed: int | None
    corpus: str | None = None  # word frequencies from this file (None: the test set's references)
    cap: int = NGRAM_CAP


class _Scorer(Protocol):
    def score_from_stats(self, stats: np.ndarray) -> np.ndarray: ...


@dataclass
class _Job:
    """Items (a scorer and its full ``(N, D)`` statistics) scored on one set of segments (``None``: all)
    from every resample; ``scores[item]``: the resamples' scores, in chunks."""

    segments: np.ndarray | None
    items: list[tuple[_Scorer, np.ndarray]]
    scores: list[list[np.ndarray]] = field(default_factory=list)


def analyse(data: AnalysisInput, options: AnalysisOptions) -> Analysis:
    """The ``analysis`` of ``results.json``."""
    systems = list(data.outputs)
    vocab = Vocabulary()
    ref, *encoded, src = vocab.encode_all([data.references, *(data.outputs[name] for name in systems)],
                                          counted=[data.sources])
    hyps = dict(zip(systems, encoded, strict=True))
    counts, source = _frequencies(vocab, ref, options.corpus)
    flags = _flags(ref, hyps, len(vocab))
    segment_buckets = _segment_buckets(ref, src, counts)
    jobs: list[_Job] = []
    bucketings = [_bucketing(name, cutoffs, values, data, jobs)
                  for name, cutoffs, values in segment_buckets]
    words = _word_buckets(ref, hyps, flags, counts, jobs)
    _bootstrap(jobs, len(data.references), options)
    _fill_intervals(bucketings, words, jobs, systems, list(data.metrics), options.confidence)
    spell = vocab.speller()
    ngrams = [_pair_ngrams(a, b, flags, ref, vocab, spell, options.cap) for a, b in data.pairs
              if a in flags and b in flags]
    return Analysis(words=WORDS, frequency_source=source, metrics=list(data.metrics),
                    n_resamples=options.n_resamples, confidence=options.confidence, seed=options.seed,
                    bucketings=bucketings, word_buckets=words, max_ngram=MAX_NGRAM, ngram_cap=options.cap,
                    ngrams=ngrams)


def _flags(ref: Tokens, hyps: Mapping[str, Tokens], vocabulary_size: int) -> dict[str, list[np.ndarray]]:
    """Per system and order, which reference n-gram positions it matches: compiled on words for large
    inputs (or numba already imported), else through exact n-gram keys and numpy sorts."""
    if _use_compiled(len(ref.ids) * max(len(hyps), 1)):
        return {name: match_ids(ref, hyp, MAX_NGRAM) for name, hyp in hyps.items()}
    keys = ngram_keys([ref, *hyps.values()], vocabulary_size, MAX_NGRAM)
    indexes = [RefIndex(keys[0][n], ref) for n in range(MAX_NGRAM)]
    return {name: [match_flags(indexes[n], keys[i + 1][n], hyp, compiled=False) for n in range(MAX_NGRAM)]
            for i, (name, hyp) in enumerate(hyps.items())}


# ------------------------------------------------------------------------------------ frequencies
def _frequencies(vocab: Vocabulary, ref: Tokens, corpus: str | None) -> tuple[np.ndarray, str]:
    """Count of every vocabulary word in the frequency corpus, and what that corpus is."""
    if corpus is None:
        return np.bincount(ref.ids, minlength=len(vocab)), "test-set references"
    found = corpus_counts(corpus)
    return np.array([found.get(w, 0) for w in vocab.words()], dtype=np.int64), Path(corpus).name


def corpus_counts(corpus: str | Path) -> Counter[str]:
    """The word counts of a frequency corpus: a readable, UTF-8, non-empty regular file, else a one-line
    error. Read once per file version: the run checks it before any work and the analysis reuses it."""
    from mt_eval.fsio import check_input_file

    info = check_input_file(corpus, "frequency corpus").stat()
    return _read_counts(str(corpus), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=2)
def _read_counts(corpus: str, mtime_ns: int, size: int) -> Counter[str]:
    from mt_eval.fsio import read_input_text

    found = Counter(read_input_text(corpus, "frequency corpus").split())
    if not found:
        raise MtEvalError(f"{corpus}: the frequency corpus has no words")
    return found


def labels(cutoffs: Sequence[float]) -> list[str]:
    """compare-mt's bucket names: ``<c0``, ``[c0,c1)`` (``c0`` when it holds one integer), ``>=ck``."""
    def show(x: float) -> str:
        return f"{x:g}"

    out = [f"<{show(cutoffs[0])}"] if cutoffs else []
    for low, high in pairwise(cutoffs):
        integer = float(low).is_integer() and float(high).is_integer()
        out.append(show(low) if integer and high - low == 1 else f"[{show(low)},{show(high)})")
    return out + ([f">={show(cutoffs[-1])}"] if cutoffs else ["all"])


def bucket_of(values: np.ndarray, cutoffs: Sequence[float]) -> np.ndarray:
    """compare-mt's ``cutoff_into_bucket``: the first i with value < cutoffs[i] (len(cutoffs) if none)."""
    return np.searchsorted(np.asarray(cutoffs, dtype=np.float64), values, side="right")


def _segment_buckets(ref: Tokens, src: Tokens,
                     counts: np.ndarray) -> list[tuple[str, tuple[float, ...], np.ndarray]]:
    src_lengths = src.lengths
    logs = np.log(np.maximum(counts[ref.ids], 1).astype(np.float64))
    lengths = ref.lengths
    total = np.bincount(ref.segment_of, weights=logs, minlength=len(lengths))
    geo = np.exp(total / np.maximum(lengths, 1))
    quantiles = np.quantile(geo, FREQUENCY_QUANTILES) if len(geo) else np.zeros(0)
    cuts = tuple(sorted({float(f"{q:.3g}") for q in quantiles if q > geo.min()}))
    return [("ref_length", LENGTH_CUTOFFS, lengths), ("src_length", LENGTH_CUTOFFS, src_lengths),
            ("ref_frequency", cuts, geo)]


_TEXT = {
    "ref_length": ("By reference length", "words in the reference"),
    "src_length": ("By source length", "words in the source"),
    "ref_frequency": ("By reference word frequency", "geometric mean of the reference words' frequencies"
                      " (unseen words count 1), split at its quintiles"),
}


def _bucketing(name: str, cutoffs: Sequence[float], values: np.ndarray, data: AnalysisInput,
               jobs: list[_Job]) -> Bucketing:
    """Point scores of every bucket with segments; the CIs' jobs appended to ``jobs``."""
    title, description = _TEXT[name]
    found = bucket_of(values, cutoffs)
    out = Bucketing(name=name, title=title, description=description)
    for k, label in enumerate(labels(cutoffs)):
        segments = np.flatnonzero(found == k)
        if not len(segments):
            continue
        bucket = Bucket(label=label, segments=len(segments))
        items: list[tuple[_Scorer, np.ndarray]] = []
        for system, by_metric in data.stats.items():
            for key, metric in data.metrics.items():
                whole = np.asarray(by_metric[key])
                score = _defined(metric, whole[segments])
                bucket.scores.setdefault(system, {})[key] = BucketScore(score=score)
                items.append((metric, whole))
        jobs.append(_Job(segments, items))
        out.buckets.append(bucket)
    return out


# ---------------------------------------------------------------------------------- word accuracy
class WordF:
    """compare-mt's word F-measure of K frequency buckets from summed ``[matches, ref, out]`` × K."""

    def __init__(self, k: int) -> None:
        self.k = k

    def score_from_stats(self, stats: np.ndarray) -> np.ndarray:
        s = np.asarray(stats, dtype=np.float64).reshape(*np.shape(stats)[:-1], 3, self.k)
        m, r, o = s[..., 0, :], s[..., 1, :], s[..., 2, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            p, rec = m / o, m / r
            f = 2 * p * rec / (p + rec)
        return np.where(m > 0, f, 0.0)


def word_stats(ref: Tokens, hyp: Tokens, unigram_flags: np.ndarray, counts: np.ndarray,
               ref_part: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per segment ``[matches × K, reference words × K, output words × K]`` by frequency bucket
    (``ref_part``: :func:`_ref_words` of ``ref``, when already known)."""
    k = len(FREQUENCY_CUTOFFS) + 1
    n = len(ref.offsets) - 1
    ref_b, refs = _ref_words(ref, counts) if ref_part is None else ref_part
    hyp_b = hyp.segment_of * k + bucket_of(counts, FREQUENCY_CUTOFFS)[hyp.ids]
    out = np.empty((n, 3 * k), dtype=np.int64)
    out[:, :k] = np.bincount(ref_b[unigram_flags], minlength=n * k).reshape(n, k)
    out[:, k:2 * k] = refs
    out[:, 2 * k:] = np.bincount(hyp_b, minlength=n * k).reshape(n, k)
    return out


def _ref_words(ref: Tokens, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each reference word's (segment, frequency bucket) cell, and the words per cell ``(N, K)``."""
    k = len(FREQUENCY_CUTOFFS) + 1
    n = len(ref.offsets) - 1
    ref_b = ref.segment_of * k + bucket_of(counts, FREQUENCY_CUTOFFS)[ref.ids]
    return ref_b, np.bincount(ref_b, minlength=n * k).reshape(n, k)


def _word_buckets(ref: Tokens, hyps: Mapping[str, Tokens], flags: Mapping[str, list[np.ndarray]],
                  counts: np.ndarray, jobs: list[_Job]) -> list[WordBucket]:
    k = len(FREQUENCY_CUTOFFS) + 1
    scorer = WordF(k)
    names = labels(FREQUENCY_CUTOFFS)
    items: list[tuple[_Scorer, np.ndarray]] = []
    buckets = [WordBucket(label=names[b], ref_words=0) for b in range(k)]
    ref_part = _ref_words(ref, counts)
    for name, hyp in hyps.items():
        stats = word_stats(ref, hyp, flags[name][0], counts, ref_part)
        total = stats.sum(axis=0)
        f = scorer.score_from_stats(total)
        for b, bucket in enumerate(buckets):
            m, r, o = (int(total[j * k + b]) for j in range(3))
            bucket.ref_words = r
            bucket.systems[name] = WordScore(matches=m, out_words=o, precision=m / o if m else 0.0,
                                             recall=m / r if m else 0.0, fmeasure=float(f[b]))
        items.append((scorer, stats))
    jobs.append(_Job(None, items))
    return buckets


# -------------------------------------------------------------------------------------- bootstrap
#: working memory of one chunk of resamples (resample counts, and the cells' summed statistics)
CHUNK_BYTES = 32 * 1024 * 1024
#: from this many segments, the resampled sums run on one BLAS thread (:func:`_one_blas_thread`)
ONE_BLAS_THREAD_FROM = 5_000
_EXACT_FLOAT = 2.0 ** 53


def _cells(jobs: list[_Job], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The finest partition of the segments that every job's segments are a union of: the segment order
    that makes each cell contiguous, the cells' bounds in it, and a (jobs × cells) 0/1 matrix."""
    # a segment's cell: the set of jobs it belongs to, one bit per job (3 bucketings of at most 8 buckets)
    if len(jobs) > 62:  # pragma: no cover - never with the built-in bucketings
        raise ValueError("too many buckets")
    code = np.zeros(n, dtype=np.int64)
    for j, job in enumerate(jobs):
        code[job.segments] |= np.int64(1) << j
    codes, cell = np.unique(code, return_inverse=True)
    order = np.argsort(cell.reshape(-1), kind="stable")
    bounds = np.searchsorted(cell.reshape(-1)[order], np.arange(len(codes) + 1))
    by_cells = (codes[None, :] >> np.arange(len(jobs), dtype=np.int64)[:, None]) & 1
    return order, bounds, by_cells.astype(np.float64)


class _Block:
    """The distinct items of some jobs and their statistics side by side, as float64 (exact for integer
    statistics: every resampled sum stays below 2^53, checked)."""

    def __init__(self, jobs: list[_Job], n: int, order: np.ndarray | None = None, ones: bool = False) -> None:
        self.items: dict[tuple[int, int], tuple[_Scorer, np.ndarray, int]] = {}
        arrays: dict[int, tuple[np.ndarray, int]] = {}
        width = 0
        for job in jobs:
            for scorer, stats in job.items:
                if id(stats) not in arrays:
                    arrays[id(stats)] = (stats, width)
                    width += stats.shape[1]
                self.items.setdefault((id(scorer), id(stats)), (scorer, stats, arrays[id(stats)][1]))
        # one float64 copy, rows in ``order``, and a last column of ones where ``ones``
        matrix = np.empty((n, width + int(ones)))
        largest = 0.0
        for stats, col in arrays.values():
            matrix[:, col:col + stats.shape[1]] = stats
            largest = max(largest, float(np.max(stats, initial=0)), -float(np.min(stats, initial=0)))
        if ones:
            matrix[:, -1] = 1.0
        self.matrix = matrix if order is None else np.take(matrix, order, axis=0)  # whole rows: fast
        if float(n) * largest >= _EXACT_FLOAT:  # pragma: no cover
            raise ValueError("statistics too large to sum exactly in float64")
        self.scored: dict[tuple[int, int], list[np.ndarray]] = {key: [] for key in self.items}

    def score(self, sums: np.ndarray, empty: np.ndarray | None = None) -> None:
        """Score every item on ``sums`` (``(..., columns)``), appending one chunk each; NaN where ``empty``
        (a resample that drew no segment of the bucket: its score is undefined, not 0)."""
        for key, (scorer, stats, col) in self.items.items():
            part = sums[..., col:col + stats.shape[1]]
            scored = np.asarray(scorer.score_from_stats(part), dtype=np.float64)
            if empty is not None:
                mask = empty.reshape(empty.shape + (1,) * (scored.ndim - empty.ndim))
                scored = np.where(mask, np.nan, scored)
            self.scored[key].append(scored)

    def result(self, scorer: _Scorer, stats: np.ndarray, axis: int) -> np.ndarray:
        return np.concatenate(self.scored[(id(scorer), id(stats))], axis=axis)


def _bootstrap(jobs: list[_Job], n: int, options: AnalysisOptions) -> None:
    """Every job's item scores on the same resamples (``job.scores[item]``: ``(B,)`` or ``(B, K)``).

    Bucket jobs: each resample's statistics are summed once per cell (:func:`_cells`: one pass over the
    segments for every bucketing together), cells into buckets with one product, and each item is scored
    on every bucket in one vectorised ``score_from_stats`` call. Whole-test-set jobs: one product."""
    if n == 0 or not jobs:
        return
    parts = [j for j in jobs if j.segments is not None]
    whole = [j for j in jobs if j.segments is None]
    order, bounds, by_cells = (_cells(parts, n) if parts
                               else (np.arange(n), np.array([0, n]), np.zeros((0, 1))))
    # rows in cell order; a last column of ones counts the segments each resample drew from each bucket
    cells_block, whole_block = _Block(parts, n, order, ones=True), _Block(whole, n)
    cells = len(bounds) - 1
    columns = cells_block.matrix.shape[1]
    rows = max(1, min(options.n_resamples, CHUNK_BYTES // (8 * max(2 * n, cells * columns, 1))))
    with _one_blas_thread(n >= ONE_BLAS_THREAD_FROM):
        _sum_resamples(parts, whole, cells_block, whole_block, (order, bounds, by_cells), n, rows, options)
    for j, job in enumerate(parts):
        job.scores = [[cells_block.result(scorer, stats, axis=1)[j]] for scorer, stats in job.items]
    for job in whole:
        job.scores = [[whole_block.result(scorer, stats, axis=0)] for scorer, stats in job.items]


@contextmanager
def _one_blas_thread(wanted: bool) -> Iterator[None]:
    """BLAS on one thread where ``wanted`` and ``threadpoolctl`` is installed: the products are thin and
    memory-bound, and OpenBLAS's waiting threads cost many times the work on a busy machine (integer
    statistics sum exactly in float64 either way, so the results do not depend on it)."""
    try:
        if not wanted:
            raise ImportError
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional package; and not worth its start for small products
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _sum_resamples(parts: list[_Job], whole: list[_Job], cells_block: _Block, whole_block: _Block,
                   cells: tuple[np.ndarray, np.ndarray, np.ndarray], n: int, rows: int,
                   options: AnalysisOptions) -> None:
    """Score every item of both blocks on every resample, chunk by chunk (see :func:`_bootstrap`)."""
    from mt_eval.stats.resampling import iter_resample_counts

    order, bounds, by_cells = cells
    columns = cells_block.matrix.shape[1]
    for counts in iter_resample_counts(n, options.n_resamples, options.seed, max_bytes=16 * n * rows):
        weights = counts.astype(np.float64)
        if parts:
            ordered = weights[:, order]
            per_cell = np.empty((len(bounds) - 1, len(weights), columns))
            for c in range(len(bounds) - 1):
                np.matmul(ordered[:, bounds[c]:bounds[c + 1]], cells_block.matrix[bounds[c]:bounds[c + 1]],
                          out=per_cell[c])
            per_bucket = np.tensordot(by_cells, per_cell, axes=1)  # (buckets, rows, columns)
            cells_block.score(per_bucket, empty=per_bucket[..., -1] == 0)
        if whole:
            whole_block.score(weights @ whole_block.matrix)


def _interval(chunks: list[np.ndarray], confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentiles over resamples of the finite scores, one per score column (NaN where none is finite)."""
    scores = np.concatenate(chunks, axis=0)
    flat = scores.reshape(len(scores), -1)
    alpha = (1.0 - confidence) / 2.0
    if np.isfinite(flat).all():
        low, high = np.quantile(flat, [alpha, 1.0 - alpha], axis=0)
        return low, high
    flat = np.where(np.isfinite(flat), flat, np.nan)
    finite = np.isfinite(flat).any(axis=0)
    low, high = np.full(flat.shape[1], np.nan), np.full(flat.shape[1], np.nan)
    if finite.any():
        low[finite], high[finite] = np.nanquantile(flat[:, finite], [alpha, 1.0 - alpha], axis=0)
    return low, high


def _defined(metric: Metric, rows: np.ndarray) -> float | None:
    """The metric's score on these rows; ``None`` where it has none (a judge that scored none of them)."""
    try:
        return _maybe(metric.corpus_score(rows))
    except MtEvalError:
        return None


def _maybe(x: Any) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None


def _fill_intervals(bucketings: list[Bucketing], words: list[WordBucket], jobs: list[_Job],
                    systems: Sequence[str], metrics: Sequence[str], confidence: float) -> None:
    if not jobs or not jobs[0].scores:
        return
    queue = iter(jobs)
    for bucketing in bucketings:
        for bucket in bucketing.buckets:
            job = next(queue)
            pairs = iter([(s, m) for s in bucket.scores for m in metrics])
            for chunks in job.scores:
                system, key = next(pairs)
                low, high = _interval(chunks, confidence)
                entry = bucket.scores[system][key]
                if entry.score is not None:  # no interval around an undefined score
                    entry.ci_low, entry.ci_high = _maybe(low[0]), _maybe(high[0])
    word_job = next(queue)
    for name, chunks in zip(systems, word_job.scores, strict=True):
        low, high = _interval(chunks, confidence)
        for b, word_bucket in enumerate(words):
            score = word_bucket.systems[name]
            score.ci_low, score.ci_high = _maybe(low[b]), _maybe(high[b])


# ----------------------------------------------------------------------------------------- n-grams
def _pair_ngrams(a: str, b: str, flags: Mapping[str, list[np.ndarray]], ref: Tokens, vocab: Vocabulary,
                 spell: Callable[[Sequence[int]], str], cap: int) -> PairNgrams:
    """``spell``: ``vocab.speller()``."""
    out = PairNgrams(a=a, b=b)
    for first, second, target in ((a, b, out.a_only), (b, a, out.b_only)):
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        total = 0
        for n in range(MAX_NGRAM):
            positions = np.flatnonzero(flags[first][n] & ~flags[second][n])
            total += len(positions)
            keys = ngram_keys_at(ref, len(vocab), n + 1, positions)
            distinct, times = np.unique(keys, return_counts=True)
            found.append((distinct, times, keys, positions))
        target.extend(_top(found, ref, spell, cap))
        if first == a:
            out.a_only_total = total
        else:
            out.b_only_total = total
    return out


def _top(found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], ref: Tokens,
         spell: Callable[[Sequence[int]], str], cap: int) -> list[NgramCount]:
    """The ``cap`` most frequent n-grams, ties by n-gram text. ``found[n - 1]``: the distinct keys of
    order n (sorted), their counts, and every occurrence's key and reference position; only the
    candidates that can make the list are located and spelled out."""
    counts = np.concatenate([times for _, times, _, _ in found]) if found else np.zeros(0, dtype=np.int64)
    if not len(counts) or cap <= 0:
        return []
    floor = -np.partition(-counts, min(cap, len(counts)) - 1)[min(cap, len(counts)) - 1]
    spelled = []
    for n, (distinct, times, keys, positions) in enumerate(found, start=1):
        chosen = distinct[times >= floor]
        if not len(chosen):
            continue
        slot = np.minimum(np.searchsorted(chosen, keys), len(chosen) - 1)
        hit = np.flatnonzero(chosen[slot] == keys)
        _, first = np.unique(slot[hit], return_index=True)  # one occurrence of each chosen key
        for p, c in zip(positions[hit[first]].tolist(), times[times >= floor].tolist(), strict=True):
            spelled.append(NgramCount(ngram=spell(ref.ids[p:p + n].tolist()), n=n, count=c))
    spelled.sort(key=lambda g: (-g.count, g.ngram))
    return spelled[:cap]


def compared_pairs(significance: Any) -> list[tuple[str, str]]:
    """The pairs a run's paired tests compared: every pair, else the baseline against each system."""
    if significance is None:
        return []
    if significance.pairs:
        return [(a, b) for a, others in significance.pairs.items() for b in others]
    return [(significance.baseline, s) for s in significance.results if significance.baseline is not None]


def analyse_run(testset: Any, outputs: Mapping[str, Sequence[str]],
                stats: Mapping[str, Mapping[str, np.ndarray]], metrics: Mapping[str, Metric],
                significance: Any, settings: Any) -> Analysis:
    """A run's analysis (:func:`mt_eval.evaluate.evaluate`): empty with ``settings.analysis`` off or no
    scored system. ``testset``: a :class:`mt_eval.data.testset.TestSet`; ``settings``: an
    :class:`mt_eval.settings.EvalSettings` (``analysis_resamples``, confidence, seed, ``analysis_corpus``)."""
    if not settings.analysis or not outputs or not len(testset):
        return Analysis()
    data = AnalysisInput(testset.sources, [refs[0] if refs else "" for refs in testset.references],
                         outputs, stats, metrics, compared_pairs(significance))
    return analyse(data, AnalysisOptions(settings.analysis_resamples, settings.confidence, settings.seed,
                                         settings.analysis_corpus))
