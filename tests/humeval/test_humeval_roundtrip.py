"""``humeval export`` → simulated annotators → ``humeval import`` → ``meta``, through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES
from humeval_helpers import (
    JUNK,
    SYSTEMS,
    batch_items,
    chrf_annotator,
    copy_run,
    export,
    make_run,
    snapshot,
    write_jsonl,
)

from mt_eval.evaluate import confidence_intervals, rebuild_metrics, significance
from mt_eval.reports.run_folder import RunFolder
from mt_eval.settings import EvalSettings


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("template"))


@pytest.fixture
def run(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    return copy_run(template, tmp_path)


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mt-eval: error: "), err
    return lines[0]


def test_export_batches_are_balanced_blinded_and_atomic(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "batch"
    export(capsys, run, out, "--per-batch-words", "10")
    key = json.loads((out / "key.json").read_text(encoding="utf-8"))
    names = sorted(p.name for p in out.iterdir())
    n_batches = len(key["batches"])
    expected = ["key.json", *(f"batch-{i:03d}.{ext}" for i in range(1, n_batches + 1)
                              for ext in ("jsonl", "tsv"))]
    assert n_batches > 1 and names == sorted(expected)
    seen = set()
    for batch in key["batches"]:
        rows = [json.loads(line) for line in (out / f"{batch['name']}.jsonl").read_text("utf-8").splitlines()]
        with (out / f"{batch['name']}.tsv").open(encoding="utf-8", newline="") as handle:
            tsv = list(csv.DictReader(handle, delimiter="\t"))
        # the TSV and the JSONL hold the same items, and neither names the system
        assert [r["item_id"] for r in tsv] == [r["item_id"] for r in rows]
        assert all("system" not in r for r in rows) and "system" not in tsv[0]
        assert [r["hypothesis"] for r in tsv] == [r["hypothesis"] for r in rows]
        # balanced: every system of every segment the batch covers, exactly once
        infos = [key["items"][r["item_id"]] for r in rows]
        pairs = [(info["segment_index"], info["system"]) for info in infos]
        segments = {i for i, _ in pairs}
        assert sorted(pairs) == sorted((i, s) for i in segments for s in SYSTEMS)
        assert len(segments) == batch["segments"] and len(rows) == batch["items"]
        # at most one segment over the word budget; hypothesis, reference and context are the run's
        assert batch["words"] <= 10 or batch["segments"] == 1
        for row in rows:
            info = key["items"][row["item_id"]]
            assert row["hypothesis"] == SYSTEMS[info["system"]][info["segment_index"]]
            assert row["source"] == SOURCES[info["segment_index"]] and row["reference"]
            assert row["score"] is None and row["spans"] is None
            i = info["segment_index"]
            assert row["context_before"] == (SOURCES[i - 1] if i > 0 else "")
            assert row["context_after"] == (SOURCES[i + 1] if i + 1 < len(SOURCES) else "")
        seen |= set(pairs)
    assert len(seen) == len(SOURCES) * len(SYSTEMS) == len(key["items"])
    # shuffled: the seed decides the order, another seed gives another one
    first = [r["item_id"] + r["hypothesis"] for r in batch_items(out)]
    export(capsys, run, out, "--per-batch-words", "10")  # an earlier export may be replaced
    assert [r["item_id"] + r["hypothesis"] for r in batch_items(out)] == first
    export(capsys, run, tmp_path / "other", "--per-batch-words", "10", "--seed", "7", "--no-reference")
    assert [r["item_id"] + r["hypothesis"] for r in batch_items(tmp_path / "other")] != first
    assert all("reference" not in r for r in batch_items(tmp_path / "other"))
    # default budget: about 100 segments per batch, so this 6-segment run is one batch
    export(capsys, run, tmp_path / "default")
    assert len(json.loads((tmp_path / "default" / "key.json").read_text("utf-8"))["batches"]) == 1
    # a non-empty folder that is not an export is refused and left alone
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep", encoding="utf-8")
    code, _, err = run_cli(capsys, "humeval", "export", run, "-o", tmp_path / "mine")
    assert "not a humeval export" in _one_line_error(code, err)
    assert snapshot(tmp_path / "mine") == {"notes.txt": b"keep"}


def test_import_makes_a_metric_like_any_other(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "batch"
    export(capsys, run, out, "--per-batch-words", "10")
    rows = chrf_annotator(run, out)
    annotations = write_jsonl(out / "judged.jsonl", rows)  # key.json found next to it
    code, stdout, err = run_cli(capsys, "humeval", "import", run, annotations)
    assert code == 0, err and "imported 24 judged items as metric 'human' (direct)" in stdout
    folder = RunFolder.open(run)
    results = folder.results()
    records = folder.segments(results)
    assert list(results.metrics) == ["chrf", "bleu", "ter", "human"]
    human = rebuild_metrics(results)["human"]  # rebuilt through the registry, like compare and gate do
    stats = {s: folder.stats(s, "human", len(SOURCES)) for s in SYSTEMS}
    for system in SYSTEMS:
        expected = [records[i]["scores"][system]["chrf"] for i in range(len(SOURCES))]
        assert [records[i]["scores"][system]["human"] for i in range(len(SOURCES))] == expected
        assert results.scores[system]["human"].score == pytest.approx(np.mean(expected))
    # CIs and paired tests are those of the shared functions with the run's own settings
    boot = results.bootstrap
    assert boot is not None
    intervals = confidence_intervals([(human, stats[s]) for s in SYSTEMS], boot.n_resamples, boot.confidence,
                                     boot.seed)
    for system, (low, high) in zip(SYSTEMS, intervals, strict=True):
        entry = results.scores[system]["human"]
        assert (entry.ci_low, entry.ci_high) == (low, high)
    sig = results.significance
    assert sig is not None
    settings = EvalSettings.model_validate({"method": sig.method, "resamples": sig.n_resamples,
                                            "seed": sig.seed, "alpha": sig.alpha})
    again = significance({"human": human}, {s: {"human": stats[s]} for s in SYSTEMS}, list(SYSTEMS), settings)
    assert sig.pairs["ref"]["junk"]["human"] == again.pairs["ref"]["junk"]["human"]
    assert sig.clusters["human"] == again.clusters["human"] and "chrf" in sig.clusters
    assert "human" in (run / "tables" / "scores.md").read_text("utf-8")
    assert "human" in (run / "report.html").read_text("utf-8")
    # the other commands read the new metric like any other (compare --save re-renders the report too)
    code, stdout, err = run_cli(capsys, "compare", run, "--save")
    assert code == 0, err
    assert "human" in stdout and RunFolder.open(run).results().significance == sig
    # importing again needs --replace, and then changes nothing
    before = snapshot(run)
    code, _, err = run_cli(capsys, "humeval", "import", run, annotations)
    assert "--replace" in _one_line_error(code, err) and snapshot(run) == before
    code, _, err = run_cli(capsys, "humeval", "import", run, annotations, "--replace")
    assert code == 0, err
    assert RunFolder.open(run).results().scores["good"]["human"] == results.scores["good"]["human"]


def test_meta_agreeing_metric_scores_1_reversed_0(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "batch"
    export(capsys, run, out)
    for name, reverse in (("human", False), ("anti", True)):
        path = write_jsonl(out / f"{name}.jsonl", chrf_annotator(run, out, reverse=reverse))
        code, _, err = run_cli(capsys, "humeval", "import", run, path, "--name", name)
        assert code == 0, err
    code, stdout, err = run_cli(capsys, "meta", run, "--human", "human", "--resamples", "50",
                                "--spa-resamples", "5", "-o", tmp_path / "meta.json")
    assert code == 0, err
    assert "pairwise acc" in stdout and "chrf" in stdout
    document = json.loads((tmp_path / "meta.json").read_text("utf-8"))
    assert json.loads(RunFolder.open(run).meta_json.read_text("utf-8")) == document
    chrf = document["metrics"]["chrf"]
    # humans = sentence chrF: chrF orders systems and segments exactly as they do
    assert chrf["pairwise_accuracy"]["value"] == 1.0 and chrf["acc23"]["value"] == 1.0
    assert chrf["acc_eq"]["value"] == 1.0 and chrf["pearson"]["value"] > 0.99
    assert document["metrics"]["anti"]["pairwise_accuracy"]["value"] == 0.0
    assert document["metrics"]["ter"]["pairwise_accuracy"]["value"] == 1.0  # lower-is-better, oriented
    assert set(document["metrics"]) == {"chrf", "bleu", "ter", "anti"}
    assert document["human_signature"].startswith("nrefs:0|protocol:direct")
    # against the reversed "humans", the same metrics are always wrong
    code, stdout, err = run_cli(capsys, "meta", run, "--human", "anti", "--resamples", "50",
                                "--spa-resamples", "0", "-o", tmp_path / "anti.json", "--no-save")
    assert code == 0, err
    anti = json.loads((tmp_path / "anti.json").read_text("utf-8"))
    for key in ("chrf", "ter", "human"):
        assert anti["metrics"][key]["pairwise_accuracy"]["value"] == 0.0
    # exact reverse: the only "right" pair of the 6 x 6 is the tie in both (segment 0: good == ref)
    assert GOOD[0] == REFS[0] and anti["metrics"]["human"]["acc23"]["value"] == pytest.approx(1 / 36)
    assert anti["metrics"]["chrf"]["spa"]["value"] < 0.2
    assert json.loads(RunFolder.open(run).meta_json.read_text("utf-8")) == document  # --no-save kept it


def test_spans_import_mqm_scores_with_arabic_and_emoji(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "batch"
    export(capsys, run, out)
    key = json.loads((out / "key.json").read_text("utf-8"))
    rows = []
    for item in batch_items(out):
        info = key["items"][item["item_id"]]
        spans: list[dict[str, object]] = []
        if info["system"] == "junk":  # Arabic source + 👍🏽: a quoted emoji and an offsets span
            spans = [{"text": "👍🏽", "severity": "major", "category": "accuracy/addition"},
                     {"start": 0, "end": 3, "severity": "critical", "category": "non-translation"}]
        elif info["system"] == "weak":
            spans = [{"text": "not in the output", "severity": "minor"}]
        rows.append({"item_id": item["item_id"], "spans": json.dumps(spans, ensure_ascii=False),
                     "annotator": "ann1"})
    tsv = out / "judged.tsv"
    with tsv.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["item_id", "spans", "annotator"], delimiter="\t",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    code, stdout, err = run_cli(capsys, "humeval", "import", run, tsv, "--name", "mqm")
    assert code == 0, err
    assert "(mqm); 18 spans (6 unlocated)" in stdout
    folder = RunFolder.open(run)
    results = folder.results()
    assert results.metrics["mqm"].signature["weights"] == "1/5/10"
    assert results.scores["junk"]["mqm"].score == pytest.approx(-15.0)  # major 5 + critical 10
    assert results.scores["weak"]["mqm"].score == pytest.approx(-1.0)  # unlocated spans still count
    assert results.scores["ref"]["mqm"].score == 0.0
    for index, record in enumerate(folder.segments(results)):
        spans = record["spans"]["junk"]
        hypothesis = JUNK[index]
        assert record["outputs"]["junk"] == hypothesis
        for span in spans:
            assert span["source"] == "ann1"
            assert 0 <= span["start"] <= span["end"] <= len(hypothesis)
            assert hypothesis[span["start"]:span["end"]] == span["text"]
        assert spans[0]["text"] == "👍🏽" and spans[0]["end"] == len(hypothesis)
        assert record["spans"]["weak"][0]["start"] is None
        assert record["spans"]["ref"] == []
    # GEMBA weights: critical 25
    code, _, err = run_cli(capsys, "humeval", "import", run, tsv, "--name", "mqm", "--replace",
                           "--weights", "gemba")
    assert code == 0, err
    assert RunFolder.open(run).results().scores["junk"]["mqm"].score == pytest.approx(-30.0)
    records = RunFolder.open(run).segments()
    assert len(records[0]["spans"]["junk"]) == 2  # replaced, not doubled


BAD_ROWS = [
    ("score", "abc", "is not a number"),
    ("score", "101", "outside 0–100"),
    ("score", "nan", "outside 0–100"),
    ("spans", "[{", "spans is not valid JSON"),
    ("spans", '[{"start": 0, "end": 999, "severity": "minor"}]', "ends after the hypothesis"),
    ("spans", '[{"start": 0, "end": 1, "severity": "fatal"}]', "severity"),
    ("spans", '[{"severity": "minor"}]', "start/end offsets or the quoted error text"),
    ("item_id", "999-9999", "unknown item_id"),
    ("item_id", "DUP", "annotated twice"),
]


@pytest.mark.parametrize(("column", "value", "message"), BAD_ROWS)
def test_bad_annotation_rows_exit_2_naming_file_and_line(run: Path, tmp_path: Path, capsys, column: str,
                                                         value: str, message: str) -> None:
    out = tmp_path / "batch"
    export(capsys, run, out)
    rows = [{"item_id": r["item_id"], "score": str(r["score"]), "spans": ""}
            for r in chrf_annotator(run, out)]
    if value == "DUP":
        rows[4]["item_id"] = rows[1]["item_id"]
    else:
        rows[4][column] = value
    tsv = out / "judged.tsv"
    lines = ["item_id\tscore\tspans"] + ["\t".join(r.values()) for r in rows]
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = snapshot(run)
    code, _, err = run_cli(capsys, "humeval", "import", run, tsv)
    line = _one_line_error(code, err)
    assert f"{tsv}:6:" in line and message in line  # header + 4 rows before it
    assert snapshot(run) == before  # nothing written


def test_missing_judgements_are_refused_with_the_count(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "batch"
    export(capsys, run, out)
    rows = chrf_annotator(run, out)
    rows[2]["score"] = None
    before = snapshot(run)
    judged = write_jsonl(out / "a.jsonl", rows[3:] + rows[2:3])  # rows 0 and 1 absent, row 2 unscored
    code, _, err = run_cli(capsys, "humeval", "import", run, judged)
    assert "3 of 24 items have no score" in _one_line_error(code, err)
    assert snapshot(run) == before
    # spans only on some items and no score anywhere: MQM, with the items lacking spans counted
    partial = [{"item_id": r["item_id"], "spans": []} for r in rows[:20]]
    code, _, err = run_cli(capsys, "humeval", "import", run, write_jsonl(out / "b.jsonl", partial))
    assert "4 of 24 items have no spans field" in _one_line_error(code, err)
    assert snapshot(run) == before


def test_cli_errors_are_one_line_exit_2(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "batch"
    export(capsys, run, out)
    good = write_jsonl(out / "judged.jsonl", chrf_annotator(run, out))
    other_key = tmp_path / "key.json"
    key = json.loads((out / "key.json").read_text("utf-8"))
    other_key.write_text(json.dumps({**key, "testset_hash": "0" * 64}), encoding="utf-8")
    (tmp_path / "notes.csv").write_text("item_id,score\n", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text('{"item_id": "001-0001"}\n[1]\n', encoding="utf-8")
    cases = [
        (("humeval", "export", tmp_path / "nope", "-o", tmp_path / "x"), "not found"),
        (("humeval", "import", run, good, "--name", "my human"), "--name"),
        (("humeval", "import", run, good, "--name", "chrf"), "computed metric"),
        (("humeval", "import", run, good, "--weights", "1,2"), "--weights"),
        (("humeval", "import", run, good, "--protocol", "likert"), "--protocol"),
        (("humeval", "import", run, good, "--key", other_key), "exported from test set"),
        (("humeval", "import", run, good, "--key", tmp_path / "missing.json"), "missing.json"),
        (("humeval", "import", run, tmp_path / "notes.csv", "--key", out / "key.json"), ".tsv or .jsonl"),
        (("humeval", "import", run, tmp_path / "bad.jsonl", "--key", out / "key.json"), "bad.jsonl:2:"),
        (("meta", run, "--human", "human"), "humeval import"),
        (("meta", tmp_path / "nope", "--human", "human"), "not found"),
    ]
    before = snapshot(run)
    for args, expected in cases:
        code, _, err = run_cli(capsys, *args)
        assert expected in _one_line_error(code, err), args
    assert snapshot(run) == before
