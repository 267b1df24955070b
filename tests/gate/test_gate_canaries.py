"""Canaries and the smallest visible drop in the gate, through the CLI.

``require_canaries = true``: a family metric decides the build only when the candidate run's
``canaries.json`` shows it catching the critical canaries; a metric plugin that ignores its input fails
them and the gate refuses it (exit 2, one line naming it). ``mt-eval baseline save`` and every verdict
(text, Markdown, JSON) print the MDE at the policy's Holm-adjusted α, with a warning where a tolerance
is below it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from gate_helpers import RunMaker, cli, corrupt

from mt_eval.gate.baseline import load_baseline, metric_mde
from mt_eval.metrics import registry
from mt_eval.metrics.base import MeanOfSegmentsMetric
from mt_eval.metrics.registry import metric_from_spec

CONSTANT = "constant-gate"


class ConstantMetric(MeanOfSegmentsMetric):
    """A third-party metric that ignores its input: every segment scores 0.5."""

    name = CONSTANT

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        return np.tile([0.5, 1.0], (len(hypotheses), 1))

    def signature(self) -> dict[str, str]:
        return {"metric": CONSTANT, "version": "1"}


@pytest.fixture
def constant_metric() -> Iterator[None]:
    registry.register_metric(CONSTANT, ConstantMetric)
    try:
        yield
    finally:
        registry.unregister_metric(CONSTANT)


def _candidate(tmp_path: Path, testset_dir: Path, hyps: list[str], metrics: Sequence[str], *,
               canaries: bool = True) -> Path:
    """``mt-eval run -s file:HYP --canaries``: the candidate run folder with its canaries.json."""
    hyp = tmp_path / "cand-sys.txt"
    hyp.write_text("".join(f"{h}\n" for h in hyps), encoding="utf-8")
    out = tmp_path / "cand"
    args: list[object] = ["run", "--testset", testset_dir, "-s", f"file:{hyp}", "--resamples", "50",
                          "-o", out]
    for metric in metrics:
        args += ["-m", metric]
    assert cli(*args, *(["--canaries"] if canaries else [])) == 0
    return out


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text("[gate]\n" + text, encoding="utf-8")
    return path


def test_a_constant_metric_fails_its_canaries_and_require_canaries_refuses_it(
        synthetic_testset: tuple[Path, list[str]], make_run: RunMaker, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], constant_metric: None) -> None:
    ts, refs = synthetic_testset
    hyps = corrupt(refs, 0.2, seed=1)
    base = make_run("base", ts, {"sys": hyps}, metrics=("bleu", CONSTANT))
    assert cli("baseline", "save", base, "-o", tmp_path / "b.json") == 0
    cand = _candidate(tmp_path, ts, hyps, ("bleu", CONSTANT))
    doc = json.loads((cand / "canaries.json").read_text(encoding="utf-8"))
    assert doc["metrics"][CONSTANT]["verdict"] == "fail"
    assert all(row["status"] != "pass" for row in doc["metrics"][CONSTANT]["rows"].values()
               if row["kind"] != "invariance")  # it fails every sensitivity canary
    policy = _policy(tmp_path, f'require_canaries = true\nfamily = ["bleu", "{CONSTANT}"]\n')
    capsys.readouterr()
    code = cli("gate", "-b", tmp_path / "b.json", "-c", cand, "--policy", policy, "--json",
               tmp_path / "v.json")
    err = capsys.readouterr().err
    assert code == 2
    refusals = [line for line in err.splitlines() if "require_canaries" in line]
    assert len(refusals) == 1, err
    assert f"{CONSTANT}: metric {CONSTANT} fails its critical canaries: empty caught 0% < 90%" in refusals[0]
    assert "bleu:" not in refusals[0]  # bleu passes its canaries: not refused
    verdict = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    assert verdict["outcome"] == "cannot-compare"
    assert "passes its critical canaries" in verdict["canaries"]["bleu"]
    # without require_canaries the same run passes: the refusal is the policy's
    assert cli("gate", "-b", tmp_path / "b.json", "-c", cand, "--policy",
               _policy(tmp_path, f'family = ["bleu", "{CONSTANT}"]\n')) == 0
    # --require-canaries on the command line does the same as the policy key
    capsys.readouterr()
    assert cli("gate", "-b", tmp_path / "b.json", "-c", cand, "--require-canaries", "--metric", CONSTANT,
               "--primary-metric", CONSTANT) == 2
    assert f"metric {CONSTANT} fails its critical canaries" in capsys.readouterr().err


def test_good_canaries_pass_and_missing_canaries_refuse(
        synthetic_testset: tuple[Path, list[str]], make_run: RunMaker, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ts, refs = synthetic_testset
    hyps = corrupt(refs, 0.2, seed=1)
    base = make_run("base", ts, {"sys": hyps}, metrics=("bleu",))
    assert cli("baseline", "save", base, "-o", tmp_path / "b.json") == 0
    policy = _policy(tmp_path, "require_canaries = true\n")
    cand = _candidate(tmp_path, ts, hyps, ("bleu",))
    capsys.readouterr()
    assert cli("gate", "-b", tmp_path / "b.json", "-c", cand, "--policy", policy) == 0
    out = capsys.readouterr().out
    assert "canaries bleu: metric bleu passes its critical canaries (empty 100%" in out
    # canaries computed on another test set are not these canaries
    doc = json.loads((cand / "canaries.json").read_text(encoding="utf-8"))
    doc["testset"]["hash"] = "0" * 64
    (cand / "canaries.json").write_text(json.dumps(doc), encoding="utf-8")
    code = cli("gate", "-b", tmp_path / "b.json", "-c", cand, "--policy", policy)
    err = capsys.readouterr().err
    assert code == 2 and "bleu: canaries were computed on test set 000000000000, not on this one" in err
    (cand / "canaries.json").unlink()
    code = cli("gate", "-b", tmp_path / "b.json", "-c", cand, "--policy", policy)
    err = capsys.readouterr().err
    assert code == 2 and err.count("mt-eval: error:") == 1
    assert "canaries missing" in err and "(bleu)" in err


def test_mde_from_baseline_save_and_in_every_verdict(
        synthetic_testset: tuple[Path, list[str]], make_run: RunMaker, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ts, refs = synthetic_testset
    base = make_run("base", ts, {"sys": corrupt(refs, 0.2, seed=1)}, metrics=("bleu", "chrf"))
    cand = make_run("cand", ts, {"sys": corrupt(refs, 0.2, seed=2)}, metrics=("bleu", "chrf"))
    policy = _policy(tmp_path, "[gate.metric.bleu]\ntolerance = 0.01\n")
    capsys.readouterr()
    assert cli("baseline", "save", base, "-o", tmp_path / "b.json", "--policy", policy) == 0
    saved = capsys.readouterr().out
    # two comparisons in the family (bleu, chrf): Holm's first step tests at 0.05 / 2
    assert ("smallest drop the gate can see (MDE, 80% power, α=0.05 Holm-adjusted over 2 comparison(s)"
            " → 0.025, 200 segments") in saved
    baseline = load_baseline(tmp_path / "b.json")
    entry = baseline.systems["sys"].metrics["bleu"]
    expected = metric_mde(metric_from_spec(entry.metric_spec), entry.stats_array(), alpha=0.05, family_size=2,
                          tolerance=0.01, where="sys/bleu")
    assert expected["independent"] is not None and expected["independent"] > expected["paired"] > 0
    assert f"sys/bleu: {expected['independent']:.2f} if every segment changes" in saved
    assert "warning: sys/bleu: the tolerance 0.01 is below the smallest drop" in saved
    assert "sys/chrf:" in saved and "warning: sys/chrf" not in saved.split("tolerance 0.01")[0]
    code = cli("gate", "-b", tmp_path / "b.json", "-c", cand, "--policy", policy, "--json",
               tmp_path / "v.json", "--markdown", tmp_path / "v.md")
    text = capsys.readouterr().out
    assert code in (0, 1)
    assert "smallest drop the gate can see" in text and f"sys/bleu: {expected['independent']:.2f}" in text
    assert "warning: sys/bleu: the tolerance 0.01 is below" in text
    md = (tmp_path / "v.md").read_text(encoding="utf-8")
    assert "**Smallest drop the gate can see**" in md
    assert f"| sys/bleu | {expected['independent']:.2f} |" in md
    assert "⚠️ sys/bleu: the tolerance 0.01 is below" in md
    verdict = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))
    mde = {e["where"]: e for e in verdict["mde"]}
    assert set(mde) == {"sys/bleu", "sys/chrf"}
    assert mde["sys/bleu"]["independent"] == pytest.approx(expected["independent"])
    assert mde["sys/bleu"]["alpha_holm"] == pytest.approx(0.025) and mde["sys/bleu"]["power"] == 0.8
    assert mde["sys/bleu"]["warnings"] and not any("tolerance" in w for w in mde["sys/chrf"]["warnings"])
