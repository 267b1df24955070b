"""Issue 13's end-to-end promise: a run with an LLM judge AND COMET, both in tables, report and gate.

``mt-eval run -m 'gemba-esa:judge=openai:http://127.0.0.1:PORT/v1?model=NAME' -m 'comet:model=PATH'``
on a fake judge server and a tiny COMET checkpoint built here; then ``baseline save`` naming both and
``mt-eval gate`` with a policy whose family names both: the same outputs pass, worse outputs fail on
the judge, and the verdict lists both metrics.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_judge import FakeJudge
from helpers.cli import run_cli

from mt_eval.data.testset import TestSet
from mt_eval.reports.run_folder import load_run
from mt_eval.testing.corpora import synthetic_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from comet_fixture import TinyComet, build_tiny_comet

# 16 segments: enough for the exact paired test to reject after Holm over the family's 6 comparisons
_CORPUS = synthetic_corpus(16, seed=7)
REFS = _CORPUS["refs"]
GOOD = _CORPUS["C"]
BAD = [" ".join(reversed(g.split())) for g in GOOD]
SOURCES = [f"قال التقرير رقم {i} إن المدينة الجديدة على النهر" for i in range(len(REFS))]


@pytest.fixture(scope="module")
def comet(tmp_path_factory: pytest.TempPathFactory) -> TinyComet:
    return build_tiny_comet(tmp_path_factory.mktemp("comet"))


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, FakeJudge]]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(tmp_path / "ts")
    (tmp_path / "sys.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    server = FakeJudge(model="judge-x")
    for hyp in GOOD:
        server.answers[hyp] = {"spans": f"Major:\nno-error\nMinor:\nstyle/awkward - \"{hyp.split()[0]}\"",
                               "score": "85"}
    for hyp in BAD:
        server.answers[hyp] = {"spans": f"Major:\nfluency/grammar - \"{hyp.split()[0]}\"\nMinor:\nno-error",
                               "score": "20"}
    for src in SOURCES:
        server.answers[src] = {"spans": f"Critical:\nnon-translation - \"{src}\"", "score": "2"}
    yield tmp_path, server
    server.close()


@pytest.mark.slow
def test_judge_and_comet_in_tables_report_and_gate(capsys, files: tuple[Path, FakeJudge],
                                                     comet: TinyComet) -> None:
    root, server = files
    judge = f"gemba-esa:judge={server.spec(max_retries='0')}"
    neural = f"comet:model={comet.regression}"
    run = ["run", "--testset", root / "ts", "-s", "copy", "-s", f"file:{root / 'sys.txt'}", "-m", "chrf",
           "-m", judge, "-m", neural, "--resamples", "200", "--baseline", "copy"]
    code, _, err = run_cli(capsys, *run, "-o", root / "base")
    assert code == 0, err
    results = load_run(root / "base")
    assert {judge, neural} <= set(results.metrics)
    for system in ("copy", "sys.txt"):
        for key in (judge, neural):
            assert results.scores[system][key].ci_low is not None  # CIs like any metric
    assert results.significance is not None and judge in results.significance.results["sys.txt"]
    assert results.scores["sys.txt"][judge].score == pytest.approx(85.0)
    table = (root / "base" / "tables" / "scores.md").read_text(encoding="utf-8")
    report = (root / "base" / "report.html").read_text(encoding="utf-8")
    for key in ("gemba-esa", "comet"):
        assert key in table and key in report
    lines = (root / "base" / "segments.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert all(r["spans"]["sys.txt"] for r in records)  # one minor span per good output
    assert all(s["source"] == judge for r in records for s in r["spans"]["sys.txt"])

    # baseline: judges and COMET only when named; the policy's family names both
    policy = root / "policy.toml"
    policy.write_text(f'family = ["chrf", {json.dumps(judge)}, {json.dumps(neural)}]\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "baseline", "save", root / "base", "--policy", policy,
                           "-o", root / "b.json")
    assert code == 0, err
    saved = json.loads((root / "b.json").read_text(encoding="utf-8"))
    kept = json.dumps(saved)
    assert judge in kept and neural in kept and '"chrf"' in kept

    # the same outputs pass the gate; both metrics are compared
    code, out, err = run_cli(capsys, "gate", "-b", root / "b.json", "-c", root / "base", "--policy", policy)
    assert code == 0, out + err
    assert "gemba-esa" in out and "comet" in out

    # worse outputs: the judge sees them (score 20 vs 85) and the gate fails with exit 1
    (root / "sys.txt").write_text("\n".join(BAD) + "\n", encoding="utf-8")
    code, _, err = run_cli(capsys, *run, "-o", root / "worse")
    assert code == 0, err
    code, out, err = run_cli(capsys, "gate", "-b", root / "b.json", "-c", root / "worse", "--policy", policy)
    assert code == 1, out + err
    assert "gemba-esa" in out
