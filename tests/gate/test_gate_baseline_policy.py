"""Baseline files (format, validation) and gate policies (TOML, flags), malformed input → exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_helpers import RunMaker, cli, corrupt

from mt_eval.errors import MtEvalError
from mt_eval.gate.baseline import load_baseline, save_baseline
from mt_eval.gate.policy import GateOptions, GatePolicy, apply_overrides, load_policy


@pytest.fixture
def run_and_baseline(tmp_path: Path, synthetic_testset, make_run: RunMaker) -> tuple[Path, Path]:
    ts_dir, refs = synthetic_testset
    run = make_run("base", ts_dir, {"mt": corrupt(refs, 0.3, seed=1), "other": corrupt(refs, 0.4, seed=2)},
                   metrics=("bleu", "chrf", "ter"))
    out = tmp_path / "baseline.json"
    save_baseline(run, out, systems=["mt"])
    return run, out


def _gate_code(tmp_path: Path, baseline: Path, run: Path, capsys: pytest.CaptureFixture[str]
               ) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli("gate", "-b", baseline, "-c", run, "--junit", tmp_path / "j.xml")
    out, err = capsys.readouterr()
    return code, out, err


def test_baseline_round_trips_float_statistics_exactly(run_and_baseline) -> None:
    run, out = run_and_baseline
    import numpy as np

    baseline = load_baseline(out)
    assert list(baseline.systems) == ["mt"]  # --system restricts
    ter = baseline.systems["mt"].metrics["ter"]
    assert ter.stats_dtype == "float64" and ter.higher_is_better is False
    saved = np.load(run / "stats" / "mt" / "ter.npy", allow_pickle=False)
    assert np.array_equal(ter.stats_array(), saved)  # bit-exact through JSON
    text = out.read_text(encoding="utf-8")
    assert text.count("\n") < 2000  # one statistics row per line, not one number per line


def test_missing_and_malformed_baselines_exit_2(tmp_path: Path, run_and_baseline,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run, good = run_and_baseline
    code, _, err = _gate_code(tmp_path, tmp_path / "nope.json", run, capsys)
    assert code == 2 and "baseline file not found" in err
    assert 'errors="1"' in (tmp_path / "j.xml").read_text(encoding="utf-8")  # CI sees why
    code, _, err = _gate_code(tmp_path, good, tmp_path / "no-such-run", capsys)
    assert code == 2 and "no-such-run: not found" in err

    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, _, err = _gate_code(tmp_path, bad, run, capsys)
    assert code == 2 and "malformed baseline (not JSON" in err

    bad.write_text(json.dumps({"kind": "something-else"}), encoding="utf-8")
    code, _, err = _gate_code(tmp_path, bad, run, capsys)
    assert code == 2 and "kind is 'something-else'" in err

    obj = json.loads(good.read_text(encoding="utf-8"))
    obj["systems"]["mt"]["metrics"]["bleu"]["stats"] = obj["systems"]["mt"]["metrics"]["bleu"]["stats"][:-1]
    bad.write_text(json.dumps(obj), encoding="utf-8")
    code, _, err = _gate_code(tmp_path, bad, run, capsys)
    assert code == 2 and "199 statistics rows for 200 segments" in err

    obj = json.loads(good.read_text(encoding="utf-8"))
    obj["schema_version"] = 99
    bad.write_text(json.dumps(obj), encoding="utf-8")
    code, _, err = _gate_code(tmp_path, bad, run, capsys)
    assert code == 2 and "newer than this mt-eval reads" in err


def test_edited_baseline_score_is_caught(tmp_path: Path, run_and_baseline,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    run, good = run_and_baseline
    obj = json.loads(good.read_text(encoding="utf-8"))
    obj["systems"]["mt"]["metrics"]["bleu"]["score"] += 5.0  # someone "raises the bar" by hand
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(obj), encoding="utf-8")
    code, out, _ = _gate_code(tmp_path, edited, run, capsys)
    assert code == 2 and "baseline edited?" in out


def test_lower_is_better_metric_regresses_upwards(tmp_path: Path, run_and_baseline, synthetic_testset,
                                                  make_run: RunMaker) -> None:
    _, baseline = run_and_baseline
    ts_dir, refs = synthetic_testset
    worse = make_run("worse", ts_dir, {"mt": corrupt(refs, 0.5, seed=4)}, metrics=("bleu", "chrf", "ter"))
    out = tmp_path / "v.json"
    assert cli("gate", "-b", baseline, "-c", worse, "--json", out) == 1
    ter = next(c for c in json.loads(out.read_text())["comparisons"] if c["metric"] == "ter")
    assert ter["delta"] > 0 and ter["worsening"] == ter["delta"] and ter["status"] == "regression"


def test_save_refuses_unknown_system_and_metric(run_and_baseline, tmp_path: Path) -> None:
    run, _ = run_and_baseline
    with pytest.raises(MtEvalError, match="no system 'ghost'"):
        save_baseline(run, tmp_path / "x.json", systems=["ghost"])
    with pytest.raises(MtEvalError, match="no metric 'comet'"):
        save_baseline(run, tmp_path / "x.json", metrics=["comet"])
    with pytest.raises(MtEvalError, match="not found"):
        save_baseline(tmp_path / "no-run", tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


# ------------------------------------------------------------------------------------------ policy
def test_policy_toml_forms_and_merging(tmp_path: Path) -> None:
    plain = tmp_path / "gate.toml"
    plain.write_text('[gate]\nalpha = 0.01\nmethod = "ar"\n[gate.default]\ntolerance = 0.3\n'
                     '[gate.metric.bleu]\nrelative_tolerance = 0.02\nmin_score = 20\n', encoding="utf-8")
    policy = load_policy(plain)
    assert policy.alpha == 0.01 and policy.method == "paired-ar" and policy.resamples() == 10000
    bleu = policy.for_metric("bleu")
    assert (bleu.tolerance, bleu.relative_tolerance, bleu.min_score) == (0.3, 0.02, 20)
    assert bleu.allowed_drop(40.0) == pytest.approx(0.8)  # the larger of 0.3 and 2% of 40
    assert policy.for_metric("chrf").tolerance == 0.3

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n[tool.mt-eval.gate]\nalpha = 0.1\n', encoding="utf-8")
    assert load_policy(pyproject).alpha == 0.1


@pytest.mark.parametrize(("text", "message"), [
    ("[gate]\nalpha = 1.5\n", "alpha"),
    ("[gate]\ntolerence = 1\n", "tolerence"),
    ("[gate.metric.bleu]\ntolerance = -1\n", "gate policy field metric.bleu.tolerance"),
    ("[gate\n", "malformed TOML"),
])
def test_bad_policy_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "gate.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MtEvalError, match=message.replace(".", r"\.")):
        load_policy(path)


def test_flag_overrides() -> None:
    base = GatePolicy.model_validate({"default": {"tolerance": 0.2}, "metric": {"bleu": {"min_score": 10}}})
    policy = apply_overrides(base, GateOptions(alpha=0.01, tolerances=["bleu=0.5", "chrf=1%"],
                                                 min_scores=["bleu=25"]))
    assert policy.alpha == 0.01
    assert policy.for_metric("bleu").tolerance == 0.5 and policy.for_metric("bleu").min_score == 25
    assert policy.for_metric("chrf").relative_tolerance == pytest.approx(0.01)
    assert policy.for_metric("chrf").tolerance == 0.2  # the default still applies to the rest
    with pytest.raises(MtEvalError, match="'abc' is not a number"):
        apply_overrides(base, GateOptions(tolerances=["bleu=abc"]))
    with pytest.raises(MtEvalError, match="alpha"):
        apply_overrides(base, GateOptions(alpha=0.0))
