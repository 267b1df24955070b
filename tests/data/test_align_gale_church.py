"""The Gale–Church aligner: fast path, every bead kind, posterior confidence, and its invariants."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mt_eval.data.align import align, align_lengths

# Lengths (non-space characters) of the seed's 7 translated paragraphs.
AR = [162, 271, 115, 137, 207, 306, 248]
EN = [210, 319, 157, 179, 251, 391, 323]


def test_equal_counts_and_lengths_take_the_fast_path() -> None:
    result = align_lengths(AR, EN)
    assert result.method == "one_to_one"
    assert result.pairs() == [((k,), (k,)) for k in range(7)]
    assert all(b.confidence > 0.97 for b in result.beads)
    assert result.ratio == pytest.approx(sum(EN) / sum(AR), abs=1e-4)


@pytest.mark.parametrize("dropped", range(7))
def test_each_dropped_target_paragraph_becomes_a_one_to_zero_bead(dropped: int) -> None:
    target = EN[:dropped] + EN[dropped + 1:]
    result = align_lengths(AR, target)
    assert result.method == "gale_church"
    expected = [((k,), (k if k < dropped else k - 1,)) if k != dropped else ((k,), ()) for k in range(7)]
    assert result.pairs() == expected
    assert result.kinds() == {"1-0": 1, "1-1": 6}


def test_dropped_source_paragraph_is_zero_to_one() -> None:
    result = align_lengths(AR[:4] + AR[5:], EN)
    assert result.pairs()[4] == ((), (4,))
    assert result.kinds() == {"0-1": 1, "1-1": 6}


def test_merges_in_both_directions() -> None:
    merged_target = [*EN[:2], EN[2] + EN[3], *EN[4:]]
    assert align_lengths(AR, merged_target).pairs()[2] == ((2, 3), (2,))
    merged_source = [*AR[:5], AR[5] + AR[6]]
    result = align_lengths(merged_source, EN)
    assert result.pairs()[-1] == ((5,), (5, 6))
    assert result.kinds() == {"1-1": 5, "1-2": 1}


def test_confidence_is_lower_where_lengths_are_ambiguous() -> None:
    # paragraphs 3 and 4 have similar lengths: dropping one of them is a close call
    ambiguous = align_lengths(AR, EN[:3] + EN[4:])
    clear = align_lengths(AR, EN[:1] + EN[2:])
    assert min(b.confidence for b in ambiguous.beads) < 0.9 < min(b.confidence for b in clear.beads)


def test_empty_side_and_text_input() -> None:
    assert align_lengths([], [5, 6]).pairs() == [((), (0,)), ((), (1,))]
    assert align_lengths([3], []).method == "trivial"
    result = align(["مرحبا بكم", "شكرا جزيلا لكم"], ["Welcome", "Thank you very much"])
    assert result.pairs() == [((0,), (0,)), ((1,), (1,))]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 400), min_size=0, max_size=12),
       st.lists(st.integers(1, 400), min_size=0, max_size=12))
def test_alignment_covers_each_unit_once_in_order(source: list[int], target: list[int]) -> None:
    result = align_lengths(source, target)
    src = [i for s, _ in result.pairs() for i in s]
    tgt = [j for _, t in result.pairs() for j in t]
    assert src == list(range(len(source))) and tgt == list(range(len(target)))
    assert all(0.0 <= b.confidence <= 1.0 for b in result.beads)
    assert all(b.kind in {"1-1", "1-0", "0-1", "2-1", "1-2"} for b in result.beads)


FLORES = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "flores-ara-eng"


@pytest.mark.skipif(not FLORES.is_dir(), reason=f"FLORES validation data not present at {FLORES}")
def test_real_flores_sentences() -> None:
    ar = (FLORES / "source.ara").read_text(encoding="utf-8").splitlines()
    en = (FLORES / "reference.eng").read_text(encoding="utf-8").splitlines()
    full = align(ar, en)  # 1012 parallel sentences: the fast path, every pair 1-1
    assert full.method == "one_to_one" and full.kinds() == {"1-1": 1012}
    dropped = {3, 17, 33}
    kept = [k for k in range(40) if k not in dropped]
    result = align(ar[:40], [en[k] for k in kept])
    assert result.pairs() == [((k,), ()) if k in dropped else ((k,), (kept.index(k),)) for k in range(40)]
