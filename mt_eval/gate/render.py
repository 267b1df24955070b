"""The verdict as a one-screen text, Markdown (for ``$GITHUB_STEP_SUMMARY``), JUnit XML and JSON."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from mt_eval.fsio import atomic_write_json, atomic_write_text
from mt_eval.gate.baseline import mde_lines
from mt_eval.gate.flags import FlagComparison
from mt_eval.gate.verdict import Comparison, Verdict

_HEADLINE = {0: "PASS", 1: "FAIL: quality regression", 2: "ERROR: cannot compare"}
_ICON = {"regression": "❌", "below-min-score": "❌", "above-max-score": "❌", "cannot-compare": "⚠️",
         "improvement": "🟢", "pass-within-tolerance": "✅", "no-significant-change": "✅",
         "no-increase": "✅", "not-compared": "➖", "reported": "ℹ️"}
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


def _flag_rows(flags: list[FlagComparison]) -> list[list[str]]:
    rows = []
    for f in flags:
        system = f.system if f.candidate_system in ("", f.system) else f"{f.system}→{f.candidate_system}"
        change = "–" if f.baseline_count is None or f.candidate_count is None else \
            f"{f.candidate_count - f.baseline_count:+d}"
        allowed = "–" if f.allowed_increase is None else f"+{f.allowed_increase}"
        rows.append([system, f.flag, f.kind,
                     "–" if f.baseline_count is None else str(f.baseline_count),
                     "–" if f.candidate_count is None else str(f.candidate_count), change,
                     "–" if f.newly_flagged is None else str(f.newly_flagged), _p(f.p_value), allowed,
                     f.status, ", ".join(f.first_segments) or "–"])
    return rows


# newly: segments flagged in the candidate and not in the baseline; p: exact McNemar test (noisy flags);
# allowed: the policy's max_flag_increase (catastrophic flags)
_FLAG_HEADER = ["system", "flag", "kind", "baseline", "candidate", "Δ", "newly", "p", "allowed", "status",
                "first new ids"]


def _summary(verdict: Verdict) -> str:
    counts = verdict.counts()
    parts = [f"{n} {status}" for status, n in sorted(counts.items())]
    failed = [f"{f.system}/{f.flag}" for f in verdict.flags if f.failed]
    if failed:
        parts.append(f"flag regression: {', '.join(failed)}")
    return ", ".join(parts) if parts else "nothing compared"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))).rstrip()
            for row in [header, *rows]]


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
        lines += ["", *_table(_HEADER, rows)]
    # flags: a row where something is flagged or happened; the flags at 0 → 0 on one line per system
    shown = [f for f in verdict.flags if f.status not in ("no-increase", "not-compared") or f.candidate_count
             or f.baseline_count]
    if shown:
        lines += ["", *_table(_FLAG_HEADER, _flag_rows(shown))]
    quiet: dict[str, tuple[list[str], list[str]]] = {}
    for f in verdict.flags:
        if f not in shown:
            quiet.setdefault(f.system, ([], []))[f.status == "not-compared"].append(f.flag)
    if quiet:
        lines += [""] if not shown else []
        for system, (zero, skipped) in quiet.items():
            parts = ([f"0 → 0 for {', '.join(zero)}"] if zero else []) + (
                [f"not compared: {', '.join(skipped)}"] if skipped else [])
            lines.append(f"  flags {system}: {'; '.join(parts)}")
    if verdict.mde:
        lines += ["", *(f"  {line}" for line in mde_lines(verdict.mde))]
    if verdict.canaries:
        lines += ["", *(f"  canaries {key}: {why}" for key, why in verdict.canaries.items())]
    details = [c.reason for c in verdict.comparisons if c.status not in ("no-significant-change",)]
    details += [f.reason for f in verdict.flags if f.failed or f.status == "improvement"]
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
        out.append("|" + "|".join(["---", "---", *["---:"] * 7, "---"]) + "|")
        for row, c in zip(rows, verdict.comparisons, strict=True):
            cells = [_md_cell(x) for x in row[:-1]] + [f"{_ICON.get(c.status, '')} {c.status}"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    if verdict.flags:
        out += ["**Output checks** (catastrophic flags fail on any increase beyond `max_flag_increase`; "
                "noisy flags get an exact McNemar test and fail only when the policy's `gate_flags` names "
                "them)", ""]
        out.append("| " + " | ".join(_FLAG_HEADER) + " |")
        out.append("|" + "|".join(["---", "---", "---", *["---:"] * 6, "---", "---"]) + "|")
        for row, f in zip(_flag_rows(verdict.flags), verdict.flags, strict=True):
            cells = [_md_cell(x) for x in row]
            cells[9] = f"{_ICON.get(f.status, '')} {f.status}"
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out += _md_mde(verdict)
    problems = [*(f"**error:** {_md_cell(e)}" for e in verdict.errors),
                *(_md_cell(c.reason) for c in verdict.comparisons if c.status != "no-significant-change"),
                *(_md_cell(f.reason) for f in verdict.flags if f.failed or f.status == "improvement")]
    if not verdict.comparisons and not verdict.errors:
        problems.append("**error:** nothing was compared; this is not a pass")
    out += [f"- {p}" for p in problems]
    out += [f"- _note:_ {_md_cell(n)}" for n in verdict.notes]
    out.append("")
    out.append("<sub>A metric regresses only when the drop exceeds its tolerance **and** the paired test "
               "against the baseline's segments is significant at α after a Holm correction over every "
               "comparison in the gate's family. A catastrophic output flag (empty, copy of the source, "
               "wrong language, truncated, number mismatch) fails the gate whenever more segments carry it "
               "than the policy allows.</sub>")
    return "\n".join(out) + "\n"


def _md_mde(verdict: Verdict) -> list[str]:
    """The smallest drop each family comparison can show, and the canaries' verdicts, as Markdown."""
    out: list[str] = []
    if verdict.mde:
        first = verdict.mde[0]
        out += [f"**Smallest drop the gate can see** (MDE, {first['power']:.0%} power, α = {first['alpha']:g}"
                f" Holm-adjusted over {first['family_size']} comparison(s) → {first['alpha_holm']:.4g},"
                f" {first['n_segments']} segments; score points)", "",
                "| system/metric | every segment changes | mixed | paired | 25% of segments change"
                " | tolerance |",
                "|---|---:|---:|---:|---:|---:|"]
        for e in verdict.mde:
            cells = [_num(e["independent"]), _num(e["mixed"]), _num(e["paired"]),
                     _num(e["by_share"].get("0.25")), _num(e["tolerance"], "g")]
            out.append(f"| {_md_cell(e['where'])} | " + " | ".join(cells) + " |")
        out.append("")
        out += [f"- ⚠️ {_md_cell(w)}" for e in verdict.mde for w in e["warnings"]]
        out += [""] if any(e["warnings"] for e in verdict.mde) else []
    if verdict.canaries:
        out += [f"- canaries `{_md_cell(key)}`: {_md_cell(why)}" for key, why in verdict.canaries.items()]
        out.append("")
    return out


def _testcase_detail(c: Comparison) -> str:
    return (f"baseline={_num(c.baseline_score, '.4f')} candidate={_num(c.candidate_score, '.4f')} "
            f"delta={_num(c.delta, '.4f', signed=True)} p={_p(c.p_value)} "
            f"tolerance={_num(c.allowed_drop, '.4f')} signature={c.signature}")


def render_junit(verdict: Verdict) -> str:
    """JUnit XML: one test case per system × metric and per system × output-check flag (failure =
    regression, error = cannot compare, skipped = flag not compared)."""
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
    skipped = 0
    for f in verdict.flags:
        case = ET.SubElement(suite, "testcase", classname=f"mt-eval.gate.{f.system}.flags", name=f.flag,
                             time="0")
        detail = (f"kind={f.kind} baseline={f.baseline_count} candidate={f.candidate_count} "
                  f"newly={f.newly_flagged} p={_p(f.p_value)} allowed={f.allowed_increase} "
                  f"first={','.join(f.first_segments)}")
        if f.failed:
            failures += 1
            ET.SubElement(case, "failure", message=f.reason, type=f.status).text = detail
        elif f.status == "not-compared":
            skipped += 1
            ET.SubElement(case, "skipped", message=f.reason)
        ET.SubElement(case, "system-out").text = f"{f.status}: {f.reason}\n{detail}"
    general = list(verdict.errors)
    if not verdict.comparisons and not general:
        general.append("nothing was compared; this is not a pass")
    for message in general:
        errors += 1
        case = ET.SubElement(suite, "testcase", classname="mt-eval.gate", name="comparison", time="0")
        ET.SubElement(case, "error", message=message, type="cannot-compare")
    total = len(verdict.comparisons) + len(verdict.flags) + len(general)
    suite.set("tests", str(total))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    root = ET.Element("testsuites", name="mt-eval", tests=str(total), failures=str(failures),
                      errors=str(errors), skipped=str(skipped))
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
