"""Error spans, judge failures and usage of a metric with per-segment details, end to end.

A test-only metric (``span_plugin.SpanJudge``, registered at run time) judges Arabic + emoji
outputs; its spans must land in ``segments.jsonl`` and ``results.json`` with code-point offsets, in
the tables, and in ``report.html`` with UTF-16 offsets that the report's own script highlights.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES
from span_plugin import ABSENT_QUOTE, EMOJI, RAW_FAILURE, SpanJudge, span_judge

import mt_eval.evaluate as ev
from mt_eval.data.testset import TestSet
from mt_eval.reports.html import render_report
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.results import SCHEMA_VERSION
from mt_eval.reports.run_folder import RunFolder, load_run
from mt_eval.reports.segments import read_segments
from mt_eval.settings import EvalSettings
from mt_eval.spans import make_span, set_record_spans
from mt_eval.translators.base import SystemRun

HYPS = [f"الولد {EMOJI} ذهب إلى المدرسة",
        f"{EMOJI} <script>alert(1)</script> القطة",
        "FAIL الطقس جميل",
        f"{EMOJI}{EMOJI} الكتاب",
        "نحن نسافر",
        f"النافذة مفتوحة {EMOJI}"]
JUDGED = [0, 1, 3, 4, 5]  # segment 2 is a judge failure
WITH_EMOJI = [0, 1, 3, 5]


def _testset() -> TestSet:
    return TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)],
                              source_lang="ar", target_lang="en", name="tiny")


def _systems() -> list[SystemRun]:
    return [SystemRun("emoji", "file:emoji.txt", list(HYPS), {"backend": "file"}),
            SystemRun("plain", "file:plain.txt", list(GOOD), {"backend": "file"})]


def _evaluate(root: Path) -> ev.RunResult:
    return ev.evaluate(_testset(), _systems(), ["bleu", "spanjudge"], EvalSettings(resamples=50),
                       sink=RunFolder(root))


__all__ = ["span_judge"]  # the fixture, imported from the helper module


@pytest.fixture
def judged(tmp_path: Path, span_judge: str) -> Path:
    _evaluate(tmp_path / "run")
    return tmp_path / "run"


def _utf16_slice(text: str, start: int, end: int) -> str:
    data = text.encode("utf-16-le")
    return data[2 * start:2 * end].decode("utf-16-le")


def test_spans_and_failures_land_in_segments_jsonl(judged: Path) -> None:
    records = read_segments(RunLayout.of(judged).segments_jsonl)
    ids = [r["id"] for r in records]
    for i, record in enumerate(records):
        hyp = record["outputs"]["emoji"]
        spans = record.get("spans", {}).get("emoji", [])
        if i not in JUDGED:
            assert spans == []
            assert record["failures"]["emoji"]["spanjudge"] == {"failure": "unparseable judge output",
                                                                 "raw": RAW_FAILURE}
            continue
        assert "emoji" not in record.get("failures", {})
        unlocated = [s for s in spans if s["start"] is None]
        assert unlocated == [{"start": None, "end": None, "severity": "minor", "category": "fluency",
                              "source": "spanjudge", "text": ABSENT_QUOTE}]
        major = [s for s in spans if s["severity"] == "major"]
        if i in WITH_EMOJI:
            start = hyp.index(EMOJI)
            # code points: the emoji with its skin-tone modifier is 2 code points (4 UTF-16 units)
            assert [(s["start"], s["end"], s["text"], s["source"]) for s in major] == [
                (start, start + 2, EMOJI, "spanjudge")]
        else:
            assert major == []
    script = [s for s in records[1]["spans"]["emoji"] if s["severity"] == "critical"]
    assert script == [{"start": 3, "end": 11, "severity": "critical", "category": None, "source": "judge-b",
                       "text": "<script>"}]  # a source the metric named is kept
    assert records[0]["spans"]["emoji"][1]["start"] == 6 and HYPS[0][6:8] == EMOJI
    # English outputs: only the unlocated quote, on every segment
    assert all(len(r["spans"]["plain"]) == 1 and r["spans"]["plain"][0]["start"] is None for r in records)
    assert ids == [s.id for s in _testset().segments]


def test_spans_counts_failures_and_usage_land_in_results_json(judged: Path) -> None:
    results = load_run(judged)
    assert results.schema_version == SCHEMA_VERSION == 4
    table = results.spans["emoji"]
    rows = table.rows()
    assert len(rows) == len(JUDGED) + len(WITH_EMOJI) + 1
    segment_ids = [s.id for s in _testset().segments]
    for row in rows:
        index = segment_ids.index(row["segment_id"])
        if row["start"] is None:
            assert row["text"] == ABSENT_QUOTE  # unlocated: the quote is kept
        else:
            assert row["text"] is None  # located: the text is outputs[start:end], in segments.jsonl
            assert HYPS[index][row["start"]:row["end"]] in (EMOJI, "<script>")
    assert results.span_counts["emoji"] == {
        "spanjudge": {"minor": 5, "major": 4, "critical": 0, "unlocated": 5},
        "judge-b": {"minor": 0, "major": 0, "critical": 1, "unlocated": 0}}
    assert results.span_counts["plain"] == {
        "spanjudge": {"minor": 6, "major": 0, "critical": 0, "unlocated": 6}}
    assert results.judge_failures == {"emoji": {"spanjudge": 1}, "plain": {"spanjudge": 0}}
    assert results.usage["emoji"]["spanjudge"] == {"prompt_tokens": float(sum(len(h) for h in HYPS)),
                                                   "completion_tokens": 18.0, "seconds": 3.0}
    assert "bleu" not in results.usage["emoji"]  # only metrics that report usage
    # each span column is one line of results.json (a million spans must not take a line per value)
    text = (judged / "results.json").read_text(encoding="utf-8")
    column = next(line for line in text.splitlines() if line.lstrip().startswith('"segment_id": ['))
    assert json.loads(column.strip().rstrip(",").split(": ", 1)[1]) == table.segment_id
    # the judge's score leaves the failed segment out instead of counting it as zero
    assert results.scores["emoji"]["spanjudge"].score == pytest.approx(
        sum(100 - 10 * (2 if i in WITH_EMOJI else 1) - (10 if i == 1 else 0) for i in JUDGED) / len(JUDGED))


def test_tables_count_spans_by_severity_and_show_failures(judged: Path, capsys) -> None:
    tables = RunLayout.of(judged).tables_dir
    md = (tables / "scores.md").read_text(encoding="utf-8")
    assert "## Error spans" in md
    assert "| emoji | spanjudge | 5 | 4 | 0 | 9 | 5 |" in md
    assert "| emoji | judge-b | 0 | 0 | 1 | 1 | 0 |" in md
    assert "| plain | judge-b | 0 | 0 | 0 | 0 | 0 |" in md  # zeros shown, not omitted
    assert "## Judge failures and cost" in md
    assert f"| emoji | spanjudge | 1 of 6 | {sum(len(h) for h in HYPS)} | 18 | 3.0 |" in md
    assert "| plain | spanjudge | 0 of 6 |" in md
    csv_text = (tables / "scores.csv").read_text(encoding="utf-8").splitlines()
    header, rows = csv_text[0].split(","), [line.split(",") for line in csv_text[1:]]
    emoji = dict(zip(header, next(r for r in rows if r[0] == "emoji"), strict=True))
    assert emoji["spans_spanjudge_major"] == "4" and emoji["spans_judge-b_critical"] == "1"
    assert emoji["spanjudge_failures"] == "1" and float(emoji["spanjudge_seconds"]) == 3.0
    tex = (tables / "scores.tex").read_text(encoding="utf-8")
    assert r"emoji & spanjudge & 5 & 4 & 0 & 9 & 5 \\" in tex
    assert r"emoji & spanjudge & \multicolumn{5}{l}{1 of 6} \\" in tex
    from mt_eval.cli.run_cmd import print_results

    capsys.readouterr()
    print_results(load_run(judged))
    out = capsys.readouterr().out
    assert "error spans by severity" in out and "judge failures and cost" in out and "1 of 6" in out


def test_a_cache_hit_keeps_the_details(judged: Path) -> None:
    before = load_run(judged)
    records_before = read_segments(RunLayout.of(judged).segments_jsonl)
    calls = SpanJudge.calls
    again = _evaluate(judged)
    assert SpanJudge.calls == calls  # statistics and details came from the run folder
    assert again.details["emoji"]["spanjudge"][2].failure == "unparseable judge output"
    after = load_run(judged)
    assert after.spans == before.spans and after.span_counts == before.span_counts
    assert after.judge_failures == before.judge_failures and after.usage == before.usage
    records_after = read_segments(RunLayout.of(judged).segments_jsonl)
    assert [(r.get("spans"), r.get("failures")) for r in records_after] == [
        (r.get("spans"), r.get("failures")) for r in records_before]
    # statistics without their details file are recomputed, not reused half
    details = RunLayout.of(judged).details_path("emoji", "spanjudge")
    assert details.is_file()
    details.unlink()
    _evaluate(judged)
    assert SpanJudge.calls == calls + 1  # only emoji × spanjudge ran again
    assert load_run(judged).span_counts == before.span_counts
    # a damaged details file is recomputed too, never trusted
    details.write_text('{"format": "mt-eval-details", "version": 1, "details": []}', encoding="utf-8")
    _evaluate(judged)
    assert SpanJudge.calls == calls + 2
    assert load_run(judged).span_counts == before.span_counts


_HYP_CELL = re.compile(r'<span class="hyp"(?: data-spans="([^"]*)")?>(.*?)</span>', re.S)


def test_report_marks_spans_with_utf16_offsets_and_escapes_outputs(judged: Path) -> None:
    page = RunLayout.of(judged).report_html.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    cells = [(json.loads(html.unescape(raw)) if raw else [], html.unescape(text))
             for raw, text in _HYP_CELL.findall(page)]
    assert len(cells) == 2 * len(HYPS)  # every hypothesis cell, both systems
    emoji_cells = [c for c in cells if c[1] in HYPS]
    assert [text for _, text in emoji_cells] == HYPS
    # segment 0: the emoji at code points 6..8 is at UTF-16 units 6..10
    assert emoji_cells[0][0] == [[6, 10, "major", "spanjudge", "accuracy/addition"]]
    for spans, text in emoji_cells:
        for start, end, severity, _source, _category in spans:
            assert _utf16_slice(text, start, end) == {"major": EMOJI, "critical": "<script>"}[severity]
    # segment 1: the tag after the emoji: code points 3..11, UTF-16 units 5..13 (the emoji is 4 units)
    spans1 = {s[2]: s for s in emoji_cells[1][0]}
    assert spans1["major"][:2] == [0, 4] and spans1["critical"][:2] == [5, 13]
    assert spans1["critical"][3] == "judge-b"
    # segment 5: Arabic letters (one unit each) before the emoji do not shift the start
    cp = HYPS[5].index(EMOJI)
    assert emoji_cells[5][0] == [[cp, cp + 4, "major", "spanjudge", "accuracy/addition"]]
    # toggles per source, a legend, unlocated spans listed, the failure with its raw output (escaped)
    assert 'class="span-source" value="spanjudge" checked' in page
    assert 'class="span-source" value="judge-b" checked' in page
    assert '<mark class="sev-critical">critical</mark>' in page
    assert (f'<li data-source="spanjudge"><mark class="sev-minor">minor</mark> not located:'
            f' “{ABSENT_QUOTE}”') in page
    assert html.escape(RAW_FAILURE, quote=False) in page and RAW_FAILURE not in page
    assert "<h2>Error spans</h2>" in page and "<h2>Judge failures and cost</h2>" in page


_SPAN_DOM = r"""
const data = JSON.parse(process.argv[2]);
function node(tag, text) {
  return { tagName: tag, className: "", title: "", style: {}, children: [],
           get textContent() {
             return this.tag === "#text" ? this._t : this.children.map(c => c.textContent).join("");
           },
           set textContent(v) { this.children = [{ tag: "#text", _t: v, textContent: v }]; },
           tag: tag, _t: text };
}
const cells = data.cells.map(c => {
  const el = node("span");
  el.children = [{ tag: "#text", _t: c.text, textContent: c.text }];
  el.getAttribute = name => (name === "data-spans" ? c.spans : null);
  el.removeChild = child => { el.children = el.children.filter(x => x !== child); };
  el.appendChild = child => { el.children.push(child); };
  Object.defineProperty(el, "firstChild", { get: () => el.children[0] || null });
  return el;
});
const listeners = [];
const boxes = data.sources.map(s => ({ value: s, checked: true,
  addEventListener: (ev, fn) => listeners.push(fn) }));
global.document = {
  querySelectorAll: sel => (sel === "input.span-source" ? boxes
                            : sel.indexOf("data-spans") >= 0 ? cells : []),
  createElement: tag => node(tag),
  createTextNode: text => ({ tag: "#text", _t: text, textContent: text }),
};
function dump() {
  return cells.map(el => el.children.map(c => c.tag === "#text" ? ["text", c._t]
                                                               : [c.className, c.textContent, c.title]));
}
eval(data.script);
const first = dump();
boxes.forEach(b => { b.checked = data.keep.indexOf(b.value) >= 0; });
listeners[0]();
console.log(JSON.stringify({ all: first, some: dump() }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed; the inline JS is not run")
def test_report_script_highlights_by_severity_and_toggles_sources(judged: Path, tmp_path: Path) -> None:
    page = RunLayout.of(judged).report_html.read_text(encoding="utf-8")
    script = re.search(r'<script id="span-highlight">(.*?)</script>', page, re.S).group(1)  # type: ignore[union-attr]
    cells = [{"spans": html.unescape(raw), "text": html.unescape(text)}
             for raw, text in _HYP_CELL.findall(page) if raw]
    data = {"cells": cells, "sources": ["spanjudge", "judge-b"], "keep": ["judge-b"], "script": script}
    (tmp_path / "dom.js").write_text(_SPAN_DOM, encoding="utf-8")
    out = subprocess.run(["node", str(tmp_path / "dom.js"), json.dumps(data)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    texts = [c["text"] for c in cells]
    for pieces, text in zip(result["all"], texts, strict=True):
        assert "".join(p[1] for p in pieces) == text  # highlighting never changes the text
    seg0 = result["all"][texts.index(HYPS[0])]
    assert seg0 == [["text", "الولد "], ["sev-major", EMOJI, "spanjudge: major (accuracy/addition)"],
                    ["text", " ذهب إلى المدرسة"]]
    seg1 = result["all"][texts.index(HYPS[1])]
    assert seg1[:3] == [["sev-major", EMOJI, "spanjudge: major (accuracy/addition)"], ["text", " "],
                        ["sev-critical", "<script>", "judge-b: critical"]]
    seg3 = result["all"][texts.index(HYPS[3])]
    assert seg3[0][:2] == ["sev-major", EMOJI] and seg3[1] == ["text", f"{EMOJI} الكتاب"]
    # with only judge-b shown, the spanjudge marks are gone and the text is whole again
    some = result["some"]
    assert some[texts.index(HYPS[0])] == [["text", HYPS[0]]]
    assert [p[0] for p in some[texts.index(HYPS[1])]] == ["text", "sev-critical", "text"]


def test_human_spans_added_later_reach_results_json(judged: Path) -> None:
    folder = RunFolder.open(judged)
    results = folder.results()
    records = folder.segments(results)
    hyp = records[4]["outputs"]["emoji"]
    set_record_spans(records[4], "emoji", [make_span({"segment_id": records[4]["id"], "system": "emoji",
                                                      "start": 0, "end": 3, "severity": "critical",
                                                      "source": "annotator-1"})])
    folder.add_scores(results, records, {})
    after = folder.results()
    assert after.span_counts["emoji"]["annotator-1"] == {"minor": 0, "major": 0, "critical": 1,
                                                         "unlocated": 0}
    assert after.span_counts["emoji"]["spanjudge"]["major"] == 4  # the judge's spans are kept
    assert after.judge_failures["emoji"]["spanjudge"] == 1 and after.usage == results.usage
    assert hyp[0:3] in (RunLayout.of(judged).segments_jsonl.read_text(encoding="utf-8"))
    assert 'value="annotator-1"' in RunLayout.of(judged).report_html.read_text(encoding="utf-8")


def test_meta_evaluation_is_stored_and_shown_in_the_report(judged: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "meta", judged, "--human", "spanjudge", "--resamples", "50",
                             "--permutations", "50", "--spa-resamples", "5")
    assert code == 0, err
    document = json.loads((judged / "meta.json").read_text(encoding="utf-8"))
    page = RunLayout.of(judged).report_html.read_text(encoding="utf-8")
    assert "<h2>Meta-evaluation</h2>" in page
    section = page[page.index("<h2>Meta-evaluation</h2>"):page.index("<h2>Per-segment comparison</h2>")]
    accuracy = document["metrics"]["bleu"]["pairwise_accuracy"]["value"]
    assert f"<td class=\"system\">bleu</td><td class=\"num\">{accuracy:.3f}" in section
    assert "agreement of each metric" in section.lower() and "spanjudge" in section
    # a later re-render (mt-eval report) keeps the section; scores changed since drop it as stale
    RunFolder.open(judged).update()
    assert "<h2>Meta-evaluation</h2>" in RunLayout.of(judged).report_html.read_text(encoding="utf-8")
    document["metrics"]["bleu"]["signature"] = "nrefs:1|other"
    (judged / "meta.json").write_text(json.dumps(document), encoding="utf-8")
    RunFolder.open(judged).update()
    assert "<h2>Meta-evaluation</h2>" not in RunLayout.of(judged).report_html.read_text(encoding="utf-8")


def test_old_run_folders_still_load_and_render(tmp_path: Path) -> None:
    committed = Path(__file__).resolve().parents[2] / "results" / "default"
    if not (committed / "results.json").is_file():
        pytest.skip("the committed default run is not in this checkout")
    run = Path(shutil.copytree(committed, tmp_path / "old"))
    raw = json.loads((run / "results.json").read_text(encoding="utf-8"))
    if raw["schema_version"] != 2:  # the committed run is newer: write it back as schema 2 wrote it
        for key in ("spans", "span_counts", "judge_failures", "usage"):  # what schema 3 added
            raw.pop(key, None)
        for info in raw["metrics"].values():
            info.pop("run", None)
        raw["schema_version"] = 2
        (run / "results.json").write_text(json.dumps(raw, ensure_ascii=False, indent=2), encoding="utf-8")
    assert raw["schema_version"] == 2 and "spans" not in raw  # written before schema 3
    old = load_run(run)
    assert old.spans == {} and old.span_counts == {} and old.judge_failures == {}
    records = RunFolder.open(run).segments(old)
    page = render_report(old, records)
    assert "<h2>Per-segment comparison</h2>" in page and "<h2>Error spans</h2>" not in page
    RunFolder.open(run).update(old)  # re-written in the current schema, nothing lost
    again = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert again["schema_version"] == SCHEMA_VERSION
    assert again["scores"] == raw["scores"] and again["significance"] == raw["significance"]
    # a version-1 file (no Holm, no clusters) still reads
    v1 = dict(raw, schema_version=1)
    v1["significance"] = {k: v for k, v in raw["significance"].items()
                          if k not in ("clusters", "rank_bands", "warnings", "n_segments")}
    (tmp_path / "v1.json").write_text(json.dumps(v1), encoding="utf-8")
    assert load_run(tmp_path / "v1.json").schema_version == 1


def test_compare_with_another_run_joins_its_spans_and_failures(judged: Path, tmp_path: Path) -> None:
    from mt_eval.reports.run_folder import combine_runs

    other = [SystemRun("third", "file:third.txt", [f"{h} FAIL" if i == 0 else h for i, h in enumerate(HYPS)],
                       {"backend": "file"})]
    ev.evaluate(_testset(), other, ["bleu", "spanjudge"], EvalSettings(resamples=50),
                sink=RunFolder(tmp_path / "other"))
    results, records, _ = combine_runs(judged, [tmp_path / "other"])
    assert set(results.span_counts) == {"emoji", "plain", "third"}
    assert results.judge_failures["third"] == {"spanjudge": 2}  # segment 0 (FAIL added) and 2
    assert results.usage["third"]["spanjudge"]["completion_tokens"] == 18.0
    assert records[0]["failures"]["third"]["spanjudge"]["raw"] == RAW_FAILURE
    assert records[1]["spans"]["third"] == records[1]["spans"]["emoji"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed; the inline JS is not run")
def test_report_script_splits_overlapping_spans_and_marks_insertion_points(judged: Path,
                                                                           tmp_path: Path) -> None:
    page = RunLayout.of(judged).report_html.read_text(encoding="utf-8")
    script = re.search(r'<script id="span-highlight">(.*?)</script>', page, re.S).group(1)  # type: ignore[union-attr]
    text = f"abc{EMOJI}def"  # the emoji: UTF-16 units 3..7
    spans = [[0, 7, "minor", "a", ""], [3, 10, "major", "b", "x"], [7, 7, "critical", "a", ""]]
    data = {"cells": [{"spans": json.dumps(spans), "text": text}], "sources": ["a", "b"], "keep": ["b"],
            "script": script}
    (tmp_path / "dom.js").write_text(_SPAN_DOM, encoding="utf-8")
    out = subprocess.run(["node", str(tmp_path / "dom.js"), json.dumps(data)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["all"][0] == [["sev-minor", "abc", "a: minor"],
                                ["sev-major", EMOJI, "a: minor; b: major (x)"],  # the worse severity
                                ["sev-critical gap", "", "a: critical"],  # a zero-length span
                                ["sev-major", "def", "b: major (x)"]]
    assert result["some"][0] == [["text", "abc"], ["sev-major", f"{EMOJI}def", "b: major (x)"]]
