"""Read back what an offline W&B run wrote: the records of its ``run-<id>.wandb`` datastore.

The datastore is a LevelDB-style log (the format of wandb's former ``sdk/internal/datastore.py``): a
7-byte header (``:W&B``, magic 0xBEE1 little-endian, version 0), then 32 KiB blocks of chunks, each
with a 7-byte header (CRC-32C, length, type: 1 full, 2 first, 3 middle, 4 last); a whole chunk sequence
is one serialised ``wandb_internal_pb2.Record`` (wandb's own protobuf classes decode it).
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

HEADER = b":W&B" + (0xBEE1).to_bytes(2, "little") + b"\x00"
BLOCK = 32768
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[Any]:
    data = path.read_bytes()
    assert data[:len(HEADER)] == HEADER, f"{path}: not a W&B datastore (header {data[:7]!r})"
    records, pending, pos = [], b"", len(HEADER)
    while pos + CHUNK_HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < CHUNK_HEADER:  # a block's tail too short for a header is padding
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + CHUNK_HEADER])
        pos += CHUNK_HEADER
        if pos + length > len(data):  # the writer is mid-chunk
            break
        chunk, pos = data[pos:pos + length], pos + length
        if kind in (FULL, FIRST):
            pending = chunk
        elif kind in (MIDDLE, LAST):
            pending += chunk
        else:
            raise AssertionError(f"{path}: chunk type {kind} at byte {pos}")
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def complete_records(path: Path, timeout_s: float = 60.0) -> list[Any]:
    """The records once the run's ``exit`` record is there: ``run.finish()`` returns when wandb's service
    has the run, which may write the datastore's last blocks a moment later."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = read_records(path) if path.stat().st_size > len(HEADER) else []
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def offline_run(run_dir: Path) -> dict[str, Any]:
    """What an offline run holds, from its datastore: ``name``, ``project``, ``tags``, ``config`` (the
    run's config, decoded), ``history`` (the logged step), ``summary``, ``artifacts`` (name, type and
    the manifest's file paths of each logged artifact) and ``exit_code``."""
    (store,) = run_dir.glob("run-*.wandb")
    out: dict[str, Any] = {"config": {}, "history": {}, "summary": {}, "artifacts": []}
    for record in complete_records(store):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out.update(name=record.run.display_name, project=record.run.project, tags=list(record.run.tags))
            out["config"].update(_items(record.run.config.update))
        elif kind == "config":
            out["config"].update(_items(record.config.update))
        elif kind == "history":
            out["history"].update(_items(record.history.item))
        elif kind == "summary":
            out["summary"].update(_items(record.summary.update))
        elif kind == "artifact":
            art = record.artifact
            out["artifacts"].append({"name": art.name, "type": art.type,
                                     "files": sorted(entry.path for entry in art.manifest.contents)})
        elif kind == "exit":
            out["exit_code"] = record.exit.exit_code
    return out


def _items(items: Any) -> dict[str, Any]:
    out = {}
    for item in items:
        key = "/".join(item.nested_key) if item.nested_key else item.key
        out[key] = json.loads(item.value_json)
    return out
