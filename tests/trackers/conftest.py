"""Fixtures of the tracker tests: an offline environment and a small scored run on a tiny test set."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES
from tracker_helpers import STRONG, WEAK

from mt_eval.data.testset import TestSet

CLEARED = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_ALLOW_FILE_STORE", "WANDB_API_KEY",
           "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_BASE_URL", "WANDB_RUN_ID")


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No network and no telemetry: MLflow and W&B told so, W&B offline with every folder it writes
    (runs, cache, artifact staging, settings) under ``tmp_path/wandb-*``; a run that tries a server
    fails at once (no retries). W&B reads its environment once per process (``wandb.setup``): it is
    torn down after each test so that the next one's folders apply."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_CODE", "true")
    for name in ("DIR", "CACHE_DIR", "DATA_DIR", "CONFIG_DIR"):
        folder = tmp_path / f"wandb-{name.lower()}"
        folder.mkdir()
        monkeypatch.setenv(f"WANDB_{name}", str(folder))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)  # not a git repository (one test makes its own)
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    yield tmp_path
    wandb = sys.modules.get("wandb")
    if wandb is not None:  # None: a test made it look uninstalled
        wandb.teardown()


@pytest.fixture
def inputs(offline: Path) -> Path:
    """A 6-segment test set and two systems' outputs (the strong one's name needs key mapping)."""
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(offline / "ts")
    (offline / "good.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    (offline / "weak.txt").write_text("\n".join(WEAK) + "\n", encoding="utf-8")
    return offline


Score = Callable[..., tuple[int, str, str]]


@pytest.fixture
def score(inputs: Path, capsys: pytest.CaptureFixture[str]) -> Score:
    """``mt-eval score`` of both systems with bleu and chrf++ into ``inputs/<out>``, plus ``extra``."""

    def run(out: str, *extra: object) -> tuple[int, str, str]:
        return run_cli(capsys, "score", "--testset", inputs / "ts",
                       "--hyp", f"{STRONG}={inputs / 'good.txt'}",
                       "--hyp", f"weak={inputs / 'weak.txt'}", "-m", "bleu", "-m", "chrf++", "--resamples",
                       "100", "--baseline", "weak", "-o", inputs / out, *extra)

    return run
