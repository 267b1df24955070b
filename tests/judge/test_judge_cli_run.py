"""``mt-eval run -m 'gemba-esa:judge=openai:http://127.0.0.1:PORT/v1?model=NAME'`` end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_judge import FakeJudge
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval.data.testset import TestSet
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.run_folder import load_run
from mt_eval.settings import EvalSettings

SOURCES, REFS, GOOD = SOURCES[:4], REFS[:4], GOOD[:4]


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, FakeJudge]]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(tmp_path / "ts")
    (tmp_path / "good.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    server = FakeJudge(model="judge-x")
    # "good" outputs: one minor error each, score 80; "copy" (Arabic) outputs: non-translation, score 3
    for hyp in GOOD:
        first = hyp.split()[1]
        server.answers[hyp] = {"spans": f"Major:\nno-error\nMinor:\nstyle/awkward - \"{first}\"",
                               "score": "80"}
    for src in SOURCES:
        server.answers[src] = {"spans": f"Major:\nnon-translation - \"{src}\"\nMinor:\nno-error",
                               "score": "3"}
    server.answers[SOURCES[3]]["score"] = "no idea"  # one judge failure for copy
    yield tmp_path, server
    server.close()


def test_run_with_a_judge_metric(capsys, setup: tuple[Path, FakeJudge]) -> None:
    files, server = setup
    key = f"gemba-esa:judge={server.spec(max_retries='0')}"
    code, _, err = run_cli(capsys, "run", "--testset", files / "ts", "--system", "copy", "--system",
                             f"file:{files / 'good.txt'}", "-m", "chrf", "-m", key, "--resamples", "100",
                             "-o", files / "out")
    assert code == 0, err
    results = load_run(files / "out")
    assert key in results.metrics
    info = results.metrics[key]
    assert info.spec["name"] == "gemba-esa" and info.spec["options"]["judge"] == server.spec(max_retries="0")
    assert info.signature["judge_model"] == "judge-x|served=judge-x|/models/fake-judge-v1"
    assert info.higher_is_better
    good = next(s for s in results.ok_systems if s != "copy")
    assert results.scores[good][key].score == pytest.approx(80.0)
    assert results.scores["copy"][key].score == pytest.approx(3.0)  # the failed segment is not a zero
    asked = len(server.posts)
    assert asked == 8 + 8  # ESA: spans, then the score, for each of the 8 outputs
    # the judge's per-segment outputs land in segments.jsonl (spans; failures when the plumbing has them)
    records = [json.loads(line) for line in
               RunLayout.of(files / "out").segments_jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["scores"]["copy"][key] for r in records] == [3.0, 3.0, 3.0, None]
    assert all(r["scores"][good][key] == 80.0 for r in records)
    spans = [r.get("spans", {}).get(good, []) for r in records]
    assert all(len(s) == 1 and s[0]["severity"] == "minor" and s[0]["start"] is not None for s in spans)
    for record, (span,) in zip(records, spans, strict=True):
        assert record["outputs"][good][span["start"]:span["end"]] == span["text"]
    assert records[3]["failures"]["copy"][key]["raw"] == "no idea"
    assert results.judge_failures["copy"][key] == 1 and results.judge_failures[good][key] == 0
    assert results.usage[good][key]["requests"] == 8
    table = RunLayout.of(files / "out").table_path("md").read_text(encoding="utf-8")
    assert f"| copy | {key} | 1 of 4 |" in table and f"| {key} |" in table.splitlines()[2].replace(
        "| system | chrf ", "|")
    # re-running asks the judge nothing
    code, _, err = run_cli(capsys, "run", "--testset", files / "ts", "--system", "copy", "-m", key,
                           "--resamples", "100", "-o", files / "again")
    assert code == 0, err
    assert len(server.posts) == asked


def test_the_judge_is_told_the_test_sets_languages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An en→ar test set: the prompt names English→Arabic (not the ar→en default), the spec and the
    signature record it, and a spec that names languages keeps them."""
    import mt_eval.evaluate as ev
    from mt_eval.translators.base import SystemRun

    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    ts = TestSet.from_pairs([(r, [s]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="en",
                            target_lang="ar", name="en-ar")
    server = FakeJudge(model="judge-x")
    try:
        for src in SOURCES:
            server.answers[src] = {"spans": "Major:\nno-error\nMinor:\nno-error", "score": "90"}
        key = f"gemba-mqm:judge={server.spec(max_retries='0')}"
        named = f"gemba-mqm:source_lang=fr,target_lang=ar,judge={server.spec(max_retries='0')}"
        result = ev.evaluate(ts, [SystemRun("sys", "file:x", list(SOURCES), {})], [key, named],
                             EvalSettings(resamples=20))
        metrics = result.results.metrics
        assert metrics[key].spec["options"]["source_lang"] == "en"
        assert metrics[key].spec["options"]["target_lang"] == "ar"
        assert metrics[key].signature["langs"] == "en-ar"
        assert metrics[named].signature["langs"] == "fr-ar"
        asked = [body["messages"][-1]["content"] for body in server.posts]  # the segment, after the shots
        assert len(asked) == 2 * len(SOURCES)
        assert sum("English source" in a and "Arabic translation" in a for a in asked) == len(SOURCES)
        assert sum("French source" in a and "Arabic translation" in a for a in asked) == len(SOURCES)
    finally:
        server.close()
