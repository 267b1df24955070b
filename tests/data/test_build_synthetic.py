"""Synthetic bilingual documents with the faults real ones have, each with its exact alignment."""

from __future__ import annotations

from pathlib import Path

import pytest

from mt_eval.data.build import build_testset, check_pair
from mt_eval.errors import MtEvalError


def _lines(result, key: str) -> list[list[int]]:  # type: ignore[no-untyped-def]
    return [seg.meta[key] for seg in result.testset]


def test_dropped_paragraph_is_a_rejected_empty_side(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    path = write_doc("dropped.txt", ar + en[:3] + en[4:])  # English paragraph 4 is missing
    result = build_testset([path])
    assert result.testset.ids == [f"dropped:1:{k}" for k in (1, 2, 3, 5, 6, 7)]
    assert _lines(result, "source_lines") == [[1], [2], [3], [5], [6], [7]]
    assert _lines(result, "reference_lines") == [[8], [9], [10], [11], [12], [13]]
    [reject] = result.rejects
    assert (reject.id, reject.code, reject.source_lines, reject.reference_lines) == (
        "dropped:1:4", "empty_side", (4,), ())
    assert reject.reason == "reference side is empty (no counterpart in the other block)"
    assert result.documents[0]["beads"] == {"1-0": 1, "1-1": 6}
    assert result.documents[0]["alignment_method"] == "gale_church"


def test_merged_paragraphs_make_a_two_to_one_bead(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    merged = [*en[:2], f"{en[2]} {en[3]}", *en[4:]]  # English paragraphs 3 and 4 on one line
    result = build_testset([write_doc("merged.txt", ar + merged)])
    assert result.rejects == []
    assert _lines(result, "source_lines") == [[1], [2], [3, 4], [5], [6], [7]]
    assert _lines(result, "reference_lines") == [[8], [9], [10], [11], [12], [13]]
    assert [s.meta["alignment"] for s in result.testset] == ["1-1", "1-1", "2-1", "1-1", "1-1", "1-1"]
    assert result.testset.segments[2].source == f"{ar[2]} {ar[3]}"
    assert result.testset.segments[2].references == (merged[2],)


def test_split_paragraph_makes_a_one_to_two_bead(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    arabic = [*ar[:4], f"{ar[4]} {ar[5]}", ar[6]]
    result = build_testset([write_doc("split.txt", arabic + en)])
    assert [s.meta["alignment"] for s in result.testset] == ["1-1", "1-1", "1-1", "1-1", "1-2", "1-1"]
    assert _lines(result, "reference_lines")[4] == [11, 12]


def test_english_first_order(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    result = build_testset([write_doc("en_first.txt", en + ar)])
    ts = result.testset
    assert ts.sources == ar and ts.references == [[e] for e in en]
    assert _lines(result, "source_lines") == [[k] for k in range(8, 15)]
    assert _lines(result, "reference_lines") == [[k] for k in range(1, 8)]
    assert result.documents[0]["order"] == "target_first"


def test_several_documents_in_one_file(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    result = build_testset([write_doc("two.txt", ar[:3] + en[:3] + ar[3:] + en[3:])])
    assert result.testset.ids == ["two:1:1", "two:1:2", "two:1:3",
                                  "two:2:1", "two:2:2", "two:2:3", "two:2:4"]
    assert [d["doc_id"] for d in result.documents] == ["two:1", "two:2"]
    assert _lines(result, "reference_lines") == [[4], [5], [6], [11], [12], [13], [14]]
    assert [s.doc_id for s in result.testset] == ["two:1"] * 3 + ["two:2"] * 4


def test_blank_line_separated_documents_in_either_order(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    lines = ar[:3] + en[:3] + [""] + en[3:] + ar[3:]
    result = build_testset([write_doc("mixed.txt", lines)])
    assert [d["order"] for d in result.documents] == ["source_first", "target_first"]
    assert result.testset.sources == ar and result.testset.references == [[e] for e in en]
    assert _lines(result, "source_lines")[3:] == [[12], [13], [14], [15]]


def test_untranslated_caption_inside_the_english_block(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    caption = "جندي من القوات الأوكرانية."
    result = build_testset([write_doc("cap.txt", [*ar[:2], caption, *ar[2:], *en[:2], caption, *en[2:]])])
    assert len(result.testset) == 7
    assert [(r.id, r.code) for r in result.rejects] == [("cap:1:3", "reference_not_target_language")]


def test_many_files_per_folder_with_relative_stems(paragraphs, write_doc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    folder = tmp_path / "corpus"
    write_doc("b.txt", ar[:2] + en[:2], folder=folder)
    write_doc("a.txt", ar[2:4] + en[2:4], folder=folder)
    write_doc("sub/a.txt", ar[4:] + en[4:], folder=folder)
    write_doc("notes.md", ["not a document"], folder=folder)
    result = build_testset([folder])
    assert result.testset.ids == ["a:1:1", "a:1:2", "b:1:1", "b:1:2", "sub/a:1:1", "sub/a:1:2", "sub/a:1:3"]
    assert result.testset.segments[0].meta["file"] == "corpus/a.txt"
    assert result.testset.name == "corpus"


def test_duplicates_are_rejected_with_the_first_id(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    result = build_testset([write_doc("dup.txt", ar[:3] + en[:3] + ar[:2] + en[:2])])
    assert result.testset.ids == ["dup:1:1", "dup:1:2", "dup:1:3"]
    assert [(r.id, r.code, r.reason) for r in result.rejects] == [
        ("dup:2:1", "duplicate", "duplicate of dup:1:1"), ("dup:2:2", "duplicate", "duplicate of dup:1:2")]


def test_normalisation_is_applied_and_counted(paragraphs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    lines = [f"\u200f{ar[0]}  ", ar[1].replace(" ", "\u00a0", 2), f"{en[0]}\u200b", f"\u202a{en[1]}\u202c"]
    path = tmp_path / "messy.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8"))  # BOM, CRLF, no final newline
    result = build_testset([path])
    assert result.testset.sources == ar[:2] and result.testset.references == [[en[0]], [en[1]]]
    assert result.manifest_extra()["normalisation"]["files"]["messy.txt"] == {
        "bidi_control": 3, "bom": 1, "crlf": 3, "missing_final_newline": 1, "nbsp": 2,
        "trailing_whitespace": 1, "zero_width": 1}


def test_pair_checks_source_equal_and_length_ratio() -> None:
    assert check_pair("Computer Software", "Computer Software", 1.0, "de", "en", {}) == (
        "source_equals_reference", "source equals reference (untranslated)")
    code, reason = check_pair("نعم", "Yes, and this is a far longer English sentence than it should be.",
                              1.2, "ar", "en", {})  # type: ignore[misc]
    assert code == "implausible_length_ratio"
    assert reason.startswith("implausible length ratio 14.72 (reference 53 vs source 3")
    assert check_pair("", "Hello there", 1.0, "ar", "en", {})[0] == "empty_side"  # type: ignore[index]
    assert check_pair("مرحبا بكم في البيت", "Welcome home", 1.2, "ar", "en", {}) is None


def test_sentence_granularity_splits_and_aligns_inside_paragraphs(write_doc) -> None:  # type: ignore[no-untyped-def]
    src = "ذهب الولد إلى المدرسة صباحا. ثم عاد إلى البيت بعد الظهر. وفي المساء قرأ كتابا طويلا عن التاريخ."
    ref = "The boy went to school in the morning. Then he came home in the afternoon. " \
          "In the evening he read a long book about history."
    result = build_testset([write_doc("s.txt", [src, ref])], granularity="sentence")
    assert result.testset.ids == ["s:1:1.1", "s:1:1.2", "s:1:1.3"]
    assert result.testset.references[1] == ["Then he came home in the afternoon."]
    assert result.testset.sources[2] == "وفي المساء قرأ كتابا طويلا عن التاريخ."
    assert all(s.meta["paragraph"] == "s:1:1" for s in result.testset)


def test_bad_granularity_and_missing_blocks(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    with pytest.raises(MtEvalError, match=r"^granularity 'word': expected one of paragraph, sentence$"):
        build_testset([write_doc("x.txt", ar + en)], granularity="word")
    with pytest.raises(MtEvalError) as info:
        build_testset([write_doc("tail.txt", ar[:2] + en[:2] + ar[2:5])])
    assert str(info.value) == "tail.txt: lines 5-7: Arabic block has no matching English block"
    with pytest.raises(MtEvalError) as info:
        build_testset([write_doc("en.txt", en)])
    assert str(info.value) == "en.txt: no Arabic (ar) block found (7 lines, none in the source language)"


@pytest.mark.parametrize("where", ["end", "start"])
def test_stray_line_at_either_end_of_a_file(paragraphs, write_doc, where: str) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    caption = "جندي من القوات الأوكرانية."
    if where == "end":  # an untranslated caption closes the English block
        lines, order = [*ar, caption, *en, caption], "source_first"
    else:  # English first, and the Arabic caption opens the file ahead of the English block
        lines, order = [caption, *en, caption, *ar], "target_first"
    result = build_testset([write_doc(f"{where}.txt", lines)])
    assert result.documents[0]["order"] == order
    assert len(result.testset) == 7
    assert [r.code for r in result.rejects] == ["reference_not_target_language"]


def test_blank_lines_between_paragraphs_do_not_split_a_document(paragraphs, write_doc) -> None:  # type: ignore[no-untyped-def]
    ar, en = paragraphs
    spaced = [x for para in ar + en for x in (para, "")]
    result = build_testset([write_doc("spaced.txt", spaced)])
    assert [d["doc_id"] for d in result.documents] == ["spaced:1"]
    assert result.testset.sources == ar and result.testset.references == [[e] for e in en]
    assert _lines(result, "reference_lines") == [[k] for k in range(15, 28, 2)]
