"""Systems × metrics tables (Markdown, CSV, LaTeX) from a validated ``results.json``.

Every cell shows the corpus score with its bootstrap confidence interval; a mark says the paired test
against the baseline rejected at the run's alpha. Skipped systems stay in the table with their reason
so a reader sees what was *not* evaluated, and flag counts sit beside the scores.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from mt_eval.fsio import atomic_write_text
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.results import Results

SIG_MARK = "*"


@dataclass(frozen=True)
class Cell:
    score: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    significant: bool
    decimals: int

    def text(self, mark: str = SIG_MARK, *, with_ci: bool = True) -> str:
        if self.score is None:
            return "—"
        out = f"{self.score:.{self.decimals}f}"
        if with_ci and self.ci_low is not None and self.ci_high is not None:
            out += f" [{self.ci_low:.{self.decimals}f}, {self.ci_high:.{self.decimals}f}]"
        if self.significant:
            out += mark
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
    names: list[str] = []
    for per_flag in results.flags.values():
        for name in per_flag:
            if name not in names:
                names.append(name)
    return names


def cell(results: Results, system: str, key: str) -> Cell:
    decimals = _decimals(results, key)
    entry = results.scores.get(system, {}).get(key)
    if entry is None:
        return Cell(None, None, None, None, False, decimals)
    p_value = None
    significant = False
    sig = results.significance
    if sig is not None and system != sig.baseline:
        test = sig.results.get(system, {}).get(key)
        if test is not None:
            p_value = test.p_value
            significant = p_value < sig.alpha
    return Cell(entry.score, entry.ci_low, entry.ci_high, p_value, significant, decimals)


def _system_label(results: Results, system: str) -> str:
    if results.significance and system == results.significance.baseline:
        return f"{system} (baseline)"
    return system


def _status(results: Results, system: str) -> str:
    info = results.systems[system]
    return "ok" if info.status == "ok" else f"skipped: {info.reason}"


def _legend(results: Results) -> list[str]:
    lines = []
    if results.bootstrap is not None:
        lines.append(f"Brackets: {results.bootstrap.confidence:.0%} bootstrap confidence interval"
                     f" ({results.bootstrap.n_resamples} resamples, seed {results.bootstrap.seed}).")
    sig = results.significance
    if sig is not None:
        lines.append(f"{SIG_MARK} p < {sig.alpha:g} against baseline {sig.baseline}"
                     f" ({sig.method}, {sig.n_resamples} resamples, seed {sig.seed}).")
    lower = [k for k, m in results.metrics.items() if not m.higher_is_better]
    if lower:
        lines.append("Lower is better: " + ", ".join(lower) + ".")
    lines.append(f"Test set {results.testset.name or '(unnamed)'} {results.testset.hash[:12]},"
                 f" {results.testset.num_segments} segments.")
    for key, metric in results.metrics.items():
        lines.append(f"{key}: `{metric.signature_string}`")
    return lines


def to_markdown(results: Results) -> str:
    metrics = list(results.metrics)
    flags = flag_names(results)
    header = ["system", *(k + ("" if results.metrics[k].higher_is_better else " ↓") for k in metrics),
              *(f"flags: {f}" for f in flags), "status"]
    rows = [header, ["---"] * len(header)]
    for system in ordered_systems(results):
        row = [_system_label(results, system)]
        row += [cell(results, system, key).text() for key in metrics]
        row += [str(results.flags.get(system, {}).get(f, 0)) if system in results.flags else "—"
                for f in flags]
        row.append(_status(results, system))
        rows.append([_md_escape(c) for c in row])
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    legend = "\n".join(f"- {' '.join(line.split())}" for line in _legend(results))
    return f"# {results.run_name}\n\n" + "\n".join(lines) + "\n\n" + legend + "\n"


def _md_escape(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def to_csv(results: Results) -> str:
    metrics = list(results.metrics)
    flags = flag_names(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["system", "status", "reason", "baseline"]
    for key in metrics:
        header += [key, f"{key}_ci_low", f"{key}_ci_high", f"{key}_p_value", f"{key}_significant"]
    header += [f"flag_{f}" for f in flags]
    writer.writerow(header)
    baseline = results.significance.baseline if results.significance else ""
    for system in ordered_systems(results):
        info = results.systems[system]
        row: list[object] = [system, info.status, info.reason, int(system == baseline)]
        for key in metrics:
            c = cell(results, system, key)
            row += [_num(c.score), _num(c.ci_low), _num(c.ci_high), _num(c.p_value),
                    "" if c.p_value is None else int(c.significant)]
        row += [results.flags.get(system, {}).get(f, "") for f in flags]
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
            text = tex_escape(c.text(mark="", with_ci=True)).replace("—", "--")
            row.append(text + (r"$^{*}$" if c.significant else ""))
        row += [str(results.flags.get(system, {}).get(f, 0)) if system in results.flags else "--"
                for f in flags]
        row.append(tex_escape(_status(results, system)))
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    comments = [f"% {line.replace('`', '')}" for line in _legend(results)]
    return "\n".join(comments + lines) + "\n"


RENDERERS = {"md": to_markdown, "csv": to_csv, "tex": to_latex}


def write_tables(results: Results, root: str | Path) -> list[Path]:
    """Write ``tables/scores.{md,csv,tex}`` atomically; returns the paths."""
    layout = RunLayout.of(root)
    paths = []
    for fmt, render in RENDERERS.items():
        path = layout.table_path(fmt)
        atomic_write_text(path, render(results))
        paths.append(path)
    return paths
