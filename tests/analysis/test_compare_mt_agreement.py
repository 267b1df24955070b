"""Our analysis equals compare-mt 0.2.10's (Neubig et al., NAACL 2019 demo) where the quantity is the same.

Installed by the ``test`` extra (``compare-mt==0.2.10`` and ``six``, which it imports without declaring).
compare-mt is called through its library functions (bucketers, scorers, ``ngram_utils``), which write no
files, on the same whitespace-split tokens (it reads files with ``line.strip().split(' ')``; the corpus
here has single spaces, so that equals our ``str.split()``).

Equal:

* **segments per reference-length bucket** and **BLEU per bucket**: compare-mt's ``LengthSentenceBucketer``
  (cutoffs 10..60, bucket by *reference* length) with its ``sacrebleu`` scorer equals our default ``bleu``
  bucket score (sacrebleu's 13a BLEU on the bucket's segments) exactly; with its own ``bleu`` scorer it
  equals our ``bleu:tokenize=none`` (it splits on whitespace and does not tokenise) on this corpus;
* **word accuracy by frequency bucket** (``FreqWordBucketer`` with frequencies from the reference, cutoffs
  1, 2, 3, 4, 5, 10, 100, 1000): matches, reference and output words, precision, recall and F-measure;
* **n-gram matches**: for every n-gram (n <= 4) the difference of the two systems' clipped match counts,
  compare-mt's ``compare_ngrams`` ``match`` dictionaries, equals our ``a_only - b_only`` (ours are counted
  per segment, so ``a_only = sum over segments of max(0, matches_A - matches_B)``: their difference is the
  difference of the totals).

Different, on purpose (checked below where a test can show it):

* compare-mt's own ``bleu`` scorer is not sacrebleu's: a segment shorter than n words adds 1 to the order-n
  denominator (``max(1, denom)`` per sentence), and an order with no match is left out of the geometric
  mean (``log`` of 0 taken as 0) instead of making BLEU 0 or being smoothed. On buckets whose segments all
  have at least 4 words and a match at every order (the corpus here) the two agree; otherwise they differ.
* **Confidence intervals**: compare-mt's bucket intervals resample half the segments (``sample_ratio=0.5``)
  with the unseeded global ``np.random``; ours are a seeded full-size percentile bootstrap of the whole
  test set (:mod:`mt_eval.analysis.core`), so the intervals are not compared.
* **N-gram ranking**: compare-mt ranks by a smoothed ratio ``(m_A + 1) / (m_A + m_B + 2)`` of corpus
  totals; we list per-segment "matched by one, missed by the other" counts, most frequent first.
* **Source-length and reference-frequency segment buckets** have no compare-mt counterpart (its length
  bucketer always measures the reference), and neither have chrF/TER bucket scores (compare-mt's chrF is
  NLTK's).
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

pytest.importorskip("six")
compare_mt_bucketers = pytest.importorskip("compare_mt.bucketers")

from compare_mt import ngram_utils, scorers  # noqa: E402

from mt_eval.analysis.core import AnalysisInput, AnalysisOptions, analyse  # noqa: E402
from mt_eval.analysis.model import Analysis  # noqa: E402
from mt_eval.metrics.registry import metric_from_spec  # noqa: E402

WORDS = ["the", "of", "a", "and", "to"] + [f"w{i}" for i in range(3000)]


def _word(rng: random.Random) -> str:
    """Zipf-like: a few frequent words and a long tail of rare ones (every frequency bucket gets words)."""
    return WORDS[min(int(rng.paretovariate(0.8)) - 1, len(WORDS) - 1)]


def _corpus(n: int = 240, seed: int = 5) -> tuple[list[str], list[str], list[str], list[str]]:
    rng = random.Random(seed)
    refs, a, b, src = [], [], [], []
    for _ in range(n):
        length = rng.choice([rng.randint(5, 9), rng.randint(10, 45), rng.randint(45, 70)])
        ref = [_word(rng) for _ in range(length)]
        refs.append(" ".join(ref))
        for out, rate in ((a, 0.15), (b, 0.3)):
            hyp = [w if rng.random() > rate else _word(rng) for w in ref if rng.random() > rate / 4]
            out.append(" ".join(hyp if len(hyp) >= 4 else ref[:4]))
        src.append(" ".join(["s"] * rng.randint(3, 40)))
    return refs, a, b, src


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[str], list[str], list[str], Analysis, Analysis]:
    refs, a, b, src = _corpus()
    metrics = {"bleu": metric_from_spec("bleu"), "bleu-none": metric_from_spec("bleu:tokenize=none")}
    stats = {name: {key: m.segment_stats(out, [[r] for r in refs]) for key, m in metrics.items()}
             for name, out in (("A", a), ("B", b))}
    data = AnalysisInput(src, refs, {"A": a, "B": b}, stats, metrics, [("A", "B")])
    capped = analyse(data, AnalysisOptions(50, 0.95, 1))
    uncapped = analyse(data, AnalysisOptions(10, 0.95, 1, cap=10 ** 6))
    return refs, a, b, src, capped, uncapped


def _tokens(lines: list[str]) -> list[list[str]]:
    return [line.strip().split(" ") for line in lines]


@pytest.mark.parametrize(("profile", "ours"), [("sacrebleu", "bleu"), ("bleu", "bleu-none")])
def test_reference_length_buckets_and_their_bleu_equal_compare_mt(corpus: tuple, profile: str,
                                                                  ours: str) -> None:
    refs, a, b, _, analysis, _ = corpus
    bucketer = compare_mt_bucketers.create_sentence_bucketer_from_profile("length")
    scorer = scorers.create_scorer_from_profile(profile)
    ref_length = next(t for t in analysis.bucketings if t.name == "ref_length")
    for name, out in (("A", a), ("B", b)):
        theirs = bucketer.create_bucketed_corpus(_tokens(out), ref=_tokens(refs))
        found = {label: (outs, rs) for label, (outs, rs, _) in zip(bucketer.bucket_strs, theirs, strict=True)
                 if outs}
        assert [bucket.label for bucket in ref_length.buckets] == list(found)
        for bucket in ref_length.buckets:
            outs, rs = found[bucket.label]
            assert bucket.segments == len(outs)
            theirs_bleu = scorer.score_corpus(rs, outs)[0]
            assert bucket.scores[name][ours].score == pytest.approx(theirs_bleu, abs=1e-9)
    assert len(ref_length.buckets) >= 5


def test_compare_mt_bleu_differs_from_sacrebleu_on_short_segments() -> None:
    """The documented difference: a 2-word segment adds 1 to compare-mt's 3- and 4-gram denominators."""
    refs, outs = [["a", "b", "c", "d", "e"], ["x", "y"]], [["a", "b", "c", "d", "f"], ["x", "y"]]
    theirs = scorers.create_scorer_from_profile("bleu").score_corpus(refs, outs)[0]
    bleu = metric_from_spec("bleu:tokenize=none")
    ours = bleu.corpus_score(bleu.segment_stats([" ".join(o) for o in outs], [[" ".join(r)] for r in refs]))
    assert abs(theirs - ours) > 1.0


def test_word_accuracy_by_frequency_equals_compare_mt(corpus: tuple) -> None:
    refs, a, b, _, analysis, _ = corpus
    bucketer = compare_mt_bucketers.FreqWordBucketer(freq_data=_tokens(refs))
    statistics, *_ = bucketer.calc_statistics(_tokens(refs), [_tokens(a), _tokens(b)])
    assert [w.label for w in analysis.word_buckets] == bucketer.bucket_strs
    for name, theirs in zip(("A", "B"), statistics, strict=True):
        for bucket, (matches, ref_words, out_words, rec, prec, fmeas) in zip(analysis.word_buckets, theirs,
                                                                             strict=True):
            mine = bucket.systems[name]
            assert (mine.matches, bucket.ref_words, mine.out_words) == (matches, ref_words, out_words)
            assert (mine.recall, mine.precision, mine.fmeasure) == pytest.approx((rec, prec, fmeas),
                                                                                  abs=1e-12)
    assert sum(w.ref_words > 0 for w in analysis.word_buckets) >= 5


def test_ngram_match_differences_equal_compare_mt(corpus: tuple) -> None:
    refs, a, b, _, _, uncapped = corpus
    _, matches_a, _, _ = ngram_utils.compare_ngrams(_tokens(refs), _tokens(a), min_length=1, max_length=4)
    _, matches_b, _, _ = ngram_utils.compare_ngrams(_tokens(refs), _tokens(b), min_length=1, max_length=4)
    (pair,) = uncapped.ngrams
    ours: dict[tuple[str, ...], int] = defaultdict(int)
    for g in pair.a_only:
        ours[tuple(g.ngram.split(" "))] += g.count
    for g in pair.b_only:
        ours[tuple(g.ngram.split(" "))] -= g.count
    theirs = {g: matches_a.get(g, 0) - matches_b.get(g, 0) for g in set(matches_a) | set(matches_b)}
    assert {g: d for g, d in ours.items() if d} == {g: d for g, d in theirs.items() if d}
    assert pair.a_only_total - pair.b_only_total == sum(matches_a.values()) - sum(matches_b.values())
    assert len(theirs) > 1000
