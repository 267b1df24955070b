"""Output-check flags in the gate: the exact McNemar test, the policy, settings that differ, old baselines,
noisy flags, and the flag rows of every verdict format."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from gate_helpers import RunMaker, cli, corrupt

from mt_eval.checks import FLAGS, CheckConfig
from mt_eval.errors import MtEvalError
from mt_eval.gate.baseline import load_baseline
from mt_eval.gate.flags import (
    CATASTROPHIC,
    FLAG_SETTINGS,
    NOISY,
    FlagComparison,
    SystemFlags,
    compare_flags,
    mcnemar_exact,
    settings_differences,
)
from mt_eval.gate.policy import GatePolicy, load_policy
from mt_eval.gate.render import render_junit, render_markdown, render_text
from mt_eval.gate.verdict import Comparison, Verdict


def test_every_check_flag_has_a_kind_and_every_setting_an_owner() -> None:
    assert set(CATASTROPHIC) | set(NOISY) == {*FLAGS, "truncated"}
    assert not set(CATASTROPHIC) & set(NOISY)
    settings = {name for names in FLAG_SETTINGS.values() for name in names}
    # a new CheckConfig field must be assigned to the flags it changes (else it blocks every flag)
    assert set(CheckConfig.model_fields) - {"enabled"} == settings


@pytest.mark.parametrize(("newly", "gone"), [(0, 0), (1, 0), (5, 0), (6, 1), (3, 3), (0, 9), (20, 7),
                                             (40, 61), (350, 290), (1, 1000)])
def test_mcnemar_exact_equals_scipys_binomial_test(newly: int, gone: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    expected = 1.0 if newly + gone == 0 else stats.binomtest(newly, newly + gone, 0.5).pvalue
    assert mcnemar_exact(newly, gone) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert mcnemar_exact(newly, gone) == mcnemar_exact(gone, newly)


def test_mcnemar_exact_known_values() -> None:
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)  # five of five discordant segments gained it
    assert mcnemar_exact(6, 0) == pytest.approx(2 / 64)
    assert mcnemar_exact(2, 2) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_policy_flag_fields(tmp_path: Path) -> None:
    assert GatePolicy().allowed_flag_increase("empty") == 0
    assert GatePolicy(max_flag_increase=3).allowed_flag_increase("truncated") == 3
    per_flag = GatePolicy(max_flag_increase={"wrong_language": 2})
    assert per_flag.allowed_flag_increase("wrong_language") == 2
    assert per_flag.allowed_flag_increase("empty") == 0
    policy = tmp_path / "gate.toml"
    for body, message in (('gate_flags = ["empty"]', "always gates"),
                          ('gate_flags = ["nonsense"]', "unknown flag 'nonsense'"),
                          ("max_flag_increase = { repetition = 1 }", "name it in gate_flags"),
                          ("max_flag_increase = -1", "count >= 0")):
        policy.write_text(f"[gate]\n{body}\n", encoding="utf-8")
        with pytest.raises(MtEvalError, match=message):
            load_policy(policy)
    policy.write_text('[gate]\ngate_flags = ["repetition"]\nmax_flag_increase = { truncated = 4 }\n',
                      encoding="utf-8")
    loaded = load_policy(policy)
    assert loaded.gate_flags == ["repetition"] and loaded.allowed_flag_increase("truncated") == 4


def _flags(**flagged: list[int]) -> SystemFlags:
    return SystemFlags(dict(flagged), [f"s{i}" for i in range(100)])


def test_compare_flags_rules() -> None:
    base = {"empty": [1], "wrong_language": [], "length_ratio": [3, 4], "repetition": [], "truncated": [7]}
    cand = _flags(empty=[1, 2, 9], wrong_language=[5], length_ratio=[3], repetition=[])
    found = {f.flag: f for f in compare_flags("mt", "mt", base, cand, GatePolicy(max_flag_increase={
        "empty": 1}), {})}
    assert found["empty"].status == "regression" and found["empty"].first_segments == ["s2", "s9"]
    empty = found["empty"]
    assert (empty.baseline_count, empty.candidate_count, empty.newly_flagged) == (1, 3, 2)
    assert found["wrong_language"].status == "regression"  # the default allowance is 0
    assert found["length_ratio"].kind == "noisy" and found["length_ratio"].p_value == 1.0
    assert found["truncated"].status == "not-compared" and "candidate" in found["truncated"].reason
    within = compare_flags("mt", "mt", {"empty": [1]}, _flags(empty=[1, 2]), GatePolicy(max_flag_increase=1),
                           {})
    assert within[0].status == "pass-within-tolerance"
    fixed = compare_flags("mt", "mt", {"empty": [1, 2]}, _flags(empty=[]), GatePolicy(), {})
    assert fixed[0].status == "improvement"


def test_differing_check_settings_block_only_the_flags_they_change() -> None:
    base: dict[str, list[int]] = {"empty": [], "copy_of_source": [], "wrong_language": [], "length_ratio": [],
                                  "repetition": []}
    cand = _flags(empty=[0], copy_of_source=[0], wrong_language=[0], length_ratio=[0], repetition=[0])
    settings = CheckConfig().model_dump(mode="json")
    diffs = settings_differences(settings, {**settings, "min_length_ratio": 0.5, "enabled": ["empty"]})
    assert list(diffs) == ["min_length_ratio"]  # which flags ran is read from the run, not `enabled`
    found = {f.flag: f.status for f in compare_flags("mt", "mt", base, cand, GatePolicy(), diffs)}
    assert found["length_ratio"] == "not-compared"
    assert found["empty"] == found["copy_of_source"] == found["wrong_language"] == "regression"
    # a setting this mt-eval does not know may change any check: only empty (and truncated) still compare
    unknown = settings_differences(settings, {**settings, "future_knob": 1})
    found = {f.flag: f.status for f in compare_flags("mt", "mt", base, cand, GatePolicy(), unknown)}
    assert found["empty"] == "regression"
    assert {found[f] for f in ("copy_of_source", "wrong_language", "length_ratio")} == {"not-compared"}
    assert settings_differences(None, settings) == {"*": ("not recorded", "recorded")}


# ------------------------------------------------------------------------ through run folders
@pytest.fixture
def flagged(tmp_path: Path, synthetic_testset: tuple[Path, list[str]], make_run: RunMaker
            ) -> tuple[Path, Path, list[str]]:
    """(baseline.json, test-set dir, baseline outputs)."""
    ts_dir, refs = synthetic_testset
    hyps = corrupt(refs, 0.2, seed=1)
    run = make_run("base", ts_dir, {"mt": hyps})
    assert cli("baseline", "save", run, "-o", tmp_path / "baseline.json") == 0
    return tmp_path / "baseline.json", ts_dir, hyps


def _gate(tmp_path: Path, baseline: Path, candidate: Path, *extra: object) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "verdict.json"
    code = cli("gate", "--baseline", baseline, "--candidate", candidate, "--json", out, *extra)
    return code, json.loads(out.read_text(encoding="utf-8"))


def _by_flag(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["flag"]: f for f in verdict["flags"]}


def test_an_older_baseline_reads_with_flags_not_compared(tmp_path: Path, flagged, make_run: RunMaker) -> None:
    baseline, ts_dir, hyps = flagged
    obj = json.loads(baseline.read_text(encoding="utf-8"))
    obj["schema_version"] = 2
    del obj["checks"]
    for system in obj["systems"].values():
        del system["flags"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(obj), encoding="utf-8")
    assert load_baseline(old).systems["mt"].flags is None
    empty = make_run("empty", ts_dir, {"mt": ["" if i < 5 else h for i, h in enumerate(hyps)]})
    code, verdict = _gate(tmp_path, old, empty, "--tolerance", "100")
    assert code == 0  # what the tolerated metrics say; the flags could not be compared
    assert verdict["flags"] and {f["status"] for f in verdict["flags"]} == {"not-compared"}
    assert any("schema 2" in note and "not compared" in note for note in verdict["notes"])
    code, verdict = _gate(tmp_path, baseline, empty, "--tolerance", "100")  # against a schema-3 baseline
    assert code == 1 and _by_flag(verdict)["empty"]["status"] == "regression"


def test_baseline_flags_must_be_ascending_segment_indices(tmp_path: Path, flagged) -> None:
    baseline = flagged[0]
    obj = json.loads(baseline.read_text(encoding="utf-8"))
    obj["systems"]["mt"]["flags"]["empty"] = [3, 1]
    baseline.write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(MtEvalError, match="ascending segment indices"):
        load_baseline(baseline)
    obj["systems"]["mt"]["flags"]["empty"] = [200]
    baseline.write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(MtEvalError, match="ascending segment indices from 0 to 199"):
        load_baseline(baseline)


def test_changed_check_settings_are_named_and_their_flags_not_compared(tmp_path: Path, flagged,
                                                                       make_run: RunMaker) -> None:
    baseline, ts_dir, hyps = flagged
    cand = make_run("cand", ts_dir, {"mt": ["" if i < 3 else h for i, h in enumerate(hyps)]})
    results = json.loads((cand / "results.json").read_text(encoding="utf-8"))
    results["config"]["checks"]["max_length_ratio"] = 9.0  # as if the candidate ran with another band
    (cand / "results.json").write_text(json.dumps(results), encoding="utf-8")
    code, verdict = _gate(tmp_path, baseline, cand)
    assert code == 1
    flags = _by_flag(verdict)
    assert flags["length_ratio"]["status"] == "not-compared"
    assert "max_length_ratio (baseline 2.5, candidate 9.0)" in flags["length_ratio"]["reason"]
    assert flags["empty"]["status"] == "regression"  # computed the same way on both sides
    assert any("output-check settings differ" in note for note in verdict["notes"])


def test_noisy_flags_are_reported_and_gate_only_when_named(tmp_path: Path, flagged,
                                                           make_run: RunMaker) -> None:
    baseline, ts_dir, hyps = flagged
    loops = [" ".join([h.split()[0]] * 12) + " ." if i % 5 == 0 else h for i, h in enumerate(hyps)]
    cand = make_run("loops", ts_dir, {"mt": loops})
    policy = tmp_path / "gate.toml"
    # a loop of pseudo-words is no longer taken for English either: allowed here, to isolate repetition
    allowance = "[gate]\nmax_flag_increase = { wrong_language = 200 }\n"
    policy.write_text(allowance, encoding="utf-8")
    code, verdict = _gate(tmp_path, baseline, cand, "--tolerance", "100", "--metric", "bleu",
                          "--policy", policy)
    repetition = _by_flag(verdict)["repetition"]
    assert repetition["kind"] == "noisy" and repetition["status"] == "reported"
    assert repetition["candidate_count"] >= 35 and repetition["p_value"] < 1e-9
    assert code == 0 and _by_flag(verdict)["wrong_language"]["status"] == "pass-within-tolerance"
    policy.write_text(allowance + 'gate_flags = ["repetition", "length_ratio"]\n', encoding="utf-8")
    code, verdict = _gate(tmp_path, baseline, cand, "--tolerance", "100", "--metric", "bleu",
                          "--policy", policy)
    repetition = _by_flag(verdict)["repetition"]
    assert code == 1 and repetition["status"] == "regression"
    assert repetition["p_adjusted"] >= repetition["p_value"]  # in the Holm family with the gated metric


def test_damaged_segment_flags_cannot_compare(tmp_path: Path, flagged, make_run: RunMaker) -> None:
    baseline, ts_dir, hyps = flagged
    cand = make_run("damaged", ts_dir, {"mt": hyps})
    results = json.loads((cand / "results.json").read_text(encoding="utf-8"))
    results["flags"]["mt"]["empty"] = 4  # results.json and segments.jsonl now disagree
    (cand / "results.json").write_text(json.dumps(results), encoding="utf-8")
    code, verdict = _gate(tmp_path, baseline, cand)
    assert code == 2 and "segments flagged empty" in verdict["errors"][0]


# ------------------------------------------------------------------------ rendering
def _verdict() -> Verdict:
    metric = Comparison(system="mt", metric="bleu", status="no-significant-change", reason="mt/bleu: fine",
                        baseline_score=40.0, candidate_score=40.1, delta=0.1, p_value=0.5)
    flags = [FlagComparison("mt", "empty", "catastrophic", "regression", "mt/empty: 0 → 5 segments",
                            baseline_count=0, candidate_count=5, newly_flagged=5, allowed_increase=0,
                            gated=True, first_segments=["a|1", "b"]),
             FlagComparison("mt", "copy_of_source", "catastrophic", "no-increase", "mt/copy_of_source: 0 → 0",
                            baseline_count=0, candidate_count=0, newly_flagged=0, allowed_increase=0,
                            gated=True),
             FlagComparison("mt", "repetition", "noisy", "reported", "mt/repetition: 1 → 2 reported",
                            baseline_count=1, candidate_count=2, newly_flagged=1, p_value=1.0),
             FlagComparison("mt", "truncated", "catastrophic", "not-compared", "mt/truncated: not computed",
                            gated=True)]
    return Verdict(baseline="b", candidate="c", comparisons=[metric], flags=flags)


def test_every_format_carries_the_flag_rows() -> None:
    verdict = _verdict()
    assert verdict.exit_code == 1
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["schema_version"] == 2 and data["flag_counts"]["regression"] == 1
    assert [f["flag"] for f in data["flags"]] == ["empty", "copy_of_source", "repetition", "truncated"]
    markdown = render_markdown(verdict)
    assert "| mt | empty | catastrophic | 0 | 5 | +5 | 5 | – | +0 | ❌ regression | a\\|1, b |" in markdown
    assert "| mt | repetition | noisy | 1 | 2 | +1 | 1 | 1.0000 | – |" in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| system | flag"))
    delimiter = markdown.splitlines()[markdown.splitlines().index(header) + 1]
    assert header.count("|") == delimiter.count("|")  # a GitHub table needs as many delimiter cells
    text = render_text(verdict)
    assert "mt/empty: 0 → 5 segments" in text and "flag regression: mt/empty" in text
    assert "flags mt: 0 → 0 for copy_of_source; not compared: truncated" in text
    suite = ET.fromstring(render_junit(verdict)).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "1", "1")
    case = next(c for c in suite.findall("testcase") if c.get("name") == "empty")
    assert case.get("classname") == "mt-eval.gate.mt.flags"
    assert case.find("failure") is not None


def test_metric_table_delimiter_matches_its_header() -> None:
    lines = render_markdown(_verdict()).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| system | metric"))
    assert lines[header].count("|") == lines[header + 1].count("|")
