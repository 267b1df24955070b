"""Experiment trackers: log a finished run folder to MLflow or Weights & Biases (optional extras).

``mt-eval run``/``score`` with ``--log mlflow[=URI]`` / ``--log wandb[=[ENTITY/]PROJECT]`` (or a run
config's ``log = [...]``) call :func:`log_run` after the run folder is written (and gated): one tracker
run per mt-eval run (what it holds: :mod:`mt_eval.trackers.common`).

Failure policy: a tracker only reads the run folder, so a tracker that fails (not installed,
unreachable, refused) never loses or alters it. :func:`log_run` never raises for a tracker's failure;
it returns one :class:`Logged` per tracker, and the command prints one line on stderr for each failure
(exit 0, or 2 with ``--log-strict``). Trackers are imported only here, when asked for: ``import
mt_eval`` never imports mlflow or wandb.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mt_eval.trackers.common import Logged, TrackerRun, build_run, one_line, tracker_key, tracker_keys
from mt_eval.trackers.spec import TRACKERS, TrackerSpec, parse_log_spec

__all__ = ["TRACKERS", "Logged", "TrackerRun", "TrackerSpec", "build_run", "log_run", "parse_log_spec",
           "tracker_key", "tracker_keys"]


def log_run(folder: str | Path, specs: Sequence[str | TrackerSpec], *,
            gate: str | None = None) -> list[Logged]:
    """Log the run folder to each tracker of ``specs`` (``"mlflow=./mlruns"``, ``"wandb"``, …).

    ``gate``: this command's gate verdict (``pass``/``regression``/``cannot-compare``), a tag; ``None``
    when no gate ran. Returns one :class:`Logged` per spec, in order; a failing tracker is ``ok=False``
    with a one-line reason and never stops the others."""
    parsed = [s if isinstance(s, TrackerSpec) else parse_log_spec(s) for s in specs]
    if not parsed:
        return []
    try:
        run = build_run(folder, gate)
    except Exception as exc:  # an unreadable folder: every tracker fails with the same reason
        return [Logged(str(s), False, one_line(exc)) for s in parsed]
    return [_log_one(spec, run) for spec in parsed]


def _log_one(spec: TrackerSpec, run: TrackerRun) -> Logged:
    from mt_eval.trackers import mlflow_tracker, wandb_tracker

    log = mlflow_tracker.log_mlflow if spec.name == "mlflow" else wandb_tracker.log_wandb
    try:
        return Logged(str(spec), True, log(run, spec.target))
    except Exception as exc:  # any tracker failure is reported, never raised (the policy above)
        return Logged(str(spec), False, one_line(exc))
