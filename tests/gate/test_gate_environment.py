"""Outputs that change under the same translator signature on another machine: the gate says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_helpers import cli, corrupt, references

import mt_eval.evaluate as ev
from mt_eval.data.testset import TestSet
from mt_eval.environment import fingerprint_differences, host_fingerprint
from mt_eval.reports.run_folder import RunFolder
from mt_eval.settings import EvalSettings
from mt_eval.translators.base import SystemRun

SIGNATURE = {"backend": "llama-cpp", "model": "gemma-3-270m.gguf", "model_sha256": "ab12", "n_threads": 2}
LIBRARIES = {"llama-cpp-python": "0.3.36"}
LAPTOP = {"cpu_model": "Laptop CPU", "cpu_flags": "avx avx2 fma f16c avx512f", "libraries": LIBRARIES}
RUNNER = {"cpu_model": "CI runner CPU", "cpu_flags": "avx avx2 fma f16c", "libraries": LIBRARIES}


@pytest.fixture
def setting(tmp_path: Path):
    refs = references(60, seed=4)
    ts = TestSet.from_pairs([(f"src {i}", [r]) for i, r in enumerate(refs)], source_lang="ar",
                            target_lang="en", name="env")
    hyps = corrupt(refs, 0.3, seed=2)

    def run(name: str, outputs: list[str], environment: dict) -> Path:
        system = SystemRun("gemma", "llama-cpp:default", outputs, dict(SIGNATURE))
        system.environment = environment  # what the runner records per system
        ev.evaluate(ts, [system], ["chrf"], EvalSettings(resamples=100), sink=RunFolder(tmp_path / name))
        return tmp_path / name

    base = run("base", hyps, LAPTOP)
    assert cli("baseline", "save", base, "-o", tmp_path / "baseline.json") == 0
    changed = list(hyps)
    for i in range(0, 14, 2):  # 7 segments decoded differently, both ways
        words = changed[i].split()
        changed[i] = " ".join(words[1:] + words[:1]) if i % 4 else changed[i] + " ."
    return tmp_path, run, hyps, changed


def _gate(tmp_path: Path, candidate: Path, *extra: object) -> tuple[int, dict]:
    out = tmp_path / "verdict.json"
    code = cli("gate", "-b", tmp_path / "baseline.json", "-c", candidate, "--json", out, *extra)
    return code, json.loads(out.read_text(encoding="utf-8"))


def test_changed_outputs_on_another_machine_are_named(setting) -> None:
    tmp_path, run, _, changed = setting
    candidate = run("runner", changed, RUNNER)
    code, verdict = _gate(tmp_path, candidate)
    assert code in (0, 1) and not verdict["errors"]  # scores are still compared
    (note,) = [n for n in verdict["notes"] if "machine fingerprint differs" in n]
    assert "7 of 60 segment outputs differ" in note and "cpu_flags" in note and "cpu_model" in note
    code, verdict = _gate(tmp_path, candidate, "--require-same-environment")
    assert code == 2 and "machine fingerprint differs" in verdict["errors"][0]


def test_same_machine_and_same_outputs_say_nothing(setting) -> None:
    tmp_path, run, hyps, changed = setting
    code, verdict = _gate(tmp_path, run("same", hyps, RUNNER), "--require-same-environment")
    assert code == 0 and not any("fingerprint" in n for n in verdict["notes"])  # outputs identical
    code, verdict = _gate(tmp_path, run("nondet", changed, LAPTOP), "--require-same-environment")
    assert code != 2 and any("same machine fingerprint" in n for n in verdict["notes"])


def test_host_fingerprint_and_differences() -> None:
    fp = host_fingerprint()
    assert fp["cpu_model"] and fp["usable_cores"] >= 1 and "numpy" in fp["libraries"]
    diffs = fingerprint_differences(LAPTOP, RUNNER)
    assert diffs == ["cpu_flags ('avx avx2 fma f16c avx512f' vs 'avx avx2 fma f16c')",
                     "cpu_model ('Laptop CPU' vs 'CI runner CPU')"]
    nested = fingerprint_differences({"libraries": {"torch": "2.13.0"}}, {"libraries": {"torch": "2.14.1"}})
    assert nested == ["libraries.torch ('2.13.0' vs '2.14.1')"]
