"""Constructed systems for the gate tests: a synthetic test set, graded outputs, run folders.

Run folders are written by the real ``mt-eval score`` command, so the gate is tested against the
run-folder contract as it is produced, not against a hand-made imitation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from gate_helpers import RunMaker, cli, references

from mt_eval.data.testset import TestSet


@pytest.fixture
def synthetic_testset(tmp_path: Path) -> tuple[Path, list[str]]:
    refs = references(200)
    ts = TestSet.from_pairs([(f"src {i}", [r]) for i, r in enumerate(refs)], source_lang="ar",
                            target_lang="en", name="synthetic")
    return ts.save(tmp_path / "testset"), refs


@pytest.fixture
def make_run(tmp_path: Path) -> RunMaker:
    """``make_run(name, testset_dir, {system: hyps}, metrics=("bleu", "chrf"))`` → run folder."""

    def _make(name: str, testset_dir: Path, systems: dict[str, list[str]],
              metrics: Sequence[str] = ("bleu", "chrf")) -> Path:
        args: list[object] = ["score", "--testset", testset_dir, "-o", tmp_path / name, "--name", name,
                              "--resamples", "50"]
        for system, hyps in systems.items():
            path = tmp_path / f"{name}-{system}.txt"
            path.write_text("".join(f"{h}\n" for h in hyps), encoding="utf-8")
            args += ["--hyp", f"{system}={path}"]
        for metric in metrics:
            args += ["-m", metric]
        code = cli(*args)
        assert code == 0, f"mt-eval score failed with {code}"
        return tmp_path / name

    return _make


@pytest.fixture(autouse=True)
def _no_job_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """When these tests themselves run in GitHub Actions, keep their verdicts out of the job summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
