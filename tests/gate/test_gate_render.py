"""Rendering the verdict: exit codes, text, Markdown, JUnit XML, JSON; never a silent pass."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mt_eval.gate.policy import GatePolicy, MetricPolicy
from mt_eval.gate.render import render_junit, render_markdown, render_text, write_outputs
from mt_eval.gate.verdict import Comparison, Prepared, Verdict, judge, signature_differences


def _comparison(metric: str, status: Any, **extra: Any) -> Comparison:
    return Comparison(system="sys|a", metric=metric, status=status, reason=f"{metric}: {status} <&>",
                      baseline_score=40.0, candidate_score=39.0, delta=-1.0, worsening=1.0,
                      allowed_drop=0.5, p_value=0.01, **extra)


def test_nothing_compared_is_never_a_pass(tmp_path: Path) -> None:
    verdict = Verdict(baseline="b.json", candidate="run")
    assert verdict.exit_code == 2 and verdict.outcome == "cannot-compare"
    assert "nothing was compared" in render_text(verdict)
    suite = ET.fromstring(render_junit(verdict)).find("testsuite")
    assert suite is not None and suite.get("errors") == "1" and suite.get("tests") == "1"


@pytest.mark.parametrize(("statuses", "code"), [
    (["no-significant-change", "improvement", "pass-within-tolerance"], 0),
    (["regression", "improvement"], 1),
    (["below-min-score"], 1),
    (["regression", "cannot-compare"], 2),  # an incomplete comparison is not a quality verdict
])
def test_exit_code_from_statuses(statuses: list[str], code: int) -> None:
    verdict = Verdict(baseline="b", candidate="c",
                      comparisons=[_comparison(f"m{i}", s) for i, s in enumerate(statuses)])
    assert verdict.exit_code == code
    assert json.loads(json.dumps(verdict.to_dict()))["exit_code"] == code


def test_junit_one_case_per_system_metric_with_escaped_messages() -> None:
    verdict = Verdict(baseline="b", candidate="c", comparisons=[
        _comparison("bleu", "regression"), _comparison("chrf", "cannot-compare"),
        _comparison("ter", "no-significant-change")])
    root = ET.fromstring(render_junit(verdict))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["bleu"].find("failure").get("message") == "bleu: regression <&>"  # type: ignore[union-attr]
    assert cases["chrf"].find("error") is not None
    assert cases["ter"].find("failure") is None and cases["ter"].find("error") is None


def test_markdown_escapes_table_cells_and_text_fits_one_screen() -> None:
    verdict = Verdict(baseline="b", candidate="c",
                      testset={"name": "t", "num_segments": 7, "hash": "ab" * 32},
                      policy={"alpha": 0.05, "method": "paired-bs", "n_resamples": 1000, "seed": 1},
                      comparisons=[_comparison(m, "regression") for m in ("bleu", "chrf", "ter")])
    markdown = render_markdown(verdict)
    assert "| sys\\|a | bleu |" in markdown  # a '|' in a name cannot break the table
    text = render_text(verdict)
    assert len(text.splitlines()) <= 24 and max(len(line) for line in text.splitlines()) <= 100


def test_step_summary_is_appended_only_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    verdict = Verdict(baseline="b", candidate="c", comparisons=[_comparison("bleu", "improvement")])
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert write_outputs(verdict, json_path=tmp_path / "v.json") == [tmp_path / "v.json"]
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_outputs(verdict)
    write_outputs(verdict)
    assert summary.read_text(encoding="utf-8") == render_markdown(verdict) * 2


def _judge(candidate_score: float, p_value: float, rules: MetricPolicy, *, key: str = "bleu",
           higher_is_better: bool = True) -> str:
    scores = Prepared(None, np.zeros((1, 1)), np.zeros((1, 1)), "s", key, "s", 40.0, candidate_score,
                      higher_is_better, "")
    return judge(scores, p_value, rules, GatePolicy(alpha=0.05))[0]


def test_judge_rules() -> None:
    rules = MetricPolicy(tolerance=0.5, relative_tolerance=0.02)  # 2% of 40 = 0.8 wins over 0.5
    assert _judge(39.3, 0.01, rules) == "pass-within-tolerance"
    assert _judge(39.1, 0.01, rules) == "regression"
    assert _judge(30.0, 0.2, rules) == "no-significant-change"
    assert _judge(41.0, 0.01, rules) == "improvement"
    floor = MetricPolicy(min_score=45)
    assert _judge(41.0, 0.5, floor) == "below-min-score"
    ter: dict[str, Any] = {"key": "ter", "higher_is_better": False}
    assert _judge(41.0, 0.01, MetricPolicy(), **ter) == "regression"
    assert _judge(41.0, 0.5, MetricPolicy(max_score=40), **ter) == "above-max-score"


def test_signature_differences_name_every_field() -> None:
    base = {"nrefs": "1", "tok": "13a", "version": "2.6.0"}
    assert signature_differences(base, {"nrefs": "1", "tok": "13a", "version": "2.6.0"}) == []
    assert signature_differences(base, {"nrefs": "2", "tok": "13a", "version": "2.5.0", "x": "y"}) == [
        "nrefs (baseline '1', candidate '2')", "version (baseline '2.6.0', candidate '2.5.0')",
        "x (baseline '<absent>', candidate 'y')"]
    assert signature_differences(base, {"nrefs": "1", "tok": "13a", "version": "2.5.0"},
                                 frozenset({"version"})) == []
