"""A tracker that fails never loses or alters the run folder: one line on stderr, exit 0 (2 only with
``--log-strict``), and the other trackers still log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tracker_helpers import UNREACHABLE, folder_bytes

from mt_eval.trackers import log_run


def _tracker_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "--log" in line]


def _uninstall(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """``import package`` (and of any submodule an earlier test imported) now raises ImportError."""
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")] + [package]:
        monkeypatch.setitem(sys.modules, name, None)


def _what_was_measured(folder: Path) -> dict:
    """results.json less what differs between two runs anyway (name, time, throughput)."""
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return {k: data[k] for k in ("testset", "metrics", "scores", "significance", "flags", "config", "git")}


def test_an_unreachable_mlflow_server_is_one_warning_and_the_run_is_complete(score, inputs: Path) -> None:
    code, _, err = score("plain")
    assert code == 0, err
    code, out, err = score("logged", "--log", f"mlflow={UNREACHABLE}")
    assert code == 0, err
    (line,) = _tracker_lines(err)
    assert line.startswith(f"mt-eval: warning: --log mlflow={UNREACHABLE}: not logged (")
    assert line.endswith("the run folder is complete")
    assert "127.0.0.1" in line  # the reason names what failed
    assert "Traceback" not in err and "Retry" not in err  # MLflow's and urllib3's own logging is silenced
    assert sorted(folder_bytes(inputs / "logged")) == sorted(folder_bytes(inputs / "plain"))
    assert _what_was_measured(inputs / "logged") == _what_was_measured(inputs / "plain")
    assert "run folder:" in out  # the tables were printed as usual


def test_log_strict_makes_a_tracker_failure_exit_2(score, inputs: Path) -> None:
    code, _, err = score("run", "--log", f"mlflow={UNREACHABLE}", "--log-strict")
    assert code == 2
    (line,) = _tracker_lines(err)
    assert line.startswith(f"mt-eval: error: --log mlflow={UNREACHABLE}: not logged (")
    assert (inputs / "run" / "results.json").is_file() and (inputs / "run" / "report.html").is_file()


@pytest.mark.parametrize(("tracker", "extra"), [("mlflow", "mlflow"), ("wandb", "wandb")])
def test_a_tracker_that_is_not_installed_is_one_line(score, inputs: Path, monkeypatch: pytest.MonkeyPatch,
                                                     tracker: str, extra: str) -> None:
    _uninstall(monkeypatch, tracker)
    code, _, err = score("run", "--log", tracker)
    assert code == 0, err
    (line,) = _tracker_lines(err)
    assert line.startswith(f"mt-eval: warning: --log {tracker}: not logged (")
    assert f"pip install 'mt-eval[{extra}]'" in line
    assert (inputs / "run" / "results.json").is_file()
    code, _, err = score("run2", "--log", tracker, "--log-strict")
    assert code == 2 and len(_tracker_lines(err)) == 1


def test_a_failing_tracker_leaves_the_folder_identical_and_the_next_tracker_logs(
        score, inputs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = score("run")
    assert code == 0, err
    before = folder_bytes(inputs / "run")
    _uninstall(monkeypatch, "wandb")
    logged = log_run(inputs / "run", [f"mlflow={UNREACHABLE}", "wandb", f"mlflow={inputs / 'store'}"],
                     gate="pass")
    assert [(x.spec, x.ok) for x in logged] == [(f"mlflow={UNREACHABLE}", False), ("wandb", False),
                                                (f"mlflow={inputs / 'store'}", True)]
    assert all("\n" not in x.message for x in logged)
    assert folder_bytes(inputs / "run") == before  # same bytes, same modification times
    assert not (inputs / "run" / "mlruns").exists()


def test_a_folder_that_is_not_a_run_fails_every_tracker_without_raising(inputs: Path) -> None:
    (inputs / "empty").mkdir()
    logged = log_run(inputs / "empty", ["mlflow", "wandb"])
    assert [x.ok for x in logged] == [False, False]
    assert logged[0].message == logged[1].message
