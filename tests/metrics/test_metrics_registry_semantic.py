"""Registry and spec strings, the semantic metric, optional metrics, Arabic-side options."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mt_eval.errors import MtEvalError
from mt_eval.metrics.registry import available_metrics, get_metric, metric_from_spec, parse_metric_spec
from mt_eval.metrics.sacrebleu_metrics import arabic_normalize


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
    sig = metric.signature()
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
