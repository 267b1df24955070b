"""Output for logs (issue 21, item 1): piped at ``COLUMNS=80``, every command that prints a table prints
it whole — each system name, metric key, option name and verdict on its row, uncut — and ``--format
table|markdown|json`` chooses explicitly (a bad value: exit 2, one line)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.cli import run_cli
from hostile_guard import scored_workspace, setup_cli
from humeval.humeval_helpers import chrf_annotator, write_jsonl

from mt_eval.catalog import PluginInfo, list_plugins
from mt_eval.metrics.registry import METRICS
from mt_eval.reports.results import Results
from mt_eval.reports.run_folder import RunFolder
from mt_eval.reports.tables import cell, comparison_rows
from mt_eval.translators.registry import BACKENDS

GOOD_NAME, WEAK_NAME = "YusufAli-translation", "degraded-ten-percent"
LONG_KEY = "bleu:tokenize=intl"  # longer than a canary table's column label (shortened on a terminal)
STATS = ["-m", "bleu", "-m", "chrf", "-m", "ter", "--baseline", WEAK_NAME, "--method", "paired-bs",
         "--resamples", "200"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny test set with its good and weak outputs under long names, scored into ``long`` (the weak
    one as baseline, so that the good one is significantly better), a baseline file of it, and
    simulated human judgements of it (``judged/judged.jsonl`` beside the export's key)."""
    root = tmp_path_factory.mktemp("piped")
    scored_workspace(root, resamples=20)
    shutil.copy(root / "good.txt", root / GOOD_NAME)
    shutil.copy(root / "weak.txt", root / WEAK_NAME)
    setup_cli("score", "--testset", root / "ts", "--hyp", f"{GOOD_NAME}={root / GOOD_NAME}", "--hyp",
              f"{WEAK_NAME}={root / WEAK_NAME}", *STATS, "-o", root / "long")
    setup_cli("baseline", "save", root / "long", "-o", root / "base.json")
    setup_cli("humeval", "export", root / "long", "-o", root / "judged")
    write_jsonl(root / "judged" / "judged.jsonl", chrf_annotator(root / "long", root / "judged"))
    return root


@pytest.fixture(autouse=True)
def _log_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def copy_run(ws: Path, tmp_path: Path, name: str = "long") -> Path:
    return Path(shutil.copytree(ws / name, tmp_path / name, symlinks=True))


def md_rows(out: str) -> list[list[str]]:
    """The cells of every Markdown table row of ``out`` (separator rows included)."""
    return [[c.strip() for c in line.strip()[2:-2].split(" | ")] for line in out.splitlines()
            if line.startswith("| ") and line.rstrip().endswith(" |")]


def md_row(out: str, first: str, *others: str) -> list[str]:
    """The one row whose first cells are ``first, *others``."""
    found = [r for r in md_rows(out) if r[:1 + len(others)] == [first, *others]]
    assert len(found) == 1, f"no single row {[first, *others]} in:\n{out}"
    return found[0]


def whole(out: str, *texts: str) -> None:
    assert "…" not in out, f"something was cut:\n{out}"
    for text in texts:
        assert text in out, f"{text!r} is not whole in:\n{out}"


def check_results_tables(out: str, results: Results) -> None:
    """Every system on one row with every score and CI; every metric key; every comparison's verdict."""
    assert set(results.systems) == {GOOD_NAME, WEAK_NAME}
    header = md_row(out, "system")
    for key, info in results.metrics.items():
        assert key + ("" if info.higher_is_better else " ↓") in header
    for system in results.systems:
        label = f"{system} (baseline)" if system == WEAK_NAME else system
        row = md_row(out, label)
        assert row[1:1 + len(results.metrics)] == [cell(results, system, k).text() for k in results.metrics]
    verdicts = {str(r["metric"]): str(r["verdict"]) for r in comparison_rows(results)}
    assert set(verdicts.values()) == {f"{GOOD_NAME} better"}, verdicts  # the verdict a CI reader needs
    for key, verdict in verdicts.items():
        assert md_row(out, WEAK_NAME, GOOD_NAME, key)[-1] == verdict
    whole(out, "paired comparisons")


# ------------------------------------------------------------------ the run folder's tables
def _score(ws: Path, tmp: Path) -> tuple[list[object], Path]:
    return ["score", "--testset", ws / "ts", "--hyp", f"{GOOD_NAME}={ws / GOOD_NAME}", "--hyp",
            f"{WEAK_NAME}={ws / WEAK_NAME}", *STATS, "-o", tmp / "out"], tmp / "out"


def _run(ws: Path, tmp: Path) -> tuple[list[object], Path]:
    return ["run", "--testset", ws / "ts", "-s", f"file:{ws / GOOD_NAME}", "-s", f"file:{ws / WEAK_NAME}",
            *STATS, "-o", tmp / "out"], tmp / "out"


def _compare(ws: Path, tmp: Path) -> tuple[list[object], Path]:
    return ["compare", ws / "long", "--baseline", WEAK_NAME, "--method", "paired-bs", "--resamples",
            "200"], ws / "long"


def _report(ws: Path, tmp: Path) -> tuple[list[object], Path]:
    return ["report", copy_run(ws, tmp)], tmp / "long"


def _merge(ws: Path, tmp: Path) -> tuple[list[object], Path]:
    args, _ = _score(ws, tmp)
    for i in range(2):
        setup_cli(*args[:-1], tmp / f"p{i}", "--shard", f"{i}/2")
    return ["merge", tmp / "p0", tmp / "p1", "-o", tmp / "out"], tmp / "out"


RESULTS_COMMANDS: dict[str, Callable[[Path, Path], tuple[list[object], Path]]] = {
    "score": _score, "run": _run, "compare": _compare, "report": _report, "merge": _merge}


@pytest.mark.parametrize("command", list(RESULTS_COMMANDS))
def test_results_tables_piped_are_whole_markdown(command: str, ws: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    args, folder = RESULTS_COMMANDS[command](ws, tmp_path)
    capsys.readouterr()  # what setting up printed
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    results = RunFolder.open(folder).results()
    if command == "compare":  # printed only: the run folder's own significance is the same test
        assert results.significance is not None and results.significance.baseline == WEAK_NAME
    check_results_tables(out, results)
    assert md_rows(out)[1][0] == "---"  # a pipe table: header, then the separator row


def test_score_as_json_is_machine_readable_records(ws: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    args, folder = _score(ws, tmp_path)
    code, out, err = run_cli(capsys, *args, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    results = RunFolder.open(folder).results()
    scores, paired = document["tables"][0], document["tables"][1]
    assert [r["system"] for r in scores["records"]] == [WEAK_NAME, GOOD_NAME]
    good = next(r for r in scores["records"] if r["system"] == GOOD_NAME)
    assert good["scores"]["chrf"]["score"] == pytest.approx(results.scores[GOOD_NAME]["chrf"].score)
    assert good["scores"]["chrf"]["ci_low"] == pytest.approx(results.scores[GOOD_NAME]["chrf"].ci_low)
    assert {r["verdict"] for r in paired["records"]} == {f"{GOOD_NAME} better"}
    assert any(note.startswith("run folder: ") for note in document["notes"])


def test_table_format_piped_is_the_rich_table_as_wide_as_it_needs(ws: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "compare", ws / "long", "--baseline", WEAK_NAME, "--method", "paired-bs",
                             "--resamples", "200", "--format", "table")
    assert code == 0, err
    assert "┃" in out and "| --- |" not in out  # rich's box, not Markdown
    results = RunFolder.open(ws / "long").results()
    good_row = next(line for line in out.splitlines() if f"│ {GOOD_NAME} " in line)
    assert all(cell(results, GOOD_NAME, k).text() in good_row for k in results.metrics), good_row
    whole(out, f"{WEAK_NAME} (baseline)", f"{GOOD_NAME} better", "ter ↓")


# ------------------------------------------------------------------ the gate
def test_gate_piped_keeps_its_whole_text_verdict_and_offers_markdown_and_json(
        ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["gate", "-b", ws / "base.json", "-c", ws / "long", "--min-score", "bleu=101"]
    code, out, err = run_cli(capsys, *args)
    assert code == 1, err
    whole(out, "FAIL: quality regression")
    for system in (GOOD_NAME, WEAK_NAME):  # the plain-text columns: one row per comparison, uncut
        row = next(line.split() for line in out.splitlines() if line.split()[:2] == [system, "bleu"])
        assert row[-1] == "below-min-score", row
    code, out, err = run_cli(capsys, *args, "--format", "markdown", "--json", tmp_path / "v.json")
    assert code == 1, err
    for system in (GOOD_NAME, WEAK_NAME):
        assert md_row(out, system, "bleu")[-1] == "❌ below-min-score"
        assert md_row(out, system, "ter")[-1] == "✅ no-significant-change"
    code, out, err = run_cli(capsys, *args, "--format", "json")
    assert code == 1, err
    verdict = json.loads(out)
    assert verdict == json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))  # the --json file's
    assert {c["system"] for c in verdict["comparisons"]} == {GOOD_NAME, WEAK_NAME}


# ------------------------------------------------------------------ list
def entry_rows(out: str, entry: PluginInfo) -> str:
    """The lines under an entry's heading (``name … target``), up to the next heading."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(entry.name)
                 and line.rstrip().endswith(entry.target))
    end = next((j for j in range(start + 1, len(lines)) if lines[j] and not lines[j].startswith(("|", "  "))),
               len(lines))
    return "\n".join(lines[start + 1:end])


def check_options(out: str, entry: PluginInfo) -> int:
    """Each option of ``entry`` on one row with its type, bounds and whole description."""
    section = entry_rows(out, entry)
    for option in entry.options:
        row = md_row(section, option.name)
        assert row[1] == option.type.replace("|", "\\|") and row[3] == option.bounds_text(), row
        description = option.description + (" [run-only]" if option.run_only else "")
        assert row[4] == " ".join(description.split()), row
    return len(entry.options)


@pytest.mark.parametrize("kind", [None, "backends", "metrics"])
def test_list_piped_gives_every_option_whole_on_its_row(kind: str | None,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "list", *([kind] if kind else []))
    assert code == 0, err
    kinds = [kind] if kind else ["backends", "metrics"]
    entries = [e for k in kinds for e in list_plugins(BACKENDS if k == "backends" else METRICS)]
    assert sum(check_options(out, entry) for entry in entries) > 20
    if kind is None:
        assert json.loads(run_cli(capsys, "list", "--format", "json")[1]) == json.loads(
            run_cli(capsys, "list", "--json")[1])


def test_list_through_a_real_pipe_at_80_columns() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "mt_eval", "list", "metrics"], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    bleu = next(e for e in list_plugins(METRICS) if e.name == "bleu")
    assert check_options(proc.stdout, bleu) > 10  # ar_normalize_ta_marbuta & co., split by the old table


# ------------------------------------------------------------------ testset, humans, canaries, cache
def test_testset_show_piped_prints_hash_and_segments_whole(ws: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from helpers.corpora import REFS, SOURCES

    from mt_eval.data.testset import TestSet

    code, out, err = run_cli(capsys, "testset", "show", ws / "ts", "-n", "6")
    assert code == 0, err
    assert md_row(out, "hash") == ["hash", TestSet.load(ws / "ts").content_hash]
    for index, (source, reference) in enumerate(zip(SOURCES, REFS, strict=True), start=1):
        assert md_row(out, str(index)) == [str(index), source, reference]
    whole(out)


def test_humeval_import_and_meta_piped(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = copy_run(ws, tmp_path)
    code, out, err = run_cli(capsys, "humeval", "import", run, ws / "judged" / "judged.jsonl")
    assert code == 0, err
    results = RunFolder.open(run).results()
    for system in (GOOD_NAME, WEAK_NAME):
        assert md_row(out, system) == [system, f"{results.scores[system]['human'].score:.2f}"]
    meta = ["meta", run, "--human", "human", "--resamples", "50", "--permutations", "20",
            "--spa-resamples", "0", "--no-save"]
    code, out, err = run_cli(capsys, *meta)
    assert code == 0, err
    for key in ("bleu", "chrf", "ter"):
        assert len(md_row(out, key)) == 6
    whole(out, "agreement with human", "note: 2 systems")
    code, out, err = run_cli(capsys, *meta, "--format", "json")
    assert code == 0, err
    assert set(json.loads(out)["metrics"]) == {"bleu", "chrf", "ter"}


def test_canary_piped_names_every_metric_key_whole(ws: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    args = ["canary", "--testset", ws / "ts", "--good", f"file:{ws / GOOD_NAME}", "-m", LONG_KEY, "-m",
            "chrf", "-p", "empty", "-p", "copy", "--max-segments", "0", "--resamples", "20", "-o",
            tmp_path / "c"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert md_row(out, "canary")[3:] == [LONG_KEY, "chrf"]
    assert md_row(out, "empty")[:3] == ["empty", "critical", "6"]
    verdicts = [line for line in out.splitlines() if line.startswith((f"{LONG_KEY}: ", "chrf: "))]
    assert len(verdicts) == 2, out
    code, out, err = run_cli(capsys, *args, "--format", "json")
    assert code == 0, err
    assert list(json.loads(out)["metrics"]) == [LONG_KEY, "chrf"] and "wrote " in err


def test_cache_stats_piped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mt_eval.workcache.store import TranslationCache

    spec = f"file:/a/long/folder/of/outputs/{GOOD_NAME}"
    with TranslationCache(tmp_path / "c.sqlite") as store:
        store.register_system("0123456789abcdef" * 4, {"backend": "file"}, name=GOOD_NAME, spec=spec)
    code, out, err = run_cli(capsys, "cache", "stats", "--cache", tmp_path / "c.sqlite")
    assert code == 0, err
    assert md_row(out, GOOD_NAME) == [GOOD_NAME, spec, "file", "0123456789ab", "0", "0.0", "0"]
    code, out, err = run_cli(capsys, "cache", "stats", "--cache", tmp_path / "c.sqlite", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["tables"][0]["records"][0]["name"] == GOOD_NAME


# ------------------------------------------------------------------ a bad --format
@pytest.mark.parametrize("command", ["run", "score", "compare", "report", "merge", "gate", "list",
                                     "testset show", "meta", "humeval import", "canary", "cache stats"])
def test_a_bad_format_is_exit_2_and_one_line(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, *command.split(), "--format", "xml")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "'xml' is not one of table, markdown, json" in err, err
