"""Issue 17's table, rebuilt: the gate fails on a handful of catastrophic outputs a corpus score hides.

A 500-segment Arabic→English test set with a human-quality translation as the baseline system, through
the real command line (``mt-eval score`` → ``mt-eval baseline save`` → ``mt-eval gate``):

| candidate | gate |
|---|---|
| 5 of 500 outputs empty | exit 1, naming ``empty`` and the segments |
| 10 of 500 outputs are the source | exit 1 naming ``copy_of_source``, also with ``--tolerance 1.0`` |
| identical | exit 0 |
| one word dropped in one segment | exit 0 |
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_helpers import arabic_english, cli

from mt_eval.data.testset import TestSet
from mt_eval.gate.baseline import load_baseline

N = 500


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("catastrophic")
    sources, refs, human = arabic_english(N, seed=17)
    ts = TestSet.from_pairs([(s, [r]) for s, r in zip(sources, refs, strict=True)], source_lang="ar",
                            target_lang="en", name="ar-en-constructed").save(work / "ts")
    empty, copies, dropped = list(human), list(human), list(human)
    for i in range(40, 500, 100):  # 5 segments
        empty[i] = ""
    for i in range(25, 500, 50):  # 10 segments
        copies[i] = sources[i]
    words = dropped[123].split()
    dropped[123] = " ".join(words[:3] + words[4:])  # one word dropped in one segment
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("GITHUB_STEP_SUMMARY", raising=False)
        for name, hyps in (("base", human), ("same", human), ("empty", empty), ("copies", copies),
                           ("dropped", dropped)):
            path = work / f"{name}.txt"
            path.write_text("".join(f"{h}\n" for h in hyps), encoding="utf-8")
            assert cli("score", "--testset", ts, "--hyp", f"human={path}", "-m", "bleu", "-m", "chrf",
                       "--resamples", "100", "-o", work / name) == 0
            runs[name] = work / name
        assert cli("baseline", "save", runs["base"], "-o", work / "baseline.json") == 0
    return {"work": work, "runs": runs, "baseline": work / "baseline.json",
            "ids": [s.id for s in TestSet.load(ts).segments]}


def _gate(table: dict[str, object], name: str, *extra: object) -> tuple[int, dict]:
    work, runs = Path(str(table["work"])), table["runs"]
    assert isinstance(runs, dict)
    out = work / f"verdict-{name}-{len(extra)}.json"
    code = cli("gate", "--baseline", table["baseline"], "--candidate", runs[name], "--json", out,
               "--markdown", work / f"verdict-{name}.md", *extra)
    verdict = json.loads(out.read_text(encoding="utf-8"))
    assert verdict["exit_code"] == code
    return code, verdict


def _flag(verdict: dict, flag: str) -> dict:
    found = [f for f in verdict["flags"] if f["flag"] == flag]
    assert len(found) == 1, verdict["flags"]
    return found[0]


def test_baseline_keeps_flags_and_check_settings(table: dict[str, object]) -> None:
    baseline = load_baseline(Path(str(table["baseline"])))
    assert baseline.schema_version == 3
    assert baseline.checks is not None and "min_length_ratio" in baseline.checks
    flags = baseline.systems["human"].flags
    assert flags is not None
    assert {"empty", "copy_of_source", "wrong_language", "length_ratio", "repetition"} <= set(flags)
    assert flags["empty"] == [] and flags["copy_of_source"] == []  # a human translation is neither


def test_five_empty_outputs_fail_naming_empty_and_the_segments(table: dict[str, object]) -> None:
    code, verdict = _gate(table, "empty")
    assert code == 1 and verdict["outcome"] == "regression"
    # the corpus scores hide them (BLEU even rises): the flag alone fails the gate
    assert not any(c["status"] == "regression" for c in verdict["comparisons"])
    empty = _flag(verdict, "empty")
    assert empty["status"] == "regression" and empty["kind"] == "catastrophic"
    assert (empty["baseline_count"], empty["candidate_count"], empty["newly_flagged"]) == (0, 5, 5)
    ids = table["ids"]
    assert isinstance(ids, list)
    assert empty["first_segments"] == [ids[i] for i in range(40, 500, 100)]
    assert "empty" in empty["reason"] and "0 → 5" in empty["reason"]
    markdown = (Path(str(table["work"])) / "verdict-empty.md").read_text(encoding="utf-8")
    assert "| human | empty | catastrophic | 0 | 5 | +5 |" in markdown


@pytest.mark.parametrize("extra", [(), ("--tolerance", "1.0"), ("--tolerance", "1.0", "--primary-metric",
                                                                   "bleu")])
def test_ten_copies_of_the_source_fail_naming_copy_of_source(table: dict[str, object],
                                                             extra: tuple[str, ...]) -> None:
    code, verdict = _gate(table, "copies", *extra)
    assert code == 1
    copy = _flag(verdict, "copy_of_source")
    assert copy["status"] == "regression"
    assert (copy["baseline_count"], copy["candidate_count"]) == (0, 10)
    assert "copy_of_source" in copy["reason"]
    if "--primary-metric" in extra:  # BLEU even rises or barely moves: the flag alone fails the gate
        assert not any(c["status"] == "regression" for c in verdict["comparisons"])


def test_identical_outputs_pass(table: dict[str, object]) -> None:
    code, verdict = _gate(table, "same")
    assert code == 0
    assert {f["status"] for f in verdict["flags"] if f["kind"] == "catastrophic"} == {"no-increase"}


def test_one_word_dropped_in_one_segment_passes(table: dict[str, object]) -> None:
    code, verdict = _gate(table, "dropped")
    assert code == 0
    assert not any(f["status"] == "regression" for f in verdict["flags"])


def test_a_baseline_from_before_new_metric_options_still_compares(table: dict[str, object]) -> None:
    """A baseline saved before ``ar_normalize_yaa`` & co. existed lacks them in its metric spec: they
    compare at their defaults (False), so BLEU and chrF stay comparable instead of 'cannot compare'."""
    work = Path(str(table["work"]))
    data = json.loads(Path(str(table["baseline"])).read_text(encoding="utf-8"))
    dropped = 0
    for system in data["systems"].values():
        for entry in system["metrics"].values():
            options = entry["metric_spec"]["options"]
            for name in ("ar_normalize_yaa", "ar_normalize_ta_marbuta", "ar_normalize_digits"):
                dropped += options.pop(name, None) is not None
    assert dropped  # the options exist today, so the old file really lacks something
    old = work / "baseline-before-ar-options.json"
    old.write_text(json.dumps(data), encoding="utf-8")
    out = work / "verdict-old-options.json"
    assert cli("gate", "--baseline", old, "--candidate", Path(str(table["runs"]["same"])),  # type: ignore[index]
               "--json", out) == 0
    verdict = json.loads(out.read_text(encoding="utf-8"))
    assert {c["status"] for c in verdict["comparisons"]} == {"no-significant-change"}, verdict["comparisons"]
