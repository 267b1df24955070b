"""COMET and BERTScore, used only when the user has the package and the model locally.

Neither package nor model is a dependency of mt-eval: building the metric checks the import and
raises :class:`MtEvalError` naming what to install. Models are loaded from local paths or the
Hugging Face cache only (offline); nothing is downloaded behind the user's back. Per segment the
statistics are ``[segment score, 1]`` (float64), so the corpus score is the mean segment score
(×100) and bootstrap/paired tests work unchanged.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import MeanOfSegmentsMetric


def _require(module: str, package: str, metric: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MtEvalError(f"metric {metric} needs the {package} package and a local model: "
                          f"pip install {package}")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


class _MeanMetric(MeanOfSegmentsMetric):
    """Segment-score metrics from an optional package: stats ``[score, 1]``, corpus score 100 × mean."""

    package = ""
    module = ""

    def __init__(self, **options: Any) -> None:
        _require(self.module, self.package, self.name)
        super().__init__(**options)

    def _record_refs(self, refs: Sequence[Sequence[str]], n_hyps: int) -> list[list[str]]:
        out = [[r] if isinstance(r, str) else list(r) for r in refs]
        if len(out) != n_hyps:
            raise MtEvalError(f"metric {self.name}: {n_hyps} hypotheses but {len(out)} reference lists")
        counts = {len(r) for r in out}
        self.num_refs = counts.pop() if len(counts) == 1 else ("var" if counts else None)
        return out


class COMETOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "Unbabel/wmt22-comet-da"  # a local checkpoint path or a model already in the HF cache
    batch_size: int = 16
    gpus: int = 0


class COMET(_MeanMetric):
    """COMET (unbabel-comet); needs sources: ``segment_stats(hyps, refs, sources=...)``."""

    name = "comet"
    needs_sources = True
    package = "unbabel-comet"
    module = "comet"
    options_model = COMETOptions
    run_only_options = frozenset({"batch_size", "gpus"})
    gate_family_default = False
    config: COMETOptions

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                      *, sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        if sources is None:
            raise MtEvalError("metric comet needs the source sentences (sources=...)")
        refs = self._record_refs(references, len(hypotheses))
        try:
            from comet import download_model, load_from_checkpoint

            path = self.config.model
            if not path.endswith(".ckpt"):
                path = download_model(path, local_files_only=True)
            model = load_from_checkpoint(path)
        except Exception as exc:
            raise MtEvalError(f"metric comet: model {self.config.model!r} is not available locally "
                              f"({type(exc).__name__}: {exc})") from None
        best = np.full(len(hypotheses), -np.inf)
        for k in range(max(len(r) for r in refs)):
            rows = [i for i, r in enumerate(refs) if k < len(r)]
            data = [{"src": sources[i], "mt": hypotheses[i], "ref": refs[i][k]} for i in rows]
            scores = model.predict(data, batch_size=self.config.batch_size, gpus=self.config.gpus,
                                   progress_bar=False).scores
            best[rows] = np.maximum(best[rows], np.asarray(scores, dtype=np.float64))
        return np.stack([best, np.ones(len(best))], axis=1)

    def signature(self) -> dict[str, str]:
        return {"nrefs": str(self.num_refs or "?"), "model": self.config.model, "pool": "max-ref",
                "version": _version("unbabel-comet"), "metric": "COMET"}


class BERTScoreOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lang: str = "en"
    model_type: str | None = None  # default model for ``lang``; must be in the HF cache
    rescale_with_baseline: bool = False
    batch_size: int = 64


class BERTScore(_MeanMetric):
    """BERTScore F1 (bert-score); several references: the best F1 (as ``bert_score.score`` does)."""

    name = "bertscore"
    package = "bert-score"
    module = "bert_score"
    options_model = BERTScoreOptions
    run_only_options = frozenset({"batch_size"})
    gate_family_default = False
    config: BERTScoreOptions

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        refs = self._record_refs(references, len(hypotheses))
        try:
            import bert_score

            _, _, f1 = bert_score.score(list(hypotheses), refs, lang=self.config.lang,
                                        model_type=self.config.model_type,
                                        rescale_with_baseline=self.config.rescale_with_baseline,
                                        batch_size=self.config.batch_size, verbose=False)
        except Exception as exc:
            raise MtEvalError(f"metric bertscore: model for lang={self.config.lang!r} "
                              f"({self.config.model_type or 'default'}) is not usable here "
                              f"({type(exc).__name__}: {exc})") from None
        values = np.asarray(f1.numpy() if hasattr(f1, "numpy") else f1, dtype=np.float64)
        return np.stack([values, np.ones(len(values))], axis=1)

    def signature(self) -> dict[str, str]:
        model = self.config.model_type or f"default-{self.config.lang}"
        return {"nrefs": str(self.num_refs or "?"), "model": model,
                "rescale": "yes" if self.config.rescale_with_baseline else "no",
                "version": _version("bert-score"), "metric": "BERTScore"}
