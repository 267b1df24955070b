"""``mt-eval history``: five nightly run folders (one on another test set) → one static site.

The runs come from :func:`mt_eval.testing.history_runs.five_runs` (synthetic corpus, no model): in time
order e-night-1 … a-night-5, night 3 placed by its creation time (no ``git``), night 4 on test set B,
nights 2-5 gated against night 1.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import run_cli

from mt_eval.cli import main
from mt_eval.history.site import make_history
from mt_eval.metrics.registry import metric_from_spec
from mt_eval.reports.run_folder import RunFolder
from mt_eval.settings import ALPHA, SEED
from mt_eval.stats.multiple_testing import holm
from mt_eval.stats.significance import choose_method, paired_bootstrap
from mt_eval.testing.history_runs import NIGHTS, five_runs

ORDER = [name for name, *_ in NIGHTS]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return five_runs(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="module")
def site(runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("published") / "site"
    with pytest.raises(SystemExit) as exited:  # the command line, as CI runs it
        main(["history", str(runs[0].parent), "-o", str(out)])
    assert exited.value.code == 0
    return out


def _data(site: Path) -> dict[str, Any]:
    return json.loads((site / "history.json").read_text(encoding="utf-8"))


def _lines(data: dict[str, Any], system: str, metric: str) -> list[dict[str, Any]]:
    return [ln for ln in data["lines"] if ln["system"] == system and ln["metric"] == metric]


def test_runs_are_ordered_by_commit_date_else_creation_time(site: Path) -> None:
    runs = _data(site)["runs"]
    assert [r["run_name"] for r in runs] == ORDER  # neither name order nor creation order
    assert [r["time_source"] for r in runs] == ["commit", "commit", "created", "commit", "commit"]
    assert [r["gate"] for r in runs] == [None, "pass", "pass", "cannot-compare", "regression"]
    html = (site / "index.html").read_text(encoding="utf-8")
    positions = [html.index(f"<td>{name}</td>") for name in ORDER]
    assert positions == sorted(positions)


def test_another_test_set_starts_a_new_line_with_the_reason(site: Path) -> None:
    data = _data(site)
    hashes = {r["number"]: r["testset"]["hash"] for r in data["runs"]}
    for system in ("candidate", "reference"):
        for metric in ("bleu", "chrf"):
            first, second = _lines(data, system, metric)
            assert [p["run"] for p in first["points"]] == [1, 2, 3, 5]
            assert [p["run"] for p in second["points"]] == [4]
            assert first["reason"] == ""
            assert second["reason"].startswith("test set changed: synthetic-A")
            assert hashes[1][:12] in second["reason"] and hashes[4][:12] in second["reason"]
            assert second["points"][0]["step"] is None  # never compared across test sets
    html = (site / "index.html").read_text(encoding="utf-8")
    assert html.count("New line — test set changed: synthetic-A") == 4


def test_a_changed_metric_signature_starts_a_new_line(runs: list[Path], tmp_path: Path) -> None:
    copies = tmp_path / "runs"
    for path in runs[:2]:
        shutil.copytree(path, copies / path.name)
    folder = RunFolder(copies / runs[1].name)
    results = folder.results()
    results.metrics["bleu"].signature["version"] = "9.9.9"
    results.metrics["bleu"].signature_string += "-changed"
    folder.update(results=results)
    out = tmp_path / "site"
    make_history([copies], out)
    first, second = _lines(_data(out), "candidate", "bleu")
    assert [p["run"] for p in first["points"]] == [1] and [p["run"] for p in second["points"]] == [2]
    assert second["reason"].startswith("metric signature changed: version")
    assert "9.9.9" in second["reason"]
    assert len(_lines(_data(out), "candidate", "chrf")) == 1  # chrF kept its signature: one line


def _stats(run: Path, system: str, metric: str) -> Any:
    folder = RunFolder(run)
    return folder.stats(system, metric, folder.results().testset.num_segments)


def test_significance_marks_agree_with_the_paired_test(runs: list[Path], site: Path) -> None:
    data = _data(site)
    by_number = {i + 1: path for i, path in enumerate(runs)}
    assert choose_method(120, None)[0] == "paired-bs"
    marks: dict[tuple[str, str, int], bool] = {}
    for metric in ("bleu", "chrf"):
        spec = RunFolder(runs[0]).results().metrics[metric].spec
        line_a = {system: _lines(data, system, metric)[0] for system in ("candidate", "reference")}
        for step in range(1, 4):  # points 2, 3 and 5 of line A, each against the point before
            raw = {}
            for system, line in line_a.items():
                before, after = line["points"][step - 1], line["points"][step]
                expected = paired_bootstrap(metric_from_spec(spec),
                                            _stats(by_number[before["run"]], system, metric),
                                            _stats(by_number[after["run"]], system, metric), seed=SEED)
                assert after["step"]["method"] == "paired-bs"
                assert after["step"]["p_value"] == pytest.approx(expected.p_value, abs=1e-12)
                assert after["step"]["delta"] == pytest.approx(expected.delta, abs=1e-9)
                raw[system] = expected.p_value
            adjusted = dict(zip(raw, holm(list(raw.values())), strict=True))  # family: the systems of a step
            for system, line in line_a.items():
                after = line["points"][step]
                assert after["step"]["p_adjusted"] == pytest.approx(adjusted[system], abs=1e-12)
                assert after["step"]["significant"] == (adjusted[system] < ALPHA)
                marks[(system, metric, after["run"])] = after["step"]["significant"]
    assert marks[("candidate", "bleu", 3)] and marks[("candidate", "bleu", 5)]  # better, then worse
    assert not marks[("candidate", "bleu", 2)]  # the same outputs
    assert not any(v for (system, _, _), v in marks.items() if system == "reference")
    html = (site / "index.html").read_text(encoding="utf-8")
    assert html.count('class="change-better"') == 2 and html.count('class="change-worse"') == 2


def test_every_point_links_to_its_copied_report(runs: list[Path], site: Path) -> None:
    html = (site / "index.html").read_text(encoding="utf-8")
    point_links = re.findall(r'<a href="([^"]+)"><circle', html)
    data = _data(site)
    assert len(point_links) == sum(len(ln["points"]) for ln in data["lines"]) == 20
    for href in set(point_links) | set(re.findall(r'href="([^"]+)"', html)):
        assert not re.match(r"[a-z]+:", href), href  # nothing outside the folder
        assert f'id="{href[1:]}"' in html if href.startswith("#") else (site / href).is_file(), href
    for record, source in zip(data["runs"], runs, strict=True):
        copied = site / record["report"]
        assert copied == site / "runs" / source.name / "report.html"
        assert copied.read_bytes() == (source / "report.html").read_bytes()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    gated = {(ln["system"], ln["metric"], p["run"]): p["gate"] for ln in data["lines"] for p in ln["points"]}
    assert gated[("candidate", "bleu", 5)] == "regression"
    assert gated[("candidate", "bleu", 3)] == "improvement"
    assert gated[("candidate", "bleu", 4)] == "cannot-compare"  # another test set: the gate compared nothing
    assert gated[("candidate", "bleu", 1)] is None
    assert 'class="gate-regression"' in html


def test_a_history_site_is_replaced_whole(runs: list[Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "site"
    assert run_cli(capsys, "history", runs[0], runs[1], "-o", out)[0] == 0
    (out / "stale.txt").write_text("x", encoding="utf-8")
    code, stdout, _ = run_cli(capsys, "history", runs[0], "-o", out)
    assert code == 0 and "1 runs" in stdout
    assert not (out / "stale.txt").exists() and [r["run_name"] for r in _data(out)["runs"]] == [ORDER[0]]


def _bad_cases(runs: list[Path], tmp: Path) -> dict[str, tuple[list[object], Path]]:
    broken = tmp / "broken"
    shutil.copytree(runs[0], broken)
    (broken / "results.json").write_text("{", encoding="utf-8")
    invalid = tmp / "invalid"
    shutil.copytree(runs[0], invalid)
    (invalid / "results.json").write_text('{"schema_version": 4, "run_name": 3}', encoding="utf-8")
    empty = tmp / "empty"
    empty.mkdir()
    (tmp / "a-file.txt").write_text("x", encoding="utf-8")
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine", encoding="utf-8")
    parent = runs[0].parent
    return {
        "not a run folder": ([empty], tmp / "out"),
        "a file": ([tmp / "a-file.txt"], tmp / "out"),
        "missing": ([tmp / "nowhere"], tmp / "out"),
        "unreadable results.json": ([runs[0], broken], tmp / "out"),
        "invalid results.json": ([invalid], tmp / "out"),
        "output inside an input": ([parent], runs[0] / "site"),
        "output inside a run folder": ([runs[0]], runs[0] / "gate" / "site"),
        "output equal to an input": ([runs[0]], runs[0]),
        "output holding an input": ([runs[0]], parent),
        "output not a history site": ([runs[0]], foreign),
    }


CASES = ["not a run folder", "a file", "missing", "unreadable results.json", "invalid results.json",
         "output inside an input", "output inside a run folder", "output equal to an input",
         "output holding an input", "output not a history site"]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES)
def test_bad_inputs_exit_2_with_one_line_and_write_nothing(case: str, runs: list[Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    inputs, out = _bad_cases(runs, tmp_path)[case]
    existed = out.exists()
    before = _snapshot(out) if existed else {}
    runs_before = _snapshot(runs[0].parent)
    code, stdout, stderr = run_cli(capsys, "history", *inputs, "-o", out)
    assert code == 2, (case, stdout, stderr)
    assert stderr.startswith("mt-eval: error: ") and stderr.strip().count("\n") == 0, stderr
    assert out.exists() == existed and (_snapshot(out) if existed else {}) == before
    assert _snapshot(runs[0].parent) == runs_before  # no input touched
    leftovers = [p for p in [*tmp_path.rglob("*"), *runs[0].parent.rglob("*")] if "~mte-" in p.name]
    assert not leftovers


def test_missing_statistics_and_a_damaged_verdict_are_notes(runs: list[Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    copies = tmp_path / "runs"
    for path in runs[:3]:
        shutil.copytree(path, copies / path.name)
    RunFolder(copies / runs[2].name).stats_path("candidate", "bleu").unlink()
    (copies / runs[1].name / "gate" / "verdict.json").write_text("{", encoding="utf-8")
    code, _, stderr = run_cli(capsys, "history", copies, "-o", tmp_path / "site")
    assert code == 0, stderr
    assert "gate verdict left out" in stderr
    data = _data(tmp_path / "site")
    assert data["runs"][1]["gate"] is None and data["runs"][2]["gate"] == "pass"
    (line,) = _lines(data, "candidate", "bleu")
    assert line["points"][2]["step"] is None and "statistics file not found" in line["points"][2]["step_note"]
    (chrf,) = _lines(data, "candidate", "chrf")
    assert chrf["points"][2]["step"]["significant"]  # the other metric's steps are still tested
