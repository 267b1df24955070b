"""Whether a metric's canaries let it decide a build: :func:`canary_verdict`, for the CI gate's policy.

The gate matches a ``canaries.json`` to a comparison by the test set's content hash and the metric's
signature (the full signature string, or field by field where a field is unknown, ``?``), and refuses a
metric whose canaries are missing, were computed elsewhere, or fail a critical perturbation (empty,
omission, copy, hallucination).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mt_eval.canaries.perturbations import CRITICAL
from mt_eval.canaries.report import canaries_path, load_canaries
from mt_eval.errors import MtEvalError
from mt_eval.metrics.signature import MetricSignature


def _parse_signature(signature: str | Mapping[str, Any]) -> MetricSignature:
    if isinstance(signature, Mapping):
        return MetricSignature.recorded(signature)
    fields = [part.split(":", 1) for part in signature.split("|") if part]
    return MetricSignature(tuple((f[0], f[1] if len(f) > 1 else "") for f in fields))


def find_metric(document: Mapping[str, Any], signature: str | Mapping[str, Any]) -> tuple[str, dict] | None:
    """The entry whose signature is ``signature`` (exactly, else every field both sides know agrees)."""
    wanted = _parse_signature(signature)
    metrics = document.get("metrics", {})
    for key, entry in metrics.items():
        if entry.get("signature_string") == str(wanted) or entry.get("signature_string") == signature:
            return key, entry
    for key, entry in metrics.items():
        theirs = MetricSignature.recorded(entry.get("signature", {}))
        if theirs.fields and not wanted.differences(theirs, known_only=True) and \
                {k for k, _ in theirs.fields} == {k for k, _ in wanted.fields}:
            return key, entry
    return None


def canary_verdict(canaries_json: str | Path | Mapping[str, Any], testset_hash: str,
                   metric_signature: str | Mapping[str, Any]) -> tuple[bool, str]:
    """``(ok, reason)``: may this metric decide a build on this test set, by its critical canaries?

    ``canaries_json``: a ``canaries.json`` path, the run folder holding it, or its parsed content.
    ``ok`` is False when the file is missing or unreadable, was computed on another test set, has no
    entry with this signature, or a critical canary is missing, has too few applicable segments or
    caught less than its threshold. ``reason`` is one line naming which.
    """
    if isinstance(canaries_json, Mapping):
        document: Mapping[str, Any] = canaries_json
    else:
        path = canaries_path(canaries_json)
        if not path.is_file():
            return False, f"no canaries ({path} is missing; run `mt-eval canary`)"
        try:
            document = load_canaries(path)
        except MtEvalError as exc:
            return False, f"canaries unreadable: {exc}"
    recorded = str(document.get("testset", {}).get("hash", ""))
    if recorded != testset_hash:
        return False, (f"canaries were computed on test set {recorded[:12] or '?'}, not on this one "
                       f"({testset_hash[:12]})")
    found = find_metric(document, metric_signature)
    if found is None:
        shown = metric_signature if isinstance(metric_signature, str) else \
            str(_parse_signature(metric_signature))
        return False, f"no canaries for metric signature {shown}"
    key, entry = found
    rows = entry.get("rows", {})
    problems, caught = [], []
    for name in CRITICAL:
        row = rows.get(name)
        if row is None:
            problems.append(f"{name} not measured")
            continue
        share, threshold = row.get("share_pct", 0), row.get("threshold_pct", 0)
        if row.get("status") == "n/a":
            usable = row.get("applicable", 0) - row.get("failed", 0)
            problems.append(f"{name} had only {usable} usable segments")
        elif row.get("status") != "pass":
            problems.append(f"{name} caught {share:.0f}% < {threshold:.0f}%")
        else:
            caught.append(f"{name} {share:.0f}%")
    if problems:
        return False, f"metric {key} fails its critical canaries: {', '.join(problems)}"
    return True, f"metric {key} passes its critical canaries ({', '.join(caught)})"
