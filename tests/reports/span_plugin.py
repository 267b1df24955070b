"""A test-only metric that reports per-segment details, like an LLM judge, without any model.

Registered at run time (``register_span_judge``); its judgements are deterministic functions of the
hypothesis, so the tests know every span, failure and usage counter it must produce:

- an emoji ``👍🏽`` (two astral code points) is a *major* error, located;
- a hypothesis with ``<script>`` gets a *critical* span over the tag, from source ``judge-b``;
- every segment gets an *unlocated* minor span quoting text that is not in the hypothesis;
- a hypothesis containing ``FAIL`` cannot be judged: a failure with the raw "judge output".
Usage: ``prompt_tokens`` = code points of the hypothesis, ``completion_tokens`` = 3, 0.5 seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar

import numpy as np
import pytest

from mt_eval.metrics.base import MeanOfSegmentsMetric, SegmentDetail
from mt_eval.spans import make_span, span_from_quote

EMOJI = "👍🏽"
ABSENT_QUOTE = "كلمة غير موجودة"
RAW_FAILURE = "Sorry, I cannot {judge} <this>"


class SpanJudge(MeanOfSegmentsMetric):
    """Score 100 − 10 × (spans), mean over judged segments; a failed segment does not count."""

    name = "spanjudge"
    reports_details = True
    gate_family_default = False
    calls: ClassVar[int] = 0  # segment_stats calls, to tell a cache hit from a recomputation

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        type(self).calls += 1
        rows, details = [], []
        for hyp in hypotheses:
            usage = {"prompt_tokens": float(len(hyp)), "completion_tokens": 3.0, "seconds": 0.5}
            if "FAIL" in hyp:
                rows.append([0.0, 0.0])
                details.append(SegmentDetail(failure="unparseable judge output", raw=RAW_FAILURE,
                                             usage=usage))
                continue
            # the metric does not know segment ids or system names: evaluate() fills them in
            spans = [span_from_quote(ABSENT_QUOTE, hyp, segment_id="", system="", severity="minor",
                                     source="", category="fluency")]
            if EMOJI in hyp:
                start = hyp.index(EMOJI)
                spans.append(make_span({"segment_id": "", "system": "", "start": start,
                                        "end": start + len(EMOJI), "severity": "major", "source": "",
                                        "category": "accuracy/addition"}))
            if "<script>" in hyp:
                start = hyp.index("<script>")
                spans.append(make_span({"segment_id": "", "system": "", "start": start,
                                        "end": start + len("<script>"), "severity": "critical",
                                        "source": "judge-b"}))
            rows.append([(100.0 - 10.0 * len(spans)) / 100.0, 1.0])
            details.append(SegmentDetail(spans=spans, usage=usage))
        self.details = details
        self.num_refs = 1
        return np.asarray(rows, dtype=np.float64)

    def signature(self) -> dict[str, str]:
        return {"nrefs": "1", "metric": "spanjudge", "version": "1"}


@pytest.fixture
def span_judge() -> Iterator[str]:
    """``spanjudge`` registered as a metric plugin for one test (a lazy ``module:Class`` target)."""
    from mt_eval.metrics.registry import register_metric, unregister_metric

    register_metric("spanjudge", "span_plugin:SpanJudge")
    yield "spanjudge"
    unregister_metric("spanjudge")
