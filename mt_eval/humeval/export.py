"""``mt-eval humeval export``: annotation batches of a run's outputs (see :mod:`mt_eval.humeval`).

Batches are cut along the test set in order (so neighbouring segments of a document tend to share a
batch) once their source word count would pass the budget, by default 100 × the mean source words per
segment: about 100 segments per batch. Every batch holds the outputs of *every* system for the
segments it covers, in a seeded random order, so each annotator sees all systems equally often and
cannot tell them apart by position; the item ids are numbered in that shuffled order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mt_eval.errors import MtEvalError
from mt_eval.fsio import atomic_directory, check_output_folder
from mt_eval.reports.run_folder import RunFolder
from mt_eval.settings import SEED

KEY_FILE = "key.json"
KEY_FORMAT = "mt-eval-humeval-key"
KEY_VERSION = 1
SEGMENTS_PER_BATCH = 100
INPUT_COLUMNS = ("score", "spans", "annotator")


def annotator_columns(with_reference: bool) -> tuple[str, ...]:
    """The columns of a batch file, in order."""
    text = ("source", "hypothesis", *(("reference",) if with_reference else ()), "context_before",
            "context_after")
    return ("item_id", "batch", "segment_id", "doc_id", *text, *INPUT_COLUMNS)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def word_count(text: str) -> int:
    """Words of a segment for batch sizing: whitespace-separated tokens (at least 1)."""
    return max(1, len(text.split()))


@dataclass
class ExportSummary:
    folder: Path
    batches: list[dict[str, Any]] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)
    items: int = 0
    segments: int = 0
    per_batch_words: int = 0


def plan_batches(words: Sequence[int], per_batch_words: int) -> list[list[int]]:
    """Segment indices per batch: in order, a new batch when the next segment would pass the budget."""
    if per_batch_words < 1:
        raise MtEvalError(f"--per-batch-words must be at least 1, got {per_batch_words}")
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index, count in enumerate(words):
        if current and used + count > per_batch_words:
            batches.append(current)
            current, used = [], 0
        current.append(index)
        used += count
    if current:
        batches.append(current)
    return batches


def export_batches(run_dir: str | Path, out_dir: str | Path, *, per_batch_words: int | None = None,
                   seed: int = SEED, with_reference: bool = True) -> ExportSummary:
    """Write annotation batches and the key of a run folder's outputs into ``out_dir`` (atomically)."""
    folder = RunFolder.open(run_dir)
    results = folder.results()
    records = folder.segments(results)
    systems = results.ok_systems
    if not systems:
        raise MtEvalError(f"{run_dir}: no evaluated system to annotate")
    target = check_output_folder(out_dir, "-o")
    if target.exists() and any(target.iterdir()) and not (target / KEY_FILE).is_file():
        raise MtEvalError(f"{out_dir}: exists, is not empty and is not a humeval export; choose another -o")
    for record in records:
        missing = [s for s in systems if not isinstance(record["outputs"].get(s), str)]
        if missing:
            raise MtEvalError(f"{folder.layout.segments_jsonl}: segment {record.get('id')!r} has no output of"
                              f" system {missing[0]!r} (the run folder is damaged; re-run it)")
    words = [word_count(str(r["source"])) for r in records]
    budget = per_batch_words if per_batch_words is not None else max(
        1, round(SEGMENTS_PER_BATCH * sum(words) / max(len(words), 1)))
    plan = plan_batches(words, budget)
    rng = np.random.default_rng(seed)
    columns = annotator_columns(with_reference)
    key_items: dict[str, dict[str, Any]] = {}
    files: dict[str, str] = {}
    summary = ExportSummary(folder=Path(out_dir), systems=list(systems), segments=len(records),
                            per_batch_words=budget)
    for number, indices in enumerate(plan, 1):
        name = f"batch-{number:03d}"
        pairs = [(i, s) for i in indices for s in systems]
        rows = []
        for position, k in enumerate(rng.permutation(len(pairs)), 1):
            index, system = pairs[int(k)]
            record = records[index]
            item_id = f"{number:03d}-{position:04d}"
            hypothesis = str(record["outputs"][system])
            key_items[item_id] = {"batch": name, "segment_index": index, "segment_id": str(record["id"]),
                                  "system": system, "hypothesis_sha256": sha256_text(hypothesis)}
            row: dict[str, Any] = {"item_id": item_id, "batch": name, "segment_id": str(record["id"]),
                                   "doc_id": _text(record.get("doc_id")), "source": str(record["source"]),
                                   "hypothesis": hypothesis}
            if with_reference:
                refs = record.get("references") or []
                row["reference"] = str(refs[0]) if refs else ""
            row["context_before"], row["context_after"] = _context(records, index)
            row.update({"score": None, "spans": None, "annotator": None})
            rows.append(row)
        files[f"{name}.jsonl"] = "".join(json.dumps({c: row[c] for c in columns}, ensure_ascii=False) + "\n"
                                         for row in rows)
        files[f"{name}.tsv"] = _tsv(columns, rows)
        summary.batches.append({"name": name, "segments": len(indices), "items": len(rows),
                                "words": sum(words[i] for i in indices)})
        summary.items += len(rows)
    key = {"format": KEY_FORMAT, "version": KEY_VERSION, "run_name": results.run_name,
           "testset_hash": results.testset.hash, "num_segments": len(records), "systems": list(systems),
           "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": seed,
           "per_batch_words": budget, "with_reference": with_reference, "batches": summary.batches,
           "items": key_items}
    files[KEY_FILE] = json.dumps(key, ensure_ascii=False, indent=1) + "\n"
    with atomic_directory(target) as staging:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
    return summary


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _context(records: Sequence[dict[str, Any]], index: int) -> tuple[str, str]:
    """Previous and next source segment of the same document (``""`` at an edge or without a doc id)."""
    doc = records[index].get("doc_id")
    if doc in (None, ""):
        return "", ""
    before = records[index - 1] if index > 0 else None
    after = records[index + 1] if index + 1 < len(records) else None
    return (str(before["source"]) if before is not None and before.get("doc_id") == doc else "",
            str(after["source"]) if after is not None and after.get("doc_id") == doc else "")


def _tsv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return buffer.getvalue()
