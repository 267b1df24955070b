"""The metric contract: sufficient statistics per segment, and a score from their sum.

Corpus scores, sentence scores, bootstrap confidence intervals and paired significance tests all
reuse the same per-segment statistics, so a metric's string processing runs once per system.
``score_from_stats`` is vectorised over leading axes: bootstrap computes ``counts @ stats`` for all
resamples at once and scores the resulting ``(B, D)`` array in one call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError

from mt_eval.errors import MtEvalError, first_validation_problem

if TYPE_CHECKING:
    from mt_eval.spans import Span


@dataclass
class SegmentDetail:
    """What a metric learned about one segment beyond its statistics (LLM judges, xCOMET).

    ``spans``: error spans in the hypothesis (their ``source`` names the metric/judge);
    ``failure``: why the segment could not be judged (e.g. unparseable judge output), with ``raw``
    the judge's text, so a failure is counted and shown, never a silent zero;
    ``usage``: cost counters such as ``{"prompt_tokens": .., "completion_tokens": .., "seconds": ..}``.
    """

    spans: list[Span] = field(default_factory=list)
    failure: str | None = None
    raw: str | None = None
    usage: dict[str, float] = field(default_factory=dict)


def summed_stats(stats: np.ndarray) -> np.ndarray:
    """Sum per-segment statistics over segments: integers exactly, floats in segment order.

    Summing float columns left to right (``cumsum``) adds them in the order sacrebleu's Python ``sum``
    does, so corpus scores are bit-identical to sacrebleu's, not merely close.
    """
    arr = np.asarray(stats)
    return arr.sum(axis=0) if arr.dtype.kind in "iub" else np.cumsum(arr, axis=0)[-1]


class Metric(ABC):
    """A corpus-level metric defined by summable per-segment statistics."""

    name: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True

    # A metric's options as a typed model (unknown keys and bad values are one-line user errors).
    options_model: ClassVar[type[BaseModel] | None] = None
    # Options that change how the metric runs (threads, batch size, GPUs), never its scores: they are
    # left out of identity comparisons, so a baseline made with 1 thread gates a run made with 4.
    run_only_options: ClassVar[frozenset[str]] = frozenset()
    # Whether the CI gate's family (the comparisons that can fail it) includes this metric unless the
    # policy says otherwise: the lexical metrics do; neural metrics and judges join only when named.
    gate_family_default: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        if self.options_model is not None:
            try:
                self.config = self.options_model(**options)
            except ValidationError as exc:
                loc, msg = first_validation_problem(exc, root="options")
                raise MtEvalError(f"metric {self.name}: bad option {loc}: {msg}") from None
            options = self.config.model_dump()
        self.options = options
        # per-segment details of the last ``segment_stats`` call, for metrics with ``reports_details``
        self.details: list[SegmentDetail] | None = None

    # Whether a segment's statistics are the same whatever other segments are computed with it. Lexical
    # metrics are; neural ones that embed texts in batches (semantic, COMET) are not bit for bit (BLAS
    # picks kernels by matrix size), so shards, merges and clusters compute them over the whole test set.
    batch_invariant: ClassVar[bool] = True

    # Metrics that set ``self.details`` (one SegmentDetail per segment) in ``segment_stats``: error
    # spans, judge failures and usage, which the run writes to segments.jsonl and results.json.
    reports_details: ClassVar[bool] = False

    # COMET-style metrics read the source too; callers pass ``sources=`` to every metric regardless
    needs_sources: ClassVar[bool] = False

    @abstractmethod
    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        """``(N, D)`` statistics, int64 for counts (float64 only where the statistic is fractional).

        ``references[i]`` is the list of references for segment ``i`` (segments may differ in how many
        they have). ``sources`` is ignored by metrics that do not need it; ``workers > 1`` lets a
        metric split the work over processes where that pays off.
        """

    @abstractmethod
    def score_from_stats(self, stats: np.ndarray) -> np.ndarray:
        """Score from statistics summed over segments; ``stats`` has shape ``(..., D)``, result ``(...)``."""

    def corpus_score(self, stats: np.ndarray) -> float:
        arr = np.asarray(stats)
        if arr.ndim != 2 or arr.shape[0] == 0:
            raise MtEvalError(f"metric {self.name}: no segment statistics to score")
        return float(self.score_from_stats(summed_stats(arr)))

    def sentence_scores(self, stats: np.ndarray) -> np.ndarray:
        """Per-segment scores (sacrebleu's sentence-level definition where it differs)."""
        return np.asarray(self.score_from_stats(np.asarray(stats)), dtype=np.float64)

    @abstractmethod
    def signature(self) -> dict[str, str]:
        """sacrebleu-style signature fields (``nrefs``, ``case``, ``tok``, ..., ``version``); ``nrefs`` is
        ``?`` here: it is the test set's (:class:`mt_eval.metrics.signature.MetricSignature`)."""

    def use_languages(self, source_lang: str, target_lang: str) -> None:
        """The test set's languages, given by a run before computing; metrics that depend on them
        (LLM judges name them in the prompt) take them unless their options name others."""
        return None  # most metrics do not depend on the languages

    def run_info(self) -> dict[str, Any]:
        """How this run computed the metric, not what identifies it (e.g. the threads ``auto`` chose):
        recorded in ``results.json`` beside the signature, never compared."""
        return {}

    def warm_up(self) -> None:
        """Start loading what computing will need (a model's weights) in the background; a run calls it
        before the first statistics, so the loading overlaps the other metrics' work."""
        return None  # most metrics load nothing

    def close(self) -> None:
        """Release what the metric holds open (a judge's HTTP client, a model); a run calls it once it
        has scored every system. The metric can still be used afterwards: it reopens what it needs."""
        return None  # most metrics hold nothing

    def spec(self) -> dict[str, Any]:
        """Enough to rebuild this metric through the registry: ``{"name": ..., "options": {...}}``."""
        return {"name": self.name, "options": dict(self.options)}

    def identity_spec(self) -> dict[str, Any]:
        """:meth:`spec` without the run-only options: what must match for two scores to be comparable."""
        return {"name": self.name,
                "options": {k: v for k, v in self.options.items() if k not in self.run_only_options}}


class MeanOfSegmentsMetric(Metric):
    """A metric that averages a per-segment value: statistics ``[value, 1]``, score 100 × mean."""

    def score_from_stats(self, stats: np.ndarray) -> np.ndarray:
        s = np.asarray(stats, dtype=np.float64)
        counts = s[..., 1]
        return np.where(counts > 0, 100.0 * s[..., 0] / np.where(counts > 0, counts, 1.0), 0.0)
