"""The "Fine-grained analysis" section of ``report.html``: rows ready for the template (numbers formatted
here, HTML escaping left to jinja)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mt_eval.analysis.model import Analysis, BucketScore


def _score(entry: BucketScore | None, decimals: int = 2) -> dict[str, str]:
    if entry is None or entry.score is None:
        return {"score": "—", "ci": ""}
    ci = ("" if entry.ci_low is None or entry.ci_high is None
          else f"[{entry.ci_low:.{decimals}f}, {entry.ci_high:.{decimals}f}]")
    return {"score": f"{entry.score:.{decimals}f}", "ci": ci}


def analysis_view(analysis: Analysis, systems: Sequence[str]) -> dict[str, Any] | None:
    """``None`` when the run has no analysis (older runs, ``analysis = false``)."""
    if not analysis.bucketings:
        return None
    shown = [s for s in systems if any(s in b.scores for t in analysis.bucketings for b in t.buckets)]
    tables = []
    for bucketing in analysis.bucketings:
        rows = []
        for bucket in bucketing.buckets:
            for i, system in enumerate(shown):
                cells = [_score(bucket.scores.get(system, {}).get(key)) for key in analysis.metrics]
                rows.append({"label": bucket.label, "segments": bucket.segments, "first": i == 0,
                             "span": len(shown), "system": system, "cells": cells})
        tables.append({"name": bucketing.name, "title": bucketing.title,
                       "description": bucketing.description, "rows": rows})
    words = []
    for word_bucket in analysis.word_buckets:
        if not word_bucket.ref_words and not any(w.out_words for w in word_bucket.systems.values()):
            continue  # no word of this frequency anywhere
        cells = []
        for system in shown:
            w = word_bucket.systems.get(system)
            cells.append({"score": "—", "ci": "", "detail": ""} if w is None else {
                "score": f"{w.fmeasure:.3f}",
                "ci": "" if w.ci_low is None or w.ci_high is None else f"[{w.ci_low:.3f}, {w.ci_high:.3f}]",
                "detail": f"P {w.precision:.3f} · R {w.recall:.3f} · {w.matches}/{w.out_words} output words"})
        words.append({"label": word_bucket.label, "ref_words": word_bucket.ref_words, "cells": cells})
    return {"analysis": analysis, "systems": shown, "tables": tables, "words": words,
            "pairs": analysis.ngrams}
