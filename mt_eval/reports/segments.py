"""``segments.jsonl``: one JSON object per test segment with every system's output, scores and flags.

This is the file to read when a corpus score surprises: it keeps source, references, outputs,
sentence scores and check flags of one segment on one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.fsio import atomic_write_text


def build_segment_records(
    testset: Any,
    outputs: Mapping[str, Sequence[str]],
    sentence_scores: Mapping[str, Mapping[str, Sequence[float]]],
    flags: Mapping[str, Sequence[Sequence[str]]],
) -> list[dict[str, Any]]:
    """Per-segment records; ``sentence_scores[system][metric][i]``, ``flags[system][i]``."""
    records = []
    for i, segment in enumerate(testset.segments):
        records.append({
            "index": i,
            "id": segment.id,
            "doc_id": segment.doc_id,
            "source": segment.source,
            "references": list(segment.references),
            "outputs": {name: out[i] for name, out in outputs.items()},
            "scores": {name: {key: _finite(values[i]) for key, values in per_metric.items()}
                       for name, per_metric in sentence_scores.items()},
            "flags": {name: list(per_segment[i]) for name, per_segment in flags.items()},
        })
    return records


def _finite(value: float) -> float | None:
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def write_segments(records: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    atomic_write_text(path, text)


def read_segments(path: str | Path) -> list[dict[str, Any]]:
    file = Path(path)
    records = []
    try:
        with file.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise MtEvalError(f"{file}:{lineno}: malformed JSON ({exc})") from None
                if not isinstance(record, dict) or "source" not in record or "outputs" not in record:
                    raise MtEvalError(f"{file}:{lineno}: not a segment record")
                records.append(record)
    except FileNotFoundError:
        raise MtEvalError(f"{file}: not found") from None
    return records
