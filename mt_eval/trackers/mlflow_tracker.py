"""Log a run to MLflow (``--log mlflow[=URI]``; the ``mt-eval[mlflow]`` extra: ``mlflow-skinny``).

The target is a tracking URI (``http://host:5000``, ``databricks``, ``sqlite:///mlflow.db`` with the full
``mlflow`` package) or a local folder (``./mlruns``, ``file:///…``): MLflow's plain file store, which
``mlflow-skinny`` serves without a database. MLflow keeps that store in maintenance mode behind
``MLFLOW_ALLOW_FILE_STORE=true``; mt-eval sets that variable for its own call only, and only when the
target is a local folder. Without a target: ``$MLFLOW_TRACKING_URI``, else ``./mlruns``. The experiment is
``$MLFLOW_EXPERIMENT_NAME``, else ``mt-eval``.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from mt_eval.trackers.common import TrackerError, TrackerRun, environ, quiet_loggers, tracker_keys
from mt_eval.trackers.spec import is_local_mlflow_target

DEFAULT_FOLDER = "mlruns"
DEFAULT_EXPERIMENT = "mt-eval"
MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_TAG_VALUE = 8000
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000


def tracking_uri(target: str | None) -> tuple[str, bool]:
    """The tracking URI of ``target`` and whether it is a local file store (a plain folder becomes an
    absolute ``file://`` URI)."""
    uri = target or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_FOLDER
    if not is_local_mlflow_target(uri):
        return uri, False
    return (uri if uri.startswith("file:") else Path(uri).expanduser().resolve().as_uri()), True


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit - 1] + "…"


def log_mlflow(run: TrackerRun, target: str | None) -> str:
    """Create one MLflow run holding ``run``; returns where it went. Raises on any failure (the MLflow
    run, if one was created, is marked FAILED)."""
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise TrackerError(f"MLflow is not installed ({exc.name or exc}): pip install 'mt-eval[mlflow]'"
                           ) from None
    uri, local = tracking_uri(target)
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    with environ({"MLFLOW_ALLOW_FILE_STORE": "true"} if local else {}), \
            quiet_loggers(("mlflow", "urllib3", "alembic", "databricks")):
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment)
        tags = {key: _cut(value, MAX_TAG_VALUE) for key, value in run.tags.items()}
        if "git.commit" in tags:
            tags["mlflow.source.git.commit"] = tags["git.commit"]  # shown in MLflow's run page
        created = client.create_run(experiment_id, run_name=run.name, tags=tags)
        run_id = created.info.run_id
        try:
            _log_contents(client, run_id, run, Metric, Param)
        except BaseException:
            with contextlib.suppress(Exception):  # the store failed: the first error is the one to report
                client.set_terminated(run_id, "FAILED")
            raise
        client.set_terminated(run_id, "FINISHED")
    return f"MLflow run {run_id} (experiment {experiment}) in {uri}"


def _log_contents(client: object, run_id: str, run: TrackerRun, metric_cls: type, param_cls: type) -> None:
    now = int(time.time() * 1000)
    param_keys, metric_keys = tracker_keys(run.params, "mlflow"), tracker_keys(run.metrics, "mlflow")
    params = [param_cls(param_keys[k], _cut(v, MAX_PARAM_VALUE)) for k, v in run.params.items()]
    metrics = [metric_cls(metric_keys[k], v, now, 0) for k, v in run.metrics.items()]
    for start in range(0, len(params), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[start:start + PARAMS_PER_BATCH])  # type: ignore[attr-defined]
    for start in range(0, len(metrics), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start:start + METRICS_PER_BATCH])  # type: ignore[attr-defined]
    for path, folder in run.artifacts:
        client.log_artifact(run_id, str(path), artifact_path=folder or None)  # type: ignore[attr-defined]
