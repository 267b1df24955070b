"""``canaries.json`` (versioned schema), the terminal table and the report's "Metric canaries" section.

``canaries.json``, schema 1::

    {"schema_version": 1, "kind": "mt-eval canaries", "created", "mt_eval_version",
     "testset": {"hash", "name", "source_lang", "target_lang", "num_segments"},
     "good": {"name", "spec", "signature", "equals_reference_pct"},
     "sample": {"seed", "max_segments", "segments", "indices"},
     "settings": {"critical_min_pct", "sensitivity_min_pct", "invariance_min_pct",
                  "invariance_tolerance_pct", "min_applicable", "resamples", "confidence"},
     "perturbations": {name: {"kind", "critical", "description", "fixed_by", "applicable"}},
     "metrics": {key: {"spec", "signature", "signature_string", "higher_is_better", "scale", "tolerance",
                       "texts_scored", "failed_good", "seconds", "verdict", "reasons",
                       "rows": {perturbation: {"kind", "critical", "applicable", "not_applicable", "failed",
                                               "worse", "unchanged", "better", "stable", "share_pct",
                                               "threshold_pct", "status", "mean_delta", "ci_low",
                                               "ci_high", "corpus_delta"}}}}}

``share_pct`` is the share of applicable (and scored) segments that got worse (sensitivity) or stayed
within ``tolerance`` (invariance); ``mean_delta``/``ci_*`` the mean change of the sentence score (raw, in
the metric's units: for TER a rise is worse) with its bootstrap interval; ``corpus_delta`` the change of
the corpus score over the applicable segments.
"""

from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mt_eval.canaries.perturbations import INVARIANCE, Perturbation
from mt_eval.canaries.runner import CanarySettings, Plan
from mt_eval.errors import MtEvalError
from mt_eval.fsio import atomic_write_json, read_input_json

SCHEMA_VERSION = 1
KIND = "mt-eval canaries"
FILE_NAME = "canaries.json"


def build_document(plan: Plan, entries: Mapping[str, Mapping[str, Any]], settings: CanarySettings,
                   good: Mapping[str, Any]) -> dict[str, Any]:
    """The whole ``canaries.json``; ``good``: the good system's ``name``, ``spec`` and ``signature``."""
    from mt_eval import __version__

    ts = plan.testset
    refs = ts.references
    same = sum(plan.segments.good[i] in refs[i] for i in plan.indices)
    applicable = plan.applicable()

    def describe(p: Perturbation) -> dict[str, Any]:
        return {"kind": p.kind, "critical": p.critical, "description": p.description, "fixed_by": p.fixed_by,
                "applicable": applicable.get(p.name, 0)}

    return {
        "schema_version": SCHEMA_VERSION, "kind": KIND,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mt_eval_version": __version__,
        "testset": {"hash": ts.content_hash, "name": ts.name, "source_lang": ts.source_lang,
                    "target_lang": ts.target_lang, "num_segments": len(ts)},
        "good": {**dict(good), "equals_reference_pct": round(100.0 * same / max(len(plan.indices), 1), 2)},
        "sample": {"seed": settings.seed, "max_segments": settings.max_segments,
                   "segments": len(plan.indices), "indices": list(plan.indices)},
        "settings": {**settings.thresholds(), "resamples": settings.resamples,
                     "confidence": settings.confidence},
        "perturbations": {p.name: describe(p) for p in plan.perturbations},
        "metrics": {key: dict(entry) for key, entry in entries.items()},
    }


def canaries_path(path: str | Path) -> Path:
    """``path/canaries.json`` when ``path`` is a folder, else ``path`` itself."""
    p = Path(path)
    return p / FILE_NAME if p.is_dir() else p


def write_canaries(path: str | Path, document: Mapping[str, Any]) -> Path:
    """Write ``canaries.json`` atomically (at ``path``, or into it when it is an existing folder)."""
    target = canaries_path(path)
    atomic_write_json(target, dict(document))
    return target


def load_canaries(path: str | Path) -> dict[str, Any]:
    """Read and check a ``canaries.json`` (one-line error when it is not one this version can read)."""
    target = canaries_path(path)
    document = read_input_json(target, FILE_NAME)
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise MtEvalError(f"{target}: not an mt-eval canaries file")
    version = document.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise MtEvalError(f"{target}: schema_version {version!r}; this mt-eval reads up to {SCHEMA_VERSION}")
    if not isinstance(document.get("metrics"), dict) or not isinstance(document.get("testset"), dict):
        raise MtEvalError(f"{target}: no metrics or test set recorded")
    return document


# ------------------------------------------------------------------------------------------ tables
_MARK = {"pass": "", "warn": "!", "fail": "✗", "n/a": ""}


def cell_text(row: Mapping[str, Any] | None) -> str:
    """``97`` / ``62!`` (warn) / ``40✗`` (critical fail) / ``n/a (3)`` / ``—`` (not run)."""
    if row is None:
        return "—"
    if row["status"] == "n/a":
        return f"n/a ({row['applicable'] - row['failed']})"
    return f"{row['share_pct']:.0f}{_MARK[row['status']]}"


def table(document: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the perturbation × metric table (share %, marks), plus a verdict row."""
    metrics = list(document["metrics"])
    header = ["canary", "kind", "n", *metrics]
    rows = []
    for name, info in document["perturbations"].items():
        kind = "critical" if info["critical"] else ("stay" if info["kind"] == INVARIANCE else "worse")
        if info.get("fixed_by"):
            kind += f" ({info['fixed_by']})"
        cells = [cell_text(document["metrics"][m]["rows"].get(name)) for m in metrics]
        rows.append([name, kind, str(info["applicable"]), *cells])
    rows.append(["verdict", "", "", *(document["metrics"][m]["verdict"] for m in metrics)])
    return header, rows


def _hue(row: Mapping[str, Any]) -> str:
    """Background of a heat-table cell: green at or above the threshold, through yellow to red at 0%."""
    if row["status"] == "n/a":
        return "#eeeeee"
    share, threshold = float(row["share_pct"]), float(row["threshold_pct"])
    if share >= threshold:
        return "hsl(120, 55%, 82%)"
    ratio = share / threshold if threshold else 0.0
    if row["status"] == "fail":  # a critical canary missed: red, darker the more it missed
        return f"hsl({12 * ratio:.0f}, 85%, {62 + 12 * ratio:.0f}%)"
    return f"hsl({15 + 35 * ratio:.0f}, 85%, 80%)"  # a warning: orange (0%) to yellow


def _cell_html(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return '<td class="num">—</td>'
    title = (f"{row['applicable']} applicable, {row['failed']} failed, {row['not_applicable']} not "
             f"applicable; worse {row['worse']}, unchanged {row['unchanged']}, better {row['better']}")
    if row["mean_delta"] is not None:
        title += (f"; mean Δ {row['mean_delta']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}], "
                  f"corpus Δ {row['corpus_delta']:+.3f}")
    return (f'<td class="num" style="background:{_hue(row)}" title="{html.escape(title)}">'
            f"{html.escape(cell_text(row))}</td>")


def short_label(key: str, entry: Mapping[str, Any], index: int) -> str:
    """A column label that fits a heat-table column: the key, else the metric name and its ``arnorm``."""
    if len(key) <= 16:
        return key
    name = str(entry.get("spec", {}).get("name", key.split(":", 1)[0]))
    arnorm = entry.get("signature", {}).get("arnorm")
    return f"{name} ar:{arnorm}" if arnorm else f"{name} #{index + 1}"


def _intro(document: Mapping[str, Any], run_testset_hash: str | None) -> list[str]:
    e = html.escape
    ts, good, st = document["testset"], document["good"], document["settings"]
    out = ['<h2 id="canaries">Metric canaries</h2>',
           '<p class="sig-list">Does each metric get worse when the good translation'
           f' <b>{e(good["name"])}</b> is damaged, and stay when nothing that matters changed?'
           f' {document["sample"]["segments"]} segments of test set <code>{e(ts["hash"][:12])}</code>.'
           ' Cells: % of the applicable segments whose sentence score got worse (should get worse) or moved'
           f' by at most {st["invariance_tolerance_pct"]:g}% of the metric\'s scale (<i>stays</i>).'
           f' Thresholds: critical ≥ {st["critical_min_pct"]:g}% (✗ below), other canaries ≥'
           f' {st["sensitivity_min_pct"]:g}%, <i>stays</i> ≥ {st["invariance_min_pct"]:g}% (! below).'
           ' Hover a cell for the counts and the mean change with its'
           f' {st["confidence"]:.0%} bootstrap interval.</p>']
    if run_testset_hash and run_testset_hash != ts["hash"]:
        out.append(f'<p class="warning">These canaries were computed on another test set (<code>'
                   f'{e(ts["hash"][:12])}</code>; this run: <code>{e(run_testset_hash[:12])}</code>).</p>')
    if good.get("equals_reference_pct", 0) >= 50:
        out.append(f'<p class="warning">The good translation equals the reference on '
                   f'{good["equals_reference_pct"]:.0f}% of segments: reference-based metrics start at '
                   f'their best there, so their "should get worse" canaries pass trivially.</p>')
    return out


def html_section(document: Mapping[str, Any], run_testset_hash: str | None = None) -> str:
    """The report's "Metric canaries" heat table: an HTML fragment, every text in it escaped here."""
    e = html.escape
    metrics = document["metrics"]
    keys = list(metrics)
    labels = [short_label(k, metrics[k], i) for i, k in enumerate(keys)]
    out = _intro(document, run_testset_hash)
    out.append('<div class="wide"><table id="canaries-table"><thead><tr><th>canary</th><th>n</th>')
    out += [f'<th style="max-width:7em;overflow-wrap:anywhere" title="{e(metrics[k]["signature_string"])}">'
            f'{e(label)}{"" if metrics[k]["higher_is_better"] else " ↓"}</th>'
            for k, label in zip(keys, labels, strict=True)]
    out.append("</tr></thead><tbody>")
    for name, info in document["perturbations"].items():
        label = e(name) + (" <b>(critical)</b>" if info["critical"] else "")
        label += ' <span class="cluster">stays</span>' if info["kind"] == INVARIANCE else ""
        out.append(f'<tr><td class="system" title="{e(info["description"])}">{label}</td>'
                   f'<td class="num">{info["applicable"]}</td>')
        out += [_cell_html(metrics[k]["rows"].get(name)) for k in keys]
        out.append("</tr>")
    out.append('<tr><td class="system"><b>verdict</b></td><td></td>')
    shade = {"pass": "hsl(120, 55%, 82%)", "warn": "hsl(45, 85%, 80%)", "fail": "hsl(0, 85%, 68%)"}
    out += [f'<td style="background:{shade.get(metrics[k]["verdict"], "#eeeeee")}" title="'
            f'{e("; ".join(metrics[k]["reasons"]))}"><b>{e(metrics[k]["verdict"])}</b></td>' for k in keys]
    out.append("</tr></tbody></table></div>")
    legend = [(f"<b>{e(label)}</b>" + ("" if label == k else f" <code>{e(k)}</code>"))
              + f": {e(metrics[k]['verdict'])}"
              + (f" — {e('; '.join(metrics[k]['reasons']))}" if metrics[k]["reasons"] else "")
              for k, label in zip(keys, labels, strict=True)]
    out.append('<p class="sig-list">' + "<br>".join(legend) + "</p>")
    fixes = sorted({(n, i["fixed_by"]) for n, i in document["perturbations"].items() if i.get("fixed_by")})
    if fixes:
        listed = "; ".join(f"{e(n)}: <code>{e(f)}=true</code>" for n, f in fixes)
        out.append('<p class="sig-list">The Arabic orthography canaries and the option that makes a sacrebleu'
                   f" metric ignore each: {listed}.</p>")
    return "\n".join(out)


def section_for_run(root: str | Path, run_testset_hash: str | None) -> str | None:
    """The section for a run folder holding ``canaries.json`` (None when it has none or it is unreadable)."""
    path = Path(root) / FILE_NAME
    if not path.is_file():
        return None
    try:
        return html_section(load_canaries(path), run_testset_hash)
    except (MtEvalError, KeyError, TypeError, ValueError):
        return None


def summary_lines(document: Mapping[str, Any]) -> list[str]:
    """One line per metric: its verdict and why."""
    return [f"{key}: {entry['verdict']}" + (f" ({'; '.join(entry['reasons'])})" if entry["reasons"] else "")
            for key, entry in document["metrics"].items()]
