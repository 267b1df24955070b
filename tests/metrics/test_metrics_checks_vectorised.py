"""The vectorised output checks give exactly the flags of the per-segment checks they replaced.

The old code is kept verbatim in ``reference_checks.py``; every comparison below computes the old flags
with it on the same inputs (nothing hard-coded).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import reference_checks as old

from mt_eval.checks import CheckConfig, check_outputs, has_repetition_loop, repetition_loops
from mt_eval.data import langid
from mt_eval.data.build import default_testset

FLORES = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "flores-ara-eng"
# The rule the old code implements (before issue 17: raw code points, an absolute band, no number check).
LEGACY = {"enabled": ("empty", "copy_of_source", "wrong_language", "length_ratio", "repetition"),
          "length_unit": "chars", "ignore_marks": False, "length_scale": "none", "min_length_ratio": 0.5,
          "unfinished_min_length_ratio": 0.0}


def _perturbed(sources: list[str], references: list[str], seed: int) -> dict[str, list[str]]:
    """Copy, reference and damaged outputs that exercise every flag (and near misses)."""
    rng = random.Random(seed)

    def loop(text: str) -> str:
        words = text.split()
        k = rng.randint(1, 4)
        return " ".join(words[:5] + words[5:5 + k] * rng.randint(2, 5))

    def mix(ref: str, src: str) -> str:
        a, b = ref.split(), src.split()
        share = rng.random()
        return " ".join(w if rng.random() > share else rng.choice(b) for w in a)

    return {
        "copy": list(sources),
        "reference": list(references),
        "upper_copy": [s.upper() + "  " for s in sources],
        "truncated": [" ".join(r.split()[: rng.randint(0, 6)]) for r in references],
        "doubled": [f"{r} {r} {r}" for r in references],
        "loops": [loop(r) for r in references],
        "mixed": [mix(r, s) for r, s in zip(references, sources, strict=True)],
        "french": ["Le garçon est allé à l'école tôt le matin avec ses amis et sa famille."] * len(sources),
        "blank": [rng.choice(["", " ", "\t", "۔", "123 456", "!!"]) for _ in sources],
        "short_words": [rng.choice(["ok", "Ja gut", "Привет", "日本語", "مرحبا بكم"]) for _ in sources],
    }


def _assert_same_flags(sources, references, target_lang, config=None, seed=0):
    cfg = config or CheckConfig(**LEGACY)
    for name, outputs in _perturbed(sources, [r[0] for r in references], seed).items():
        expected = old.check_outputs_reference(sources, outputs, target_lang=target_lang,
                                               references=references, config=cfg)
        got = check_outputs(sources, outputs, target_lang=target_lang, references=references, config=cfg)
        assert got.flags == expected, name
        for flag, n in got.counts.items():
            assert n == sum(flag in f for f in expected), (name, flag)


def test_same_flags_on_the_seed_test_set():
    testset = default_testset()
    sources, references = list(testset.sources), [list(r) for r in testset.references]
    _assert_same_flags(sources, references, testset.target_lang)
    # the other direction and other thresholds
    refs_as_sources = [r[0] for r in references]
    _assert_same_flags(refs_as_sources, [[s] for s in sources], "ar", seed=1)
    _assert_same_flags(sources, references, testset.target_lang, seed=2,
                       config=CheckConfig(**{**LEGACY, "length_unit": "words"}, length_against="reference",
                                          min_length=3,
                                          repeat_max_n=3, repeat_min_count=2, repeat_unigram_min_count=7,
                                          language_min_share=0.8))


@pytest.mark.skipif(not (FLORES / "source.ara").is_file(),
                    reason=f"FLORES validation data absent ({FLORES}); it is not shipped in the repo")
def test_same_flags_on_flores_outputs():
    sources = (FLORES / "source.ara").read_text(encoding="utf-8").splitlines()
    references = [[r] for r in (FLORES / "reference.eng").read_text(encoding="utf-8").splitlines()]
    systems = sorted((FLORES / "systems").glob("*.eng"))
    assert systems
    for path in systems:
        outputs = path.read_text(encoding="utf-8").splitlines()
        expected = old.check_outputs_reference(sources, outputs, target_lang="en", references=references,
                                               config=CheckConfig(**LEGACY))
        assert check_outputs(sources, outputs, target_lang="en", references=references,
                             config=LEGACY).flags == expected
    _assert_same_flags(sources[:300], references[:300], "en", seed=3)


def test_repetition_loops_match_the_per_text_loop():
    rng = random.Random(7)
    vocab = ["a", "b", "c", "A", "the", "is", "Straße", "STRASSE"]
    texts = []
    for _ in range(3000):
        words = [rng.choice(vocab[: rng.randint(1, len(vocab))]) for _ in range(rng.randint(0, 30))]
        texts.append(" ".join(words))
    for max_n, min_count, uni in ((8, 3, 4), (3, 2, 2), (4, 2, 9), (1, 3, 3), (8, 5, 4)):
        expected = [has_repetition_loop(t, max_n=max_n, min_count=min_count, unigram_min_count=uni)
                    for t in texts]
        got = repetition_loops(texts, max_n=max_n, min_count=min_count, unigram_min_count=uni)
        assert got.tolist() == expected
        assert 0 < sum(expected) < len(texts)


def test_script_shares_match_the_per_character_loop():
    rng = random.Random(3)
    alphabet = [*"abcXYZ éß 123 .,!", "ش", "ك", "ر", "日", "本", "Ж", "ш", "א", "🙂", "\u0301", "ǅ", "ª"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    for text in texts:
        assert langid.script_shares(text) == old.script_shares(text)
        assert list(langid.script_shares(text)) == list(old.script_shares(text))  # same order
    counts = langid.script_counts(texts)
    for row, text in zip(counts, texts, strict=True):
        shares = old.script_shares(text)
        total = int(row.sum())
        assert {langid._SCRIPTS[k]: int(row[k]) / total for k in np.flatnonzero(row)} == shares


def test_every_letter_gets_the_old_script():
    codes = np.arange(0x110000, dtype=np.int64)
    table = langid._scripts_of(codes)
    for code in range(0x110000):
        char = chr(code)
        expected = old._script_of_char.__wrapped__(char) if char.isalpha() else None
        got = langid._SCRIPTS[table[code]] if table[code] >= 0 else None
        assert got == expected, hex(code)


def test_batched_language_id_matches_one_call_per_text():
    testset = default_testset()
    texts = [*testset.sources, *(r[0] for r in testset.references),
             "Le garçon est allé à l'école tôt le matin.", "Der Junge ging früh zur Schule.",
             "THE BOY WENT TO SCHOOL EARLY", "Привет мир как дела сегодня", "x y z w"]
    guesses = [old._model_guess(t) for t in texts]
    assert langid._model_labels(texts) == [g[0] if g else None for g in guesses]
    for lang in ("en", "ar", "fr", "de", "ru", "zh", "he", "xx", "und"):
        assert langid.is_language_many(texts, lang) == [old.is_language(t, lang) for t in texts]
