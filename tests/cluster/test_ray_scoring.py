"""Scoring on a real Ray cluster: sharded statistics are byte-identical to one local call."""

from __future__ import annotations

import numpy as np
import pytest

from mt_eval.metrics.registry import metric_from_spec
from mt_eval.metrics.signature import MetricSignature, nrefs
from mt_eval.testing.corpora import synthetic_corpus


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["bleu", "chrf", "chrf++", "ter", "bleu:tokenize=intl,lowercase=true",
                                  "ter:normalized=true,case_sensitive=true", "chrf:word_order=2,beta=3"])
def test_sharded_statistics_equal_local(spec: str, ray_executor) -> None:
    corpus = synthetic_corpus(40)
    refs = [[r] for r in corpus["refs"]]
    refs[5].append(corpus["C"][5])  # one segment with two references: nrefs becomes "var"
    hyps = corpus["A"]
    sources = [f"s{i}" for i in range(len(hyps))]
    local_metric, ray_metric = metric_from_spec(spec), metric_from_spec(spec)
    local = local_metric.segment_stats(hyps, refs, sources=sources)
    sharded = ray_executor.segment_stats(ray_metric, hyps, refs, sources, 1)  # shards of 7 segments
    assert sharded.dtype == local.dtype and sharded.shape == local.shape
    assert sharded.tobytes() == local.tobytes()
    assert ray_metric.signature() == local_metric.signature()
    assert MetricSignature.of(ray_metric, nrefs(refs)).as_dict()["nrefs"] == "var"  # the test set's
    assert ray_metric.corpus_score(sharded) == local_metric.corpus_score(local)


@pytest.mark.slow
def test_other_metrics_are_computed_on_the_driver_unchanged(ray_executor) -> None:
    """A metric whose per-segment values depend on what shares its batch is not sharded."""
    from mt_eval.metrics.base import MeanOfSegmentsMetric

    class Batchy(MeanOfSegmentsMetric):
        name = "batchy"
        batch_invariant = False  # its own declaration is what keeps it off the cluster

        def segment_stats(self, hypotheses, references, *, sources=None, workers=1):  # type: ignore[no-untyped-def]
            n = len(hypotheses)
            return np.stack([np.full(n, float(n)), np.ones(n)], axis=1)  # depends on the batch size

        def signature(self) -> dict[str, str]:
            return {"metric": "batchy"}

    hyps = [f"h{i}" for i in range(30)]
    stats = ray_executor.segment_stats(Batchy(), hyps, [[h] for h in hyps], hyps, 1)
    assert stats[:, 0].tolist() == [30.0] * 30
