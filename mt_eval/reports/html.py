"""The self-contained ``report.html``: score chart with CIs, sentence-score distributions, a sortable
per-segment side-by-side view and the output-check flags.

Everything is embedded (charts as base64 PNG, data as JSON, a few lines of inline JS), so the file
opens offline and can be attached to an issue or e-mail as is. matplotlib is imported only here,
lazily, with the non-interactive Agg backend.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mt_eval.fsio import atomic_write_text
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.results import Results
from mt_eval.reports.tables import cell, comparison_rows, flag_names, legend_lines, ordered_systems

TEMPLATE_NAME = "report.html.j2"


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def score_chart(results: Results) -> str | None:
    """One panel per metric: corpus score per system with its CI as an error bar (base64 PNG)."""
    systems = [s for s in ordered_systems(results) if s in results.scores]
    metrics = list(results.metrics)
    if not systems or not metrics:
        return None
    plt = _pyplot()
    size = (max(4.0, 3.2 * len(metrics)), 0.45 * len(systems) + 1.6)
    fig, axes = plt.subplots(1, len(metrics), figsize=size, squeeze=False, sharey=True)
    try:
        for ax, key in zip(axes[0], metrics, strict=True):
            ys, xs, lo, hi, colors = [], [], [], [], []
            for y, system in enumerate(systems):
                c = cell(results, system, key)
                if c.score is None or not math.isfinite(c.score):
                    continue
                ys.append(y)
                xs.append(c.score)
                lo.append(c.score - c.ci_low if c.ci_low is not None else 0.0)
                hi.append(c.ci_high - c.score if c.ci_high is not None else 0.0)
                colors.append(_point_colour(c))
            ax.errorbar(xs, ys, xerr=[lo, hi], fmt="none", ecolor="0.4", capsize=3)
            ax.scatter(xs, ys, c=colors, zorder=3)
            ax.set_title(key + ("" if results.metrics[key].higher_is_better else " (lower is better)"),
                         fontsize=10)
            ax.grid(axis="x", alpha=0.3)
        axes[0][0].set_yticks(range(len(systems)))
        axes[0][0].set_yticklabels(systems)
        axes[0][0].set_ylim(-0.5, len(systems) - 0.5)
        axes[0][0].invert_yaxis()
        fig.tight_layout()
        return _png(fig)
    finally:
        plt.close(fig)


_CLUSTER_COLOURS = ("tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def _point_colour(c: Any) -> str:
    """Green/red against a baseline; otherwise one colour per rank cluster."""
    if c.mark:
        return "tab:green" if c.better else "tab:red"
    if c.cluster is not None:
        return _CLUSTER_COLOURS[(c.cluster - 1) % len(_CLUSTER_COLOURS)]
    return "tab:blue"


def distribution_chart(results: Results, records: Sequence[Mapping[str, Any]]) -> str | None:
    """Box plots of sentence scores, one panel per metric (base64 PNG)."""
    systems = [s for s in ordered_systems(results) if s in results.scores]
    metrics = list(results.metrics)
    if not systems or not metrics or not records:
        return None
    plt = _pyplot()
    size = (max(4.0, 3.2 * len(metrics)), 0.45 * len(systems) + 1.6)
    fig, axes = plt.subplots(1, len(metrics), figsize=size, squeeze=False, sharey=True)
    try:
        for ax, key in zip(axes[0], metrics, strict=True):
            data = []
            for system in systems:
                values = [r["scores"].get(system, {}).get(key) for r in records]
                data.append([v for v in values if v is not None])
            ax.boxplot(data, showmeans=True, **_horizontal())
            ax.set_title(key, fontsize=10)
            ax.grid(axis="x", alpha=0.3)
        axes[0][0].set_yticks(range(1, len(systems) + 1))
        axes[0][0].set_yticklabels(systems)
        axes[0][0].invert_yaxis()
        fig.tight_layout()
        return _png(fig)
    finally:
        plt.close(fig)


def _horizontal() -> dict[str, Any]:
    """``orientation=`` replaced ``vert=`` in matplotlib 3.10."""
    import matplotlib

    major, minor = (int(p) for p in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _safe_json(obj: Any) -> str:
    """JSON that cannot close the surrounding ``<script>`` element."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _environment():  # type: ignore[no-untyped-def]
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
                  max_segments: int = MAX_SEGMENTS) -> str:
    """The report as one HTML string (the side-by-side view holds at most ``max_segments`` rows)."""
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
    )


def write_report(results: Results, records: Sequence[Mapping[str, Any]], root: str | Path) -> Path:
    path = RunLayout.of(root).report_html
    atomic_write_text(path, render_report(results, records))
    return path
