"""TER statistics of the compiled kernel (``mt_eval.metrics.fast_ter``) against sacrebleu's, bit for bit.

sacrebleu's side is its own corpus code, ``TER._extract_corpus_statistics`` (tokenisation, the beam edit
distance, the greedy shift search with its limits and tie-breaking), built here independently of
mt-eval; mt-eval's side is ``segment_stats`` of the registry metric, which takes the kernel's path.
Every comparison is ``np.array_equal`` on the float64 ``[best_num_edits, average_reference_length]``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from sacrebleu.metrics import lib_ter

from mt_eval.metrics import fast_ter
from mt_eval.metrics.registry import get_metric

pytestmark = pytest.mark.skipif(not fast_ter.available(), reason="numba is not importable here")

FLORES = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "flores-ara-eng"
needs_flores = pytest.mark.skipif(not (FLORES / "reference.eng").is_file(),
                                  reason=f"FLORES validation data absent ({FLORES}); not shipped in the repo")

OPTIONS = [
    {},
    {"normalized": True},
    {"no_punct": True},
    {"asian_support": True},
    {"normalized": True, "asian_support": True},
    {"no_punct": True, "asian_support": True},
    {"case_sensitive": True},
    {"normalized": True, "no_punct": True, "asian_support": True, "case_sensitive": True},
]


def _streams(refs: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's layout for per-segment reference lists: missing references are None."""
    k = max(len(r) for r in refs)
    return [[r[j] if j < len(r) else None for r in refs] for j in range(k)]


def sacrebleu_stats(options: dict, hyps: list[str], refs: list[list[str]]) -> np.ndarray:
    stats = sacrebleu.TER(**options)._extract_corpus_statistics(hyps, _streams(refs))
    return np.array(stats, dtype=np.float64).reshape(len(hyps), 2)


def _check(options: dict, hyps: list[str], refs: list[list[str]], **kwargs: int) -> np.ndarray:
    metric = get_metric("ter", **options)
    assert metric._stats_vectorised(hyps[:1], refs[:1]) is not None, "TER must take the compiled path"
    ours = metric.segment_stats(hyps, refs, **kwargs)
    theirs = sacrebleu_stats(options, hyps, refs)
    assert ours.dtype == np.float64
    assert np.array_equal(ours, theirs), np.flatnonzero((ours != theirs).any(axis=1))[:10]
    return ours


def sacrebleu_search(words_hyp: list[str], words_ref: list[str]) -> tuple[int, int, int]:
    """``lib_ter.translation_edit_rate``'s loop, also returning the candidates it checked and the shifts
    it made (to prove that the corpora below reach the candidate limit and shift a lot)."""
    if not words_ref:
        return len(words_hyp), 0, 0
    distance = lib_ter.BeamEditDistance(words_ref)
    shifts = checked = 0
    words = words_hyp
    while True:
        delta, shifted, checked = lib_ter._shift(words, words_ref, distance, checked)
        if checked >= lib_ter._MAX_SHIFT_CANDIDATES or delta <= 0:
            break
        shifts += 1
        words = shifted
    return shifts + distance(words)[0], checked, shifts


# ------------------------------------------------------------------------------------------ corpora
VOCAB = ["a", "b", "c", "d", "e", "A", "b.", "(c)", "it's", "3.5", "&amp;", "x-y", "1,000", "日本", "。"]


def _perturb(rng: random.Random, words: list[str], vocab: list[str]) -> list[str]:
    """A hypothesis made from a reference: block moves (so shifts pay), swaps, drops, insertions."""
    words = list(words)
    for _ in range(rng.randint(0, 3)):
        if len(words) > 1:
            a = rng.randrange(len(words))
            b = min(len(words), a + rng.randint(1, 6))
            block = words[a:b]
            del words[a:b]
            t = rng.randint(0, len(words))
            words[t:t] = block
    words = [w if rng.random() > 0.15 else rng.choice(vocab) for w in words if rng.random() > 0.05]
    if rng.random() < 0.2:
        words.insert(rng.randint(0, len(words)), rng.choice(vocab))
    return words


def shifty_corpus(n: int, seed: int, *, max_len: int = 12, vocab: list[str] = VOCAB
                  ) -> tuple[list[str], list[list[str]]]:
    """Segments drawn from a small vocabulary (many equal words, so many shift candidates)."""
    rng = random.Random(seed)
    hyps, refs = [], []
    for _ in range(n):
        rs = [[rng.choice(vocab) for _ in range(rng.randint(0, max_len))]
              for _ in range(rng.choice([1, 1, 2, 3]))]
        if rng.random() < 0.85:
            hyp = _perturb(rng, rng.choice(rs), vocab)
        else:
            hyp = [rng.choice(vocab) for _ in range(rng.randint(0, max_len))]
        hyps.append(rng.choice([" ", " ", "  ", "\t"]).join(hyp))
        refs.append([" ".join(r) for r in rs])
    return hyps, refs


ADVERSARIAL = [
    # (hypothesis, references)
    ("", [""]),
    ("", ["a b c"]),
    ("a b c", [""]),
    ("   ", ["\t \u3000"]),
    (" \u00a0 ", ["a"]),
    ("a b c", ["", "c b a", "   "]),
    ("e\u0301 cafe\u0301 café", ["café é cafe\u0301"]),  # combining mark vs precomposed
    ("مرحبا بكم في المدينة", ["في الْمَدِينَةِ مرحبا بِكُمْ"]),  # RTL, with and without harakat
    ("שלום עולם \u200f!", ["עולם שלום !"]),  # RTL mark
    ("🙂 👍🏽 👨‍👩‍👧 🇸🇦 🙂", ["👍🏽 🙂 🙂 👨‍👩‍👧"]),
    ("日本語のテキストです。東京へ行きます，", ["東京へ行きます。日本語のテキストです"]),
    ("カタカナ ひらがな 漢字 한국어 텍스트 〈括弧〉「引用」", ["漢字 ひらがな カタカナ 「引用」 한국어"]),
    ("ｆｕｌｌ　ｗｉｄｔｈ！？（ｘ）", ["full width!? (x)"]),
    ("It's 3.5 km, isn't it? (Yes.) \"quoted\" &amp; &lt;b&gt; -- 1,000-2,000", ["it 's 3.5km , isn't it ?"]),
    ("'..3 ,,5 a.b. ..., x.,y", ["'..3 ,,5 a . b ..., x., y"]),  # not idempotent under normalized
    ("line one\n-two\nthree", ["line one two three"]),
    ("ΣΑΣ σας ς İstanbul ISTANBUL straße STRASSE ǅ", ["σας ΣΑΣ istanbul Straße ǆ"]),
    ("\x1c\u2028 a \u200b b \ufeff", ["a b"]),
    ("a", ["a " * 130]),  # length ratio > 50: widened beam
    ("a " * 130, ["a"]),
    ("b " * 3 + "a " * 60, ["a " * 60 + "b " * 3]),
]


def long_corpus(seed: int) -> tuple[list[str], list[list[str]]]:
    """Hypotheses of 60–260 words: rows wider than the beam, many shifts, the 1,000-candidate limit."""
    rng = random.Random(seed)
    hyps, refs = [], []
    for n, vocab_size in ((60, 4), (90, 30), (200, 60), (230, 120), (260, 200)):
        vocab = [f"w{i}" for i in range(vocab_size)]
        ref = [rng.choice(vocab) for _ in range(n)]
        hyp = list(ref)
        for _ in range(6):  # far block moves
            a = rng.randrange(len(hyp) - 8)
            block = hyp[a:a + rng.randint(2, 8)]
            del hyp[a:a + len(block)]
            t = rng.randint(0, len(hyp))
            hyp[t:t] = block
        hyp = [w if rng.random() > 0.1 else rng.choice(vocab) for w in hyp]
        hyps.append(" ".join(hyp))
        refs.append([" ".join(ref)])
    hyps.append("w3 w1 w7 w0")  # 4 words against 230: a length ratio that widens the beam
    refs.append([" ".join(f"w{i % 40}" for i in range(230))])
    return hyps, refs


# ------------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def mixed() -> tuple[list[str], list[list[str]]]:
    hyps, refs = shifty_corpus(400, seed=3)
    return hyps + [h for h, _ in ADVERSARIAL], refs + [list(r) for _, r in ADVERSARIAL]


@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_statistics_identical_for_every_option(mixed, options):
    _check(options, *mixed)


@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_adversarial_unicode_one_segment_at_a_time(options):
    """Each adversarial segment alone (its own beam, its own reference count)."""
    for hyp, refs in ADVERSARIAL:
        _check(options, [hyp], [list(refs)])


@pytest.mark.parametrize("block", [1, 7, 100])
def test_a_corpus_in_blocks_gives_the_same_statistics(monkeypatch, mixed, block):
    """A long corpus goes through the kernel in blocks (bounded memory): blocks that cut between the
    references of one segment's neighbours, and repeated pairs on both sides of a cut."""
    monkeypatch.setattr(fast_ter, "_BLOCK", block)
    hyps, refs = mixed
    _check({"normalized": True}, hyps + hyps[:30], refs + refs[:30])


def test_mt_eval_fallback_path_agrees(mixed):
    """sacrebleu's per-segment code inside mt-eval (``vectorised = False``) gives the same statistics."""
    hyps, refs = mixed
    for options in ({}, {"normalized": True, "asian_support": True}):
        fast = get_metric("ter", **options)
        slow = get_metric("ter", **options)
        slow.vectorised = False
        assert np.array_equal(fast.segment_stats(hyps, refs), slow.segment_stats(hyps, refs))


def test_without_numba_sacrebleus_code_is_used(monkeypatch, mixed):
    hyps, refs = mixed[0][:60], mixed[1][:60]
    monkeypatch.setattr(fast_ter, "_NUMBA", False)
    metric = get_metric("ter")
    assert metric._stats_vectorised(hyps, refs) is None
    assert np.array_equal(metric.segment_stats(hyps, refs), sacrebleu_stats({}, hyps, refs))


def test_normalized_references_are_tokenised_twice_like_sacrebleu():
    """sacrebleu tokenises references twice; with ``normalized`` that differs from once."""
    sb = sacrebleu.TER(normalized=True)
    ref = "'..3"
    assert sb._preprocess_segment(sb._preprocess_segment(ref)) != sb._preprocess_segment(ref)
    ours = _check({"normalized": True}, [ref], [[ref]])
    assert ours[0, 1] == len(sb._preprocess_segment(sb._preprocess_segment(ref)).split()) == 4
    assert ours[0, 0] > 0  # the hypothesis, tokenised once, no longer equals its own reference


def test_long_segments_reach_the_beam_and_the_candidate_limit():
    hyps, refs = long_corpus(seed=7)
    ours = get_metric("ter").segment_stats(hyps, refs)
    searches = [sacrebleu_search(h.split(), r[0].split()) for h, r in zip(hyps, refs, strict=True)]
    assert ours[:, 0].tolist() == [float(edits) for edits, _, _ in searches]
    assert ours[:, 1].tolist() == [float(len(r[0].split())) for r in refs]
    assert any(checked >= lib_ter._MAX_SHIFT_CANDIDATES for _, checked, _ in searches)
    assert any(shifts >= 5 for _, _, shifts in searches)
    assert any(len(r[0].split()) / len(h.split()) / 2 > lib_ter._BEAM_WIDTH  # a widened beam
               for h, r in zip(hyps, refs, strict=True))
    assert max(len(r[0].split()) for r in refs) + 1 > 2 * lib_ter._BEAM_WIDTH  # rows wider than the beam


def test_word_lists_against_translation_edit_rate():
    """The kernel alone (``edit_counts``) against ``lib_ter.translation_edit_rate`` on raw word lists."""
    rng = random.Random(5)
    pairs = []
    for _ in range(1000):
        vocab = VOCAB[:rng.randint(1, 6)]
        ref = [rng.choice(vocab) for _ in range(rng.randint(0, 20))]
        pairs.append((_perturb(rng, ref, vocab), ref))
    theirs = [lib_ter.translation_edit_rate(h, r)[0] for h, r in pairs]
    assert fast_ter.edit_counts(pairs).tolist() == theirs
    searches = [sacrebleu_search(h, r) for h, r in pairs[:300]]  # the helper is sacrebleu's loop
    assert [edits for edits, _, _ in searches] == theirs[:300]
    assert sum(shifts > 0 for _, _, shifts in searches) > 50  # shifts happen often


@needs_flores
@pytest.mark.slow
@pytest.mark.parametrize(("options", "systems"), [({}, 3), ({"normalized": True, "case_sensitive": True}, 1)],
                         ids=["default", "normalized-cased"])
def test_flores(options, systems):
    refs = [[r] for r in (FLORES / "reference.eng").read_text(encoding="utf-8").splitlines()]
    paths = sorted((FLORES / "systems").glob("*.eng"))
    assert len(paths) == 3
    for path in paths[:systems]:
        hyps = path.read_text(encoding="utf-8").splitlines()
        assert len(hyps) == len(refs) == 1012
        _check(options, hyps, refs)


@pytest.mark.slow
def test_twenty_thousand_random_segments():
    """``MT_EVAL_TER_PARITY_N`` (default 20,000) seeded segments, serial and over two forked workers."""
    n = int(os.environ.get("MT_EVAL_TER_PARITY_N", "20000"))
    hyps, refs = shifty_corpus(n, seed=2026, max_len=9)
    ours = _check({}, hyps, refs)
    assert np.array_equal(get_metric("ter").segment_stats(hyps, refs, workers=2), ours)
    prep = sacrebleu.TER()._preprocess_segment
    shifted = [sacrebleu_search(prep(h).split(), prep(rs[0]).split())[2] > 0
               for h, rs in zip(hyps[:1000], refs[:1000], strict=True)]
    assert sum(shifted) > 100  # the small vocabulary makes shifts common
