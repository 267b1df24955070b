"""The self-contained ``report.html``: score chart with CIs, sentence-score distributions, a sortable
per-segment side-by-side view and the output-check flags.

Everything is embedded (charts as base64 SVG from :mod:`mt_eval.reports.charts`, data as JSON, a few
lines of inline JS), so the file opens offline and can be attached to an issue or e-mail as is.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mt_eval.fsio import atomic_write_text
from mt_eval.reports.charts import distribution_chart, score_chart
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.results import Results
from mt_eval.reports.tables import cell, comparison_rows, flag_names, legend_lines, ordered_systems

TEMPLATE_NAME = "report.html.j2"


def _safe_json(obj: Any) -> str:
    """JSON that cannot close the surrounding ``<script>`` element."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.lru_cache(maxsize=1)
def _environment():  # type: ignore[no-untyped-def]
    """One Jinja environment per process: its templates are compiled once, however many reports."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("mt_eval.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


MAX_SEGMENTS = 2000  # rows of the side-by-side view; every segment stays in segments.jsonl


def select_segments(records: Sequence[Mapping[str, Any]], metric: str | None, sys_a: str, sys_b: str,
                    limit: int) -> tuple[list[Mapping[str, Any]], str]:
    """The rows of the side-by-side view at large N, in test-set order, and a sentence saying which.

    A quarter of ``limit`` each: the largest and the smallest sentence-score differences ``sys_b - sys_a``
    on ``metric`` over the *whole* test set (what the view's default sort puts on top), the rest spread
    evenly over the test set. Deterministic, so two renderings of a run show the same rows.
    """
    total = len(records)
    if total <= limit:
        return list(records), ""
    chosen: set[int] = set()
    extremes = 0
    if metric is not None and sys_a != sys_b and limit >= 4:
        extremes = limit // 4
        diffs = []
        for position, record in enumerate(records):
            scores = record.get("scores", {})
            a = scores.get(sys_a, {}).get(metric)
            b = scores.get(sys_b, {}).get(metric)
            if a is not None and b is not None:
                diffs.append((float(b) - float(a), position))
        diffs.sort()
        chosen.update(p for _, p in diffs[:extremes])
        chosen.update(p for _, p in diffs[max(len(diffs) - extremes, 0):])
    rest = [p for p in range(total) if p not in chosen]
    room = limit - len(chosen)
    if room > 0 and rest:
        step = len(rest) / room
        chosen.update(rest[int(k * step)] for k in range(min(room, len(rest))))
    shown = [records[p] for p in sorted(chosen)]
    note = (f"Showing {len(shown)} of {total} segments"
            + (f": the {extremes} largest and {extremes} smallest {metric} differences {sys_b} − {sys_a}"
               " and an even spread of the rest, in test-set order" if extremes else ", evenly spread")
            + "; every segment is in segments.jsonl.")
    return shown, note


def render_report(results: Results, records: Sequence[Mapping[str, Any]], *,
                  max_segments: int = MAX_SEGMENTS, meta: Mapping[str, Any] | None = None,
                  canaries: str | None = None) -> str:
    """The report as one HTML string (the side-by-side view holds at most ``max_segments`` rows);
    ``meta`` is the run's ``meta.json`` (``mt-eval meta``), shown as a "Meta-evaluation" section;
    ``canaries`` the "Metric canaries" section, HTML escaped by its maker
    (:func:`mt_eval.canaries.report.section_for_run`)."""
    from mt_eval.analysis.view import analysis_view
    from mt_eval.reports.spans_view import meta_view, span_cells, span_sources_of
    from mt_eval.reports.tables import failure_rows, span_count_rows, usage_names

    all_records = records
    systems = [s for s in ordered_systems(results) if s in results.scores]
    metrics = list(results.metrics)
    view_a = results.significance.baseline if results.significance else None
    view_a = view_a or (systems[0] if systems else "")
    view_b = next((s for s in systems if s != view_a), view_a)
    records, segment_note = select_segments(records, metrics[0] if metrics else None, view_a, view_b,
                                            max_segments)
    table_rows = []
    for system in ordered_systems(results):
        table_rows.append({
            "system": system,
            "baseline": bool(results.significance and system == results.significance.baseline),
            "status": results.systems[system].status,
            "reason": results.systems[system].reason,
            "cells": [cell(results, system, key) for key in metrics],
            "flags": results.flags.get(system),
        })
    # one entry per shown row (the rows' data-index is their position), not per test-set segment
    scores_json = {key: {s: [r["scores"].get(s, {}).get(key) for r in records] for s in systems}
                   for key in metrics}
    baseline = results.significance.baseline if results.significance else None
    baseline = baseline or (systems[0] if systems else "")
    other = next((s for s in systems if s != baseline), baseline)
    template = _environment().get_template(TEMPLATE_NAME)
    return template.render(
        legend=legend_lines(results),
        comparisons=comparison_rows(results),
        results=results,
        metrics=metrics,
        systems=systems,
        flags=flag_names(results),
        table_rows=table_rows,
        records=records,
        score_png=score_chart(results),
        dist_png=distribution_chart(results, all_records),
        total_segments=len(all_records),
        segment_note=segment_note,
        scores_json=_safe_json(scores_json),
        default_a=baseline,
        default_b=other,
        # error spans, judge failures and cost (schema 3), meta-evaluation
        span_sources=span_sources_of(all_records),
        span_cells=span_cells(records, systems),
        span_rows=span_count_rows(results),
        failure_rows=failure_rows(results),
        usage_names=usage_names(results),
        meta=meta_view(meta, results),
        canaries=canaries,
        analysis=analysis_view(results.analysis, systems),
    )


def write_report(results: Results, records: Sequence[Mapping[str, Any]], root: str | Path, *,
                 meta: Mapping[str, Any] | None = None) -> Path:
    from mt_eval.canaries.report import section_for_run

    path = RunLayout.of(root).report_html
    canaries = section_for_run(root, results.testset.hash)  # the run folder's canaries.json, if any
    atomic_write_text(path, render_report(results, records, meta=meta, canaries=canaries))
    return path
