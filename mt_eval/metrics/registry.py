"""Metric names → classes, and ``name:key=value,...`` spec strings → metrics.

Metrics are plugins, like translators, held by one :class:`mt_eval.plugins.Registry` (:data:`METRICS`):
built-ins, the ``mt_eval.metrics`` entry-point group of installed packages, and :func:`register_metric`
at run time. A metric module (and torch behind it) is imported only when the metric is used, so listing
names never imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import Metric
from mt_eval.plugins import Registry, usable
from mt_eval.plugins import install_hint as _hint

METRICS: Registry[Metric] = Registry(
    "mt_eval.metrics", Metric, noun="metric", options_attr="options_model",
    aliases={"chrf2": "chrf", "chrfpp": "chrf++", "chrf2++": "chrf++", "sacrebleu": "bleu",
             "use": "semantic"},
    missing=lambda key, exc: MtEvalError(f"metric {key!r} cannot be imported ({exc}); install the package"
                                         " that provides it"))
register_metric = METRICS.register
unregister_metric = METRICS.unregister
metric_targets = METRICS.targets
load_metric_class = METRICS.load


def get_metric(name: str, **options: Any) -> Metric:
    """Build a metric by key (bleu, chrf, chrf++, ter, semantic, …, or a plugin's name)."""
    return METRICS.load(name)(**options)


def metric_from_spec(spec: str | dict[str, Any]) -> Metric:
    """Rebuild a metric from a spec string or from ``Metric.spec()``'s dict."""
    if isinstance(spec, dict):
        return get_metric(str(spec["name"]), **dict(spec.get("options", {})))
    name, options = parse_metric_spec(spec)
    return get_metric(name, **options)


class _Usable(Mapping[str, bool]):
    """Metric key -> whether the modules its class probes for are installed; a class is imported only
    when its key is looked up (a run that asks about its default metrics never imports the judges)."""

    def __init__(self) -> None:
        self._keys = list(METRICS.targets())

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, key: str) -> bool:
        if key not in self._keys:
            raise KeyError(key)
        try:
            return usable(METRICS.load(key))
        except (Exception, SystemExit):  # a broken plugin is not usable; `mt-eval list` says why
            return False


def available_metrics() -> Mapping[str, bool]:
    """Every metric key and whether its package is installed here (checked when looked up)."""
    return _Usable()


def install_hint(name: str) -> str:
    """What to ``pip install`` for a metric whose package is missing (declared on its class)."""
    return _hint(METRICS.load(name))


def parse_metric_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"chrf:word_order=2,lowercase=true"`` → ``("chrf", {"word_order": 2, "lowercase": True})``.

    Everything after ``judge=`` is an LLM judge's system spec (commas and ``?&=`` included); values are
    typed by the metric's options model (:func:`mt_eval.plugins.parse_value`), which also checks them.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise MtEvalError("empty metric spec")
    name, _, rest = spec.strip().partition(":")
    key = METRICS.canonical(name)
    pairs: list[tuple[str, str]] = []
    judge = re.search(r"(?:^|,)\s*judge\s*=", rest)
    if judge is not None:
        pairs.append(("judge", rest[judge.end():].strip()))
        rest = rest[:judge.start()]
    for item in filter(None, (part.strip() for part in rest.split(","))):
        opt, sep, value = item.partition("=")
        if not sep or not opt.strip():
            raise MtEvalError(f"metric spec {spec!r}: option {item!r} is not key=value")
        pairs.append((opt.strip().replace("-", "_"), value.strip()))
    return key, METRICS.read_options(METRICS.load(key), pairs)
