"""W&B round trips, offline (``WANDB_MODE=offline``; ``WANDB_DIR``, ``WANDB_CACHE_DIR``,
``WANDB_DATA_DIR``, ``WANDB_CONFIG_DIR`` in ``tmp_path``; no network, no API key).

What is read back: the offline run folder ``$WANDB_DIR/wandb/offline-run-*-<id>/`` and the records of
its datastore ``run-<id>.wandb`` (decoded by ``wandb_records.py`` with wandb's own protobuf classes, since
an offline run writes neither ``files/config.yaml`` nor ``files/wandb-summary.json``): the run record
(display name, project, tags, config), the history step and the summary (every metric, compared with
``results.json``), and the artifact record (name, type and the manifest's file paths).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tracker_helpers import STRONG, STRONG_WANDB
from wandb_records import offline_run

from mt_eval.reports.run_folder import load_run
from mt_eval.trackers import log_run

pytest.importorskip("wandb")


def _offline_run(wandb_dir: Path, run_id: str) -> dict:
    (folder,) = (wandb_dir / "wandb").glob(f"offline-run-*-{run_id}")
    return offline_run(folder)


def _run_id(message: str) -> str:
    return message.split("W&B run ", 1)[1].split()[0]


def test_score_logs_config_metrics_tags_and_artifact_offline(score, inputs: Path) -> None:
    code, _, err = score("run", "--log", "wandb=team/mt-eval-tests")
    assert code == 0, err
    line = next(line for line in err.splitlines() if "logged to W&B run" in line)
    assert "offline in" in line
    results = load_run(inputs / "run")
    got = _offline_run(inputs / "wandb-dir", _run_id(line))
    assert got["name"] == "run" and got["project"] == "mt-eval-tests" and got["exit_code"] == 0
    assert got["tags"] == ["testset:tiny"]  # no gate, no git repository here
    config = got["config"]
    assert config["testset"]["hash"] == results.testset.hash and config["testset"]["name"] == "tiny"
    assert config["metric"]["chrf++"]["signature"] == results.metrics["chrf++"].signature_string
    assert config["system"][STRONG]["spec"] == results.systems[STRONG].spec  # config keys stay raw
    assert config["settings"]["baseline"] == "weak"
    assert config["tags"]["mt_eval.testset_hash"] == results.testset.hash
    for view in ("history", "summary"):
        logged = got[view]
        for system, key in ((STRONG, STRONG_WANDB), ("weak", "weak")):
            entry = results.scores[system]["chrf++"]
            assert logged[f"chrfpp/{key}/score"] == pytest.approx(entry.score)
            assert logged[f"chrfpp/{key}/ci_low"] == pytest.approx(entry.ci_low)
            assert logged[f"chrfpp/{key}/ci_high"] == pytest.approx(entry.ci_high)
            assert logged[f"bleu/{key}/score"] == pytest.approx(results.scores[system]["bleu"].score)
        assert results.significance is not None
        test = results.significance.results[STRONG]["bleu"]
        assert logged[f"bleu/weak_vs_{STRONG_WANDB}/delta"] == pytest.approx(test.delta)
        assert logged[f"bleu/weak_vs_{STRONG_WANDB}/p"] == pytest.approx(test.p_value)
        mine = {k for k in logged if not k.startswith("_")}
        assert len(mine) == 2 * 2 * 3 + 2 * 3
    (artifact,) = got["artifacts"]
    assert artifact["name"] == "mt-eval-run" and artifact["type"] == "mt-eval-run"
    assert artifact["files"] == ["report.html", "results.json", "tables/scores.csv", "tables/scores.md",
                                 "tables/scores.tex"]


def test_a_gate_verdict_becomes_a_tag(score, inputs: Path) -> None:
    code, _, err = score("run")
    assert code == 0, err
    (logged,) = log_run(inputs / "run", ["wandb"], gate="regression")
    assert logged.ok, logged.message
    got = _offline_run(inputs / "wandb-dir", _run_id(logged.message))
    assert got["project"] == "mt-eval"
    assert got["tags"] == ["gate:regression", "testset:tiny"]
    assert got["config"]["tags"]["mt_eval.gate"] == "regression"
