"""The perturbations: deterministic, each does what it says, and the Arabic ones vanish under their option."""

from __future__ import annotations

import unicodedata

import pytest

from mt_eval.canaries.perturbations import BY_NAME, CRITICAL, INVARIANCE, PERTURBATIONS, Segments, select
from mt_eval.canaries.runner import sample_indices
from mt_eval.errors import MtEvalError
from mt_eval.metrics.sacrebleu_metrics import arabic_normalize
from mt_eval.numbers import extract_numbers, numbers_disagree

EN = Segments(sources=["مرحبا بالعالم", "ذهب الولد إلى المدرسة", "القطة تنام", "لا شيء"],
              references=[["Hello world, said the Minister of Health."], ["The boy went to school in 2023."],
                          ["The cat sleeps."], ["Nothing at all."]],
              good=["Hello world, said the Minister of Health.", "The boy went to the school in 2,023 days.",
                    "The cat is sleeping on the mat.", "It isn't anything at all."],
              target_lang="eng")
AR = Segments(sources=["The school is big.", "Ahmed went to the hospital on 3.5 days.", "No."],
              references=[["المدرسة كبيرة"], ["ذهب أحمد إلى المستشفى في 3.5 أيام"], ["لا"]],
              good=["المدرسةُ كبيرةٌ جداً", "ذهب أحمد إلى المستشفى في 3.5 أيام وعلى ١٢ قرية", "لا يمكن ذلك"],
              target_lang="ara")


def test_the_set_is_the_issue_s_list_and_critical_ones_are_sensitivity() -> None:
    names = [p.name for p in PERTURBATIONS]
    assert CRITICAL == ("empty", "omission", "copy", "hallucination")
    assert {"addition", "number", "swap_word", "negation", "repetition", "truncation",
            "shuffle"} <= set(names)
    assert {"whitespace", "punct_spacing", "unicode_nfd", "quotes", "ar_diacritics", "ar_tatweel", "ar_alef",
            "ar_yaa", "ar_ta_marbuta", "ar_digits"} <= set(names)
    assert all(BY_NAME[n].kind != INVARIANCE for n in CRITICAL)
    assert [p.name for p in select(["copy", "empty"])] == ["empty", "copy"]
    with pytest.raises(MtEvalError, match="unknown perturbation"):
        select(["nope"])


@pytest.mark.parametrize("p", PERTURBATIONS, ids=lambda p: p.name)
def test_deterministic_per_segment_and_seed(p) -> None:  # type: ignore[no-untyped-def]
    for segments in (EN, AR):
        for i in range(len(segments.good)):
            first = p.apply(segments, i, seed=3)
            assert first == p.apply(segments, i, seed=3)
            assert first != segments.good[i]  # None ("not applicable") or a real change


def test_seeds_change_the_draws_and_the_sample_is_deterministic() -> None:
    draws = {BY_NAME["shuffle"].apply(EN, 0, seed=s) for s in range(10)}
    assert len(draws) > 1
    assert sample_indices(1000, 50, 7) == sample_indices(1000, 50, 7) != sample_indices(1000, 50, 8)
    assert sample_indices(10, 200, 7) == list(range(10)) == sample_indices(10, None, 7)


def test_sensitivity_perturbations_on_english() -> None:
    assert BY_NAME["empty"].apply(EN, 0, 1) == ""
    assert BY_NAME["copy"].apply(EN, 0, 1) == EN.sources[0]
    assert BY_NAME["hallucination"].apply(EN, 0, 1) in EN.good[1:]
    omitted = BY_NAME["omission"].apply(EN, 2, 1)
    assert omitted is not None and 0 < len(omitted.split()) < len(EN.good[2].split())
    assert BY_NAME["truncation"].apply(EN, 2, 1) == "The cat is"
    looped = BY_NAME["repetition"].apply(EN, 2, 1)
    assert looped is not None and looped.startswith(EN.good[2]) and len(looped.split()) >= 3 * 7
    added = BY_NAME["addition"].apply(EN, 0, 1)
    assert added is not None and len(added.split()) > len(EN.good[0].split())
    shuffled = BY_NAME["shuffle"].apply(EN, 0, 1)
    assert shuffled is not None and sorted(shuffled.split()) == sorted(EN.good[0].split())


def test_number_changes_one_digit_in_its_own_script_and_the_checks_see_it() -> None:
    changed = BY_NAME["number"].apply(EN, 1, 1)
    assert changed is not None and numbers_disagree(EN.good[1], changed)
    assert BY_NAME["number"].apply(EN, 0, 1) is None  # no number: not applicable
    for seed in range(20):  # the Arabic-Indic ١٢ stays Arabic-Indic when it is the one changed
        out = BY_NAME["number"].apply(AR, 1, seed)
        assert out is not None and len(out) == len(AR.good[1])
        assert [n.value for n in extract_numbers(out)] != [n.value for n in extract_numbers(AR.good[1])]
        diff = [(a, b) for a, b in zip(AR.good[1], out, strict=True) if a != b]
        assert len(diff) == 1 and unicodedata.name(diff[0][0])[:6] == unicodedata.name(diff[0][1])[:6]


def test_negation_removed_or_added() -> None:
    assert BY_NAME["negation"].apply(EN, 3, 1) == "It is anything at all."
    assert BY_NAME["negation"].apply(EN, 2, 1) == "The cat is not sleeping on the mat."
    assert BY_NAME["negation"].apply(AR, 2, 1) == "يمكن ذلك"
    assert BY_NAME["negation"].apply(Segments(["x"], [["y"]], ["الولد يذهب إلى المدرسة"], "ara"), 0, 1) \
        == "الولد لا يذهب إلى المدرسة"
    assert BY_NAME["negation"].apply(Segments(["x"], [["y"]], ["Der Hund"], "deu"), 0, 1) is None


def test_swapped_word_comes_from_elsewhere_and_is_absent_here() -> None:
    out = BY_NAME["swap_word"].apply(EN, 0, 4)
    assert out is not None
    new = set(out.split()) - set(EN.good[0].split())
    assert len(new) == 1
    word = next(iter(new)).strip(".,")
    assert any(word in g for g in EN.good[1:]) and word not in EN.references[0][0]


@pytest.mark.parametrize("name", [p.name for p in PERTURBATIONS if p.fixed_by])
def test_each_arabic_variant_vanishes_under_its_option(name: str) -> None:
    p = BY_NAME[name]
    option = p.fixed_by[3:]  # type: ignore[index]
    flags = {"remove_diacritics": False, "normalize_alef": False, option: True}
    changed = 0
    for i, good in enumerate(AR.good):
        out = p.apply(AR, i, 2)
        if out is not None:
            changed += 1
            assert arabic_normalize(out, **flags) == arabic_normalize(good, **flags), (name, out)
    assert changed
    assert p.apply(EN, 0, 2) is None  # Arabic targets only


def test_invariance_perturbations_keep_the_text() -> None:
    assert BY_NAME["whitespace"].apply(EN, 0, 1).split() == EN.good[0].split()  # type: ignore[union-attr]
    assert BY_NAME["punct_spacing"].apply(EN, 0, 1) == "Hello world , said the Minister of Health ."
    assert BY_NAME["quotes"].apply(EN, 3, 1) == "It isn’t anything at all."
    assert BY_NAME["unicode_nfd"].apply(EN, 0, 1) is None  # ASCII: NFD changes nothing
    nfd = BY_NAME["unicode_nfd"].apply(AR, 1, 1)
    assert nfd is not None and unicodedata.normalize("NFC", nfd) == AR.good[1]
    assert BY_NAME["ar_digits"].apply(AR, 0, 1) is None
