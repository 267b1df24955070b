"""``is_language_many`` remembers its answers: the semantic guard and the wrong_language check ask
about the same outputs, and the answers stay those of :func:`is_language`, text by text."""

from __future__ import annotations

import pytest

from mt_eval.data import langid

TEXTS = ["This sentence is written in plain English words.",
         "Dieser Satz ist ganz und gar auf Deutsch geschrieben.",
         "هذه الجملة مكتوبة باللغة العربية الفصحى تماما.",
         "ok", "", "12 34 56", "Mixed English text with some عربي words in it here.",
         "This sentence is written in plain English words."]


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch):
    monkeypatch.setattr(langid, "_MEMO", {})


@pytest.mark.parametrize("lang, min_share", [("en", 0.5), ("ar", 0.5), ("en", 0.9), ("de", 0.5)])
def test_answers_are_those_of_is_language_asked_cold_or_warm(lang, min_share):
    expected = [langid.is_language(t, lang, min_share=min_share) for t in TEXTS]
    assert langid.is_language_many(TEXTS, lang, min_share=min_share) == expected
    assert langid.is_language_many(TEXTS[::-1], lang, min_share=min_share) == expected[::-1]


def test_a_text_asked_again_is_not_identified_again(monkeypatch):
    asked: list[list[str]] = []
    batch = langid._is_language_batch

    def counting(texts, lang, *, min_share=0.5):  # type: ignore[no-untyped-def]
        asked.append(list(texts))
        return batch(texts, lang, min_share=min_share)

    monkeypatch.setattr(langid, "_is_language_batch", counting)
    first = langid.is_language_many(TEXTS, "en")
    assert asked == [list(dict.fromkeys(TEXTS))]  # a repeated text once
    assert langid.is_language_many(TEXTS[:3], "en") == first[:3]
    assert len(asked) == 2 and asked[1] == []
    langid.is_language_many(TEXTS[:3], "en", min_share=0.8)  # another question: asked afresh
    assert asked[2] == TEXTS[:3]


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(langid, "_MEMO_LIMIT", 3)
    assert langid.is_language_many(TEXTS, "en") == [langid.is_language(t, "en") for t in TEXTS]
    assert sum(len(m) for m in langid._MEMO.values()) <= len(set(TEXTS))
    assert langid.is_language_many(TEXTS, "en") == [langid.is_language(t, "en") for t in TEXTS]
