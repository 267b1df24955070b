"""Every evaluation default, defined once.

The run config (:class:`mt_eval.config.RunConfig`), the command-line options, the keyword defaults
of :func:`mt_eval.evaluate.evaluate` and the statistics functions, and the CI gate's policy
(:class:`mt_eval.gate.policy.GatePolicy`) all take their defaults from here, so a default cannot
drift between them (``tests/test_settings.py`` compares each place with this module).

Two models hold the settings that files carry:

- :class:`EvalSettings` — how a run is scored: metrics, baseline, resamples, confidence, seed,
  paired-test method, α, all pairs, workers, output checks (``RunConfig`` extends it; it is the one
  settings object of :func:`mt_eval.evaluate.evaluate`, of a shard's record and of ``compare``);
- :class:`VerdictSettings` — how the gate judges: α, method, resamples, seed, multiple-testing
  correction, primary metric, family, human agreement, same environment (``GatePolicy`` extends it).

One method vocabulary: ``paired-bs`` and ``paired-ar`` are canonical; ``bootstrap``, ``bs``, ``ar``
(and a few longer spellings) are accepted everywhere as aliases, so old configs, run folders and
baseline files keep reading. This module imports only pydantic: it is cheap to import anywhere.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

#: sacrebleu's default ``SACREBLEU_SEED``, so seeded resamples match its CLI's
SEED = 12345
#: bootstrap resamples of CIs and of the paired bootstrap (sacrebleu's ``--paired-bs-n`` default)
RESAMPLES = 1000
#: trials of approximate randomisation (sacrebleu's ``--paired-ar-n`` default)
AR_TRIALS = 10000
#: below this many segments the default paired test is exact approximate randomisation, not the
#: bootstrap (calibration in mt_eval/stats/significance.py)
SMALL_SAMPLE = 100
#: coverage of the bootstrap confidence intervals
CONFIDENCE = 0.95
#: significance level of the paired tests (family-wise after Holm)
ALPHA = 0.05
#: the metrics of a run when none is named
DEFAULT_METRICS: tuple[str, ...] = ("bleu", "chrf", "chrf++", "ter", "semantic")
#: processes for statistics extraction: a number, or ``auto`` (the usable cores from 10,000 segments on)
WORKERS: Literal["auto"] = "auto"
#: upper bounds that catch a typo before it forks a million processes or loops for days
MAX_WORKERS = 1024
MAX_RESAMPLES = 10_000_000
#: bootstrap resamples of the analysis's bucket CIs (mt_eval/analysis/): fewer than the run's own CIs
#: (each resample is a pass over every segment; the bucket intervals describe, they do not test)
ANALYSIS_RESAMPLES = 200
#: multiple-testing correction of the paired tests and of the gate's family
CORRECTION: Literal["holm", "none"] = "holm"

PAIRED_BS = "paired-bs"
PAIRED_AR = "paired-ar"
METHODS: tuple[str, ...] = (PAIRED_BS, PAIRED_AR)
METHOD_ALIASES: dict[str, str] = {
    "paired-bs": "paired-bs", "bs": "paired-bs", "bootstrap": "paired-bs", "paired_bootstrap": "paired-bs",
    "paired-ar": "paired-ar", "ar": "paired-ar", "approximate_randomization": "paired-ar",
    "approximate-randomization": "paired-ar",
}


def canonical_method(method: str) -> str:
    """``paired-bs`` or ``paired-ar`` for any accepted spelling (``bootstrap``, ``ar``, …)."""
    key = METHOD_ALIASES.get(str(method).strip().lower())
    if key is None:
        # a ValueError (not MtEvalError) so that pydantic reports it as a field error; the stats
        # module turns it into a one-line MtEvalError
        raise ValueError(f"unknown significance method {method!r} (paired-bs or paired-ar)")
    return key


def default_resamples(method: str | None) -> int:
    """sacrebleu's default number of resamples for a method (``None``: the paired bootstrap's)."""
    return RESAMPLES if method is None or canonical_method(method) == "paired-bs" else AR_TRIALS


def _method_or_none(value: Any) -> Any:
    return canonical_method(value) if isinstance(value, str) else value


#: a paired-test method; any accepted spelling is stored as its canonical name
Method = Annotated[Literal["paired-bs", "paired-ar"], BeforeValidator(_method_or_none)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _TestSettings(_Settings):
    """Settings the paired tests of a run and of the gate share."""

    # None: paired-bs, or exact paired-ar on small test sets (mt_eval.stats.significance.choose_method)
    method: Method | None = Field(default=None, description="paired test: paired-bs or paired-ar "
                                  "(aliases bootstrap, ar); default: chosen by test-set size")
    alpha: float = Field(default=ALPHA, gt=0.0, lt=1.0, description="significance level")
    seed: int | None = Field(default=SEED, ge=0, description="random seed of resampling (None: unseeded)")


class EvalSettings(_TestSettings):
    """How a run is scored: the defaults of ``mt-eval run``/``score``, ``evaluate()`` and a run config."""

    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS),
                               description="metric specs, e.g. bleu or 'chrf:word_order=2'")
    baseline: str | None = Field(default=None, description="baseline system (None: every pair is compared)")
    resamples: int = Field(default=RESAMPLES, ge=1, le=MAX_RESAMPLES,
                           description="bootstrap resamples (CIs and paired-bs)")
    confidence: float = Field(default=CONFIDENCE, gt=0.0, lt=1.0, description="coverage of the CIs")
    all_pairs: bool = Field(default=False, description="with a baseline, also test every pair of systems")
    workers: int | Literal["auto"] = Field(default=WORKERS, description="processes for statistics "
                                           "extraction: a number ≥ 1 or auto")
    checks: dict[str, Any] | None = Field(default_factory=dict, description="output-check options "
                                          "(mt_eval.checks; None: no checks)")
    analysis: bool = Field(default=True, description="compare-mt-style analysis (scores by length and "
                           "word-frequency bucket, word F-measure, n-gram differences) in results.json "
                           "and report.html")
    analysis_corpus: str | None = Field(default=None, description="text file whose words give the "
                                        "analysis its word frequencies (None: the test set's references)")
    analysis_resamples: int = Field(default=ANALYSIS_RESAMPLES, ge=1, le=MAX_RESAMPLES,
                                    description="bootstrap resamples of the analysis's bucket CIs")

    @field_validator("metrics")
    @classmethod
    def _some_metric(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one metric is needed")
        return value

    @field_validator("workers", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # TOML ``workers = true`` is not 1 process
            raise ValueError("workers must be a whole number ≥ 1 or auto, not a boolean")
        return value

    @field_validator("workers")
    @classmethod
    def _positive_workers(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= MAX_WORKERS:
            raise ValueError(f"workers must be from 1 to {MAX_WORKERS}, or auto")
        return value


class VerdictSettings(_TestSettings):
    """How the CI gate judges a candidate against a baseline (the statistics part of its policy)."""

    n_resamples: int | None = Field(default=None, ge=1, le=MAX_RESAMPLES,
                                    description="resamples or trials (None: "
                                    f"{RESAMPLES} for paired-bs, {AR_TRIALS} for paired-ar)")
    correction: Literal["holm", "none"] = Field(default=CORRECTION, description="multiple-testing "
                                                "correction over the family")
    primary_metric: str | None = Field(default=None, description="only this metric can fail the gate")
    family: list[str] | None = Field(default=None, description="the metrics that can fail the gate "
                                     "(None: each metric's gate_family_default)")
    min_human_agreement: float | None = Field(default=None, ge=50.0, le=100.0, description="a regression "
                                              "must also be one humans notice this often (%)")
    require_same_environment: bool = Field(default=False, description="outputs changed under the same "
                                           "signature on another machine are 'cannot compare'")

    def resamples(self, method: str | None = None) -> int:
        """The resamples of a test: the explicit ``n_resamples``, else the method's default."""
        if self.n_resamples is not None:
            return self.n_resamples
        return default_resamples(method or self.method)


#: the defaults, as objects (read-only by convention)
EVAL_DEFAULTS = EvalSettings()
VERDICT_DEFAULTS = VerdictSettings()
