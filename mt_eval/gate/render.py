"""The verdict as a one-screen text, Markdown (for ``$GITHUB_STEP_SUMMARY``), JUnit XML and JSON."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from mt_eval.fsio import atomic_write_json, atomic_write_text
from mt_eval.gate.verdict import Comparison, Verdict

_HEADLINE = {0: "PASS", 1: "FAIL: quality regression", 2: "ERROR: cannot compare"}
_ICON = {"regression": "❌", "below-min-score": "❌", "above-max-score": "❌", "cannot-compare": "⚠️",
         "improvement": "🟢", "pass-within-tolerance": "✅", "no-significant-change": "✅"}
_OUTCOME_ICON = {0: "✅", 1: "❌", 2: "⚠️"}


def _num(value: float | None, fmt: str = ".2f", signed: bool = False) -> str:
    if value is None:
        return "–"
    return format(value, ("+" if signed else "") + fmt)


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _rows(verdict: Verdict) -> list[list[str]]:
    rows = []
    for c in verdict.comparisons:
        system = c.system if c.candidate_system in ("", c.system) else f"{c.system}→{c.candidate_system}"
        humans = "–" if c.baseline_score is None or c.candidate_score is None else (
            "n/a" if c.human_agreement is None else f"{c.human_agreement:.0f}%")
        rows.append([system, c.metric, _num(c.baseline_score), _num(c.candidate_score),
                     _num(c.delta, signed=True), _p(c.p_value), _p(c.p_adjusted), humans,
                     _num(c.allowed_drop), c.status])
    return rows


# p: the paired test; p (Holm): adjusted over the gate's family, the one compared with α;
# humans: estimated % of human judgements agreeing with the ranking implied by |Δ| (Kocmi et al. 2024)
_HEADER = ["system", "metric", "baseline", "candidate", "Δ", "p", "p (Holm)", "humans", "tolerance", "status"]


def _summary(verdict: Verdict) -> str:
    counts = verdict.counts()
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    return ", ".join(parts) if parts else "nothing compared"


def render_text(verdict: Verdict) -> str:
    """A plain-text verdict that fits on one screen (the table, then reasons only where they matter)."""
    code = verdict.exit_code
    lines = [f"mt-eval gate: {_HEADLINE[code]} (exit {code}) — {_summary(verdict)}",
             f"  baseline  {verdict.baseline}", f"  candidate {verdict.candidate}"]
    ts = verdict.testset
    if ts:
        lines.append(f"  test set  {ts.get('name') or '<unnamed>'} ({ts.get('num_segments')} segments, "
                     f"hash {str(ts.get('hash', ''))[:12]})")
    pol = verdict.policy
    if pol:
        lines.append(f"  policy    α={pol.get('alpha')}, {pol.get('method')}, "
                     f"resamples={pol.get('n_resamples') or 'default'}, seed={pol.get('seed')}")
    rows = _rows(verdict)
    if rows:
        widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
        lines.append("")
        for row in [_HEADER, *rows]:
            cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            lines.append(("  " + "  ".join(cells)).rstrip())
    details = [c.reason for c in verdict.comparisons if c.status not in ("no-significant-change",)]
    if verdict.errors or details or verdict.notes:
        lines.append("")
    lines += [f"  error: {e}" for e in verdict.errors]
    lines += [f"  {c}" for c in details]
    lines += [f"  note: {n}" for n in verdict.notes]
    if not verdict.comparisons and not verdict.errors:
        lines.append("  error: nothing was compared (no system × metric in common); this is not a pass")
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(verdict: Verdict) -> str:
    """GitHub-flavoured Markdown: headline, table, reasons; suited to a job summary or a PR comment."""
    code = verdict.exit_code
    out = [f"## {_OUTCOME_ICON[code]} mt-eval gate: {_HEADLINE[code]}", "",
           f"**{_summary(verdict)}** · exit code `{code}`", ""]
    ts, pol = verdict.testset, verdict.policy
    facts = [f"- baseline: `{verdict.baseline}`", f"- candidate: `{verdict.candidate}`"]
    if ts:
        facts.append(f"- test set: `{ts.get('name') or '<unnamed>'}` · {ts.get('num_segments')} segments · "
                     f"hash `{str(ts.get('hash', ''))[:12]}`")
    if pol:
        facts.append(f"- policy: α = {pol.get('alpha')} · {pol.get('method')} · "
                     f"resamples = {pol.get('n_resamples') or 'default'} · seed = {pol.get('seed')}")
    out += [*facts, ""]
    rows = _rows(verdict)
    if rows:
        out.append("| " + " | ".join(_HEADER) + " |")
        out.append("|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---:", "---"]) + "|")
        for row, c in zip(rows, verdict.comparisons, strict=True):
            cells = [_md_cell(x) for x in row[:-1]] + [f"{_ICON.get(c.status, '')} {c.status}"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    problems = [*(f"**error:** {_md_cell(e)}" for e in verdict.errors),
                *(_md_cell(c.reason) for c in verdict.comparisons if c.status != "no-significant-change")]
    if not verdict.comparisons and not verdict.errors:
        problems.append("**error:** nothing was compared; this is not a pass")
    out += [f"- {p}" for p in problems]
    out += [f"- _note:_ {_md_cell(n)}" for n in verdict.notes]
    out.append("")
    out.append("<sub>A metric regresses only when the drop exceeds its tolerance **and** the paired test "
               "against the baseline's segments is significant at α after a Holm correction over every "
               "comparison in the gate's family.</sub>")
    return "\n".join(out) + "\n"


def _testcase_detail(c: Comparison) -> str:
    return (f"baseline={_num(c.baseline_score, '.4f')} candidate={_num(c.candidate_score, '.4f')} "
            f"delta={_num(c.delta, '.4f', signed=True)} p={_p(c.p_value)} "
            f"tolerance={_num(c.allowed_drop, '.4f')} signature={c.signature}")


def render_junit(verdict: Verdict) -> str:
    """JUnit XML: one test case per system × metric (failure = regression, error = cannot compare)."""
    suite = ET.Element("testsuite", name="mt-eval gate")
    failures = errors = 0
    for c in verdict.comparisons:
        case = ET.SubElement(suite, "testcase", classname=f"mt-eval.gate.{c.system}", name=c.metric, time="0")
        if c.failed:
            failures += 1
            ET.SubElement(case, "failure", message=c.reason, type=c.status).text = _testcase_detail(c)
        elif c.status == "cannot-compare":
            errors += 1
            ET.SubElement(case, "error", message=c.reason, type=c.status)
        ET.SubElement(case, "system-out").text = f"{c.status}: {c.reason}\n{_testcase_detail(c)}"
    general = list(verdict.errors)
    if not verdict.comparisons and not general:
        general.append("nothing was compared; this is not a pass")
    for message in general:
        errors += 1
        case = ET.SubElement(suite, "testcase", classname="mt-eval.gate", name="comparison", time="0")
        ET.SubElement(case, "error", message=message, type="cannot-compare")
    total = len(verdict.comparisons) + len(general)
    suite.set("tests", str(total))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    root = ET.Element("testsuites", name="mt-eval", tests=str(total), failures=str(failures),
                      errors=str(errors))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_outputs(verdict: Verdict, *, junit: str | Path | None = None, markdown: str | Path | None = None,
                  json_path: str | Path | None = None, step_summary: bool = True) -> list[Path]:
    """Write the requested files (atomically) and append Markdown to ``$GITHUB_STEP_SUMMARY`` when set."""
    written = []
    if junit:
        atomic_write_text(junit, render_junit(verdict))
        written.append(Path(junit))
    md = render_markdown(verdict)
    if markdown:
        atomic_write_text(markdown, md)
        written.append(Path(markdown))
    if json_path:
        atomic_write_json(json_path, verdict.to_dict())
        written.append(Path(json_path))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary and summary:
        # GitHub's contract is to append to this file; one write keeps the block whole.
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(md)
        written.append(Path(summary))
    return written
