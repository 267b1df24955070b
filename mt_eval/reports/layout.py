"""Where everything lives inside a run folder (``results/<run-name>/``).

One place defines the paths so that the writer, ``mt-eval report``/``compare`` and the CI gate read
the same files. System and metric names become file names through :func:`mt_eval.fsio.slug`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from mt_eval.fsio import slug

RESULTS_FILE = "results.json"
SEGMENTS_FILE = "segments.jsonl"
REPORT_FILE = "report.html"
OUTPUTS_DIR = "outputs"
STATS_DIR = "stats"
TABLES_DIR = "tables"
STATS_INDEX_FILE = "index.json"
GATE_DIR = "gate"
TABLE_FORMATS = ("md", "csv", "tex")

_LEGACY_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def legacy_slug(name: str) -> str:
    """The slug of run folders written before the reversible one: read-only compatibility."""
    if not name:
        raise ValueError("cannot slug an empty name")
    text = name.replace("+", "p")
    safe = _LEGACY_UNSAFE.sub("-", text).strip("-.")
    if safe != text or not safe:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        safe = f"{safe}-{digest}" if safe else digest
    return safe


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run folder (nothing is created by constructing it)."""

    root: Path

    @classmethod
    def of(cls, root: str | Path) -> RunLayout:
        return cls(Path(root))

    @property
    def results_json(self) -> Path:
        return self.root / RESULTS_FILE

    @property
    def segments_jsonl(self) -> Path:
        return self.root / SEGMENTS_FILE

    @property
    def report_html(self) -> Path:
        return self.root / REPORT_FILE

    @property
    def outputs_dir(self) -> Path:
        return self.root / OUTPUTS_DIR

    @property
    def stats_dir(self) -> Path:
        return self.root / STATS_DIR

    @property
    def stats_index(self) -> Path:
        """Cache keys of the saved statistics (``system-slug/metric-slug -> key``)."""
        return self.stats_dir / STATS_INDEX_FILE

    @property
    def tables_dir(self) -> Path:
        return self.root / TABLES_DIR

    def output_path(self, system: str) -> Path:
        return self.outputs_dir / f"{slug(system)}.txt"

    def stats_path(self, system: str, metric_key: str) -> Path:
        return self.stats_dir / slug(system) / f"{slug(metric_key)}.npy"

    def details_path(self, system: str, metric_key: str) -> Path:
        """Per-segment details (spans, failures, usage) of a metric, beside its statistics."""
        return self.stats_dir / slug(system) / f"{slug(metric_key)}.details.json"

    def legacy_output_path(self, system: str) -> Path:
        """Where run folders written before the reversible slugs kept this system's outputs."""
        return self.outputs_dir / f"{legacy_slug(system)}.txt"

    def legacy_stats_path(self, system: str, metric_key: str) -> Path:
        return self.stats_dir / legacy_slug(system) / f"{legacy_slug(metric_key)}.npy"

    @property
    def gate_dir(self) -> Path:
        """The CI gate's verdict files (``verdict.json``, ``verdict.md``, ``junit.xml``)."""
        return self.root / GATE_DIR

    def table_path(self, fmt: str) -> Path:
        if fmt not in TABLE_FORMATS:
            raise ValueError(f"unknown table format {fmt!r}")
        return self.tables_dir / f"scores.{fmt}"
