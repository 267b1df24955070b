"""What counts as a regression: tolerances, α, score floors and the paired test, per metric.

A policy comes from a TOML file (``gate.toml``, or ``[tool.mt-eval.gate]`` in ``pyproject.toml``)
and command-line flags, flags winning. Keeping it in a file lets a team review changes to its
quality bar like any other code change.

.. code-block:: toml

    [gate]
    alpha = 0.05            # family-wise: the whole verdict fails on noise at most this often
    method = "paired-bs"    # or "paired-ar"; default: paired-bs, or exact paired-ar below 100 segments
    n_resamples = 1000      # default: 1000 (paired-bs) / 10000 (paired-ar)
    seed = 12345
    correction = "holm"     # Holm–Bonferroni over every system × metric in the family; or "none"
    primary_metric = "chrf" # optional: only this metric can fail the gate, the others are reported
    family = ["bleu", "chrf"]   # optional: the metrics that can fail (default: the lexical metrics
                                # and semantic; neural metrics and judges only when named here)
    min_human_agreement = 80    # optional, %: a drop must also be one humans would notice
    require_same_environment = false  # true: outputs that changed under the same signature on a
                                      # different machine fingerprint are "cannot compare" (exit 2)

    [gate.default]          # every metric not listed below
    tolerance = 0.0         # absolute drop allowed, in score points

    [gate.metric.bleu]
    tolerance = 0.5
    relative_tolerance = 0.01   # 1% of the baseline score; the larger of the two applies
    min_score = 20              # a floor: below it fails whatever the baseline says
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mt_eval.errors import MtEvalError, first_validation_problem
from mt_eval.fsio import read_input_text
from mt_eval.settings import ALPHA, SEED, VerdictSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_ALPHA = ALPHA  # kept for importers; the defaults live in mt_eval.settings
DEFAULT_SEED = SEED


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricPolicy(_Model):
    """Tolerances and floors of one metric (score points, on the metric's own scale)."""

    tolerance: float = Field(default=0.0, ge=0.0)
    relative_tolerance: float = Field(default=0.0, ge=0.0)
    min_score: float | None = None
    max_score: float | None = None  # a ceiling, for lower-is-better metrics such as TER

    def allowed_drop(self, baseline_score: float) -> float:
        """The drop that is tolerated: the larger of the absolute and the relative tolerance."""
        return max(self.tolerance, self.relative_tolerance * abs(baseline_score))


class GatePolicy(VerdictSettings):
    """The verdict settings (α, method, resamples, seed, correction, primary metric, family, human
    agreement, same environment: :class:`mt_eval.settings.VerdictSettings`) plus what is gated and
    the per-metric tolerances and floors."""

    systems: list[str] | None = None
    metrics: list[str] | None = None
    ignore_signature_fields: list[str] = Field(default_factory=list)
    default: MetricPolicy = Field(default_factory=MetricPolicy)
    metric: dict[str, MetricPolicy] = Field(default_factory=dict)

    def for_metric(self, key: str) -> MetricPolicy:
        """The default policy with this metric's explicitly set fields on top."""
        own = self.metric.get(key)
        if own is None:
            return self.default
        merged = self.default.model_dump()
        merged.update(own.model_dump(include=own.model_fields_set))
        return MetricPolicy(**merged)

    def in_family(self, key: str, metric_name: str, default: bool) -> bool:
        """Whether a metric's comparisons can fail the gate (and so enter the Holm family)."""
        if self.primary_metric is not None:
            return self.primary_metric in (key, metric_name)
        if self.family is not None:
            return key in self.family or metric_name in self.family
        return default


def _one_line(exc: ValidationError, where: str) -> MtEvalError:
    loc, msg = first_validation_problem(exc)
    return MtEvalError(f"{where}: invalid gate policy field {loc}: {msg}")


def load_policy(path: str | Path) -> GatePolicy:
    """Read a policy from TOML: a ``[gate]`` table, ``[tool.mt-eval.gate]``, or top-level keys."""
    file = Path(path)
    text = read_input_text(file, "policy file")  # a FIFO or folder refused; bad UTF-8 names line and byte
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MtEvalError(f"{file}: malformed TOML ({exc})") from None
    if "tool" in data:
        tool = data["tool"]
        mte = tool.get("mt-eval") if isinstance(tool, dict) else None
        table = mte.get("gate") if isinstance(mte, dict) else None
        if table is None:
            raise MtEvalError(f"{file}: no [tool.mt-eval.gate] table")
    else:
        table = data.get("gate", data)
    try:
        return GatePolicy.model_validate(table)
    except ValidationError as exc:
        raise _one_line(exc, str(file)) from None


def _split(item: str, flag: str) -> tuple[str | None, str]:
    key, sep, value = item.partition("=")
    if not sep:
        return None, item.strip()
    if not key.strip():
        raise MtEvalError(f"{flag} {item!r}: expected METRIC=VALUE")
    return key.strip().lower(), value.strip()


def _number(text: str, flag: str, item: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MtEvalError(f"{flag} {item!r}: {text!r} is not a number") from None


def apply_overrides(policy: GatePolicy, *, alpha: float | None = None, method: str | None = None,
                    n_resamples: int | None = None, seed: int | None = None,
                    tolerances: Iterable[str] = (), min_scores: Iterable[str] = (),
                    max_scores: Iterable[str] = (), systems: Iterable[str] = (),
                    metrics: Iterable[str] = (), primary_metric: str | None = None,
                    min_human_agreement: float | None = None,
                    require_same_environment: bool | None = None) -> GatePolicy:
    """Command-line values on top of a policy.

    ``--tolerance bleu=0.5`` (absolute points), ``--tolerance bleu=1%`` (relative to the baseline
    score), ``--tolerance 0.5`` (every metric); ``--min-score bleu=20``; ``--max-score ter=60``.
    """
    data = policy.model_dump(exclude_unset=False)
    per_metric: dict[str, dict[str, Any]] = {k: v.model_dump(include=v.model_fields_set)
                                             for k, v in policy.metric.items()}
    default = policy.default.model_dump(include=policy.default.model_fields_set)
    for item in tolerances:
        key, value = _split(item, "--tolerance")
        field = "relative_tolerance" if value.endswith("%") else "tolerance"
        number = _number(value.rstrip("%"), "--tolerance", item)
        if field == "relative_tolerance":
            number /= 100.0
        (per_metric.setdefault(key, {}) if key else default)[field] = number
    for flag, items, field in (("--min-score", min_scores, "min_score"),
                               ("--max-score", max_scores, "max_score")):
        for item in items:
            key, value = _split(item, flag)
            (per_metric.setdefault(key, {}) if key else default)[field] = _number(value, flag, item)
    data["default"] = default
    data["metric"] = per_metric
    if alpha is not None:
        data["alpha"] = alpha
    if method is not None:
        data["method"] = method
    if n_resamples is not None:
        data["n_resamples"] = n_resamples
    if seed is not None:
        data["seed"] = seed
    if primary_metric is not None:
        data["primary_metric"] = primary_metric.lower()
    if min_human_agreement is not None:
        data["min_human_agreement"] = min_human_agreement
    if require_same_environment:
        data["require_same_environment"] = True
    if systems := list(systems):
        data["systems"] = systems
    if metrics := list(metrics):
        data["metrics"] = [m.lower() for m in metrics]
    try:
        return GatePolicy.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, "command line") from None
