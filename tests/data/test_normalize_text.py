"""Robust UTF-8 reading: every kind of invisible damage is repaired and counted, meaning is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from mt_eval.data.normalize import NormalizationReport, normalize_text, read_lines
from mt_eval.errors import MtEvalError


def test_each_normalisation_is_counted() -> None:
    report = NormalizationReport()
    assert normalize_text("\u200fمرحبا\u00a0بكم  ", report) == "مرحبا بكم"
    assert normalize_text("  zero\u200bwidth \u2066isolate\u2069", report) == "zerowidth isolate"
    assert normalize_text("Cafe\u0301", report) == "Café"  # NFC composes e + combining acute
    assert report.as_dict() == {"bidi_control": 3, "leading_whitespace": 1, "nbsp": 1, "nfc": 1,
                                "trailing_whitespace": 1, "zero_width": 1}


def test_joiners_inside_words_are_meaningful_and_kept() -> None:
    report = NormalizationReport()
    persian = "می\u200cخواهم"  # ZWNJ between letters changes the written word
    assert normalize_text(persian, report) == persian
    assert normalize_text("\u200cstray", report) == "stray"
    assert report.as_dict() == {"zero_width": 1}


def test_read_lines_handles_bom_crlf_and_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfone \r\ntwo\r\n\r\nthree")
    lines, report = read_lines(path)
    assert lines == ["one", "two", "", "three"]
    assert report.as_dict() == {"bom": 1, "crlf": 3, "missing_final_newline": 1, "trailing_whitespace": 1}


def test_read_lines_without_applying_keeps_text_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes("a\u200bb \r\n".encode())
    lines, report = read_lines(path, apply=False)
    assert lines == ["a\u200bb "]
    assert report.as_dict() == {"crlf": 1, "trailing_whitespace": 1, "zero_width": 1}


def test_undecodable_bytes_name_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\xef\xbb\xbfok line\n\xff\xfe broken\n")
    with pytest.raises(MtEvalError) as info:
        read_lines(path, display_name="bad.txt")
    assert str(info.value) == "bad.txt:2: not valid UTF-8 at byte offset 11 (byte 0xff)"


def test_empty_and_blank_files_are_errors(tmp_path: Path) -> None:
    for content in (b"", b"\n \n\r\n"):
        path = tmp_path / "empty.txt"
        path.write_bytes(content)
        with pytest.raises(MtEvalError, match=r"^.*empty\.txt: file is empty$"):
            read_lines(path)
