"""Synthetic test sets for the canary tests: they run on a plain clone, without ``../shared``."""

from __future__ import annotations

import numpy as np
import pytest

from mt_eval.data.testset import TestSet

try:  # the shared synthetic corpus (moving between mt_eval.testing and tests/helpers while this lands)
    from mt_eval.testing.corpora import synthetic_corpus
except ImportError:  # pragma: no cover
    from helpers.corpora import synthetic_corpus  # type: ignore[no-redef]

# Arabic words with the orthographic features the canaries vary: ta marbuta (ة), final yaa / alef maqsura
# (ي ى), hamza and madda alef (أ إ آ), tanween; plus numbers in Western digits.
AR_WORDS = [
    "الحكومة", "مدرسة", "على", "إلى", "أحمد", "في", "مستشفى", "القاهرة", "الرئيس", "وزارة", "الطاقة", "مدينة",
    "الجامعة", "أكثر", "إنتاج", "قرية", "الكبرى", "مبنى", "الذي", "سنة", "الماضي", "علي", "مصطفى", "جديدة",
    "الشركة", "أيضاً", "البحر", "آخر", "النهر", "شرطة", "المحكمة", "الصحة", "الأولى", "الطبيعي", "المستقبل",
    "أمريكا", "إيطاليا", "آسيا", "العالمي", "الدولة", "التي", "يعمل", "تقول", "كانت", "لم", "الناس"]


def _arabic_sentence(rng: np.random.Generator) -> str:
    words = [AR_WORDS[int(i)] for i in rng.integers(len(AR_WORDS), size=int(rng.integers(8, 20)))]
    if rng.random() < 0.4:
        words.insert(int(rng.integers(len(words))), str(int(rng.integers(2, 3000))))
    return " ".join(words) + "."


@pytest.fixture(scope="session")
def ar_en() -> tuple[TestSet, list[str]]:
    """Arabic→English (150 segments): synthetic English references, the best synthetic system as the good
    translation, Arabic-looking sources (the untranslated copy)."""
    corpus = synthetic_corpus(150, seed=11)
    rng = np.random.default_rng(5)
    pairs = [(_arabic_sentence(rng), [ref]) for ref in corpus["refs"]]
    testset = TestSet.from_pairs(pairs, source_lang="ara", target_lang="eng", name="synthetic-ar-en")
    return testset, corpus["C"]


@pytest.fixture(scope="session")
def en_ar() -> tuple[TestSet, list[str]]:
    """English→Arabic (120 segments), the good translation = the Arabic reference (as FLORES swapped)."""
    corpus = synthetic_corpus(120, seed=12)
    rng = np.random.default_rng(6)
    refs = [_arabic_sentence(rng) for _ in corpus["refs"]]
    pairs = [(en, [ar]) for en, ar in zip(corpus["refs"], refs, strict=True)]
    return TestSet.from_pairs(pairs, source_lang="eng", target_lang="ara", name="synthetic-en-ar"), refs
