"""Human judgements as a metric of the run: per-segment scores imported, not computed.

A :class:`HumanMetric` is a :class:`~mt_eval.metrics.base.MeanOfSegmentsMetric` whose statistics are
``[score / 100, 1]`` per segment, so its corpus score is the mean segment score and bootstrap CIs,
paired tests, Holm correction and rank clusters are computed by the same code as for BLEU or chrF.
Two protocols:

- ``direct``: one 0–100 score per (segment, system), as in ESA (Kocmi et al., 2024, "Error Span
  Annotation: A Balanced Approach for Human Evaluation of Machine Translation") or DA;
- ``mqm``: the score is ``-penalty`` from the annotated error spans (:func:`mt_eval.spans.mqm_penalty`
  with the recorded weights): 0 for an error-free segment, higher is better.

The statistics cannot be recomputed from outputs; they live in ``stats/<system>/<name>.npy`` of the
run folder, written by ``mt-eval humeval import``. The options (protocol, weights, a hash of the
annotations) are the metric's identity: its signature says which annotations produced the scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import MeanOfSegmentsMetric
from mt_eval.spans import WMT_WEIGHTS, check_weights


class HumanOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["direct", "mqm"] = Field("direct", description="direct: a 0-100 score per segment"
                                               " (ESA/DA); mqm: minus the weighted error-span count")
    weights: dict[str, float] = Field(default_factory=lambda: dict(WMT_WEIGHTS), description="severity"
                                      " weights of the mqm protocol (minor, major, critical)")
    annotations: str = Field("", description="sha256 of the imported annotation files (sorted by"
                             " content): the scores' provenance")
    items: int = Field(0, ge=0, description="number of judged items imported")

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        try:
            return check_weights(value)
        except MtEvalError as exc:
            raise ValueError(str(exc)) from None


class HumanMetric(MeanOfSegmentsMetric):
    """Mean human segment score (0–100 for ``direct``, −MQM penalty for ``mqm``)."""

    name = "human"
    options_model = HumanOptions
    config: HumanOptions
    # judgements of people are never a CI gate's default family: they are not re-collected per run
    gate_family_default = False

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        raise MtEvalError("metric human: human scores cannot be computed from outputs; add them to a run"
                          " folder with `mt-eval humeval import`")

    @staticmethod
    def stats_from_scores(scores: Sequence[float]) -> np.ndarray:
        """``(N, 2)`` float64 statistics ``[score / 100, 1]`` from per-segment scores."""
        values = np.asarray(scores, dtype=np.float64)
        if values.ndim != 1 or not np.isfinite(values).all():
            raise MtEvalError("metric human: per-segment scores must be finite numbers")
        return np.stack([values / 100.0, np.ones_like(values)], axis=1)

    def signature(self) -> dict[str, str]:
        cfg = self.config
        weights = "/".join(f"{cfg.weights[s]:g}" for s in ("minor", "major", "critical"))
        signature = {"nrefs": "0", "protocol": cfg.protocol, "annotations": cfg.annotations[:16] or "none",
                     "items": str(cfg.items), "metric": "human"}
        if cfg.protocol == "mqm":
            signature["weights"] = weights
        return signature

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.config.model_dump(mode="json")}
