"""``mt-eval run|score|translate --executor ray`` against a real Ray cluster: the same run folder as a
local run, and Ray only ever imported when asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import run_cli

from mt_eval.data.testset import TestSet
from mt_eval.testing.corpora import synthetic_corpus

PLUGINS = Path(__file__).resolve().parents[1] / "translators"
# Fields that may differ between two runs of the same systems: when and where they ran, and how.
VOLATILE_SYSTEM_FIELDS = ("throughput", "environment")


def comparable_results(folder: Path) -> dict:
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    results.pop("created")
    results.pop("environment")
    for info in results["systems"].values():
        for key in VOLATILE_SYSTEM_FIELDS:
            info.pop(key, None)
    for key in ("executor", "ray_address"):  # the run config records where it ran
        results["config"].pop(key, None)
    return results


def files(folder: Path, sub: str) -> dict[str, bytes]:
    root = folder / sub
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_run_folder(local: Path, other: Path) -> None:
    assert comparable_results(other) == comparable_results(local)
    assert (other / "segments.jsonl").read_bytes() == (local / "segments.jsonl").read_bytes()
    for sub in ("outputs", "stats"):
        mine, theirs = files(other, sub), files(local, sub)
        assert mine == theirs and mine, sub


@pytest.fixture
def ray_env(ray_head, ray_runtime_env: dict, monkeypatch: pytest.MonkeyPatch, slow_backend: str) -> str:
    """Small chunks and shards, so that a 30-segment run really is cut up; the workers import the
    test-only backends through the runtime_env."""
    monkeypatch.setenv("MT_EVAL_RAY_CHUNK", "4")
    monkeypatch.setenv("MT_EVAL_RAY_SHARD", "7")
    monkeypatch.setenv("MT_EVAL_RAY_RUNTIME_ENV", json.dumps(ray_runtime_env))
    from mt_eval.cluster import executor

    executor._current.clear()  # pick the settings above up
    return str(ray_head.address)


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    corpus = synthetic_corpus(30)
    sources = [f"جملة رقم {i} " + "كلمة " * (i % 5) for i in range(30)]
    ts = TestSet.from_pairs(list(zip(sources, [[r] for r in corpus["refs"]], strict=True)),
                            source_lang="ar", target_lang="en", name="synthetic")
    ts.save(tmp_path / "ts")
    (tmp_path / "A.txt").write_text("\n".join(corpus["A"]) + "\n", encoding="utf-8")
    return tmp_path


def _run(capsys, monkeypatch, root: Path, name: str, *extra: object) -> None:
    monkeypatch.setenv("MT_EVAL_CACHE", str(root / f"{name}.sqlite"))  # each run translates itself
    code, _, err = run_cli(capsys, "run", "--testset", root / "ts", "-s", "copy",
                           "-s", f"file:{root / 'A.txt'}", "-s", f"slow?log={root / 'calls.log'}",
                           "-m", "bleu", "-m", "chrf", "-m", "chrf++",
                           "-m", "ter", "--resamples", "200", "--name", "cmp", "-o", root / name, *extra)
    assert code == 0, err


@pytest.mark.slow
def test_run_on_ray_equals_local_run(ray_env: str, corpus_dir: Path, capsys, monkeypatch) -> None:
    _run(capsys, monkeypatch, corpus_dir, "local")
    _run(capsys, monkeypatch, corpus_dir, "ray", "--executor", "ray", "--ray-address", ray_env)
    assert_same_run_folder(corpus_dir / "local", corpus_dir / "ray")
    results = json.loads((corpus_dir / "ray" / "results.json").read_text(encoding="utf-8"))
    assert results["config"]["executor"] == "ray"
    calls = (corpus_dir / "calls.log").read_text(encoding="utf-8").splitlines()
    assert len(calls) == 60  # each run translated each segment once: here, then on Ray workers
    assert {c.split("\t")[0] for c in calls[:30]} == {str(os.getpid())}
    assert str(os.getpid()) not in {c.split("\t")[0] for c in calls[30:]}


@pytest.mark.slow
def test_score_and_translate_on_ray_equal_local(ray_env: str, corpus_dir: Path, capsys, monkeypatch) -> None:
    hyp = f"A={corpus_dir / 'A.txt'}"
    for name, extra in (("s-local", []), ("s-ray", ["--executor", "ray", "--ray-address", ray_env])):
        code, _, err = run_cli(capsys, "score", "--testset", corpus_dir / "ts", "--hyp", hyp, "-m", "bleu",
                               "-m", "ter", "--resamples", "200", "--name", "s", "-o", corpus_dir / name,
                               *extra)
        assert code == 0, err
    assert_same_run_folder(corpus_dir / "s-local", corpus_dir / "s-ray")
    for name, extra in (("t-local", []), ("t-ray", ["--executor", "ray"])):
        monkeypatch.setenv("RAY_ADDRESS", ray_env)  # the address may come from the environment
        code, _, err = run_cli(capsys, "translate", "-t", corpus_dir / "ts", "-s", "slow",
                               "-o", corpus_dir / name, "--cache", corpus_dir / f"{name}.sqlite", "-q",
                               *extra)
        assert code == 0, err
    translated = [(corpus_dir / name / "slow.txt").read_bytes() for name in ("t-local", "t-ray")]
    assert translated[0] == translated[1]


def test_unknown_executor_and_shard_with_ray_exit_2(corpus_dir: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "run", "--testset", corpus_dir / "ts", "-s", "copy", "--executor", "dask",
                           "-o", corpus_dir / "x")
    assert code == 2 and "executor" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "score", "--testset", corpus_dir / "ts", "--hyp", corpus_dir / "A.txt",
                           "--ray-address", "127.0.0.1:1", "-o", corpus_dir / "y")
    assert code == 2 and "--ray-address needs --executor ray" in err
    code, _, err = run_cli(capsys, "run", "--testset", corpus_dir / "ts", "-s", "copy", "--shard", "0/2",
                           "--executor", "ray", "-o", corpus_dir / "z")
    assert code == 2 and "--shard and --executor ray exclude each other" in err
    assert not any((corpus_dir / name).exists() for name in ("x", "y", "z"))


def test_unreachable_ray_address_exits_2_at_once(corpus_dir: Path, capsys) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run_cli(capsys, "score", "--testset", corpus_dir / "ts", "--hyp", corpus_dir / "A.txt",
                           "-m", "bleu", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
                           "-o", corpus_dir / "out")
    assert code == 2 and f"cannot reach a Ray cluster at 127.0.0.1:{port}" in err
    assert len(err.strip().splitlines()) == 1 and not (corpus_dir / "out").exists()


_NO_RAY = """
import sys
sys.modules["ray"] = None  # as if Ray were not installed: `import ray` raises ImportError
from mt_eval.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("command", ["run", "score", "translate"])
def test_executor_ray_without_ray_is_one_line_with_install_command(command: str, corpus_dir: Path) -> None:
    ts, out = corpus_dir / "ts", corpus_dir / f"out-{command}"
    args = {"run": ["run", "--testset", ts, "-s", "copy", "-m", "bleu", "-o", out],
            "score": ["score", "--testset", ts, "--hyp", corpus_dir / "A.txt", "-m", "bleu", "-o", out],
            "translate": ["translate", "-t", ts, "-s", "copy", "-o", out]}[command]
    proc = subprocess.run([sys.executable, "-c", _NO_RAY, *map(str, args), "--executor", "ray"],
                          capture_output=True, text=True, timeout=120, cwd=corpus_dir)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'mt-eval[ray]'" in lines[0], proc.stderr
    assert not out.exists()


def test_nothing_imports_ray_unless_asked(corpus_dir: Path) -> None:
    """``import mt_eval``, the CLI, and a whole local run and score never import Ray."""
    code = (
        "import sys\n"
        "import mt_eval, mt_eval.cli, mt_eval.cluster, mt_eval.cluster.executor, mt_eval.evaluate\n"
        "from mt_eval.cli import main\n"
        "cut = sys.argv.index('score')\n"
        "for args in (sys.argv[1:cut], sys.argv[cut:]):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n")
    ts = corpus_dir / "ts"
    args = ["run", "--testset", ts, "-s", "copy", "-m", "bleu", "-o", corpus_dir / "r",
            "score", "--testset", ts, "--hyp", corpus_dir / "A.txt", "-m", "bleu", "-o", corpus_dir / "s"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=corpus_dir, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_tiny_marian_on_ray_equals_local_run(ray_env: str, tiny_marian: Path, tmp_path: Path, capsys,
                                             monkeypatch) -> None:
    """A real model on Ray actors (loaded once per actor): outputs, statistics and scores as locally."""
    from mt_eval.testing.corpora import tiny_pairs

    pairs = tiny_pairs()[::9][:24]
    TestSet.from_pairs([(a, [b]) for a, b in pairs], source_lang="ar", target_lang="en",
                       name="tiny").save(tmp_path / "ts")
    spec = f"marian:{tiny_marian}?batch_size=4&threads=1"
    monkeypatch.setenv("MT_EVAL_RAY_WORKERS", "1")  # one torch start-up on a 2-core machine
    for name, extra in (("local", []), ("ray", ["--executor", "ray", "--ray-address", ray_env])):
        monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / f"{name}.sqlite"))
        code, _, err = run_cli(capsys, "run", "--testset", tmp_path / "ts", "-s", spec, "-s", "copy",
                               "-m", "bleu", "-m", "chrf", "-m", "semantic", "--resamples", "200",
                               "--name", "tiny", "-o", tmp_path / name, *extra)
        assert code == 0, err
    assert_same_run_folder(tmp_path / "local", tmp_path / "ray")
    results = json.loads((tmp_path / "ray" / "results.json").read_text(encoding="utf-8"))
    marian = results["systems"][spec]["throughput"]
    assert marian["translated_segments"] == 24 and marian["model_loads"] == 1  # once, in its actor
    assert results["scores"][spec]["bleu"]["score"] > 50  # the tiny model really translates
