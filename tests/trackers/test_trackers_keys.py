"""Key mapping, ``--log`` specs, the run config's ``log`` key, and lazy imports (no tracker is imported)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tracker_helpers import STRONG, STRONG_MLFLOW, STRONG_WANDB

from mt_eval.config import RunConfig, load_config
from mt_eval.errors import MtEvalError
from mt_eval.trackers import TrackerSpec, parse_log_spec, tracker_key, tracker_keys
from mt_eval.trackers.common import MLFLOW_MAX_KEY
from mt_eval.trackers.mlflow_tracker import tracking_uri

# MLflow's rule (mlflow.utils.validation) and W&B's documented one, per '/'-separated part
MLFLOW_KEY = re.compile(r"^[/\w.\- :]*$")
WANDB_PART = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")


def test_chrf_plus_plus_and_system_names_map_to_keys_each_tracker_accepts() -> None:
    raw = ("chrf++", STRONG, "score")
    assert tracker_key(raw, "mlflow") == f"chrfpp/{STRONG_MLFLOW}/score"
    assert tracker_key(raw, "wandb") == f"chrfpp/{STRONG_WANDB}/score"
    odd = ("bleu", "marian:Helsinki-NLP/opus-mt-ar-en", "ci_low")
    assert tracker_key(odd, "mlflow") == "bleu/marian:Helsinki-NLP_opus-mt-ar-en/ci_low"  # '/' in a name
    assert tracker_key(odd, "wandb") == "bleu/marian_Helsinki_NLP_opus_mt_ar_en/ci_low"
    for key in ("..", ".", "", "2024-run", "é+ü", "a vs b"):
        raw = ("chrf++", key, "delta")
        assert MLFLOW_KEY.match(tracker_key(raw, "mlflow"))
        assert ".." not in tracker_key(raw, "mlflow").split("/")
        assert all(WANDB_PART.match(part) for part in tracker_key(raw, "wandb").split("/")), key


def test_keys_that_collide_after_mapping_stay_distinct() -> None:
    raws = [("bleu", "a-b", "score"), ("bleu", "a_b", "score"), ("bleu", "A_B", "score"),
            ("bleu", "c", "score")]
    wandb = tracker_keys(raws, "wandb")
    assert len({k.lower() for k in wandb.values()}) == 4  # W&B compares keys case-insensitively
    assert wandb[raws[3]] == "bleu/c/score"  # a key without a collision is not touched
    mlflow = tracker_keys(raws, "mlflow")
    assert mlflow[raws[0]] == "bleu/a-b/score" and mlflow[raws[2]] == "bleu/A_B/score"
    assert mlflow[raws[1]] == "bleu/a_b/score"
    plus = tracker_keys([("chrf++", "s"), ("chrfpp", "s")], "mlflow")
    assert len(set(plus.values())) == 2 and all(v.startswith("chrfpp/s_") for v in plus.values())


def test_a_long_key_is_cut_for_mlflow_and_stays_unique() -> None:
    a, b = ("bleu", "x" * 300, "score"), ("bleu", "x" * 300 + "y", "score")
    keys = tracker_keys([a, b], "mlflow")
    assert all(len(k) <= MLFLOW_MAX_KEY for k in keys.values()) and keys[a] != keys[b]


def test_log_specs() -> None:
    assert parse_log_spec("mlflow") == TrackerSpec("mlflow")
    assert parse_log_spec(" MLflow=http://h:5000 ") == TrackerSpec("mlflow", "http://h:5000")
    assert str(parse_log_spec("wandb=team/proj")) == "wandb=team/proj"
    for bad in ("neptune", "mlflow=", "wandb=a/b/c", "wandb=/p", ""):
        with pytest.raises(ValueError):
            parse_log_spec(bad)


def test_mlflow_targets() -> None:
    assert tracking_uri("http://h:5000") == ("http://h:5000", False)
    assert tracking_uri("databricks") == ("databricks", False)
    assert tracking_uri("sqlite:///m.db") == ("sqlite:///m.db", False)
    assert tracking_uri("/data/mlruns") == ("file:///data/mlruns", True)
    assert tracking_uri("file:///data/mlruns") == ("file:///data/mlruns", True)


def test_the_config_log_key_is_checked_and_its_folder_is_relative_to_the_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('log = ["mlflow=store", "mlflow=http://h:5000", "wandb=team/proj"]\n', encoding="utf-8")
    assert load_config(config).log == [f"mlflow={tmp_path / 'store'}", "mlflow=http://h:5000",
                                       "wandb=team/proj"]
    for text, problem in (('log = ["neptune"]\n', "unknown tracker 'neptune'"),
                          ('log = "mlflow"\n', "log"),
                          ('logs = ["mlflow"]\n', "logs")):  # unknown keys are rejected as before
        config.write_text(text, encoding="utf-8")
        with pytest.raises(MtEvalError, match=problem):
            load_config(config)
    assert RunConfig().log == []


def test_a_bad_log_on_the_command_line_is_one_line_before_any_work(capsys, tmp_path: Path) -> None:
    from helpers.cli import run_cli

    code, _, err = run_cli(capsys, "score", "--testset", tmp_path / "nope", "--hyp", tmp_path / "x.txt",
                           "-o", tmp_path / "run", "--log", "neptune")
    assert code == 2
    assert err.strip().splitlines() == [
        "mt-eval: error: command line: log: Value error, unknown tracker 'neptune' in log (known: mlflow,"
        " wandb; e.g. mlflow=./mlruns or wandb)"]


def test_import_mt_eval_never_imports_a_tracker() -> None:
    code = ("import sys, mt_eval, mt_eval.cli, mt_eval.config, mt_eval.trackers, mt_eval.trackers.common,"
            " mt_eval.trackers.mlflow_tracker, mt_eval.trackers.wandb_tracker;"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'wandb'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True)
    assert done.stdout.strip() == "[]"
