"""Per-segment details of metrics that report them (error spans, judge failures, cost) in a run.

A metric with ``reports_details`` leaves one :class:`~mt_eval.metrics.base.SegmentDetail` per segment.
The run keeps them in three places:

- ``segments.jsonl``: each record's ``spans`` (``system -> [span, ...]``, the model of
  :mod:`mt_eval.spans`) and ``failures`` (``system -> metric key -> {"failure", "raw"}``);
- ``results.json`` (schema 3): ``spans`` (per system, columnar), ``span_counts``, ``judge_failures``
  and ``usage`` — summaries derived from the records, so that spans added later (``mt-eval humeval
  import``) are summarised by the same code;
- ``stats/<system>/<metric>.details.json``: the details as the metric returned them, next to the
  statistics they came with, so that a statistics-cache hit restores them instead of losing them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import SegmentDetail
from mt_eval.reports.results import SPAN_COLUMNS, Results, SpanTable
from mt_eval.spans import SEVERITIES, Span, make_span, record_spans, set_record_spans

log = logging.getLogger(__name__)

DETAILS_FORMAT = "mt-eval-details"
DETAILS_VERSION = 1
UNLOCATED = "unlocated"  # the extra key of span_counts: spans without offsets (quotes not found)
#: characters of a failed answer's raw text in segments.jsonl and the report; the details file keeps it
#: whole (one copy of a judge's answer per run folder, however long the judge rambled)
RAW_EXCERPT = 1000


def raw_excerpt(raw: str | None) -> str | None:
    """``raw`` as the segment records keep it: at most :data:`RAW_EXCERPT` characters, the cut said."""
    if raw is None or len(raw) <= RAW_EXCERPT:
        return raw
    return f"{raw[:RAW_EXCERPT]}… [{len(raw) - RAW_EXCERPT:,} more characters in the details file]"

Details = Mapping[str, Mapping[str, Sequence[SegmentDetail]]]  # system -> metric key -> per segment


# ------------------------------------------------------------------------------ the cache file
def details_document(details: Sequence[SegmentDetail]) -> dict[str, Any]:
    """The JSON form of one system × metric's details (``stats/<system>/<metric>.details.json``)."""
    return {"format": DETAILS_FORMAT, "version": DETAILS_VERSION, "num_segments": len(details),
            "details": [{"spans": [_span_fields(s) for s in d.spans], "failure": d.failure, "raw": d.raw,
                         "usage": {k: float(v) for k, v in d.usage.items()}} for d in details]}


def _span_fields(span: Span) -> dict[str, Any]:
    return {"segment_id": span.segment_id, "system": span.system, **span.to_dict()}


def parse_details_document(obj: Any, num_segments: int, *, where: str) -> list[SegmentDetail]:
    """Validate a details file; anything wrong is a one-line :class:`MtEvalError` naming ``where``."""
    if not isinstance(obj, dict) or obj.get("format") != DETAILS_FORMAT:
        raise MtEvalError(f"{where}: not a details file")
    if obj.get("version") != DETAILS_VERSION:
        raise MtEvalError(f"{where}: details version {obj.get('version')!r} is not {DETAILS_VERSION}")
    items = obj.get("details")
    if not isinstance(items, list) or len(items) != num_segments:
        raise MtEvalError(f"{where}: {len(items) if isinstance(items, list) else 'no'} details for"
                          f" {num_segments} segments")
    out = []
    for number, item in enumerate(items, 1):
        here = f"{where}: segment {number}"
        if not isinstance(item, dict):
            raise MtEvalError(f"{here}: not an object")
        spans = item.get("spans", [])
        failure, raw, usage = item.get("failure"), item.get("raw"), item.get("usage", {})
        if not isinstance(spans, list) or not all(isinstance(s, dict) for s in spans):
            raise MtEvalError(f"{here}: spans must be a list of objects")
        if any(v is not None and not isinstance(v, str) for v in (failure, raw)):
            raise MtEvalError(f"{here}: failure and raw must be strings or null")
        if not isinstance(usage, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in usage.values()):
            raise MtEvalError(f"{here}: usage must map names to numbers")
        out.append(SegmentDetail(spans=[make_span(s, where=here) for s in spans], failure=failure, raw=raw,
                                 usage={str(k): float(v) for k, v in usage.items()}))
    return out


def check_details(key: str, details: Any, num_segments: int) -> list[SegmentDetail]:
    """What a metric left in ``metric.details``: one :class:`SegmentDetail` per segment, or an error."""
    if not isinstance(details, Sequence) or len(details) != num_segments or not all(
            isinstance(d, SegmentDetail) for d in details):
        got = f"{len(details)} details" if isinstance(details, Sequence) else type(details).__name__
        raise MtEvalError(f"metric {key}: reports per-segment details but left {got} for"
                          f" {num_segments} segments")
    return list(details)


# ------------------------------------------------------------------------------ into the records
def attach_details(records: Sequence[dict[str, Any]], details: Details) -> None:
    """Spans and failures of every system × metric into the segment records (see module docstring).

    A span gets the record's segment id and the system; its ``source`` is the metric key unless the
    metric named one. A located span whose offsets do not fit the hypothesis (a metric bug) is kept
    as an unlocated span with its text, with a warning; one without text cannot be kept and is an error.
    """
    for system, per_metric in details.items():
        for key, per_segment in per_metric.items():
            if len(per_segment) != len(records):
                raise MtEvalError(f"metric {key}, system {system}: {len(per_segment)} details for"
                                  f" {len(records)} segments")
            for record, detail in zip(records, per_segment, strict=True):
                if detail.spans:
                    hypothesis = str(record.get("outputs", {}).get(system, ""))
                    spans = [_fit(span, key, system, str(record["id"]), hypothesis) for span in detail.spans]
                    set_record_spans(record, system, spans)
                if detail.failure is not None:
                    record.setdefault("failures", {}).setdefault(system, {})[key] = {
                        "failure": detail.failure, "raw": raw_excerpt(detail.raw)}


def _fit(span: Span, key: str, system: str, segment_id: str, hypothesis: str) -> Span:
    span = span.model_copy(update={"segment_id": segment_id, "system": system,
                                   "source": span.source or key})
    try:
        return span.check(hypothesis)
    except MtEvalError as exc:
        if not span.text:
            raise MtEvalError(f"metric {key}: {exc}") from None
        log.warning("metric %s: %s; kept as an unlocated span", key, exc)
        return make_span({**span.model_dump(), "start": None, "end": None})


def usage_totals(details: Details) -> dict[str, dict[str, dict[str, float]]]:
    """``system -> metric key -> counter -> sum over segments`` (metrics that report no usage left out)."""
    totals: dict[str, dict[str, dict[str, float]]] = {}
    for system, per_metric in details.items():
        for key, per_segment in per_metric.items():
            summed: dict[str, float] = {}
            for detail in per_segment:
                for name, value in detail.usage.items():
                    summed[name] = summed.get(name, 0.0) + float(value)
            if summed:
                totals.setdefault(system, {})[key] = summed
    return totals


def failure_keys(details: Details) -> dict[str, dict[str, int]]:
    """Zero counts for every system × metric that reports details (so "0 failures" is shown too)."""
    return {system: dict.fromkeys(per_metric, 0) for system, per_metric in details.items() if per_metric}


# ------------------------------------------------------------------------------ into results.json
def summarize_records(results: Results, records: Sequence[Mapping[str, Any]]) -> Results:
    """``results`` with ``spans``, ``span_counts`` and ``judge_failures`` recomputed from the records.

    ``judge_failures`` keeps the (zero) entries it already had for metrics that report details;
    ``usage`` is carried over (it is not in the records).
    """
    systems = set(results.ok_systems)
    columns: dict[str, dict[str, list[Any]]] = {}
    counts: dict[str, dict[str, dict[str, int]]] = {}
    failures: dict[str, dict[str, int]] = {s: dict.fromkeys(per, 0)
                                           for s, per in results.judge_failures.items()}
    for record in records:
        stored = record.get("spans") or {}
        if not isinstance(stored, Mapping):
            record_spans(record, "")  # the one-line error naming the record
        for system in stored:
            if system not in systems:
                continue
            segment_id = str(record.get("id"))
            for item in _stored_spans(record, system):
                table = columns.setdefault(system, {name: [] for name in SPAN_COLUMNS})
                located = item["start"] is not None
                values = (segment_id, item["start"], item["end"], item["severity"], item.get("category"),
                          item["source"], None if located else item.get("text"))
                for name, value in zip(SPAN_COLUMNS, values, strict=True):
                    table[name].append(value)
                per_source = counts.setdefault(system, {}).setdefault(
                    item["source"], {**dict.fromkeys(SEVERITIES, 0), UNLOCATED: 0})
                per_source[item["severity"]] += 1
                if not located:
                    per_source[UNLOCATED] += 1
        for system, per_metric in (record.get("failures") or {}).items():
            if system in systems and isinstance(per_metric, Mapping):
                for key in per_metric:
                    failures.setdefault(system, {})
                    failures[system][key] = failures[system].get(key, 0) + 1
    return results.model_copy(update={
        "spans": {s: SpanTable(**table) for s, table in columns.items()},
        "span_counts": counts,
        "judge_failures": {s: per for s, per in failures.items() if s in systems},
    })


_SEVERITY_SET = frozenset(SEVERITIES)


def _stored_spans(record: Mapping[str, Any], system: str) -> list[Mapping[str, Any]]:
    """One system's span dicts of a record, checked field by field without building models (a run
    can hold a million spans); anything unexpected goes through :func:`record_spans` for its error."""
    items = record["spans"][system]
    if isinstance(items, list) and all(
            isinstance(item, Mapping) and item.get("severity") in _SEVERITY_SET
            and isinstance(item.get("source"), str) and item["source"]
            and isinstance(item.get("category"), (str, type(None)))
            and isinstance(item.get("text"), (str, type(None))) and _offsets_ok(item) for item in items):
        return items
    return [span.to_dict() for span in record_spans(record, system)]


def _offsets_ok(item: Mapping[str, Any]) -> bool:
    start, end = item.get("start"), item.get("end")
    if start is None and end is None:
        return bool(item.get("text"))
    return (type(start) is int and type(end) is int  # bool is not an offset
            and 0 <= start <= end)


def apply_details(results: Results, records: Sequence[dict[str, Any]], details: Details) -> Results:
    """Details into the records (spans, failures) and their summaries into ``results`` (schema 3)."""
    if details:
        attach_details(records, details)
    results = results.model_copy(update={"usage": usage_totals(details),
                                         "judge_failures": failure_keys(details)})
    return summarize_records(results, records)
