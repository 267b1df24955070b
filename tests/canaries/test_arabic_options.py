"""The ``ar_*`` options of the sacrebleu metrics: yaa/alef maqsura, ta marbuta/ha, Arabic-Indic digits."""

from __future__ import annotations

import pytest

from mt_eval.metrics.registry import get_metric, metric_from_spec
from mt_eval.metrics.sacrebleu_metrics import AR_OPTIONS, arabic_normalize

PLAIN = {"remove_diacritics": False, "normalize_alef": False}
HYP = ["ذهب مصطفى إلى المدرسه في ١٬٢٠٠ قريه على ٣٫٥ كم ونسبة ٥٠٪", "علی الطاولة ۱۲ کتابا"]
REF = [["ذهب مصطفي إلى المدرسة في 1,200 قرية علي 3.5 كم ونسبه 50%"], ["علي الطاوله 12 کتابا"]]
ALL = {name: True for name in AR_OPTIONS}


def test_normalisations() -> None:
    assert arabic_normalize("مصطفى علی", **PLAIN, normalize_yaa=True) == "مصطفي علي"
    assert arabic_normalize("مدرسة جميلة", **PLAIN, normalize_ta_marbuta=True) == "مدرسه جميله"
    assert arabic_normalize("١٬٢٠٠ و٣٫٥ و۱۲ و٥٠٪", **PLAIN, normalize_digits=True) == "1,200 و3.5 و12 و50%"
    assert arabic_normalize("مدرسة", remove_diacritics=False, normalize_alef=False) == "مدرسة"  # all off


@pytest.mark.parametrize("name", ["bleu", "chrf", "chrf++", "ter"])
def test_options_make_the_variants_equal_and_are_in_the_signature(name: str) -> None:
    plain, normed = get_metric(name), get_metric(name, **ALL)
    best = 0.0 if name == "ter" else 100.0
    assert normed.corpus_score(normed.segment_stats(HYP, REF)) == pytest.approx(best)
    assert plain.corpus_score(plain.segment_stats(HYP, REF)) != pytest.approx(best)
    assert normed.signature()["arnorm"] == "diac+alef+yaa+teh+digits"
    assert "arnorm" not in plain.signature()
    assert get_metric(name, ar_normalize_digits=True).signature()["arnorm"] == "digits"


@pytest.mark.parametrize("name", ["bleu", "chrf", "chrf++"])
def test_vectorised_statistics_equal_sacrebleu_s_code_with_the_new_options(name: str) -> None:
    fast = metric_from_spec(f"{name}:ar_normalize_yaa=true,ar_normalize_ta_marbuta=true,"
                            "ar_normalize_digits=true")
    slow = metric_from_spec(fast.spec())
    slow.vectorised = False
    hyps = [*HYP, "المدرسة الكبرى"]
    refs = [*REF, ["المدرسه الكبري"]]
    assert (fast.segment_stats(hyps, refs) == slow.segment_stats(hyps, refs)).all()


def test_the_catalog_lists_the_new_options() -> None:
    from mt_eval.catalog import describe_options
    from mt_eval.metrics.sacrebleu_metrics import BLEU

    options = {o.name for o in describe_options(BLEU.options_model)}
    assert {"ar_normalize_yaa", "ar_normalize_ta_marbuta", "ar_normalize_digits"} <= options
