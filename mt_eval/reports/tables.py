"""Systems × metrics tables (Markdown, CSV, LaTeX) from a validated ``results.json``.

Every cell shows the corpus score with its bootstrap confidence interval; ▲/▼ say the system is
significantly better/worse than the baseline (Holm-adjusted; lower-is-better metrics respected), and
``#k`` its rank cluster when every pair was compared. A second table lists each comparison with |Δ|,
p-values and the share of human judgements expected to agree with it. Skipped systems stay in the
table with their reason so a reader sees what was *not* evaluated, and flag counts sit beside the scores.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from mt_eval.fsio import atomic_write_text
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.results import Results

BETTER_MARK, WORSE_MARK = "▲", "▼"


@dataclass(frozen=True)
class Cell:
    score: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # the decisive one: Holm-adjusted where recorded
    significant: bool
    decimals: int
    better: bool | None = None  # direction of a significant difference from the baseline
    cluster: int | None = None  # rank cluster (every pair compared)

    @property
    def mark(self) -> str:
        if not self.significant or self.better is None:
            return ""
        return BETTER_MARK if self.better else WORSE_MARK

    def text(self, *, with_ci: bool = True, marks: bool = True) -> str:
        if self.score is None:
            return "—"
        out = f"{self.score:.{self.decimals}f}"
        if with_ci and self.ci_low is not None and self.ci_high is not None:
            out += f" [{self.ci_low:.{self.decimals}f}, {self.ci_high:.{self.decimals}f}]"
        if marks:
            out += self.mark
            if self.cluster is not None:
                out += f" #{self.cluster}"
        return out


# metrics reported on a 0-1 scale; every sacrebleu metric and the semantic one use 0-100
_UNIT_SCALE = {"comet", "bertscore"}


def _decimals(results: Results, key: str) -> int:
    """Fixed per metric (not per value) so a column never mixes formats."""
    return 4 if str(results.metrics[key].spec.get("name", key)) in _UNIT_SCALE else 2


def ordered_systems(results: Results) -> list[str]:
    """Baseline first, then the other evaluated systems, then the skipped ones."""
    baseline = results.significance.baseline if results.significance else None
    ok = results.ok_systems
    first = [baseline] if baseline in ok else []
    return first + [s for s in ok if s != baseline] + list(results.skipped_systems)


def flag_names(results: Results) -> list[str]:
    return list(dict.fromkeys(name for per_flag in results.flags.values() for name in per_flag))


def cell(results: Results, system: str, key: str) -> Cell:
    decimals = _decimals(results, key)
    entry = results.scores.get(system, {}).get(key)
    if entry is None:
        return Cell(None, None, None, None, False, decimals)
    p_value, significant, better, cluster = None, False, None, None
    sig = results.significance
    if sig is not None:
        test = sig.results.get(system, {}).get(key) if system != sig.baseline else None
        if test is not None:
            p_value = test.decisive_p()
            significant = p_value < sig.alpha
            up = test.delta > 0
            better = up if results.metrics[key].higher_is_better else not up
        for i, members in enumerate(sig.clusters.get(key, []), start=1):
            if system in members:
                cluster = i
    return Cell(entry.score, entry.ci_low, entry.ci_high, p_value, significant, decimals, better, cluster)


def _fmt_agreement(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def comparison_rows(results: Results) -> list[dict[str, object]]:
    """Every test shown in the run, one row per (pair, metric): Δ, p, Holm p, human agreement, verdict."""
    sig = results.significance
    if sig is None:
        return []
    tests = [(sig.baseline or "", system, key, entry) for system, per in sig.results.items()
             for key, entry in per.items()]
    tests += [(a, b, key, entry) for a, per_b in sig.pairs.items() for b, per in per_b.items()
              for key, entry in per.items() if a != sig.baseline]
    rows = []
    for a, b, key, entry in tests:
        higher = results.metrics[key].higher_is_better if key in results.metrics else True
        significant = entry.decisive_p() < sig.alpha
        b_better = (entry.delta > 0) == higher
        verdict = ("not significant" if not significant or entry.delta == 0
                   else f"{b} better" if b_better else f"{a} better")
        rows.append({"a": a, "b": b, "metric": key, "delta": entry.delta,
                     "p_value": entry.p_value, "p_adjusted": entry.p_adjusted,
                     "human_agreement": entry.human_agreement, "verdict": verdict, "entry": entry})
    return rows


def _system_label(results: Results, system: str) -> str:
    if results.significance and system == results.significance.baseline:
        return f"{system} (baseline)"
    return system


def _status(results: Results, system: str) -> str:
    info = results.systems[system]
    return "ok" if info.status == "ok" else f"skipped: {info.reason}"


def legend_lines(results: Results) -> list[str]:
    lines = []
    if results.bootstrap is not None:
        lines.append(f"Brackets: {results.bootstrap.confidence:.0%} bootstrap confidence interval"
                     f" ({results.bootstrap.n_resamples} resamples, seed {results.bootstrap.seed}).")
    sig = results.significance
    if sig is not None:
        adjusted = "Holm-adjusted p" if sig.correction == "holm" else "p"
        test = f"{sig.method}, {sig.n_resamples} resamples, seed {sig.seed}"
        if sig.baseline is not None and sig.results:
            lines.append(f"{BETTER_MARK}/{WORSE_MARK}: significantly better/worse than the baseline "
                         f"{sig.baseline} ({adjusted} < {sig.alpha:g} over each metric's tests; {test}).")
        if sig.clusters:
            lines.append(f"#k: rank cluster of the metric; systems in one cluster are not separated by the "
                         f"pairwise tests ({adjusted} < {sig.alpha:g} over every pair; {test}).")
        lines.extend(f"Warning: {w}." for w in sig.warnings)
    lower = [k for k, m in results.metrics.items() if not m.higher_is_better]
    if lower:
        lines.append("Lower is better: " + ", ".join(lower) + ".")
    lines.append(f"Test set {results.testset.name or '(unnamed)'} {results.testset.hash[:12]},"
                 f" {results.testset.num_segments} segments.")
    for key, metric in results.metrics.items():
        lines.append(f"{key}: `{metric.signature_string}`")
    return lines


# ------------------------------------------------------------------ error spans, judge failures, cost
SPAN_COLUMNS = ("minor", "major", "critical", "unlocated")
USAGE_LABELS = {"prompt_tokens": "prompt tokens", "completion_tokens": "completion tokens",
                "seconds": "seconds"}


def span_count_rows(results: Results) -> list[dict[str, object]]:
    """One row per evaluated system × span source: spans by severity (and how many are unlocated).

    Every system is listed for every source (zeros included), so "no error found" shows as 0s.
    """
    sources = dict.fromkeys(src for per_source in results.span_counts.values() for src in per_source)
    rows = []
    for source in sources:
        for system in ordered_systems(results):
            if system not in results.scores and system not in results.span_counts:
                continue
            counts = results.span_counts.get(system, {}).get(source, {})
            rows.append({"system": system, "source": source,
                         **{sev: int(counts.get(sev, 0)) for sev in SPAN_COLUMNS},
                         "total": sum(int(counts.get(sev, 0)) for sev in SPAN_COLUMNS[:3])})
    return rows


def usage_names(results: Results) -> list[str]:
    """The cost counters any metric reported (prompt/completion tokens and seconds first)."""
    names = [n for n in USAGE_LABELS if any(n in per for s in results.usage.values() for per in s.values())]
    for per_metric in results.usage.values():
        for per in per_metric.values():
            names += [n for n in per if n not in names]
    return names


def failure_rows(results: Results) -> list[dict[str, object]]:
    """One row per system × metric that reports per-segment details: segments it could not judge and
    its summed cost counters (tokens, seconds)."""
    keys = dict.fromkeys(key for source in (results.judge_failures, results.usage)
                         for per_metric in source.values() for key in per_metric)
    n = results.testset.num_segments
    rows = []
    for key in keys:
        for system in ordered_systems(results):
            if system not in results.judge_failures and system not in results.usage:
                continue
            rows.append({"system": system, "metric": key,
                         "failures": int(results.judge_failures.get(system, {}).get(key, 0)), "segments": n,
                         "usage": dict(results.usage.get(system, {}).get(key, {}))})
    return rows


def _fmt_usage(value: float | None, name: str) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if name == "seconds" else f"{value:.0f}"


_DETAIL_SECTIONS = {  # detail_tables' titles → Markdown heading and the note under the table
    "error spans by severity": (
        "## Error spans", "- spans by severity in each system's outputs, per judge or annotator (source); "
        "unlocated: quoted errors not found exactly once in the output (counted in their severity)."),
    "judge failures and cost": (
        "## Judge failures and cost", "- failed segments: the metric could not judge them (e.g. unparseable"
        " judge output); they are listed with the raw output in segments.jsonl (`failures`) and the report."),
}


def _details_markdown(results: Results) -> str:
    """The "Error spans" and "Judge failures and cost" sections (empty for runs without them)."""
    out: list[str] = []
    for title, header, rows in detail_tables(results):
        heading, note = _DETAIL_SECTIONS[title]
        out += [*([""] if out else []), heading, "", *_md_table(header, rows), "", note]
    return "\n" + "\n".join(out) + "\n" if out else ""


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table: the header as given, every body cell escaped."""
    return ["| " + " | ".join(row) + " |" for row in (header, ["---"] * len(header))] + [
        "| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]


def _comparisons_markdown(results: Results) -> str:
    rows = comparison_rows(results)
    if not rows:
        return ""
    cells = [[str(r["a"]), str(r["b"]), str(r["metric"]), f"{r['delta']:+.2f}", f"{r['p_value']:.4f}",
              "—" if r["p_adjusted"] is None else f"{r['p_adjusted']:.4f}",
              _fmt_agreement(r["human_agreement"]), str(r["verdict"])] for r in rows]  # type: ignore[arg-type]
    lines = ["## Paired comparisons", "",
             *_md_table(["A", "B", "metric", "Δ (B − A)", "p", "p (Holm)", "humans agree", "verdict"], cells),
             "", "- humans agree: estimated share of human pairwise judgements that agree with the ranking "
              "implied by |Δ| (Kocmi et al., ACL 2024, \"Navigating the Metrics Maze\"); n/a where the "
              "paper fitted no curve for the metric and its settings."]
    return "\n" + "\n".join(lines) + "\n"


def to_markdown(results: Results) -> str:
    metrics = list(results.metrics)
    flags = flag_names(results)
    header = ["system", *(k + ("" if results.metrics[k].higher_is_better else " ↓") for k in metrics),
              *(f"flags: {f}" for f in flags), "status"]
    rows = [[_system_label(results, system), *(cell(results, system, key).text() for key in metrics),
             *_flag_counts(results, system, flags, missing="—"),
             _status(results, system)] for system in ordered_systems(results)]
    lines = _md_table([_md_escape(c) for c in header], rows)
    legend = "\n".join(f"- {' '.join(line.split())}" for line in legend_lines(results))
    return (f"# {results.run_name}\n\n" + "\n".join(lines) + "\n\n" + legend + "\n"
            + _comparisons_markdown(results) + _details_markdown(results))


def _flag_counts(results: Results, system: str, flags: list[str], missing: str) -> list[str]:
    """The system's count of each flag (``missing`` for a system that was not checked)."""
    if system not in results.flags:
        return [missing] * len(flags)
    return [str(results.flags[system].get(f, 0)) for f in flags]


def _md_escape(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def to_csv(results: Results) -> str:
    metrics = list(results.metrics)
    flags = flag_names(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["system", "status", "reason", "baseline"]
    for key in metrics:
        header += [key, f"{key}_ci_low", f"{key}_ci_high", f"{key}_p_value", f"{key}_significant",
                   f"{key}_direction", f"{key}_cluster"]
    header += [f"flag_{f}" for f in flags]
    span_sources = list(dict.fromkeys(str(r["source"]) for r in span_count_rows(results)))
    header += [f"spans_{src}_{sev}" for src in span_sources for sev in SPAN_COLUMNS]
    failed_keys = list(dict.fromkeys(str(r["metric"]) for r in failure_rows(results)))
    names = usage_names(results)
    header += [f"{key}_{col}" for key in failed_keys for col in ("failures", *names)]
    writer.writerow(header)
    baseline = results.significance.baseline if results.significance else None
    for system in ordered_systems(results):
        info = results.systems[system]
        row: list[object] = [system, info.status, info.reason, int(system == baseline)]
        for key in metrics:
            c = cell(results, system, key)
            direction = "" if not c.mark else ("better" if c.better else "worse")
            row += [_num(c.score), _num(c.ci_low), _num(c.ci_high), _num(c.p_value),
                    "" if c.p_value is None else int(c.significant), direction,
                    "" if c.cluster is None else c.cluster]
        row += [results.flags.get(system, {}).get(f, "") for f in flags]
        counts = results.span_counts.get(system)
        row += [("" if system not in results.scores else (counts or {}).get(src, {}).get(sev, 0))
                for src in span_sources for sev in SPAN_COLUMNS]
        for key in failed_keys:
            failed = results.judge_failures.get(system, {}).get(key)
            usage = results.usage.get(system, {}).get(key, {})
            row += ["" if failed is None else failed, *(_num(usage.get(n)) for n in names)]
        writer.writerow(row)
    return buffer.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


_TEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(results: Results) -> str:
    metrics = list(results.metrics)
    flags = flag_names(results)
    columns = "l" + "r" * (len(metrics) + len(flags)) + "l"
    header = ["System", *(tex_escape(k) + ("" if results.metrics[k].higher_is_better else r" $\downarrow$")
                          for k in metrics), *(tex_escape(f) for f in flags), "Status"]
    lines = [r"\begin{tabular}{" + columns + "}", r"\toprule", " & ".join(header) + r" \\", r"\midrule"]
    for system in ordered_systems(results):
        row = [tex_escape(_system_label(results, system))]
        for key in metrics:
            c = cell(results, system, key)
            text = tex_escape(c.text(with_ci=True, marks=False)).replace("—", "--")
            if c.mark:
                text += r"$^{\blacktriangle}$" if c.better else r"$^{\blacktriangledown}$"
            if c.cluster is not None:
                text += rf"$_{{{c.cluster}}}$"
            row.append(text)
        row += _flag_counts(results, system, flags, missing="--")
        row.append(tex_escape(_status(results, system)))
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    comments = [f"% {line.replace('`', '')}" for line in legend_lines(results)]
    return "\n".join(comments + lines + _details_latex(results)) + "\n"


def _details_latex(results: Results) -> list[str]:
    """Error spans by severity and judge failures as a second tabular (nothing for runs without them)."""
    spans, failures = span_count_rows(results), failure_rows(results)
    if not spans and not failures:
        return []
    lines = ["", "% error spans by severity (per judge/annotator) and segments each metric could not judge",
             r"\begin{tabular}{llrrrrr}", r"\toprule"]
    if spans:
        lines += [r"System & Source & Minor & Major & Critical & Total & Unlocated \\", r"\midrule"]
        lines += [" & ".join([tex_escape(str(r["system"])), tex_escape(str(r["source"])),
                              *(str(r[c]) for c in ("minor", "major", "critical", "total", "unlocated"))])
                  + r" \\" for r in spans]
    if failures:
        lines += ([r"\midrule"] if spans else []) + [
            r"System & Metric & \multicolumn{5}{l}{Failed segments} \\", r"\midrule"]
        lines += [f"{tex_escape(str(r['system']))} & {tex_escape(str(r['metric']))} & "
                  rf"\multicolumn{{5}}{{l}}{{{r['failures']} of {r['segments']}}} \\" for r in failures]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return lines


RENDERERS = {"md": to_markdown, "csv": to_csv, "tex": to_latex}


def write_tables(results: Results, root: str | Path) -> list[Path]:
    """Write ``tables/scores.{md,csv,tex}`` atomically; returns the paths."""
    paths = {fmt: RunLayout.of(root).table_path(fmt) for fmt in RENDERERS}
    for fmt, render in RENDERERS.items():
        atomic_write_text(paths[fmt], render(results))
    return list(paths.values())


def detail_tables(results: Results) -> list[tuple[str, list[str], list[list[str]]]]:
    """The error-span and judge-failure tables as (title, header, rows) of plain strings (for the CLI)."""
    out: list[tuple[str, list[str], list[list[str]]]] = []
    columns = ["system", "source", *SPAN_COLUMNS[:3], "total", "unlocated"]
    spans = span_count_rows(results)
    if spans:
        out.append(("error spans by severity", columns, [[str(r[c]) for c in columns] for r in spans]))
    failures = failure_rows(results)
    if failures:
        names = usage_names(results)
        rows = [[str(r["system"]), str(r["metric"]), f"{r['failures']} of {r['segments']}",
                 *(_fmt_usage(r["usage"].get(n), n) for n in names)] for r in failures]  # type: ignore[attr-defined]
        out.append(("judge failures and cost", ["system", "metric", "failed segments",
                                                *(USAGE_LABELS.get(n, n) for n in names)], rows))
    return out
