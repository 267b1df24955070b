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
    max_flag_increase = 0   # catastrophic output flags (empty, copy_of_source, wrong_language,
                            # truncated, number_mismatch) fail the gate when more segments carry them
                            # than in the baseline by more than this; or a table per flag:
                            # max_flag_increase = { wrong_language = 2 } (the others stay 0)
    gate_flags = ["repetition"]  # noisy flags (repetition, length_ratio) whose exact paired test can
                                 # fail the gate (default: none; they are reported)
    require_canaries = false     # true: a metric of the family decides the build only when the
                                 # candidate run's canaries.json (same test set, same metric signature)
                                 # shows it catching the critical canaries; else exit 2

    [gate.default]          # every metric not listed below
    tolerance = 0.0         # absolute drop allowed, in score points

    [gate.metric.bleu]
    tolerance = 0.5
    relative_tolerance = 0.01   # 1% of the baseline score; the larger of the two applies
    min_score = 20              # a floor: below it fails whatever the baseline says
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mt_eval.errors import MtEvalError, first_validation_problem
from mt_eval.fsio import read_input_text
from mt_eval.gate.flags import CATASTROPHIC, NOISY
from mt_eval.settings import VerdictSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

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
    agreement, same environment: :class:`mt_eval.settings.VerdictSettings`) plus what is gated, the
    per-metric tolerances and floors, and the output-check flags' allowances (:mod:`mt_eval.gate.flags`)."""

    systems: list[str] | None = None
    metrics: list[str] | None = None
    ignore_signature_fields: list[str] = Field(default_factory=list)
    default: MetricPolicy = Field(default_factory=MetricPolicy)
    metric: dict[str, MetricPolicy] = Field(default_factory=dict)
    # output-check flags (mt_eval.gate.flags): the increase in flagged segments a catastrophic flag may
    # show (one number for all, or per flag; default 0), and the noisy flags that can fail the gate
    max_flag_increase: int | dict[str, int] = Field(default=0)
    gate_flags: list[str] = Field(default_factory=list)
    # metric canaries (mt_eval.canaries): a family metric whose canaries are missing or fail a critical
    # perturbation cannot decide the build (exit 2)
    require_canaries: bool = False

    @field_validator("max_flag_increase")
    @classmethod
    def _catastrophic_counts(cls, value: int | dict[str, int]) -> int | dict[str, int]:
        items = value.items() if isinstance(value, dict) else [("", value)]
        for flag, count in items:
            if flag and flag not in CATASTROPHIC:
                hint = " (a noisy flag: name it in gate_flags)" if flag in NOISY else ""
                raise ValueError(f"{flag!r} is not a catastrophic flag{hint}; known: "
                                 f"{', '.join(CATASTROPHIC)}")
            if count < 0:
                raise ValueError("must be a count >= 0")
        return value

    @field_validator("gate_flags")
    @classmethod
    def _noisy_names(cls, value: list[str]) -> list[str]:
        for flag in value:
            if flag in CATASTROPHIC:
                raise ValueError(f"{flag!r} is catastrophic and always gates (set max_flag_increase instead)")
            if flag not in NOISY:
                raise ValueError(f"unknown flag {flag!r}; noisy flags: {', '.join(NOISY)}")
        return value

    def allowed_flag_increase(self, flag: str) -> int:
        """How many more segments than the baseline a catastrophic flag may mark before the gate fails."""
        if isinstance(self.max_flag_increase, dict):
            return self.max_flag_increase.get(flag, 0)
        return self.max_flag_increase

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
    try:  # strict: a file's alpha = "0.05" is an error, not 0.05
        return GatePolicy.model_validate(table, strict=True)
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


@dataclass(frozen=True)
class GateOptions:
    """What the command line (or a Python caller) sets on top of a policy file; None/empty: unchanged.

    ``tolerances``: ``bleu=0.5`` (absolute points), ``bleu=1%`` (relative to the baseline score) or
    ``0.5`` (every metric); ``min_scores``: ``bleu=20``; ``max_scores``: ``ter=60``. ``system_map``:
    ``BASELINE_SYSTEM=CANDIDATE_SYSTEM`` items, for systems named differently in the two runs.
    """

    alpha: float | None = None
    method: str | None = None
    n_resamples: int | None = None
    seed: int | None = None
    tolerances: Sequence[str] = ()
    min_scores: Sequence[str] = ()
    max_scores: Sequence[str] = ()
    systems: Sequence[str] = ()
    metrics: Sequence[str] = ()
    system_map: Sequence[str] = ()
    primary_metric: str | None = None
    min_human_agreement: float | None = None
    require_same_environment: bool = False
    require_canaries: bool = False

    def scalars(self) -> dict[str, Any]:
        """The policy fields these options set outright."""
        out: dict[str, Any] = {k: getattr(self, k) for k in ("alpha", "method", "n_resamples", "seed",
                                                            "min_human_agreement")
                               if getattr(self, k) is not None}
        if self.primary_metric is not None:
            out["primary_metric"] = self.primary_metric.lower()
        if self.require_same_environment:
            out["require_same_environment"] = True
        if self.require_canaries:
            out["require_canaries"] = True
        if self.systems:
            out["systems"] = list(self.systems)
        if self.metrics:
            out["metrics"] = [m.lower() for m in self.metrics]
        return out


def apply_overrides(policy: GatePolicy, options: GateOptions) -> GatePolicy:
    """``options`` on top of ``policy`` (validated again: a bad value is one line naming it)."""
    data = policy.model_dump(exclude_unset=False)
    per_metric: dict[str, dict[str, Any]] = {k: v.model_dump(include=v.model_fields_set)
                                             for k, v in policy.metric.items()}
    default = policy.default.model_dump(include=policy.default.model_fields_set)
    for item in options.tolerances:
        key, value = _split(item, "--tolerance")
        field = "relative_tolerance" if value.endswith("%") else "tolerance"
        number = _number(value.rstrip("%"), "--tolerance", item)
        if field == "relative_tolerance":
            number /= 100.0
        (per_metric.setdefault(key, {}) if key else default)[field] = number
    for flag, items, field in (("--min-score", options.min_scores, "min_score"),
                               ("--max-score", options.max_scores, "max_score")):
        for item in items:
            key, value = _split(item, flag)
            (per_metric.setdefault(key, {}) if key else default)[field] = _number(value, flag, item)
    data.update(default=default, metric=per_metric, **options.scalars())
    try:
        return GatePolicy.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, "command line") from None
