"""The error-span model: validation, locating quotes, UTF-16 offsets (Arabic, emoji), MQM scores."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mt_eval.errors import MtEvalError
from mt_eval.spans import (
    GEMBA_WEIGHTS,
    WMT_WEIGHTS,
    Span,
    locate,
    make_span,
    mqm_penalty,
    mqm_score,
    record_spans,
    set_record_spans,
    severity_counts,
    span_from_quote,
    utf16_offsets,
)

ARABIC = "ذهب الولد إلى المدرسة صباحا."
EMOJI = "Great job 👍🏽 family 👨‍👩‍👧 done"
MIXED = "قال 👋 مرحبا بالعالم 🌍 وداعا"


def _span(**fields: object) -> Span:
    return make_span({"segment_id": "s1", "system": "A", "severity": "minor", "source": "judge", **fields})


def test_offsets_are_validated_against_the_hypothesis() -> None:
    span = _span(start=4, end=9).check(ARABIC)
    assert span.text == ARABIC[4:9] == "الولد"
    with pytest.raises(MtEvalError, match="ends after the hypothesis"):
        _span(start=4, end=len(ARABIC) + 1).check(ARABIC)
    with pytest.raises(MtEvalError, match="need 0 <= start <= end"):
        _span(start=5, end=4)
    with pytest.raises(MtEvalError, match="need 0 <= start <= end"):
        _span(start=-1, end=4)
    with pytest.raises(MtEvalError, match="both be set"):
        _span(start=1)
    with pytest.raises(MtEvalError, match="severity"):
        _span(start=0, end=1, severity="fatal")
    with pytest.raises(MtEvalError, match="quoted text"):
        _span()  # unlocated needs the quote
    # text that is not the hypothesis at those offsets: offsets counted in something else (UTF-16, bytes)
    with pytest.raises(MtEvalError, match="code points"):
        _span(start=10, end=16, text="family").check(EMOJI)
    assert _span(start=0, end=0).check("").text == ""  # an empty span at the start is allowed
    assert make_span({"segment_id": "s", "system": "A", "severity": " MAJOR ", "source": "x",
                      "text": "q"}).severity == "major"


def test_locate_exact_then_case_insensitive_ambiguous_is_unlocated() -> None:
    assert locate("الولد", ARABIC) == (4, 9)
    assert locate("  family ", EMOJI) == (EMOJI.index("family"), EMOJI.index("family") + 6)
    assert locate("GREAT JOB", EMOJI) == (0, 9)  # case-insensitive fallback, offsets in the original
    assert locate("👍🏽", EMOJI) == (10, 12)  # two code points: thumbs up + skin tone
    assert locate("the", "the cat and the dog") is None  # twice: ambiguous
    assert locate("aa", "aaa") is None  # overlapping occurrences are ambiguous too
    assert locate("The", "The cat and the dog") == (0, 3)  # one exact match wins over case-folded ones
    assert locate("missing", EMOJI) is None
    assert locate("   ", EMOJI) is None
    unlocated = span_from_quote("the", "the cat and the dog", segment_id="s", system="A", severity="major",
                                source="gemba")
    assert (unlocated.start, unlocated.end, unlocated.text, unlocated.located) == (None, None, "the", False)
    located = span_from_quote("مرحبا", MIXED, segment_id="s", system="A", severity="minor", source="x")
    assert MIXED[located.start:located.end] == "مرحبا" and located.text == "مرحبا"  # type: ignore[misc]


def test_utf16_offsets_for_javascript_with_emoji_and_arabic() -> None:
    # Arabic letters are in the BMP: one UTF-16 unit each, so offsets do not move
    assert utf16_offsets(ARABIC, 4, 9) == (4, 9)
    # 👍 (U+1F44D) and the skin tone modifier (U+1F3FD) are astral: two units each
    start, end = locate("👍🏽", EMOJI)  # type: ignore[misc]
    assert utf16_offsets(EMOJI, start, end) == (10, 14)
    family = EMOJI.index("family")
    assert utf16_offsets(EMOJI, family, family + 6) == (family + 2, family + 8)
    s, e = locate("وداعا", MIXED)  # type: ignore[misc]
    assert utf16_offsets(MIXED, s, e) == (s + 2, e + 2)  # after 👋 and 🌍
    with pytest.raises(MtEvalError, match="outside"):
        utf16_offsets(EMOJI, 0, len(EMOJI) + 1)


TEXT = st.text(alphabet=st.sampled_from(list("ab ذهبالولد👍🏽👨‍👩‍👧é")), max_size=30)


@given(TEXT, st.data())
def test_offsets_always_inside_the_hypothesis(hypothesis: str, data: st.DataObject) -> None:
    """Any located span lies inside its hypothesis, in code points and in UTF-16 units."""
    start = data.draw(st.integers(0, len(hypothesis)))
    end = data.draw(st.integers(start, len(hypothesis)))
    quote = hypothesis[start:end]
    found = locate(quote, hypothesis)
    if found is not None:
        s, e = found
        assert 0 <= s <= e <= len(hypothesis)
        assert hypothesis[s:e].lower() == quote.strip().lower()
        span = _span(start=s, end=e).check(hypothesis)
        u16 = utf16_offsets(hypothesis, s, e)
        encoded = hypothesis.encode("utf-16-le")
        assert 0 <= u16[0] <= u16[1] <= len(encoded) // 2
        assert encoded[2 * u16[0]:2 * u16[1]].decode("utf-16-le") == span.text


def test_mqm_weights_both_conventions() -> None:
    spans = [{"severity": "minor"}, {"severity": "major"}, {"severity": "critical"}, {"severity": "minor"}]
    assert mqm_penalty(spans) == 1 + 5 + 10 + 1  # WMT / xCOMET weights, the default
    assert mqm_penalty(spans, GEMBA_WEIGHTS) == 1 + 5 + 25 + 1
    assert mqm_score(spans) == -17.0 and mqm_score([]) == 0.0
    # GEMBA-MQM's reference scoring: at most 5 errors, most severe first, capped at 25
    many = [{"severity": "major"}] * 4 + [{"severity": "critical"}, {"severity": "minor"}]
    assert mqm_penalty(many, GEMBA_WEIGHTS, max_errors=5) == 25 + 4 * 5
    assert mqm_penalty(many, GEMBA_WEIGHTS, max_errors=5, cap=25) == 25
    assert mqm_penalty(spans, {"minor": 0.1, "major": 5, "critical": 25}) == pytest.approx(30.2)
    with pytest.raises(MtEvalError, match="no weight for critical"):
        mqm_penalty(spans, {"minor": 1, "major": 5})
    with pytest.raises(MtEvalError, match="finite and >= 0"):
        mqm_penalty(spans, {**WMT_WEIGHTS, "major": -1})
    assert severity_counts(spans) == {"minor": 2, "major": 1, "critical": 1}


def test_spans_round_trip_through_a_segment_record() -> None:
    record = {"id": "s1", "outputs": {"A": EMOJI, "B": ARABIC}, "scores": {}, "flags": {}}
    first = [span_from_quote("👨‍👩‍👧", EMOJI, segment_id="s1", system="A", severity="major", source="ann1",
                             category="accuracy"),
             span_from_quote("nowhere", EMOJI, segment_id="s1", system="A", severity="minor", source="ann1")]
    set_record_spans(record, "A", first)
    assert record["spans"]["A"][0] == {"start": 20, "end": 25, "severity": "major", "category": "accuracy",
                                       "source": "ann1", "text": "👨‍👩‍👧"}
    assert record["spans"]["A"][1]["start"] is None and record["spans"]["A"][1]["text"] == "nowhere"
    back = record_spans(record, "A")
    assert back == first and record_spans(record, "B") == []
    # another source is kept; the same source is replaced, not doubled
    other = [span_from_quote("job", EMOJI, segment_id="s1", system="A", severity="minor", source="gemba")]
    set_record_spans(record, "A", other)
    set_record_spans(record, "A", first[:1], replace_sources={"ann1"})
    assert [s["source"] for s in record["spans"]["A"]] == ["gemba", "ann1"]
    with pytest.raises(MtEvalError, match="ends after the hypothesis"):
        set_record_spans(record, "B", [_span(start=0, end=len(ARABIC) + 3, system="B")])
    with pytest.raises(MtEvalError, match="no output of system 'C'"):
        set_record_spans(record, "C", [])
