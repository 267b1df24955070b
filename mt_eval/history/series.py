"""The lines of a history and the tests between their consecutive points.

A line holds one system's score on one metric key across runs that share the test set (content hash)
and the metric signature: only such scores can be compared. A run with another test set or signature
starts another line, whose ``reason`` says what changed. Each step between consecutive points of a
line is tested with the paired test of a run and of the CI gate (:func:`mt_eval.evaluate.paired_tests`)
on the two runs' saved per-segment statistics; Holm adjusts over the tests of one metric between one
pair of runs (the systems that both runs hold), as a run adjusts over the tests of one metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mt_eval.errors import MtEvalError
from mt_eval.history.collect import Run
from mt_eval.metrics.signature import MetricSignature
from mt_eval.settings import VERDICT_DEFAULTS, VerdictSettings

if TYPE_CHECKING:
    from mt_eval.metrics.base import Metric


@dataclass(frozen=True)
class Step:
    """The change from the previous point of a line: paired test on the saved statistics."""

    delta: float  # this run's score - the previous run's
    p_value: float
    p_adjusted: float
    method: str
    n_resamples: int
    significant: bool
    better: bool  # the change is an improvement (whatever the metric's direction)


@dataclass
class Point:
    run: int  # index in History.runs
    score: float
    ci_low: float | None
    ci_high: float | None
    gate: str = ""  # the gate's status for this system × metric in this run ("" = not gated)
    gate_reason: str = ""
    step: Step | None = None
    step_note: str = ""  # why the step to this point was not tested


@dataclass
class Line:
    system: str
    metric: str
    testset_hash: str
    testset_name: str
    signature: dict[str, Any]
    signature_string: str
    higher_is_better: bool
    points: list[Point] = field(default_factory=list)
    reason: str = ""  # why this line is not its system × metric's first: what changed
    note: str = ""  # why none of its steps was tested

    @property
    def panel(self) -> tuple[str, str]:
        return self.system, self.metric


@dataclass
class History:
    runs: list[Run]
    lines: list[Line]
    settings: VerdictSettings

    def panels(self) -> list[tuple[str, str]]:
        """(system, metric) in first-seen order: metrics in run order, then systems."""
        seen: dict[tuple[str, str], None] = {}
        for line in sorted(self.lines, key=lambda ln: (self._metric_order(ln.metric), ln.system)):
            seen.setdefault(line.panel, None)
        return list(seen)

    def _metric_order(self, key: str) -> int:
        order: dict[str, int] = {}
        for run in self.runs:
            for k in run.results.metrics:
                order.setdefault(k, len(order))
        return order.get(key, len(order))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def build_lines(runs: Sequence[Run]) -> list[Line]:
    """Every run's scores as points of lines, runs taken in order (lines in order of their first point)."""
    lines: dict[tuple[str, str, str, str], Line] = {}
    for index, run in enumerate(runs):
        results = run.results
        for system in results.ok_systems:
            for key, entry in results.scores.get(system, {}).items():
                info = results.metrics.get(key)
                if info is None or not math.isfinite(entry.score):  # no score: no place on a chart
                    continue
                ident = (system, key, results.testset.hash, info.signature_string)
                line = lines.get(ident)
                if line is None:
                    line = lines[ident] = Line(system, key, results.testset.hash, results.testset.name,
                                               dict(info.signature), info.signature_string,
                                               info.higher_is_better)
                status, reason = run.gate.status(system, key) if run.gate else ("", "")
                line.points.append(Point(index, entry.score, _finite(entry.ci_low), _finite(entry.ci_high),
                                         status, reason))
    ordered = list(lines.values())
    previous: dict[tuple[str, str], Line] = {}
    for line in ordered:
        before = previous.get(line.panel)
        if before is not None:
            line.reason = why_split(before, line)
        previous[line.panel] = line
    return ordered


def why_split(before: Line, after: Line) -> str:
    """What differs between two lines of one system × metric (test set, signature fields)."""
    parts = []
    if before.testset_hash != after.testset_hash:
        parts.append(f"test set changed: {before.testset_name or '(unnamed)'} ({before.testset_hash[:12]})"
                     f" → {after.testset_name or '(unnamed)'} ({after.testset_hash[:12]})")
    fields = MetricSignature.recorded(before.signature).differences(MetricSignature.recorded(after.signature))
    if fields:
        parts.append("metric signature changed: " + ", ".join(f"{name} {a} → {b}" for name, a, b in fields))
    elif before.signature_string != after.signature_string:
        parts.append(f"metric signature changed: {before.signature_string} → {after.signature_string}")
    return "; ".join(parts)


def _metric_for(run: Run, key: str) -> Metric:
    """The metric a run recorded under ``key``, rebuilt here; refused if this installation computes it
    differently (a step is then not tested)."""
    from mt_eval.metrics.registry import metric_from_spec

    info = run.results.metrics[key]
    metric = metric_from_spec(info.spec)
    MetricSignature.recorded(info.signature).check_matches(MetricSignature.of(metric), key,
                                                           where="this installation")
    return metric


def _stats(run: Run, system: str, key: str) -> np.ndarray:
    return run.folder.stats(system, key, run.results.testset.num_segments)


def assess_steps(runs: Sequence[Run], lines: Sequence[Line],
                 settings: VerdictSettings = VERDICT_DEFAULTS) -> None:
    """Fill in each point's ``step``: the paired test of its run against the line's previous run.

    Steps are tested one family at a time (one metric between one pair of runs: every system both
    hold), so only those statistics are in memory at once, however many runs the history has.
    """
    families: dict[tuple[int, int, str], list[tuple[Line, Metric, Point, Point]]] = {}
    for line in lines:
        if len(line.points) < 2:
            continue
        try:
            metric = _metric_for(runs[line.points[-1].run], line.metric)
        except MtEvalError as exc:
            line.note = f"changes not tested: {exc}"
            continue
        for before, after in zip(line.points, line.points[1:], strict=False):
            family = families.setdefault((before.run, after.run, line.metric), [])
            family.append((line, metric, before, after))
    for steps in families.values():
        _assess_family(runs, steps, settings)


def _assess_family(runs: Sequence[Run], steps: Sequence[tuple[Line, Metric, Point, Point]],
                   settings: VerdictSettings) -> None:
    from mt_eval.evaluate import PairTest, paired_tests
    from mt_eval.stats.significance import choose_method

    tests, tested = [], []
    family = None if settings.correction == "none" else "step"  # Holm over this family's tests
    for line, metric, before, after in steps:
        try:
            base = _stats(runs[before.run], line.system, line.metric)
            cand = _stats(runs[after.run], line.system, line.metric)
        except MtEvalError as exc:
            after.step_note = f"not tested: {exc}"
            continue
        tests.append(PairTest(metric, base, cand, family=family))
        tested.append((line, after))
    if not tests:
        return
    method = choose_method(tests[0].baseline.shape[0], settings.method)[0]
    found = paired_tests(tests, method, settings.n_resamples, settings.seed)
    for (line, point), (result, p_adjusted) in zip(tested, found, strict=True):
        delta = float(result.delta)
        point.step = Step(delta=delta, p_value=float(result.p_value), p_adjusted=float(p_adjusted),
                          method=str(result.method), n_resamples=int(result.n_resamples),
                          significant=bool(p_adjusted < settings.alpha),
                          better=(delta > 0) == line.higher_is_better and delta != 0)


def build_history(runs: Sequence[Run], settings: VerdictSettings = VERDICT_DEFAULTS) -> History:
    lines = build_lines(runs)
    assess_steps(runs, lines, settings)
    return History(list(runs), lines, settings)
