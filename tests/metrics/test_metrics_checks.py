"""Per-segment output checks."""

from __future__ import annotations

import pytest

from mt_eval.checks import FLAGS, CheckConfig, check_outputs, check_segment, has_repetition_loop, make_config
from mt_eval.errors import MtEvalError

SRC = "ذهب الولد إلى المدرسة في الصباح الباكر مع أصدقائه"


def test_each_flag_fires_on_its_case_and_not_on_a_good_translation():
    good = "The boy went to school early in the morning with his friends."
    sources = [SRC] * 7
    outputs = [
        good,
        "",
        SRC,
        "Le garçon est allé à l'école tôt le matin avec ses amis.",
        "The boy.",
        "The boy went to school. The boy went to school. The boy went to school.",
        "The boy went to school early in the morning with his 25 friends.",  # no 25 in the source
    ]
    result = check_outputs(sources, outputs, target_lang="en")
    assert result.flags[0] == []
    assert result.flags[1] == ["empty"]
    assert result.flags[2] == ["copy_of_source", "wrong_language"]
    assert result.flags[3] == ["wrong_language"]
    assert result.flags[4] == ["length_ratio"]
    assert "repetition" in result.flags[5]
    assert result.flags[6] == ["number_mismatch"]
    assert result.counts == {
        "empty": 1,
        "copy_of_source": 1,
        "wrong_language": 2,
        "length_ratio": 1,
        "repetition": 1,
        "number_mismatch": 1,
    }
    assert result.flagged == 6
    assert set(result.counts) == set(FLAGS)


def test_repetition_loop_detection():
    assert has_repetition_loop("the the the the end")
    assert not has_repetition_loop("very very very good")  # three of one word is still language
    assert has_repetition_loop("I am here . I am here . I am here .")
    assert not has_repetition_loop("I am here . I am here . And now I leave.")
    assert has_repetition_loop("a b a b a b", min_count=3)
    assert not has_repetition_loop("a b a b", min_count=3)


def test_configurable_band_unit_and_basis():
    src, out = "one two three four five six seven eight nine ten", "one two three"
    assert check_segment(src, out, target_lang="", config=CheckConfig(length_unit="words")) == [
        "length_ratio"
    ]
    wide = CheckConfig(length_unit="words", min_length_ratio=0.2)
    assert check_segment(src, out, target_lang="", config=wide) == []
    by_ref = make_config({"length_against": "reference", "length_unit": "words", "min_length": 2})
    assert check_segment(src, out, target_lang="", references=["one two three four"], config=by_ref) == []
    only_empty = CheckConfig(enabled=("empty",))
    assert check_outputs([SRC], [SRC], target_lang="en", config=only_empty).counts == {"empty": 0}


def test_bad_config_and_inputs():
    with pytest.raises(MtEvalError, match="checks config"):
        make_config({"enabled": ["nonsense"]})
    with pytest.raises(MtEvalError, match="checks config"):
        make_config({"min_length_ratio": 3, "max_length_ratio": 2})
    with pytest.raises(MtEvalError, match="2 outputs for 1 source"):
        check_outputs(["a"], ["a", "b"], target_lang="en")
    with pytest.raises(MtEvalError, match="needs the references"):
        check_outputs(["a"], ["b"], target_lang="en", config={"length_against": "reference"})
