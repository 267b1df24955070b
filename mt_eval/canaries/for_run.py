"""Canaries as part of a run (``canaries = true`` in a run config, ``mt-eval run --canaries``).

The good translation is the outputs of the run's baseline system, else of the first system that ran;
a copy-like floor (the ``copy`` backend, or outputs that are the untranslated source on at least half
the segments) is never the good translation, since damaging an untranslated copy says nothing about
a metric. The run's own metric specs are scored, so ``canaries.json`` carries the signatures the run's
``results.json`` has and the gate's ``require_canaries`` can match them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mt_eval.canaries.report import build_document
from mt_eval.canaries.runner import CanarySettings, Progress, _quiet, plan_canaries, run_canaries
from mt_eval.errors import MtEvalError

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet
    from mt_eval.metrics.base import Metric
    from mt_eval.translators.base import SystemRun


def is_floor(run: SystemRun, testset: TestSet) -> bool:
    """A ``copy``-like floor: the ``copy`` backend, or the untranslated source on ≥ half the segments."""
    if run.signature.get("backend") == "copy" or run.spec.split(":", 1)[0] == "copy":
        return True
    same = sum(out.strip() == src.strip() for out, src in zip(run.outputs, testset.sources, strict=False))
    return 2 * same >= max(len(run.outputs), 1)


def choose_good_system(testset: TestSet, runs: Sequence[SystemRun],
                       baseline: str | None) -> tuple[SystemRun, str]:
    """The system whose outputs are the good translation, and why it was chosen (one phrase)."""
    ok = [r for r in runs if r.status == "ok"]
    why_not = ""
    if baseline is not None:
        chosen = next((r for r in ok if r.name == baseline), None)
        if chosen is not None and not is_floor(chosen, testset):
            return chosen, f"the baseline system {baseline!r}"
        if chosen is not None:
            why_not = f"; the baseline {baseline!r} is a copy-like floor"
    for run in ok:
        if not is_floor(run, testset):
            return run, f"{run.name!r}, the first system that ran{why_not}"
    raise MtEvalError("canaries: every system that ran is a copy-like floor (its outputs are the untranslated"
                      " source); run them with `mt-eval canary --good SYSTEM`")


def canaries_for_run(testset: TestSet, runs: Sequence[SystemRun], baseline: str | None,
                     metrics: Mapping[str, Metric], settings: CanarySettings,
                     progress: Progress = _quiet) -> dict[str, Any]:
    """The run's ``canaries.json`` document: the run's ``metrics`` (keyed as in ``results.json``) on
    perturbations of the chosen good system's outputs; ``document["good"]["chosen"]`` says which and
    why."""
    good, why = choose_good_system(testset, runs, baseline)
    plan = plan_canaries(testset, good.outputs, settings)
    per_metric = plan.texts_per_metric()
    progress(f"canaries on the outputs of {why}: {len(plan.indices)} of {len(testset)} segments,"
             f" {len(plan.perturbations)} perturbations, {per_metric} texts per metric × {len(metrics)}"
             " metrics")
    entries = run_canaries(plan, dict(metrics), settings, progress=progress)
    return build_document(plan, entries, settings, {"name": good.name, "spec": good.spec,
                                                     "signature": dict(good.signature), "chosen": why})
