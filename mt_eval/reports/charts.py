"""The report's two charts as small SVG images: corpus scores with CIs, and sentence-score box plots.

Why SVG by hand and not matplotlib: importing pyplot and drawing the two figures cost 3.5 s of a 10 s
``mt-eval score`` on 10k segments (measured with cProfile), a fixed cost every user pays on every run.
These charts are a few dozen rectangles, lines and labels; building the SVG text directly takes
milliseconds, stays sharp at any zoom and is smaller than a PNG. Numbers (quartiles, ticks) come from
numpy; every label is XML-escaped, and the images are embedded as ``<img>`` data URIs, where a browser
never runs scripts.

Box plots follow matplotlib's defaults: box from the first to the third quartile, median line, mean
marker, whiskers to the furthest value within 1.5 × IQR of the box. Outliers are not drawn (at 100k
segments they would be thousands of points); the per-segment view shows those segments.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

from mt_eval.reports.results import Results
from mt_eval.reports.tables import cell, ordered_systems

# matplotlib's "tab10" colours, so the look matches the earlier PNG charts
BLUE, ORANGE, GREEN, RED = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"
CLUSTER_COLOURS = (BLUE, ORANGE, "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")

PANEL_WIDTH = 260
ROW_HEIGHT = 26
TOP = 30  # title band
BOTTOM = 26  # tick labels
FONT = 'font-family="system-ui, sans-serif" font-size="11"'
TITLE_CHARS = 40  # a panel title longer than this (a long metric spec) is cut, so panels never overlap


@dataclass(frozen=True)
class _Row:
    low: float
    high: float
    marks: tuple[tuple[float, str], ...] = ()  # (x, colour) points
    box: tuple[float, float, float, float, float] | None = None  # whisker_lo, q1, median, q3, whisker_hi
    mean: float | None = None


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [round(first + k * step, 10) for k in range(int((high - first) / step + 1e-9) + 1)]


def _format(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.2e}"


def _label_width(systems: Sequence[str]) -> int:
    return min(220, 16 + 7 * max((len(s) for s in systems), default=4))


def _short(name: str, width: int) -> str:
    limit = max(4, (width - 16) // 7)
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _panel(title: str, rows: Sequence[_Row | None], x0: int) -> list[str]:
    """One metric's panel: title, grid, ticks and, per system row, the error bar or box."""
    values = [v for r in rows if r is not None for v in (r.low, r.high)]
    height = TOP + ROW_HEIGHT * len(rows)
    shown = title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"  # full key on hover
    parts = [f'<text x="{x0 + PANEL_WIDTH / 2:.1f}" y="16" text-anchor="middle" {FONT} '
             f'font-weight="600"><title>{escape(title)}</title>{escape(shown)}</text>']
    if not values:
        return parts
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or max(abs(low) * 0.05, 0.5)
    low, high = low - pad, high + pad
    inner = PANEL_WIDTH - 20

    def x(value: float) -> float:
        return x0 + 10 + inner * (value - low) / (high - low)

    for tick in _nice_ticks(low, high):
        parts.append(f'<line x1="{x(tick):.1f}" y1="{TOP - 4}" x2="{x(tick):.1f}" y2="{height}" '
                     'stroke="#000" stroke-opacity="0.12"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{height + 15}" text-anchor="middle" {FONT} '
                     f'fill="#444">{_format(tick)}</text>')
    parts.append(f'<rect x="{x0}" y="{TOP - 4}" width="{PANEL_WIDTH}" height="{height - TOP + 4}" '
                 'fill="none" stroke="#888"/>')
    for index, row in enumerate(rows):
        if row is None:
            continue
        y = TOP + ROW_HEIGHT * index + ROW_HEIGHT / 2
        if row.box is not None:
            w_lo, q1, med, q3, w_hi = row.box
            for a, b in ((w_lo, q1), (q3, w_hi)):
                parts.append(f'<line x1="{x(a):.1f}" y1="{y:.1f}" x2="{x(b):.1f}" y2="{y:.1f}" '
                             'stroke="#333"/>')
            for end in (w_lo, w_hi):
                parts.append(f'<line x1="{x(end):.1f}" y1="{y - 5:.1f}" x2="{x(end):.1f}" y2="{y + 5:.1f}" '
                             'stroke="#333"/>')
            parts.append(f'<rect x="{x(q1):.1f}" y="{y - 8:.1f}" width="{max(x(q3) - x(q1), 1.0):.1f}" '
                         'height="16" fill="#dbe8f5" stroke="#333"/>')
            parts.append(f'<line x1="{x(med):.1f}" y1="{y - 8:.1f}" x2="{x(med):.1f}" y2="{y + 8:.1f}" '
                         f'stroke="{ORANGE}" stroke-width="2"/>')
            if row.mean is not None:
                m = x(row.mean)
                parts.append(f'<path d="M{m:.1f},{y - 4:.1f} L{m + 4:.1f},{y + 3:.1f} '
                             f'L{m - 4:.1f},{y + 3:.1f} Z" fill="{GREEN}"/>')
        else:
            parts.append(f'<line x1="{x(row.low):.1f}" y1="{y:.1f}" x2="{x(row.high):.1f}" y2="{y:.1f}" '
                         'stroke="#666"/>')
            for end in (row.low, row.high):
                parts.append(f'<line x1="{x(end):.1f}" y1="{y - 4:.1f}" x2="{x(end):.1f}" y2="{y + 4:.1f}" '
                             'stroke="#666"/>')
            for value, colour in row.marks:
                parts.append(f'<circle cx="{x(value):.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>')
    return parts


def _svg(systems: Sequence[str], panels: Sequence[tuple[str, Sequence[_Row | None]]]) -> str:
    """Panels side by side with one shared column of system names (base64 SVG)."""
    label = _label_width(systems)
    width = label + (PANEL_WIDTH + 16) * len(panels)
    height = TOP + ROW_HEIGHT * len(systems) + BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', '<rect width="100%" height="100%" fill="#fff"/>']
    for index, system in enumerate(systems):
        y = TOP + ROW_HEIGHT * index + ROW_HEIGHT / 2 + 4
        parts.append(f'<text x="{label - 8}" y="{y:.1f}" text-anchor="end" {FONT}>'
                     f'<title>{escape(system)}</title>{escape(_short(system, label))}</text>')
    for index, (title, rows) in enumerate(panels):
        parts.extend(_panel(title, rows, label + index * (PANEL_WIDTH + 16)))
    parts.append("</svg>")
    return base64.b64encode("\n".join(parts).encode("utf-8")).decode("ascii")


def point_colour(c: Any) -> str:
    """Green/red against a baseline; otherwise one colour per rank cluster."""
    if c.mark:
        return GREEN if c.better else RED
    if c.cluster is not None:
        return CLUSTER_COLOURS[(c.cluster - 1) % len(CLUSTER_COLOURS)]
    return BLUE


def score_chart(results: Results) -> str | None:
    """One panel per metric: corpus score per system with its CI as an error bar (base64 SVG)."""
    systems = [s for s in ordered_systems(results) if s in results.scores]
    metrics = list(results.metrics)
    if not systems or not metrics:
        return None
    panels = []
    for key in metrics:
        rows: list[_Row | None] = []
        for system in systems:
            c = cell(results, system, key)
            if c.score is None or not math.isfinite(c.score):
                rows.append(None)
                continue
            low = c.ci_low if c.ci_low is not None and math.isfinite(c.ci_low) else c.score
            high = c.ci_high if c.ci_high is not None and math.isfinite(c.ci_high) else c.score
            rows.append(_Row(low=low, high=high, marks=((c.score, point_colour(c)),)))
        title = key + ("" if results.metrics[key].higher_is_better else " (lower is better)")
        panels.append((title, rows))
    return _svg(systems, panels)


def box_row(values: Sequence[float]) -> _Row | None:
    """Quartiles, 1.5 × IQR whiskers and mean of one system's sentence scores."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return None
    q1, med, q3 = (float(v) for v in np.percentile(arr, [25, 50, 75]))
    reach = 1.5 * (q3 - q1)
    inside = arr[(arr >= q1 - reach) & (arr <= q3 + reach)]
    w_lo, w_hi = float(inside.min()), float(inside.max())
    return _Row(low=w_lo, high=w_hi, box=(w_lo, q1, med, q3, w_hi), mean=float(arr.mean()))


def distribution_chart(results: Results, records: Sequence[Mapping[str, Any]]) -> str | None:
    """Box plots of sentence scores, one panel per metric (base64 SVG)."""
    systems = [s for s in ordered_systems(results) if s in results.scores]
    metrics = list(results.metrics)
    if not systems or not metrics or not records:
        return None
    panels = []
    for key in metrics:
        rows = [box_row([r["scores"].get(system, {}).get(key) for r in records]) for system in systems]
        panels.append((key, rows))
    return _svg(systems, panels)
