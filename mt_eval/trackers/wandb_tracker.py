"""Log a run to Weights & Biases (``--log wandb[=[ENTITY/]PROJECT]``; the ``mt-eval[wandb]`` extra).

W&B reads its own environment: ``WANDB_API_KEY`` (or ``wandb login``), ``WANDB_MODE=offline`` (the run
is written under ``$WANDB_DIR/wandb/offline-run-*`` for a later ``wandb sync``), ``WANDB_ENTITY``,
``WANDB_PROJECT`` (default project here: ``mt-eval``). mt-eval turns off what would change the
command's own behaviour or leak the machine: console capture, system-metrics sampling, git and code
saving (the commit is logged from ``results.json`` instead).
"""

from __future__ import annotations

import os
import re

from mt_eval.trackers.common import TrackerError, TrackerRun, quiet_loggers, tracker_keys

DEFAULT_PROJECT = "mt-eval"
ARTIFACT_TYPE = "mt-eval-run"
MAX_TAG = 64  # W&B refuses longer tags


def _project(target: str | None) -> tuple[str | None, str]:
    if target and "/" in target:
        entity, project = target.split("/", 1)
        return entity, project
    return None, target or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT


def run_tags(run: TrackerRun) -> list[str]:
    """W&B's short tags: ``gate:<verdict>``, ``git:<12 hex>`` (``+dirty``), ``testset:<name>``."""
    tags = []
    if "mt_eval.gate" in run.tags:
        tags.append(f"gate:{run.tags['mt_eval.gate']}")
    if "git.commit" in run.tags:
        tags.append(f"git:{run.tags['git.commit'][:12]}" + ("+dirty" if run.tags.get("git.dirty") == "true"
                                                             else ""))
    tags.append(f"testset:{run.tags['mt_eval.testset']}")
    return [tag[:MAX_TAG] for tag in tags]


def artifact_name(run_name: str) -> str:
    """A W&B artifact name (letters, digits, ``-``, ``_``, ``.``) for the run folder's files."""
    return "mt-eval-" + (re.sub(r"[^A-Za-z0-9_.-]", "_", run_name)[:100] or "run")


def log_wandb(run: TrackerRun, target: str | None) -> str:
    """Create one W&B run holding ``run``; returns where it went. Raises on any failure (a W&B run that
    was started is finished with exit code 1)."""
    try:
        import wandb
    except ImportError as exc:
        raise TrackerError(f"W&B is not installed ({exc.name or exc}): pip install 'mt-eval[wandb]'"
                           ) from None
    entity, project = _project(target)
    settings = wandb.Settings(silent=True, console="off", disable_git=True, save_code=False,
                              disable_job_creation=True, x_disable_stats=True, x_disable_meta=True)
    config = {**run.config_tree(), "tags": dict(run.tags)}
    with quiet_loggers(("wandb",)):
        try:
            wb = wandb.init(project=project, entity=entity, name=run.name, config=config, tags=run_tags(run),
                            job_type="mt-eval", settings=settings, reinit="create_new")
        except KeyboardInterrupt:  # W&B's login prompt on a terminal, answered with Ctrl-C or end of input
            raise TrackerError("W&B asked for a login and got none: set WANDB_API_KEY, run `wandb login`, or"
                               " set WANDB_MODE=offline") from None
        try:
            keys = tracker_keys(run.metrics, "wandb")
            wb.log({keys[key]: value for key, value in run.metrics.items()})
            artifact = wandb.Artifact(artifact_name(run.name), type=ARTIFACT_TYPE,
                                      metadata={"run": run.name, **run.tags})
            for path, folder in run.artifacts:
                artifact.add_file(str(path), name=f"{folder}/{path.name}" if folder else path.name)
            wb.log_artifact(artifact)
        except BaseException:
            wb.finish(exit_code=1)
            raise
        offline = wb.settings.mode in ("offline", "dryrun")
        where = f"W&B run {wb.id} (project {project}" + (f", offline in {wb.settings.sync_dir})" if offline
                                                          else ")")
        wb.finish()
    return where
