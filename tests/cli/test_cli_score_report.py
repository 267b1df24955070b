"""``mt-eval score``, ``compare`` and ``report`` on precomputed outputs (no translation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sacrebleu
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval.data.testset import TestSet
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.run_folder import load_run

WEAK = ["Boy go school.", "Cat mat.", "The weather.", "Book.", "We travel.", "Window open."]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(tmp_path / "ts")
    (tmp_path / "good.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    (tmp_path / "weak.txt").write_text("\n".join(WEAK) + "\n", encoding="utf-8")
    (tmp_path / "short.txt").write_text("\n".join(WEAK[:4]) + "\n", encoding="utf-8")
    return tmp_path


def _score(capsys, files: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "score", "--testset", files / "ts", "--hyp", files / "good.txt",
               "--hyp", f"weak={files / 'weak.txt'}", "-m", "bleu", "-m", "chrf", "--resamples", "200",
               "-o", files / "run", *extra)


def test_score_writes_a_run_folder_with_sacrebleu_scores(capsys, files: Path) -> None:
    code, out, err = _score(capsys, files, "--baseline", "weak")
    assert code == 0, err
    results = load_run(files / "run")
    assert list(results.systems) == ["good", "weak"]  # file stem, or NAME=PATH
    assert results.scores["good"]["bleu"].score == pytest.approx(sacrebleu.corpus_bleu(GOOD, [REFS]).score)
    assert results.scores["weak"]["chrf"].score == pytest.approx(sacrebleu.corpus_chrf(WEAK, [REFS]).score)
    assert results.significance is not None and results.significance.baseline == "weak"
    layout = RunLayout.of(files / "run")
    tables = [layout.table_path(f) for f in ("md", "csv", "tex")]
    for path in (layout.segments_jsonl, layout.report_html, *tables, layout.stats_path("good", "chrf"),
                 layout.output_path("weak")):
        assert path.is_file(), path
    assert layout.output_path("weak").read_text(encoding="utf-8").splitlines() == WEAK
    assert "weak (baseline)" in out and f"{results.scores['good']['bleu'].score:.2f}" in out


def test_score_bad_input_exits_2_with_one_line(capsys, files: Path) -> None:
    code, _, err = run_cli(capsys, "score", "--testset", files / "ts", "--hyp", files / "short.txt",
                       "-o", files / "run")
    assert code == 2
    assert err.strip().splitlines() == [f"mt-eval: error: {files / 'short.txt'}: 4 lines but the test set"
                                        " has 6 segments"]
    code, _, err = run_cli(capsys, "score", "--testset", files / "ts", "--hyp", files / "good.txt",
                       "-m", "bleux", "-o", files / "run")
    assert code == 2 and "unknown metric 'bleux'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "score", "--testset", files / "nowhere", "--hyp", files / "good.txt",
                       "-o", files / "run")
    assert code == 2 and "test set folder not found" in err
    assert not (files / "run").exists()


def test_compare_and_report(capsys, files: Path) -> None:
    assert _score(capsys, files)[0] == 0
    assert load_run(files / "run").significance.baseline is None  # no --baseline: every pair
    code, out, err = run_cli(capsys, "compare", files / "run", "--baseline", "weak", "--method", "ar",
                         "--all-pairs", "--resamples", "300")
    assert code == 0, err
    assert "weak (baseline)" in out and "paired comparisons" in out
    assert load_run(files / "run").significance.baseline is None  # printed only, without --save
    code, out, err = run_cli(capsys, "compare", files / "run", "--baseline", "weak", "--save")
    assert code == 0, err
    saved = load_run(files / "run")
    assert saved.significance.baseline == "weak" and set(saved.significance.results) == {"good"}
    layout = RunLayout.of(files / "run")
    assert "than the baseline weak" in layout.table_path("md").read_text(encoding="utf-8")
    code, _, err = run_cli(capsys, "compare", files / "run", "--baseline", "nope")
    assert code == 2 and "baseline 'nope' is not an evaluated system" in err

    tables = {f: layout.table_path(f).read_text(encoding="utf-8") for f in ("md", "csv", "tex")}
    report = layout.report_html.read_text(encoding="utf-8")
    for f in ("md", "csv", "tex"):
        layout.table_path(f).unlink()
    layout.report_html.unlink()
    code, out, err = run_cli(capsys, "report", files / "run")
    assert code == 0, err
    assert {f: layout.table_path(f).read_text(encoding="utf-8") for f in ("md", "csv", "tex")} == tables
    assert layout.report_html.read_text(encoding="utf-8") == report
    code, _, err = run_cli(capsys, "report", files / "nowhere")
    assert code == 2 and "not found" in err


def test_combining_runs_needs_same_test_set_and_signatures(capsys, files: Path) -> None:
    assert _score(capsys, files)[0] == 0
    # same test set, same metric settings: the other run's system joins the comparison
    assert run_cli(capsys, "score", "--testset", files / "ts", "--hyp", f"other={files / 'weak.txt'}",
               "-m", "bleu", "-m", "chrf", "-o", files / "run2")[0] == 0
    code, out, err = run_cli(capsys, "compare", files / "run", "--baseline", "other",
                             "--with", files / "run2")
    assert code == 0, err
    assert "other (baseline)" in out and "good" in out
    # different metric options: the signatures differ
    assert run_cli(capsys, "score", "--testset", files / "ts", "--hyp", f"lc={files / 'weak.txt'}",
               "-m", "bleu:lowercase=true", "-m", "chrf", "-o", files / "run3")[0] == 0
    results3 = load_run(files / "run3")
    assert "bleu:lowercase=true" in results3.metrics  # the spec string is the key
    TestSet.from_pairs([(s, [r.upper()]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(files / "ts4")
    assert run_cli(capsys, "score", "--testset", files / "ts4", "--hyp", f"up={files / 'weak.txt'}",
               "-m", "bleu", "-m", "chrf", "-o", files / "run4")[0] == 0
    code, _, err = run_cli(capsys, "compare", files / "run", "--baseline", "good", "--with", files / "run4")
    assert code == 2 and "test set" in err and "differs" in err and len(err.strip().splitlines()) == 1
    # rename run3's metric key to bleu, keeping its lowercase signature: a signature mismatch
    raw = json.loads((files / "run3" / "results.json").read_text(encoding="utf-8"))
    raw["metrics"] = {"bleu" if k.startswith("bleu") else k: v for k, v in raw["metrics"].items()}
    (files / "run3" / "results.json").write_text(json.dumps(raw), encoding="utf-8")
    code, _, err = run_cli(capsys, "compare", files / "run", "--baseline", "good", "--with", files / "run3")
    assert code == 2 and "metric bleu signature" in err and "case:lc" in err
