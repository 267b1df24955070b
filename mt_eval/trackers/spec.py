"""``--log mlflow[=URI]`` / ``--log wandb[=[ENTITY/]PROJECT]``: which experiment trackers a run is logged to.

This module imports nothing but the standard library: the run config validates its ``log`` key with
:func:`parse_log_spec` without importing a tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the trackers mt-eval can log to, each an optional extra (``pip install 'mt-eval[mlflow]'``)
TRACKERS = ("mlflow", "wandb")


@dataclass(frozen=True)
class TrackerSpec:
    """One ``--log`` value: a tracker and its optional target (MLflow: the tracking URI or a local
    folder; W&B: the project, ``ENTITY/PROJECT``)."""

    name: str
    target: str | None = None

    def __str__(self) -> str:
        return self.name if self.target is None else f"{self.name}={self.target}"


def parse_log_spec(text: str) -> TrackerSpec:
    """``mlflow``, ``mlflow=./mlruns``, ``mlflow=http://host:5000``, ``wandb``, ``wandb=team/project``.

    Raises ``ValueError`` (one line) on an unknown tracker or an empty target: the config model reports it
    as a field error, the command line as a one-line error."""
    name, sep, target = str(text).strip().partition("=")
    name = name.strip().lower()
    if name not in TRACKERS:
        raise ValueError(f"unknown tracker {text!r} in log (known: {', '.join(TRACKERS)}; e.g."
                         " mlflow=./mlruns or wandb)")
    target = target.strip()
    if sep and not target:
        raise ValueError(f"log {text!r}: nothing after '=' (write {name} alone for the default)")
    if name == "wandb" and target and (target.count("/") > 1 or "" in target.split("/")):
        raise ValueError(f"log {text!r}: a W&B target is PROJECT or ENTITY/PROJECT")
    return TrackerSpec(name, target or None)


#: MLflow tracking URIs without ``://`` that are no folder
_MLFLOW_NAMED_STORES = ("databricks", "databricks-uc", "uc")


def is_local_mlflow_target(target: str) -> bool:
    """Whether an MLflow target is a local folder (``./mlruns``, ``/data/mlruns``, ``file:///…``) rather
    than a server or database URI (``http://…``, ``sqlite:///…``, ``databricks``)."""
    from urllib.parse import urlparse

    if target.split(":", 1)[0] in _MLFLOW_NAMED_STORES:
        return False
    scheme = urlparse(target).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and target[1:3] in (":\\", ":/"))  # C:\… on Windows
