"""The report's SVG charts: valid XML, escaped labels, and box plots with the documented statistics."""

from __future__ import annotations

import base64
import itertools
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from helpers.corpora import GOOD, REFS, SOURCES

import mt_eval.evaluate as ev
from mt_eval.data.testset import TestSet
from mt_eval.reports.charts import _nice_ticks, box_row, distribution_chart, score_chart
from mt_eval.settings import EvalSettings
from mt_eval.translators.base import SystemRun

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script>&"'


def _svg(encoded: str) -> ET.Element:
    return ET.fromstring(base64.b64decode(encoded).decode("utf-8"))


@pytest.mark.parametrize("values", [
    [1.0, 2.0, 3.0, 4.0, 100.0],          # one far outlier: the upper whisker stops at 4
    list(np.linspace(0, 1, 11)),           # no outliers: whiskers at min and max
    [5.0],                                 # a single value
])
def test_box_row_matches_matplotlib_definition(values: list[float]) -> None:
    row = box_row(values)
    assert row is not None and row.box is not None
    arr = np.asarray(values)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    inside = arr[(arr >= q1 - 1.5 * (q3 - q1)) & (arr <= q3 + 1.5 * (q3 - q1))]
    assert row.box == pytest.approx((inside.min(), q1, med, q3, inside.max()))
    assert row.mean == pytest.approx(arr.mean())


def test_box_row_ignores_missing_and_non_finite() -> None:
    assert box_row([None, float("nan")]) is None  # type: ignore[list-item]
    row = box_row([1.0, None, float("inf"), 3.0])  # type: ignore[list-item]
    assert row is not None and row.mean == pytest.approx(2.0)


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (12.3, 48.9), (-3.0, 7.5), (99.1, 99.4)])
def test_nice_ticks_cover_the_range_with_round_steps(low: float, high: float) -> None:
    ticks = _nice_ticks(low, high)
    assert 2 <= len(ticks) <= 6
    assert all(low - 1e-9 <= t <= high + 1e-9 for t in ticks)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)


@pytest.fixture(scope="module")
def hostile_run() -> ev.RunResult:
    ts = TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES[:6], REFS[:6], strict=True)], source_lang="ar",
                            target_lang="en", name="tiny")
    systems = [SystemRun("copy", "copy", list(SOURCES[:6]), {}),
               SystemRun(HOSTILE, "file:g.txt", list(GOOD[:6]), {})]
    return ev.evaluate(ts, systems, ["bleu", "ter"],
                       EvalSettings(resamples=50, seed=1, baseline="copy", method="paired-bs"))


def test_score_chart_is_valid_svg_with_escaped_names(hostile_run: ev.RunResult) -> None:
    results = hostile_run.results
    chart = score_chart(results)
    assert chart is not None
    decoded = base64.b64decode(chart).decode("utf-8")
    assert "<script>" not in decoded and "&lt;script&gt;" in decoded
    root = ET.fromstring(decoded)
    assert root.tag == f"{SVG}svg"
    labels = [t.find(f"{SVG}title") for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert sorted(t.text for t in labels if t is not None) == sorted(["copy", HOSTILE])  # names intact
    panel_titles = [t.find(f"{SVG}title").text for t in root.iter(f"{SVG}text")  # type: ignore[union-attr]
                    if t.get("font-weight") == "600"]
    assert panel_titles == ["bleu", "ter (lower is better)"]
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == 2 * 2  # one point per system and metric
    assert "ter (lower is better)" in decoded


def test_distribution_chart_draws_one_box_per_system_and_metric(hostile_run: ev.RunResult) -> None:
    results = hostile_run.results
    records = [{"scores": {name: {key: float(i + j) for j, key in enumerate(results.metrics)}
                           for name in results.scores}} for i in range(6)]
    root = ET.fromstring(base64.b64decode(distribution_chart(results, records) or "").decode("utf-8"))
    boxes = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#dbe8f5"]
    assert len(boxes) == 2 * 2
    assert distribution_chart(results, []) is None


def test_long_metric_keys_are_cut_in_panel_titles_but_kept_on_hover() -> None:
    from mt_eval.reports.charts import TITLE_CHARS, _panel, _Row

    key = "gemba-esa:judge=openai:http://127.0.0.1:8000/v1?model=a-rather-long-model-name"
    parts = "".join(_panel(key, [_Row(low=1.0, high=2.0, marks=((1.5, "#000"),))], 0))
    root = ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{parts}</svg>')
    title = next(t for t in root.iter(f"{SVG}text") if t.get("font-weight") == "600")
    assert title.find(f"{SVG}title").text == key  # type: ignore[union-attr]
    shown = "".join(title.itertext())[len(key):]
    assert len(shown) == TITLE_CHARS and shown.endswith("…")
