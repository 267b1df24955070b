"""The vectorised BLEU/chrF/chrF++ statistics against sacrebleu's own per-segment statistics, bit for bit.

sacrebleu's statistics are computed here straight from a sacrebleu object
(``_preprocess_segment`` → ``_extract_reference_info`` → ``_compute_segment_statistics``, the code its
``corpus_score`` runs), independently of mt-eval's wrappers; mt-eval's side is ``segment_stats`` of the
registry metric, which takes the vectorised path for every option below.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import re

import numpy as np
import pytest
import sacrebleu

from mt_eval.metrics import fast_stats
from mt_eval.metrics.registry import get_metric

logging.getLogger("sacrebleu").setLevel(logging.ERROR)


def _mecab_available(tokenize: str) -> bool:
    try:
        sacrebleu.BLEU(tokenize=tokenize)
    except Exception:  # sacrebleu raises when the optional MeCab packages are missing
        return False
    return True


TOKENIZERS = ["13a", "intl", "none", "char", "zh"] + [
    t for t, module in (("ja-mecab", "MeCab"), ("ko-mecab", "mecab_ko"))
    if importlib.util.find_spec(module) is not None and _mecab_available(t)
]

PIECES = [
    "the", "The", "cat", "sat", "on", "mat", "(hello)", "end.", ".start", "..", "...", "!", "?!", "x",
    "3,000", "1.5", "3-4", "a-b", "e-mail", "&amp;", "&quot;q&quot;", "&lt;b&gt;", "<skipped>", "--",
    "مرحبا", "بِكُمْ", "فِي", "الْمَدِينَةِ", "،", "؟", "日本語", "のテキスト", "。", "中文", "，",
    "한국어", "🙂", "👍🏽", "🙂🙂", "e\u0301", "café", "ﬁ", "ΣΑΣ", "ς", "İstanbul", "ß", "\u00a0",
    "\u200b", "\u3000", "\x1c", "\u2028", "-\n", "tab\tx", "'", '"', "$5", "100%", "#tag", "@user",
]
CHARS = [*"abcXYZ .,;:!?()[]{}'\"-–—/\\&<>0123456789", "ش", "ك", "ر", "ا", "日", "本", "🙂", "\u0301",
         "\t", "\u00a0", "\u3000", "\n"]


def _segment(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.08:
        return ""
    if kind < 0.12:
        return rng.choice([" ", "  ", "\t", "\u3000"])
    if kind < 0.3:  # punctuation runs and raw character soup
        return "".join(rng.choice(CHARS) for _ in range(rng.randint(1, 40)))
    words = [rng.choice(PIECES) for _ in range(rng.randint(1, 30))]
    return rng.choice([" ", " ", "  ", "\t"]).join(words)


def random_corpus(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """Hypotheses and 1–3 references per segment (some empty), with shared words so n-grams match."""
    rng = random.Random(seed)
    refs = [[_segment(rng) for _ in range(rng.choice([1, 1, 2, 3]))] for _ in range(n)]
    hyps = []
    for rs in refs:
        base = rng.choice(rs)
        if base and rng.random() < 0.6:  # a noisy copy of one reference
            words = base.split(" ")
            words = [w if rng.random() > 0.3 else rng.choice(PIECES) for w in words]
            hyps.append(" ".join(words))
        else:
            hyps.append(_segment(rng))
    return hyps, refs


def sacrebleu_stats(sb: sacrebleu.metrics.base.Metric, hyps: list[str], refs: list[list[str]]) -> np.ndarray:
    prep = sb._preprocess_segment
    rows = [sb._compute_segment_statistics(prep(h), sb._extract_reference_info([prep(r) for r in rs]))
            for h, rs in zip(hyps, refs, strict=True)]
    return np.array(rows, dtype=np.int64)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[list[str]]]:
    return random_corpus(600, seed=11)


def _check(key: str, options: dict, sb: sacrebleu.metrics.base.Metric, hyps, refs) -> None:
    metric = get_metric(key, **options)
    assert metric._stats_vectorised(hyps, refs) is not None, "this option set must take the vectorised path"
    ours = metric.segment_stats(hyps, refs)
    theirs = sacrebleu_stats(sb, hyps, refs)
    assert ours.dtype == np.int64
    assert np.array_equal(ours, theirs), np.flatnonzero((ours != theirs).any(axis=1))[:10]


@pytest.mark.parametrize("tokenize", TOKENIZERS)
@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("order", [1, 4, 6])
def test_bleu_statistics_identical(corpus, tokenize, lowercase, order):
    hyps, refs = corpus
    options = {"tokenize": tokenize, "lowercase": lowercase, "max_ngram_order": order}
    _check("bleu", options, sacrebleu.BLEU(**options), hyps, refs)


CHRF_OPTIONS = [
    {"char_order": 6, "word_order": 0},
    {"char_order": 6, "word_order": 1},
    {"char_order": 6, "word_order": 2},
    {"char_order": 4, "word_order": 0, "lowercase": True},
    {"char_order": 3, "word_order": 3, "eps_smoothing": True},
    {"char_order": 1, "word_order": 0},
    {"char_order": 0, "word_order": 2},
    {"char_order": 6, "word_order": 2, "whitespace": True},
    {"char_order": 6, "word_order": 0, "whitespace": True, "lowercase": True},
    {"char_order": 6, "word_order": 2, "beta": 1, "eps_smoothing": True},
    {"char_order": 5, "word_order": 2, "beta": 3, "lowercase": True},
]


@pytest.mark.parametrize("options", CHRF_OPTIONS, ids=[str(o) for o in CHRF_OPTIONS])
def test_chrf_statistics_identical(corpus, options):
    hyps, refs = corpus
    key = "chrf++" if options.get("word_order") == 2 else "chrf"
    _check(key, options, sacrebleu.CHRF(**options), hyps, refs)


@pytest.mark.parametrize("options", CHRF_OPTIONS, ids=[str(o) for o in CHRF_OPTIONS])
def test_chrf_sentence_scores_are_sacrebleus_floats(corpus, options):
    """The vectorised sentence chrF equals ``sentence_score`` exactly (same floats, not approximately)."""
    hyps, refs = corpus
    metric = get_metric("chrf", **options)
    ours = metric.sentence_scores(metric.segment_stats(hyps, refs))
    theirs = np.array([sacrebleu.CHRF(**options).sentence_score(h, r).score
                       for h, r in zip(hyps, refs, strict=True)])
    assert np.array_equal(ours, theirs)


def test_reference_cache_is_reused_and_invalidated(corpus):
    """Second system on the same references reuses their ids; other references are not confused."""
    hyps, refs = corpus
    other_hyps, other_refs = random_corpus(len(hyps), seed=12)
    for key, sb in (("bleu", sacrebleu.BLEU()), ("chrf++", sacrebleu.CHRF(word_order=2))):
        metric = get_metric(key)
        for h, r in ((hyps, refs), (other_hyps, refs), (hyps, other_refs), (other_hyps, refs)):
            assert np.array_equal(metric.segment_stats(h, r), sacrebleu_stats(sb, h, r))


def test_chunk_boundaries_and_arabic_normalisation(monkeypatch, corpus):
    """Tiny chunks (many boundaries) and the ar_* options give the same statistics."""
    hyps, refs = corpus
    monkeypatch.setattr(fast_stats, "CHUNK", 7)
    for key, options in (("bleu", {}), ("chrf", {"word_order": 2}), ("bleu", {"ar_remove_diacritics": True})):
        fast = get_metric(key, **options)
        slow = get_metric(key, **options)
        slow.vectorised = False
        assert np.array_equal(fast.segment_stats(hyps, refs), slow.segment_stats(hyps, refs))


def test_uncovered_tokenizer_falls_back_to_sacrebleu():
    metric = get_metric("bleu", tokenize="13a")
    assert metric._stats_vectorised(["a"], [["a"]]) is not None
    metric._sb.tokenizer = lambda line: line  # as if another (e.g. model-based) tokenizer were configured
    assert metric._stats_vectorised(["a"], [["a"]]) is None
    assert metric.segment_stats(["a b"], [["a b"]]).tolist() == [[2, 2, 2, 1, 0, 0, 2, 1, 0, 0]]


def test_whitespace_table_and_word_split_match_python():
    """The two places where the vectorised path restates Python string rules."""
    mask = fast_stats.python_whitespace_mask()
    assert np.flatnonzero(mask).tolist() == [c for c in range(0x110000) if chr(c).isspace()]
    assert [c for c in range(0x110000) if re.fullmatch(r"\s", chr(c))] == np.flatnonzero(mask).tolist()
    rng = random.Random(5)
    pieces = ["a", "ab", "!", "(", ")", ".", ",", "'", "\u00a0", " ", "\x1c", "\u2028", "\t", "é", "日", "--"]
    chrf = sacrebleu.CHRF(word_order=2)
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        assert fast_stats.chrf_words(text) == chrf._remove_punctuation(text), repr(text)


@pytest.mark.slow
def test_large_random_corpus_parity():
    """A large random corpus (``MT_EVAL_PARITY_N`` segments, default 20,000) for every vectorised path.

    ``MT_EVAL_PARITY_N=100000 pytest -m slow tests/metrics/test_metrics_vectorised_parity.py`` is the
    100k-segment run; the default size keeps CI (2 cores) near a minute.
    """
    n = int(os.environ.get("MT_EVAL_PARITY_N", "20000"))
    hyps, refs = random_corpus(n, seed=2026)
    for tokenize in TOKENIZERS:
        _check("bleu", {"tokenize": tokenize}, sacrebleu.BLEU(tokenize=tokenize), hyps, refs)
    for options in ({"word_order": 0}, {"word_order": 2}, {"word_order": 2, "lowercase": True,
                                                           "eps_smoothing": True}):
        key = "chrf++" if options["word_order"] == 2 else "chrf"
        _check(key, options, sacrebleu.CHRF(**options), hyps, refs)


@pytest.mark.parametrize(("limit_bits", "fits"), [(30, True), (3, False)])
def test_rank_compression_and_overflow_fallback(monkeypatch, corpus, limit_bits, fits):
    """Keys too wide for the packing bound are re-ranked (exact); if even that cannot fit, sacrebleu's
    own code runs. A small bound forces both paths on ordinary data; the statistics do not change."""
    hyps, refs = corpus
    hyps, refs = hyps[:150], refs[:150]
    monkeypatch.setattr(fast_stats, "_LIMIT", 1 << limit_bits)
    ranks = []
    original = np.unique

    def counting_unique(*args, **kwargs):
        ranks.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(fast_stats.np, "unique", counting_unique)
    for key, sb in (("bleu", sacrebleu.BLEU()), ("chrf++", sacrebleu.CHRF(word_order=2))):
        metric = get_metric(key)
        ranks.clear()
        if fits:
            assert np.array_equal(metric._stats_vectorised(hyps, refs), sacrebleu_stats(sb, hyps, refs))
            assert len(ranks) >= 2  # the re-ranking path ran
        else:
            with pytest.raises(OverflowError):
                metric._stats_vectorised(hyps, refs)
        assert np.array_equal(metric.segment_stats(hyps, refs), sacrebleu_stats(sb, hyps, refs))
