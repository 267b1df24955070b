"""Tables (md/csv/tex), the self-contained HTML report and the TOML run config."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess

import pytest
from helpers.corpora import GOOD, REFS, SOURCES

import mt_eval.evaluate as ev
from mt_eval.config import RunConfig, load_config
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.reports.html import render_report
from mt_eval.reports.tables import tex_escape, to_csv, to_latex, to_markdown
from mt_eval.settings import EvalSettings
from mt_eval.translators.base import SystemRun

SOURCES, REFS, GOOD = SOURCES[:5], REFS[:5], GOOD[:5]


NASTY = ["</script><script>alert(1)</script>", "a & b < c", "50% of $x_1$ {y}", "", "The cat | the dog."]


@pytest.fixture(scope="module")
def run() -> ev.RunResult:
    ts = TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                            target_lang="en", name="tiny")
    systems = [SystemRun("copy", "copy", list(SOURCES), {}),
               SystemRun("good_sys&co", "file:g.txt", list(GOOD), {}),
               SystemRun("nasty", "file:n.txt", list(NASTY), {}),
               SystemRun("marian", "marian:x", [], {}, status="skipped", reason="offline | not cached")]
    return ev.evaluate(ts, systems, ["bleu", "chrf", "ter"],
                       EvalSettings(resamples=100, seed=1, baseline="copy", method="paired-bs"))


def test_markdown_table(run: ev.RunResult) -> None:
    md = to_markdown(run.results)
    scores_table = md.split("\n\n")[1]
    rows = [line for line in scores_table.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| system | bleu | chrf | ter ↓ | flags: empty")
    assert rows[2].startswith("| copy (baseline) |")  # baseline first, skipped last
    assert rows[-1].startswith("| marian |") and "skipped: offline \\| not cached" in rows[-1]
    good = next(r for r in rows if r.startswith("| good_sys&co |"))
    chrf = run.results.scores["good_sys&co"]["chrf"]
    assert f"{chrf.score:.2f} [{chrf.ci_low:.2f}, {chrf.ci_high:.2f}]" in good
    # the mark appears exactly where the Holm-adjusted paired test rejected, with its direction
    test = run.results.significance.results["good_sys&co"]["chrf"]
    marked = f"{chrf.ci_high:.2f}]▲" in good or f"{chrf.ci_high:.2f}]▼" in good
    assert marked == (test.p_adjusted < 0.05)
    if marked:
        assert (f"{chrf.ci_high:.2f}]▲" in good) == (test.delta > 0)
    assert "## Paired comparisons" in md and "humans agree" in md
    assert "Lower is better: ter" in md and "`nrefs:1|" in md


def test_csv_table_has_raw_numbers(run: ev.RunResult) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(run.results))))
    assert [r["system"] for r in rows] == ["copy", "good_sys&co", "nasty", "marian"]
    good = rows[1]
    assert float(good["bleu"]) == run.results.scores["good_sys&co"]["bleu"].score
    assert float(good["ter_p_value"]) == run.results.significance.results["good_sys&co"]["ter"].p_adjusted
    assert rows[3]["status"] == "skipped" and rows[3]["reason"] == "offline | not cached"
    assert rows[3]["bleu"] == "" and rows[0]["baseline"] == "1"
    assert int(rows[2]["flag_empty"]) == 1


def test_latex_table_escapes(run: ev.RunResult) -> None:
    tex = to_latex(run.results)
    assert r"good\_sys\&co" in tex and r"\begin{tabular}{lrrrrrrrrrl}" in tex  # 3 metrics, 6 flags
    assert r"ter $\downarrow$" in tex
    assert tex_escape("50% $x_1$ {y} ~ ^ \\") == (r"50\% \$x\_1\$ \{y\} \textasciitilde{} \textasciicircum{}"
                                                  r" \textbackslash{}")
    body = [line for line in tex.splitlines() if not line.startswith("%")]
    assert all(line.count(" & ") == 10 for line in body if line.endswith(r"\\"))


def test_html_report_is_self_contained_and_escaped(run: ev.RunResult) -> None:
    html = render_report(run.results, run.records)
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)  # nothing fetched from the network
    assert html.count("data:image/svg+xml;base64,") == 2  # score chart and distributions
    assert "<script>alert(1)</script>" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    payload = re.search(r'<script type="application/json" id="segment-scores">(.*?)</script>', html, re.S)
    assert payload is not None
    scores = json.loads(payload.group(1))
    assert set(scores) == {"bleu", "chrf", "ter"} and len(scores["chrf"]["copy"]) == len(SOURCES)
    assert scores["chrf"]["good_sys&co"] == [r["scores"]["good_sys&co"]["chrf"] for r in run.records]
    assert html.count('<tr data-index="') == len(SOURCES)
    assert 'id="sysA"' in html and 'id="sortDesc"' in html
    assert "skipped: offline | not cached" in html
    assert '<span class="flag">empty</span>' in html


def test_run_config_resolves_relative_paths_and_refuses_typos(tmp_path) -> None:
    (tmp_path / "cfg.toml").write_text(
        'testset = "data/ts"\nmetrics = ["bleu", "chrf:word_order=2"]\nbaseline = "copy"\nresamples = 50\n'
        '[[systems]]\nspec = "copy"\n[[systems]]\nspec = "file:out/a.txt"\n'
        '[[systems]]\nspec = "file:/abs/b.txt?x=1"\nname = "b"\n'
        '[checks]\nmin_length_ratio = 0.3\n', encoding="utf-8")
    cfg = load_config(tmp_path / "cfg.toml")
    assert cfg.name == "cfg" and cfg.testset == str(tmp_path / "data/ts")
    specs = [s.spec for s in cfg.systems or []]
    assert specs == ["copy", f"file:{tmp_path / 'out/a.txt'}", "file:/abs/b.txt?x=1"]
    assert cfg.metrics == ["bleu", "chrf:word_order=2"] and cfg.resamples == 50
    assert cfg.checks == {"min_length_ratio": 0.3}
    short = RunConfig.model_validate({"systems": ["copy", {"spec": "file:x.txt", "name": "x"}]})
    assert [(s.spec, s.name) for s in short.systems or []] == [("copy", None), ("file:x.txt", "x")]
    assert RunConfig().metrics == ["bleu", "chrf", "chrf++", "ter", "semantic"]
    (tmp_path / "typo.toml").write_text("resample = 10\n", encoding="utf-8")
    with pytest.raises(MtEvalError, match=r"typo\.toml: resample: Extra inputs are not permitted"):
        load_config(tmp_path / "typo.toml")
    (tmp_path / "bad.toml").write_text("metrics = [\n", encoding="utf-8")
    with pytest.raises(MtEvalError, match="invalid TOML"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(MtEvalError, match="not found"):
        load_config(tmp_path / "none.toml")


_DOM_STUB = r"""
const data = JSON.parse(process.argv[2]);
const n = data.n;
function cellStub() { return { textContent: "" }; }
const rows = [];
for (let i = 0; i < n; i++) {
  const diff = cellStub();
  rows.push({ idx: i, diff: diff, getAttribute: () => String(i), querySelector: () => diff });
}
const body = { order: rows.slice(), querySelectorAll: () => rows.slice(),
  appendChild(row) { this.order = this.order.filter(r => r !== row); this.order.push(row); } };
const listeners = {};
const controls = { metric: data.metric, sysA: data.a, sysB: data.b };
const elements = {};
for (const id of ["metric", "sysA", "sysB", "sortDesc", "sortAsc", "sortIndex"]) {
  elements[id] = { value: controls[id], addEventListener: (ev, fn) => { listeners[id] = fn; } };
}
elements["segment-scores"] = { textContent: data.payload };
global.document = { getElementById: id => elements[id] || null,
                    querySelector: sel => (sel === "#segments tbody" ? body : null) };
eval(data.script);
listeners[data.button]();
console.log(JSON.stringify({ order: body.order.map(r => r.idx), diffs: rows.map(r => r.diff.textContent) }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed; the inline JS is not run")
def test_html_sort_script_orders_segments_by_score_difference(run: ev.RunResult, tmp_path) -> None:
    html = render_report(run.results, run.records)
    payload = re.search(r'id="segment-scores">(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]
    script = re.findall(r"<script>(.*?)</script>", html, re.S)[-1]
    a_scores = [r["scores"]["copy"]["chrf"] for r in run.records]
    b_scores = [r["scores"]["good_sys&co"]["chrf"] for r in run.records]
    diffs = [b - a for a, b in zip(a_scores, b_scores, strict=True)]
    for button, expected in (("sortDesc", sorted(range(len(diffs)), key=lambda i: -diffs[i])),
                             ("sortAsc", sorted(range(len(diffs)), key=lambda i: diffs[i])),
                             ("sortIndex", list(range(len(diffs))))):
        data = {"n": len(run.records), "metric": "chrf", "a": "copy", "b": "good_sys&co", "payload": payload,
                "script": script, "button": button}
        (tmp_path / "stub.js").write_text(_DOM_STUB, encoding="utf-8")
        out = subprocess.run(["node", str(tmp_path / "stub.js"), json.dumps(data)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["order"] == expected, button
        assert result["diffs"] == [f"{d:.2f}" for d in diffs]


def test_html_side_by_side_view_is_capped(run: ev.RunResult) -> None:
    html = render_report(run.results, run.records, max_segments=2)
    assert html.count('<tr data-index="') == 2
    assert f"Showing 2 of {len(SOURCES)} segments" in html
