"""The history site: ``index.html`` (one chart per system × metric, inline SVG, no script, no network),
``history.json`` (the same numbers for machines) and ``runs/<run>/report.html`` (each run's own report,
copied), written in one swap so the folder can be published as is.

Charts follow :mod:`mt_eval.reports.charts`: SVG text built directly, every label escaped. The SVG is
inline (not a data-URI image) so that each point can be a link to its run's report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mt_eval.errors import MtEvalError, first_validation_problem
from mt_eval.fsio import (
    atomic_directory,
    atomic_write_json,
    atomic_write_text,
    check_output_folder,
    read_input_bytes,
)
from mt_eval.history.collect import FAILING, Run, check_output, load_runs
from mt_eval.history.series import History, Line, Point, build_history
from mt_eval.reports.charts import CLUSTER_COLOURS, GREEN, RED, _format, _nice_ticks
from mt_eval.settings import VerdictSettings

INDEX_FILE = "index.html"
DATA_FILE = "history.json"  # also marks a folder as a history site (safe to replace)
RUNS_DIR = "runs"
TEMPLATE_NAME = "history.html.j2"
DATA_VERSION = 1

WIDTH, HEIGHT = 1100, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 18, 46
DATED_RUNS = 24  # up to this many runs, each tick also shows the run's date
FONT = 'font-family="system-ui, sans-serif" font-size="11"'
GREY = "#888"


def history_settings(**given: Any) -> VerdictSettings:
    """The tests' settings: the gate's defaults (:class:`VerdictSettings`) with the given values."""
    try:
        return VerdictSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        where, message = first_validation_problem(exc)
        raise MtEvalError(f"--{where.replace('_', '-')}: {message.removeprefix('Value error, ')}") from None


def report_link(run: Run) -> str:
    return f"{RUNS_DIR}/{run.label}/report.html"


# ------------------------------------------------------------------------------------------ charts
@dataclass(frozen=True)
class _Axes:
    n_runs: int
    low: float
    high: float

    def x(self, run: int) -> float:
        inner = WIDTH - LEFT - RIGHT
        return LEFT + inner * (run + 0.5) / max(self.n_runs, 1)

    def y(self, value: float) -> float:
        inner = HEIGHT - TOP - BOTTOM
        return TOP + inner * (self.high - value) / (self.high - self.low)


def _axes(lines: Sequence[Line], n_runs: int) -> _Axes:
    values = [v for line in lines for p in line.points for v in (p.score, p.ci_low, p.ci_high)
              if v is not None and math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.16 or max(abs(low) * 0.05, 0.5)  # room for the change arrows
    return _Axes(n_runs, low - pad, high + pad)


def _frame(axes: _Axes, runs: Sequence[Run]) -> list[str]:
    parts = []
    for tick in _nice_ticks(axes.low, axes.high):
        y = axes.y(tick)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#000" '
                     'stroke-opacity="0.1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT} fill="#444">'
                     f'{_format(tick)}</text>')
    every = max(1, math.ceil(len(runs) / 40))
    for index, run in enumerate(runs):
        if index % every and index != len(runs) - 1:
            continue
        x = axes.x(index)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 15}" text-anchor="middle" {FONT} fill="#444">'
                     f'<title>{escape(run.results.run_name)}</title>{index + 1}</text>')
        if len(runs) <= DATED_RUNS:
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 28}" text-anchor="middle" {FONT} '
                         f'fill="#777">{run.when.strftime("%m-%d")}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
                 f'height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="{GREY}"/>')
    parts.append(f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 3}" text-anchor="middle" {FONT} fill="#444">'
                 'run (oldest → newest)</text>')
    return parts


def _tooltip(line: Line, point: Point, run: Run) -> str:
    text = [f"#{point.run + 1} {run.results.run_name} ({run.when.isoformat(timespec='minutes')},"
            f" by {run.when_source})", f"{line.metric} = {_num(point.score)}"
            + (f" [{_num(point.ci_low)}, {_num(point.ci_high)}]" if point.ci_low is not None
               and point.ci_high is not None else "")]
    if point.step is not None:
        s = point.step
        text.append(f"Δ {s.delta:+.4g} vs previous point, p = {s.p_value:.4f}, p (Holm) = {s.p_adjusted:.4f}"
                    + (" — significant" if s.significant else ""))
    elif point.step_note:
        text.append(point.step_note)
    if point.gate:
        text.append(f"gate: {point.gate}" + (f" ({point.gate_reason})" if point.gate_reason else ""))
    return "\n".join(text)


def _num(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _line_parts(line: Line, colour: str, axes: _Axes, runs: Sequence[Run], links: Sequence[str | None],
                start_mark: int) -> list[str]:
    parts = []
    if start_mark:  # a new line of this system × metric: where it starts, numbered as in the legend
        x = axes.x(line.points[0].run) - 10
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="{colour}" '
                     'stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x + 3:.1f}" y="{TOP + 12}" {FONT} fill="{colour}">'
                     f'<title>{escape(line.reason)}</title>line {start_mark + 1}</text>')
    for before, after in zip(line.points, line.points[1:], strict=False):
        wide = after.step is not None and after.step.significant
        gap = ' stroke-dasharray="6 4"' if after.run - before.run > 1 else ""  # runs in between lack it
        parts.append(f'<line x1="{axes.x(before.run):.1f}" y1="{axes.y(before.score):.1f}" '
                     f'x2="{axes.x(after.run):.1f}" y2="{axes.y(after.score):.1f}" stroke="{colour}" '
                     f'stroke-width="{3 if wide else 1.5}"{gap}/>')
    for point in line.points:
        parts.extend(_point_parts(line, point, colour, axes, (runs[point.run], links[point.run])))
    return parts


def _point_parts(line: Line, point: Point, colour: str, axes: _Axes,
                 target: tuple[Run, str | None]) -> list[str]:
    run, href = target
    x, y = axes.x(point.run), axes.y(point.score)
    parts = []
    if point.ci_low is not None and point.ci_high is not None:
        lo, hi = axes.y(point.ci_low), axes.y(point.ci_high)
        parts.append(f'<line x1="{x:.1f}" y1="{lo:.1f}" x2="{x:.1f}" y2="{hi:.1f}" stroke="{colour}" '
                     'stroke-opacity="0.6"/>')
        for end in (lo, hi):
            parts.append(f'<line x1="{x - 3:.1f}" y1="{end:.1f}" x2="{x + 3:.1f}" y2="{end:.1f}" '
                         f'stroke="{colour}" stroke-opacity="0.6"/>')
    if point.gate:
        ring = RED if point.gate in FAILING else GREY if point.gate == "cannot-compare" else GREEN
        dash = ' stroke-dasharray="2 2"' if point.gate == "cannot-compare" else ""
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8.5" fill="none" stroke="{ring}" '
                     f'stroke-width="2"{dash} class="gate-{escape(point.gate)}"/>')
    if point.step is not None and point.step.significant:
        sign = 1 if point.step.delta > 0 else -1  # arrow in the direction of the score's change
        tip, base = y - sign * 20, y - sign * 12
        fill = GREEN if point.step.better else RED
        kind = "better" if point.step.better else "worse"
        parts.append(f'<path class="change-{kind}" d="M{x:.1f},{tip:.1f} L{x + 5:.1f},{base:.1f} '
                     f'L{x - 5:.1f},{base:.1f} Z" fill="{fill}"/>')
    dot = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" stroke="#fff">'
           f'<title>{escape(_tooltip(line, point, run))}</title></circle>')
    parts.append(f'<a href="{escape(href)}">{dot}</a>' if href else dot)
    return parts


def panel_svg(lines: Sequence[Line], runs: Sequence[Run], links: Sequence[str | None]) -> str:
    """One system × metric: every line of it over the shared run axis (inline SVG text); each point
    links to ``links[run]``, its run's report in the site (``None``: no link)."""
    axes = _axes(lines, len(runs))
    label = escape(f"{lines[0].system}, {lines[0].metric}: score per run" if lines else "scores per run")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" '
             f'aria-label="{label}">', f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
             *_frame(axes, runs)]
    for number, line in enumerate(lines):
        parts.extend(_line_parts(line, line_colour(number), axes, runs, links, number))
    parts.append("</svg>")
    return "\n".join(parts)


def line_colour(number: int) -> str:
    return CLUSTER_COLOURS[number % len(CLUSTER_COLOURS)]


# ------------------------------------------------------------------------------------------ page
def _environment():  # type: ignore[no-untyped-def]
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("mt_eval.history", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_page(history: History, reports: dict[int, str | None]) -> str:
    """``index.html``: the runs, then one section per metric with a chart per system."""
    links = [reports.get(i) for i in range(len(history.runs))]
    panels = []
    for system, metric in history.panels():
        lines = [ln for ln in history.lines if ln.panel == (system, metric)]
        panels.append({"system": system, "metric": metric, "lines": lines,
                       "colours": [line_colour(i) for i in range(len(lines))],
                       "numbers": [[p.run + 1 for p in line.points] for line in lines],
                       "lower_better": not lines[0].higher_is_better,
                       "svg": panel_svg(lines, history.runs, links),
                       "rows": _rows(lines, history.runs)})
    steps = [p.step for ln in history.lines for p in ln.points if p.step is not None]
    return _environment().get_template(TEMPLATE_NAME).render(
        history=history, runs=history.runs, reports=reports, panels=panels, failing=FAILING,
        n_tested=len(steps), n_significant=sum(s.significant for s in steps),
        notes=[(run, note) for run in history.runs for note in run.notes])


def _rows(lines: Sequence[Line], runs: Sequence[Run]) -> list[dict[str, Any]]:
    from mt_eval.reports.tables import cell

    rows = []
    for number, line in enumerate(lines):
        decimals = cell(runs[line.points[0].run].results, line.system, line.metric).decimals  # as in reports
        for point in line.points:
            rows.append({"line": number + 1, "run": point.run + 1, "name": runs[point.run].results.run_name,
                         "point": point, "colour": line_colour(number), "decimals": decimals})
    return sorted(rows, key=lambda r: (r["run"], r["line"]))


def history_document(history: History, reports: dict[int, str | None]) -> dict[str, Any]:
    """``history.json``: every run, line, point and step of the page."""
    runs = [{"number": i + 1, "label": run.label, "run_name": run.results.run_name,
             "created": run.results.created, "time": run.when.isoformat(), "time_source": run.when_source,
             "git": run.results.git, "testset": {"name": run.results.testset.name,
                                                 "hash": run.results.testset.hash},
             "gate": run.gate.outcome if run.gate else None, "report": reports.get(i),
             "notes": list(run.notes)}
            for i, run in enumerate(history.runs)]
    lines = [{"system": ln.system, "metric": ln.metric, "testset_hash": ln.testset_hash,
              "testset_name": ln.testset_name, "signature": ln.signature_string,
              "higher_is_better": ln.higher_is_better, "reason": ln.reason, "note": ln.note,
              "points": [{"run": p.run + 1, "score": p.score, "ci_low": p.ci_low, "ci_high": p.ci_high,
                          "gate": p.gate or None, "step_note": p.step_note or None,
                          "step": None if p.step is None else vars(p.step)} for p in ln.points]}
             for ln in history.lines]
    settings = history.settings
    return {"schema_version": DATA_VERSION,
            "tests": {"method": settings.method, "alpha": settings.alpha, "seed": settings.seed,
                      "n_resamples": settings.n_resamples, "correction": settings.correction},
            "runs": runs, "lines": lines}


# ------------------------------------------------------------------------------------------ writing
def _check_site_folder(output: str | Path) -> Path:
    """Refuse to replace a folder that is not empty and not a history site (``-o .`` must not wipe a
    checkout)."""
    target = check_output_folder(output, "-o")
    if target.is_dir() and any(target.iterdir()) and not (target / DATA_FILE).is_file():
        raise MtEvalError(f"{output}: exists, is not empty and is not a history site (no {DATA_FILE});"
                          " choose another -o")
    return target


def _copy_report(run: Run, index: int, staging: Path) -> tuple[str | None, str | None]:
    """The run's ``report.html`` into the site (rendered from the run folder when it has none)."""
    from mt_eval.reports.html import render_report

    folder = run.folder
    target = staging / report_link(run)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if folder.layout.report_html.is_file():
            target.write_bytes(read_input_bytes(folder.layout.report_html, "report"))
        else:
            results = run.results
            target.write_text(render_report(results, folder.segments(results), meta=folder.meta(results)),
                              encoding="utf-8")
    except MtEvalError as exc:
        return None, f"run {index + 1} ({run.results.run_name}): no report: {exc}"
    return report_link(run), None


@dataclass(frozen=True)
class Written:
    index: Path
    history: History
    notes: list[str]


def make_history(inputs: Sequence[str | Path], output: str | Path,
                 settings: VerdictSettings | None = None) -> Written:
    """``mt-eval history``: read the runs, test the steps, write the site folder in one swap."""
    if not inputs:
        raise MtEvalError("no run folders given")
    check_output(output, inputs)
    _check_site_folder(output)
    history = build_history(load_runs(inputs), settings or history_settings())
    notes = [f"run {i + 1} ({r.results.run_name}): {n}" for i, r in enumerate(history.runs) for n in r.notes]
    with atomic_directory(output) as staging:
        reports: dict[int, str | None] = {}
        for index, run in enumerate(history.runs):
            reports[index], problem = _copy_report(run, index, staging)
            if problem:
                notes.append(problem)
        atomic_write_json(staging / DATA_FILE, history_document(history, reports))
        atomic_write_text(staging / INDEX_FILE, render_page(history, reports))
    notes += [f"{ln.system} × {ln.metric}: {ln.note}" for ln in history.lines if ln.note]
    return Written(Path(output) / INDEX_FILE, history, notes)
