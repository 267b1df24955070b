"""``mt_eval.gate.run_gate``: the gate as a Python call, and every failure mode exits 2, never 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_helpers import cli, corrupt

from mt_eval.gate import (
    EXIT_CANNOT_COMPARE,
    EXIT_PASS,
    EXIT_REGRESSION,
    GateOptions,
    GateOutputs,
    Verdict,
    run_gate,
)
from mt_eval.gate.run import gate_after_run


@pytest.fixture
def runs(synthetic_testset, make_run, tmp_path: Path) -> dict[str, Path]:
    ts, refs = synthetic_testset
    main = make_run("main", ts, {"sys": corrupt(refs, 0.2, 1)})
    worse = make_run("worse", ts, {"sys": corrupt(refs, 0.6, 2)})
    assert cli("baseline", "save", main, "-o", tmp_path / "baseline.json") == 0
    return {"main": main, "worse": worse, "baseline": tmp_path / "baseline.json"}


def test_run_gate_returns_a_verdict(runs: dict[str, Path], tmp_path: Path) -> None:
    lines: list[str] = []
    same = run_gate(runs["baseline"], runs["main"], echo=lines.append,
                    outputs=GateOutputs(json=tmp_path / "v.json"))
    assert isinstance(same, Verdict) and same.exit_code == EXIT_PASS and not same.errors
    assert "PASS" in lines[0]
    assert json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))["outcome"] == "pass"
    worse = run_gate(runs["baseline"], runs["worse"], options=GateOptions(metrics=["bleu"]))
    assert worse.exit_code == EXIT_REGRESSION
    assert [c.status for c in worse.comparisons] == ["regression"]


def test_a_bug_inside_the_gate_is_cannot_compare_not_regression(runs: dict[str, Path], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import mt_eval.gate.verdict as verdict_module

    def broken(*_a: object, **_k: object) -> Verdict:
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(verdict_module, "compare", broken)
    verdict = run_gate(runs["baseline"], runs["worse"], outputs=GateOutputs(json=tmp_path / "v.json"))
    assert verdict.exit_code == EXIT_CANNOT_COMPARE
    assert "internal error (ZeroDivisionError: boom)" in verdict.errors[0]
    saved = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    assert saved["outcome"] == "cannot-compare" and saved["exit_code"] == 2


def test_gate_after_run_replaces_the_gate_folder_whole(runs: dict[str, Path]) -> None:
    gate_dir = runs["worse"] / "gate"
    gate_dir.mkdir()
    (gate_dir / "stale.txt").write_text("from an older gate", encoding="utf-8")
    warnings: list[str] = []
    code = gate_after_run(runs["worse"], runs["baseline"], options=GateOptions(metrics=["bleu"]),
                          warn=warnings.append)
    assert code == EXIT_REGRESSION and warnings == []
    assert sorted(p.name for p in gate_dir.iterdir()) == ["junit.xml", "verdict.json", "verdict.md"]
    (runs["worse"] / "stats" / "sys" / "bleu.npy").write_bytes(b"")
    code = gate_after_run(runs["worse"], runs["baseline"], options=GateOptions(metrics=["bleu"]),
                          warn=warnings.append)
    assert code == EXIT_CANNOT_COMPARE
    saved = json.loads((gate_dir / "verdict.json").read_text(encoding="utf-8"))
    assert saved["outcome"] == "cannot-compare"
    assert "empty statistics file" in json.dumps(saved)
