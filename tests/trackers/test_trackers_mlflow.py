"""MLflow round trips, offline: a local file store in ``tmp_path``, read back through MLflow's own client.

What is read back: the experiment ``mt-eval`` and its one run (name, status FINISHED), every param
(test set, each system's spec and signature, each metric's signature string, the settings), every metric
(score and CI bounds per system × metric, Δ and p of the paired tests) compared with ``results.json``,
the tags (run, test set, gate verdict, git commit) and the artifact listing, with ``results.json``
downloaded and compared byte for byte.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers.cli import run_cli
from tracker_helpers import STRONG, STRONG_MLFLOW

from mt_eval.reports.run_folder import load_run

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


def _client(store: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # reading the file store needs it too
    return MlflowClient(tracking_uri=store.resolve().as_uri())


def _only_run(client: MlflowClient, experiment: str = "mt-eval"):
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    runs = client.search_runs([found.experiment_id])
    assert len(runs) == 1, runs
    return runs[0]


def test_score_logs_params_metrics_tags_and_artifacts(score, inputs: Path, capsys,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = score("run", "--log", f"mlflow={inputs / 'mlruns'}")
    assert code == 0, err
    assert "logged to MLflow run" in err
    results = load_run(inputs / "run")
    client = _client(inputs / "mlruns", monkeypatch)
    run = _only_run(client)
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    params = run.data.params
    assert params["testset/name"] == "tiny" and params["testset/hash"] == results.testset.hash
    assert params["metric/chrfpp/signature"] == results.metrics["chrf++"].signature_string
    assert params["metric/bleu/signature"] == results.metrics["bleu"].signature_string
    assert params[f"system/{STRONG_MLFLOW}/spec"] == results.systems[STRONG].spec
    assert results.systems[STRONG].signature["sha256"] in params[f"system/{STRONG_MLFLOW}/signature"]
    assert params["settings/resamples"] == "100" and params["settings/baseline"] == "weak"
    metrics = run.data.metrics
    for system, key in ((STRONG, STRONG_MLFLOW), ("weak", "weak")):
        for metric, mkey in (("bleu", "bleu"), ("chrf++", "chrfpp")):
            entry = results.scores[system][metric]
            assert metrics[f"{mkey}/{key}/score"] == pytest.approx(entry.score)
            assert metrics[f"{mkey}/{key}/ci_low"] == pytest.approx(entry.ci_low)
            assert metrics[f"{mkey}/{key}/ci_high"] == pytest.approx(entry.ci_high)
    assert results.significance is not None
    test = results.significance.results[STRONG]["chrf++"]
    assert metrics[f"chrfpp/weak vs {STRONG_MLFLOW}/delta"] == pytest.approx(test.delta)
    assert metrics[f"chrfpp/weak vs {STRONG_MLFLOW}/p"] == pytest.approx(test.p_value)
    assert metrics[f"chrfpp/weak vs {STRONG_MLFLOW}/p_adjusted"] == pytest.approx(test.p_adjusted)
    assert len(metrics) == 2 * 2 * 3 + 2 * 3  # systems × metrics × (score, CI bounds) + one pair's tests
    tags = run.data.tags
    assert tags["mt_eval.run"] == "run" and tags["mt_eval.testset_hash"] == results.testset.hash
    assert "mt_eval.gate" not in tags  # score does not gate
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert top == {"results.json", "report.html", "tables"}
    assert {a.path for a in client.list_artifacts(run.info.run_id, "tables")} == {
        "tables/scores.csv", "tables/scores.md", "tables/scores.tex"}
    got = Path(client.download_artifacts(run.info.run_id, "results.json", str(inputs / "down")))
    assert got.read_bytes() == (inputs / "run" / "results.json").read_bytes()


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()


def test_run_with_a_gate_in_a_git_repository_tags_the_verdict_and_the_commit(
        inputs: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run --gate`` sets the gate's verdict as a tag (and logs ``gate/``); the commit of the current
    directory's repository is in results.json and in the tags (MLflow's own ``mlflow.source.git.commit``
    too); the ``log`` setting itself is not recorded in results.json."""
    repo = inputs / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "config.toml").write_text(
        f'testset = "{inputs / "ts"}"\nmetrics = ["bleu"]\nresamples = 50\nlog = ["mlflow=mlruns"]\n'
        f'systems = ["file:{inputs / "good.txt"}", "file:{inputs / "weak.txt"}"]\n', encoding="utf-8")
    _git(repo, "add", "config.toml")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "config")
    head = _git(repo, "rev-parse", "HEAD")
    monkeypatch.chdir(repo)
    code, _, err = run_cli(capsys, "run", "config.toml", "-o", inputs / "first", "--log", "mlflow=unused")
    assert code == 0, err
    code, _, err = run_cli(capsys, "baseline", "save", inputs / "first", "-o", inputs / "b.json")
    assert code == 0, err
    code, _, err = run_cli(capsys, "run", "config.toml", "-o", inputs / "gated", "--gate", inputs / "b.json")
    assert code == 0, err
    results = load_run(inputs / "gated")
    assert results.git["commit"] == head and results.git["dirty"] is False
    assert "log" not in results.config
    client = _client(repo / "mlruns", monkeypatch)  # the config's relative folder: beside the config
    run = _only_run(client)  # the first run went to --log mlflow=unused (the command line replaces it)
    assert run.data.tags["mt_eval.gate"] == "pass"
    assert run.data.tags["git.commit"] == head == run.data.tags["mlflow.source.git.commit"]
    assert run.data.tags["git.dirty"] == "false"
    gate = {a.path for a in client.list_artifacts(run.info.run_id, "gate")}
    assert gate == {"gate/verdict.json", "gate/verdict.md", "gate/junit.xml"}
    assert (repo / "unused").is_dir()


def test_without_a_uri_mlflow_logs_to_mlruns_in_the_current_directory(
        score, inputs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(inputs)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "nightly")
    code, _, err = score("run", "--log", "mlflow")
    assert code == 0, err
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # set for mt-eval's own call only, then restored
    run = _only_run(_client(inputs / "mlruns", monkeypatch), "nightly")
    assert run.data.params["testset/name"] == "tiny"
