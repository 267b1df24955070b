"""Numbers normalised across scripts and conventions, and the ``number_mismatch`` rule."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mt_eval.checks import check_outputs
from mt_eval.numbers import extract_numbers, is_firm, number_values, numbers_disagree, word_numbers


@pytest.mark.parametrize(("text", "values"), [
    ("٣٫٥", ["3.5"]),
    ("١٬٠٠٠", ["1000"]),
    ("۱۲۳ و ۴۵۶", ["123", "456"]),  # Extended Arabic-Indic (Persian/Urdu) digits
    ("1,000", ["1000"]),
    ("1.000", ["1"]),  # English reading first; 1000 is the second reading
    ("1,234.5 and 1.234,5", ["1234.5", "1234.5"]),
    ("1,000,000 = 1.000.000", ["1000000", "1000000"]),
    ("1\u2009000\u2009000 or 1\u202f000 or 1\u00a0500", ["1000000", "1000", "1500"]),
    ("3 500", ["3", "500"]),  # a plain space separates numbers
    ("3,5", ["3.5"]),
    ("section 3.5.1", ["3", "5", "1"]),
    ("007 and 0.50", ["7", "0.5"]),
    ("١٥،٠٠", ["15"]),  # the Arabic comma inside a number reads as a decimal comma
    ("in 2011, 500 people", ["2011", "500"]),
])
def test_values(text: str, values: list[str]) -> None:
    assert number_values(text) == [Decimal(v) for v in values]


def test_ambiguous_separator_keeps_both_readings() -> None:
    (thousand,) = extract_numbers("1,000")
    assert thousand.values == (Decimal(1000), Decimal(1))
    (point,) = extract_numbers("1.000")
    assert point.values == (Decimal(1), Decimal(1000))
    assert not numbers_disagree("٥٠٠٠ جندي", "5.000 soldiers")  # either reading pairs


def test_kinds() -> None:
    kinds = [(n.text, n.kind) for n in extract_numbers("50% ٥٠٪ 3 ‰ the 21st, 2nd and 1990s or 1960's")]
    assert kinds == [("50", "percent"), ("٥٠", "percent"), ("3", "percent"), ("21", "ordinal"),
                     ("2", "ordinal"), ("1990", "decade"), ("1960", "decade")]
    firm = [is_firm(n) for n in extract_numbers("7 12 0.5 the 21st 1990s 00 10")]
    assert firm == [False, True, True, False, False, False, True]


def test_word_numbers() -> None:
    assert [n.value for n in word_numbers("nineteen of the twenty-five")] == [19, 25]
    assert [n.value for n in word_numbers("one hundred and twenty, five thousand two hundred")] == [120, 5200]
    assert [n.value for n in word_numbers("صاحب الخمسة وعشرين عاماً لتبادل ألف أسير في العاشرة")] == [
        25, 1000, 10]
    assert [n.value for n in word_numbers("ثَلَاثَةُ آلافٍ و مِائَة")] == [3100]  # vocalised, ة, آ


@pytest.mark.parametrize(("source", "output", "disagree"), [
    ("قتل ٥٠ شخصاً في ٢٠١١", "50 people were killed in 2011", False),
    ("بلغت النسبة ٣٫٥٪", "the rate reached 3.5%", False),
    ("بلغت النسبة ٣٫٥٪", "the rate reached 3,5%", False),
    ("تبادل ألف أسير", "an exchange of 1,000 prisoners", False),  # words on one side pair with digits
    ("nineteen were injured", "أصيب ١٩", False),
    ("في القرن الحادي والعشرين", "in the 21st century", False),
    ("في الستينيات", "in the 1960s", False),  # a decade alone is not firm
    ("ثلاثة أشخاص", "3 people", False),  # a small count alone is not firm
    ("قتل ٥٠ شخصاً", "51 people were killed", True),  # changed
    ("قتل ٥ أشخاص", "6 people were killed", True),  # changed, even a small one
    ("قتل ٥٠ شخصاً في ٢٠١١", "50 people were killed", True),  # a firm number dropped
    ("قتل أشخاص", "12 people were killed", True),  # a firm number added
    ("بلغت النسبة ٣٫٥٪", "the rate reached 35%", True),
    ("تبادل ألف أسير", "an exchange of 1,200 prisoners", True),
])
def test_numbers_disagree(source: str, output: str, disagree: bool) -> None:
    assert numbers_disagree(source, output) is disagree


def test_flag_in_the_checks() -> None:
    sources = ["قتل ٥٠ شخصاً في ٢٠١١", "قتل ٥٠ شخصاً في ٢٠١١", "لا أرقام هنا"]
    outputs = ["50 people were killed in 2011", "50 people were killed in 2012", "no numbers here"]
    result = check_outputs(sources, outputs, target_lang="en")
    assert [("number_mismatch" in f) for f in result.flags] == [False, True, False]
    assert result.counts["number_mismatch"] == 1
    off = check_outputs(sources, outputs, target_lang="en", config={"enabled": ["empty"]})
    assert off.counts == {"empty": 0}
