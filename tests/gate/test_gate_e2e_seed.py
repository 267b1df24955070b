"""End to end through the command line on the seed test set: two real runs, a baseline, the gate.

The "system" is a fixed output file (``mt-eval run -s file:...``: precomputed hypotheses, no model
is run); the candidate is a degraded copy of it. Checks the exit codes of the console entry point
and the Markdown, JUnit and ``$GITHUB_STEP_SUMMARY`` files a CI job would publish.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_helpers import cli

from mt_eval.data.testset import TestSet

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"


def _mt_eval(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real process, as CI runs it: the exit code is the process's."""
    return subprocess.run([sys.executable, "-m", "mt_eval", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=REPO, timeout=120, check=False)


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    work = tmp_path_factory.mktemp("seed-gate")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MT_EVAL_CACHE", str(work / "cache.sqlite"))  # never the repository's cache
        yield _seed_runs(work)


def _seed_runs(work: Path) -> dict[str, Path]:
    assert cli("testset", "build", SEEDS, "-o", work / "ts") == 0
    testset = TestSet.load(work / "ts")
    assert len(testset) >= 5  # the seed's paragraphs, minus the untranslated caption
    # A fixed "system output" (a light edit of the references), and a degraded copy of it.
    system = [" ".join(w for i, w in enumerate(s.references[0].split()) if i % 6 != 5) for s in testset]
    degraded = [" ".join(w for i, w in enumerate(h.split()) if i % 3 != 2) for h in system]
    paths = {"ts": work / "ts", "work": work}
    for name, hyps in (("system", system), ("degraded", degraded)):
        hyp_file = work / f"{name}.txt"
        hyp_file.write_text("".join(f"{h}\n" for h in hyps), encoding="utf-8")
        for run in (f"{name}-run", f"{name}-rerun"):
            args = ["run", "--testset", work / "ts", "-s", f"file:{hyp_file}", "-m", "bleu", "-m", "chrf",
                    "--resamples", "50", "-o", work / run]
            assert cli(*args) == 0
            paths[run] = work / run
            if name == "degraded":
                break
    assert cli("baseline", "save", paths["system-run"], "-o", work / "baseline.json") == 0
    paths["baseline"] = work / "baseline.json"
    return paths


def test_degraded_outputs_fail_the_gate(seed_runs: dict[str, Path]) -> None:
    work = seed_runs["work"]
    summary = work / "step-summary.md"
    summary.write_text("previous step\n", encoding="utf-8")
    proc = _mt_eval("gate", "--baseline", seed_runs["baseline"], "--candidate", seed_runs["degraded-run"],
                    "--junit", work / "fail.xml", "--markdown", work / "fail.md",
                    env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL: quality regression" in proc.stdout

    suite = ET.parse(work / "fail.xml").getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    # a ``file:`` system is named after the whole file name; then one case per output-check flag
    metric_cases = [c for c in cases if not str(c.get("classname")).endswith(".flags")]
    assert [(c.get("classname"), c.get("name")) for c in metric_cases] == [
        ("mt-eval.gate.system.txt", "bleu"), ("mt-eval.gate.system.txt", "chrf")]
    flag_cases = {c.get("name"): c for c in cases if c not in metric_cases}
    assert {"empty", "copy_of_source", "wrong_language", "length_ratio", "repetition"} <= set(flag_cases)
    assert all(c.find("failure") is None for c in flag_cases.values())  # dropped words: no catastrophe
    assert suite.get("tests") == str(len(cases))
    assert suite.get("failures") == "2" and suite.get("errors") == "0"
    assert all(c.find("failure") is not None and c.find("failure").get("type") == "regression"  # type: ignore[union-attr]
               for c in metric_cases)

    markdown = (work / "fail.md").read_text(encoding="utf-8")
    assert markdown.startswith("## ❌ mt-eval gate: FAIL")
    assert "| system.txt→degraded.txt | bleu |" in markdown and "❌ regression" in markdown
    # appended to the job summary, after what an earlier step wrote
    assert summary.read_text(encoding="utf-8") == "previous step\n" + markdown


def test_identical_rerun_passes_the_gate(seed_runs: dict[str, Path]) -> None:
    work = seed_runs["work"]
    proc = _mt_eval("gate", "-b", seed_runs["baseline"], "-c", seed_runs["system-rerun"] / "results.json",
                    "--junit", work / "pass.xml", "--markdown", work / "pass.md",
                    env={"GITHUB_STEP_SUMMARY": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    suite = ET.parse(work / "pass.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert len([c for c in suite.findall("testcase") if not str(c.get("classname")).endswith(".flags")]) == 2
    assert (work / "pass.md").read_text(encoding="utf-8").startswith("## ✅ mt-eval gate: PASS")


def test_gate_against_another_test_set_is_exit_2(seed_runs: dict[str, Path], tmp_path: Path) -> None:
    testset = TestSet.load(seed_runs["ts"])
    sentence = TestSet.from_pairs([(s.source, list(s.references)) for s in testset.segments[:-1]],
                                  source_lang="ar", target_lang="en", name="seeds")
    sentence.save(tmp_path / "ts")
    hyps = (seed_runs["work"] / "system.txt").read_text(encoding="utf-8").splitlines()[:-1]
    (tmp_path / "h.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    assert cli("score", "--testset", tmp_path / "ts", "--hyp", f"mt={tmp_path / 'h.txt'}", "-m", "bleu",
               "-m", "chrf", "--resamples", "50", "-o", tmp_path / "run") == 0
    proc = _mt_eval("gate", "-b", seed_runs["baseline"], "-c", tmp_path / "run",
                    "--junit", tmp_path / "e.xml")
    assert proc.returncode == 2
    assert "testset.hash" in proc.stderr and "testset.num_segments (baseline 7, candidate 6)" in proc.stderr
    suite = ET.parse(tmp_path / "e.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"


def test_gate_cli_does_not_import_heavy_libraries() -> None:
    code = ("import sys, mt_eval.cli, mt_eval.gate.verdict, mt_eval.gate.render;"
            "heavy = {'torch', 'transformers', 'ctranslate2', 'llama_cpp'} & set(sys.modules);"
            "sys.exit(1 if heavy else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


def test_gate_after_run_writes_into_the_run_folder(seed_runs: dict[str, Path]) -> None:
    from mt_eval.gate import GateOptions
    from mt_eval.gate.run import gate_after_run

    lines: list[str] = []
    run = seed_runs["degraded-run"]
    assert gate_after_run(run, seed_runs["baseline"], echo=lines.append,
                          options=GateOptions(tolerances=["bleu=60"], metrics=["bleu"])) == 0
    assert "PASS" in lines[0]
    assert {p.name for p in (run / "gate").iterdir()} == {"junit.xml", "verdict.md", "verdict.json"}


def test_run_with_gate_in_one_step(seed_runs: dict[str, Path]) -> None:
    """``mt-eval run ... --gate`` translates, scores and gates in one process; its exit code is the gate's."""
    work = seed_runs["work"]
    common = ["run", "--testset", seed_runs["ts"], "-m", "bleu", "-m", "chrf", "--resamples", "50",
              "--gate", seed_runs["baseline"]]
    env = {"MT_EVAL_CACHE": str(work / "cache.sqlite"), "GITHUB_STEP_SUMMARY": ""}
    fail = _mt_eval(*common, "-s", f"file:{work / 'degraded.txt'}", "-o", work / "gated-fail", env=env)
    assert fail.returncode == 1, fail.stdout + fail.stderr
    assert (work / "gated-fail" / "results.json").is_file()  # the run itself is kept
    assert (work / "gated-fail" / "gate" / "verdict.md").read_text(encoding="utf-8").startswith(
        "## ❌ mt-eval gate: FAIL")
    ok = _mt_eval(*common, "-s", f"file:{work / 'system.txt'}", "-o", work / "gated-pass", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS" in ok.stdout


def test_run_with_missing_gate_baseline_fails_before_translating(tmp_path: Path) -> None:
    proc = _mt_eval("run", "-s", "copy", "--gate", tmp_path / "nope.json", "-o", tmp_path / "run")
    assert proc.returncode == 2
    expected = f"mt-eval: error: --gate {tmp_path / 'nope.json'}: file not found"
    assert proc.stderr.strip().splitlines() == [expected]
    assert not (tmp_path / "run").exists()
