"""Robust reading and meaning-preserving normalisation of UTF-8 text files.

Real bilingual documents arrive with a byte-order mark, Windows line ends, trailing blanks, invisible
zero-width and bidi control characters and no-break spaces. None of these change what a sentence
says, but each changes tokens, lengths and hashes, so they are removed (or replaced) here, once,
and every change is counted so the manifest can say what was done to the data.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mt_eval.errors import MtEvalError
from mt_eval.fsio import read_input_bytes

# Invisible characters that carry no meaning in running text.
_ZERO_WIDTH = {"\u200b", "\u2060", "\ufeff"}  # zero-width space, word joiner, BOM inside text
# ZWNJ / ZWJ shape letters (Persian, Arabic, emoji) and are kept between two letters.
_JOINERS = {"\u200c", "\u200d"}
# Bidi controls only steer display order: LRM, RLM, ALM, embeddings/overrides, isolates.
_BIDI = {"\u200e", "\u200f", "\u061c", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}
# No-break and other fixed-width spaces become an ordinary space.
_SPACES = {"\u00a0", "\u202f", "\u2007"}


@dataclass
class NormalizationReport:
    """What was changed, as ``{kind: count}``; kinds absent from ``counts`` did not occur."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, other: NormalizationReport | Mapping[str, int]) -> None:
        self.counts.update(other.counts if isinstance(other, NormalizationReport) else other)

    def as_dict(self) -> dict[str, int]:
        return {key: self.counts[key] for key in sorted(self.counts) if self.counts[key]}


def normalize_text(text: str, report: NormalizationReport | None = None) -> str:
    """Normalise one line (or one segment): invisible controls out, NBSP to space, stripped, NFC."""
    counts = report.counts if report is not None else Counter()
    if any(ch in text for ch in (*_ZERO_WIDTH, *_JOINERS, *_BIDI, *_SPACES)):
        out: list[str] = []
        for index, ch in enumerate(text):
            if ch in _ZERO_WIDTH:
                counts["zero_width"] += 1
                continue
            if ch in _JOINERS:
                before = text[index - 1] if index > 0 else ""
                after = text[index + 1] if index + 1 < len(text) else ""
                if before.isalpha() and after.isalpha():
                    out.append(ch)
                else:
                    counts["zero_width"] += 1
                continue
            if ch in _BIDI:
                counts["bidi_control"] += 1
                continue
            if ch in _SPACES:
                counts["nbsp"] += 1
                out.append(" ")
                continue
            out.append(ch)
        text = "".join(out)
    stripped = text.rstrip()
    if stripped != text:
        counts["trailing_whitespace"] += 1
    lead = stripped.lstrip()
    if lead != stripped:
        counts["leading_whitespace"] += 1
    nfc = unicodedata.normalize("NFC", lead)
    if nfc != lead:
        counts["nfc"] += 1
    return nfc


def decode_utf8(data: bytes, name: str) -> tuple[str, NormalizationReport]:
    """Decode bytes as UTF-8 (BOM allowed); an undecodable byte is an error naming file and offset."""
    report = NormalizationReport()
    offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if offset:
        report.counts["bom"] += 1
    data = data[offset:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MtEvalError(f"{name}:{line}: not valid UTF-8 at byte offset {exc.start + offset}"
                          f" (byte 0x{data[exc.start]:02x})") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise MtEvalError(f"{name}:{line}: NUL byte in text (a binary file, or UTF-16?)")
    return text, report


def split_lines(text: str, report: NormalizationReport) -> list[str]:
    """Split on LF, CRLF or CR, counting Windows/old-Mac line ends and a missing final newline."""
    crlf = text.count("\r\n")
    lone_cr = text.count("\r") - crlf
    if crlf:
        report.counts["crlf"] += crlf
    if lone_cr:
        report.counts["cr"] += lone_cr
    if text and not text.endswith(("\n", "\r")):
        report.counts["missing_final_newline"] += 1
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    # U+2028/U+2029 and other exotic breaks are deliberately not line ends: sacrebleu's plain files
    # are split on "\n" only, so treating them as breaks here would shift lines against those files.
    return lines


def read_lines(path: str | Path, *, display_name: str | None = None, allow_empty: bool = False,
               apply: bool = True) -> tuple[list[str], NormalizationReport]:
    """Read a UTF-8 text file as normalised lines (blank lines kept as ``""``) and what was changed.

    With ``apply=False`` the lines keep their content byte for byte (only the BOM and line ends go)
    and the report says what normalisation *would* change: imported references stay exactly the
    ones published scores were computed against.
    """
    return read_lines_and_bytes(path, display_name=display_name, allow_empty=allow_empty, apply=apply)[:2]


def read_lines_and_bytes(path: str | Path, *, display_name: str | None = None, allow_empty: bool = False,
                         apply: bool = True) -> tuple[list[str], NormalizationReport, bytes]:
    """:func:`read_lines` plus the raw bytes read (for a content hash of exactly what was read)."""
    name = display_name or str(path)
    try:
        data = read_input_bytes(path, "file")
    except MtEvalError as exc:
        raise MtEvalError(str(exc).replace(str(path), name, 1)) from None
    text, report = decode_utf8(data, name)
    lines = [normalize_if(line, report, apply) for line in split_lines(text, report)]
    if not allow_empty and not any(line.strip() for line in lines):
        raise MtEvalError(f"{name}: file is empty")
    return lines, report, data


def normalize_if(text: str, report: NormalizationReport, apply: bool) -> str:
    """Count what normalisation would change; return the normalised text only when ``apply``."""
    normalised = normalize_text(text, report)
    return normalised if apply else text
