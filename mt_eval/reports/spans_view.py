"""What ``report.html`` shows of error spans, judge failures and the meta-evaluation.

Spans are stored with code-point offsets (:mod:`mt_eval.spans`); the report's script slices the
hypothesis as a JavaScript string, i.e. in UTF-16 code units, so each located span is handed over with
offsets converted by :func:`mt_eval.spans.utf16_offsets` (an emoji outside the Basic Multilingual
Plane is one code point but two UTF-16 units). The data travels in an HTML attribute that Jinja
escapes, and the script builds the highlights with ``textContent``/``createElement`` only, so a
hypothesis holding ``<script>`` stays text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.reports.results import Results
from mt_eval.spans import record_spans, utf16_offsets


def span_sources_of(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every span source (judge or annotator) in the records, in first-seen order."""
    return list(dict.fromkeys(span["source"] for record in records
                              for spans in (record.get("spans") or {}).values() if isinstance(spans, list)
                              for span in spans
                              if isinstance(span, Mapping) and isinstance(span.get("source"), str)))


def cell_view(record: Mapping[str, Any], system: str) -> dict[str, Any]:
    """One hypothesis cell: its located spans for the script (``[start16, end16, severity, source,
    category]``, JSON), its unlocated spans and the metrics that could not judge it (with raw output)."""
    hypothesis = str(record.get("outputs", {}).get(system, ""))
    located: list[list[Any]] = []
    unlocated: list[dict[str, Any]] = []
    try:
        spans = record_spans(record, system)
    except MtEvalError:
        spans = []  # a damaged record is shown without highlights, not a failed report
    for span in spans:
        if span.start is not None and span.end is not None and span.end <= len(hypothesis):
            start16, end16 = utf16_offsets(hypothesis, span.start, span.end)
            located.append([start16, end16, span.severity, span.source, span.category or ""])
        else:
            unlocated.append({"severity": span.severity, "source": span.source, "category": span.category,
                              "text": span.text or ""})
    failures = [{"metric": key, "failure": str(entry.get("failure", "")),
                 "raw": None if entry.get("raw") is None else str(entry.get("raw"))}
                for key, entry in sorted(((record.get("failures") or {}).get(system) or {}).items())
                if isinstance(entry, Mapping)]
    return {"spans_json": json.dumps(located, ensure_ascii=False) if located else "",
            "unlocated": unlocated, "failures": failures}


def span_cells(records: Sequence[Mapping[str, Any]], systems: Sequence[str]
               ) -> list[dict[str, dict[str, Any]]]:
    """:func:`cell_view` of every shown row × system."""
    return [{system: cell_view(record, system) for system in systems} for record in records]


META_COLUMNS = (("pairwise accuracy", "pairwise_accuracy"), ("SPA", "spa"), ("Pearson", "pearson"),
                ("acc_eq", "acc_eq"), ("acc23", "acc23"))


def _meta_cell(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("value"), (int, float)):
        return {"text": "n/a", "ci": "", "note": ""}
    ci = ""
    if isinstance(entry.get("ci_low"), (int, float)) and isinstance(entry.get("ci_high"), (int, float)):
        ci = f"[{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"
    note = f"ε {entry['epsilon']:.3g}" if isinstance(entry.get("epsilon"), (int, float)) else ""
    return {"text": f"{entry['value']:.3f}", "ci": ci, "note": note}


def meta_view(document: Mapping[str, Any] | None, results: Results) -> dict[str, Any] | None:
    """The "Meta-evaluation" section from ``meta.json`` (``mt-eval meta``), or ``None`` without one."""
    if not document or not isinstance(document.get("metrics"), Mapping):
        return None
    found = document.get("settings")
    settings: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    rows = []
    for key, entry in document["metrics"].items():
        entry = entry if isinstance(entry, Mapping) else {}
        higher = results.metrics[key].higher_is_better if key in results.metrics else True
        rows.append({"metric": key, "negated": not higher,
                     "cells": [_meta_cell(entry.get(stat)) for _, stat in META_COLUMNS]})
    given = document.get("definitions")
    definitions: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    confidence = settings.get("confidence")
    return {
        "human": str(document.get("human", "")),
        "systems": len(document.get("systems") or []),
        "segments": document.get("num_segments"),
        "confidence": f"{confidence:.0%}" if isinstance(confidence, (int, float)) else "",
        "resamples": settings.get("n_resamples"),
        "columns": [label for label, _ in META_COLUMNS],
        "rows": rows,
        "definitions": [(label, str(definitions.get(stat, ""))) for label, stat in META_COLUMNS
                        if definitions.get(stat)],
        "warnings": [str(w) for w in document.get("warnings") or []],
    }

