"""``segments.jsonl``: one JSON object per test segment with every system's output, scores and flags.

This is the file to read when a corpus score surprises: it keeps source, references, outputs,
sentence scores and check flags of one segment on one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.fsio import atomic_write_chunks, read_input_text, split_text_lines


def build_segment_records(
    testset: Any,
    outputs: Mapping[str, Sequence[str]],
    sentence_scores: Mapping[str, Mapping[str, Sequence[float]]],
    flags: Mapping[str, Sequence[Sequence[str]]],
) -> list[dict[str, Any]]:
    """Per-segment records; ``sentence_scores[system][metric][i]``, ``flags[system][i]``."""
    return [{
        "index": i,
        "id": segment.id,
        "doc_id": segment.doc_id,
        "source": segment.source,
        "references": list(segment.references),
        "outputs": {name: out[i] for name, out in outputs.items()},
        "scores": {name: {key: _finite(values[i]) for key, values in per_metric.items()}
                   for name, per_metric in sentence_scores.items()},
        "flags": {name: list(per_segment[i]) for name, per_segment in flags.items()},
    } for i, segment in enumerate(testset.segments)]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


SEGMENTS_PER_WRITE = 1000  # records encoded and written together while streaming


def _encoded(records: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    batch: list[str] = []
    for record in records:
        batch.append(json.dumps(record, ensure_ascii=False) + "\n")
        if len(batch) >= SEGMENTS_PER_WRITE:
            yield "".join(batch).encode("utf-8")
            batch = []
    if batch:
        yield "".join(batch).encode("utf-8")


def write_segments(records: Iterable[Mapping[str, Any]], path: str | Path) -> None:
    """Stream records (a list or any iterable) to ``path``, one JSON object per line, atomically.

    Encoded a thousand at a time, so writing a 100k-segment run never holds the whole file's text.
    """
    atomic_write_chunks(path, _encoded(records))


_FIELDS: dict[str, type] = {"source": str, "references": list, "outputs": dict, "scores": dict, "flags": dict}


def parse_segments(text: str, *, where: str = "segments.jsonl") -> list[dict[str, Any]]:
    """Validate the lines of ``segments.jsonl``; a bad line is a one-line error naming it."""
    records = []
    lines = split_text_lines(text)  # a "\r" it drops is JSON whitespace anyway
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            raise MtEvalError(f"{where}:{lineno}: blank line (the file was edited or damaged)")
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise MtEvalError(f"{where}:{lineno}: malformed JSON ({exc})") from None
        if not isinstance(record, dict):
            raise MtEvalError(f"{where}:{lineno}: not a segment record (a JSON object expected)")
        for name, kind in _FIELDS.items():
            if not isinstance(record.get(name), kind):
                raise MtEvalError(f"{where}:{lineno}: not a segment record (field {name!r} missing or not"
                                  f" a{'n' if kind is str else ''} {kind.__name__})")
        records.append(record)
    if text and not text.endswith("\n"):
        raise MtEvalError(f"{where}:{len(lines)}: last line is not terminated (the file is truncated)")
    return records


def read_segments(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate ``segments.jsonl`` (regular UTF-8 file; see :func:`parse_segments`)."""
    return parse_segments(read_input_text(path, "segments file"), where=str(Path(path)))
