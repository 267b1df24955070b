"""Faults on a real Ray cluster: a node lost mid-translation, and the driver killed with ``kill -9``.

Every segment ends up in the cache exactly once, and nothing already committed is translated again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.corpora import make_testset

from mt_eval.translators.runner import translate_testset
from mt_eval.workcache.store import TranslationCache

PLUGINS = Path(__file__).resolve().parents[1] / "translators"


def _log(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [(pid, src) for pid, src in (line.split("\t", 1) for line in
                                        path.read_text(encoding="utf-8").splitlines())]


def _cached_sources(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return [row[0] for row in conn.execute("SELECT source FROM translations")]
    except sqlite3.OperationalError:
        return []


@pytest.mark.slow
def test_node_lost_mid_translation_every_segment_exactly_once(tmp_path: Path, ray_runtime_env: dict,
                                                              slow_backend: str,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    import shutil
    import tempfile

    import ray
    from ray.cluster_utils import Cluster

    from mt_eval.cluster.ray_executor import RayExecutor

    temp_dir = tempfile.mkdtemp(prefix="mte-rayc-", dir="/tmp")  # short: Ray's socket paths are limited
    small = {"num_cpus": 1, "object_store_memory": 80_000_000, "temp_dir": temp_dir}
    address_file = Path("/tmp/ray/ray_current_cluster")  # Cluster writes its address there, whatever temp_dir
    made_folder = not address_file.parent.exists()
    address_file.parent.mkdir(parents=True, exist_ok=True)
    previous = address_file.read_bytes() if address_file.exists() else None
    cluster = Cluster(initialize_head=True, head_node_args={**small, "include_dashboard": False})
    try:
        doomed = cluster.add_node(**small)
        cluster.wait_for_nodes()
        executor = RayExecutor(cluster.address, chunk=2, workers=2, runtime_env=ray_runtime_env, stall_s=120)
        executor.connect()
        ts = make_testset(30)
        log = tmp_path / "calls.log"
        result: dict[str, object] = {}

        def drive() -> None:
            try:
                with TranslationCache(tmp_path / "cache.sqlite") as cache:
                    result["run"] = translate_testset(ts, "slow", options={"delay": 0.25, "log": str(log)},
                                                      cache=cache, progress=False, executor=executor)
                    result["count"] = cache.count()
            except BaseException as exc:
                result["error"] = exc

        driver = threading.Thread(target=drive)
        driver.start()
        deadline = time.monotonic() + 120
        while len({pid for pid, _ in _log(log)}) < 2 and time.monotonic() < deadline and driver.is_alive():
            time.sleep(0.1)
        assert len({pid for pid, _ in _log(log)}) == 2, "both workers should be translating"
        cluster.remove_node(doomed, allow_graceful=False)  # the node dies with its actor mid-chunk
        driver.join(timeout=180)
        assert not driver.is_alive()
        assert "error" not in result, result.get("error")
        run = result["run"]
        assert run.outputs == [f"T({s})" for s in ts.sources]  # type: ignore[attr-defined]
        assert result["count"] == len(set(ts.sources))  # every segment committed exactly once
        translated = [src for _, src in _log(log)]
        assert set(translated) == set(ts.sources)
        # only the chunks the lost node held can have been translated twice (chunks of 2, 2 in flight)
        assert len(translated) - len(set(translated)) <= 4
        assert any("lost" in r.getMessage() for r in caplog.records)  # the retry path really ran
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
        if previous is None:  # leave no address behind for a later ray.init() to find
            address_file.unlink(missing_ok=True)
            if made_folder:
                with contextlib.suppress(OSError):
                    address_file.parent.rmdir()
        else:
            address_file.write_bytes(previous)


@pytest.mark.slow
def test_worker_process_killed_its_chunk_is_retried(tmp_path: Path, ray_executor, slow_backend: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    ts = make_testset(30)
    log = tmp_path / "calls.log"
    result: dict[str, object] = {}

    def drive() -> None:
        try:
            with TranslationCache(tmp_path / "cache.sqlite") as cache:
                result["run"] = translate_testset(ts, "slow", options={"delay": 0.25, "log": str(log)},
                                                  cache=cache, progress=False, executor=ray_executor)
                result["count"] = cache.count()
        except BaseException as exc:
            result["error"] = exc

    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.monotonic() + 120
    while len({pid for pid, _ in _log(log)}) < 2 and time.monotonic() < deadline and driver.is_alive():
        time.sleep(0.05)
    victim = int(_log(log)[-1][0])
    assert victim != os.getpid()
    os.kill(victim, signal.SIGKILL)  # one actor's process dies mid-chunk; Ray restarts the actor
    driver.join(timeout=180)
    assert not driver.is_alive() and "error" not in result, result.get("error")
    assert result["run"].outputs == [f"T({s})" for s in ts.sources]  # type: ignore[attr-defined]
    assert result["count"] == len(set(ts.sources))
    translated = [src for _, src in _log(log)]
    assert set(translated) == set(ts.sources)
    assert len(translated) - len(set(translated)) <= 8  # at most the victim's two chunks of 4, again
    assert any("lost" in r.getMessage() for r in caplog.records)


_DRIVER = """
import sys
from mt_eval.translators.registry import register_backend
register_backend("slow", "mt_eval.testing.backends:SlowTranslator")
from mt_eval.cli import main
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_driver_killed_then_rerun_resumes_nothing_lost_or_redone(tmp_path: Path, ray_head,
                                                                 ray_runtime_env: dict) -> None:
    ts = make_testset(40)
    ts.save(tmp_path / "ts")
    db = tmp_path / "cache.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")]),
           "MT_EVAL_RAY_CHUNK": "4", "MT_EVAL_RAY_RUNTIME_ENV": json.dumps(ray_runtime_env)}
    env.pop("RAY_ADDRESS", None)

    def command(out: str, log: Path, delay: float) -> list[str]:
        return [sys.executable, "-c", _DRIVER, "translate", "-t", str(tmp_path / "ts"), "-s", "slow",
                "--opt", f"delay={delay}", "--opt", f"log={log}", "-o", str(tmp_path / out),
                "--cache", str(db), "-q", "--executor", "ray", "--ray-address", ray_head.address]

    first = subprocess.Popen(command("out1", tmp_path / "first.log", 0.4), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(_cached_sources(db)) < 8 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()[1][-2000:]
        first.send_signal(signal.SIGKILL)  # the driver dies; the cluster (started apart) lives on
    finally:
        first.kill()
        first.communicate()
    time.sleep(2.0)  # let the dead driver's actors finish or die
    before = set(_cached_sources(db))
    assert 8 <= len(before) < 40
    second = subprocess.run(command("out2", tmp_path / "second.log", 0.0), env=env, capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    redone = [src for _, src in _log(tmp_path / "second.log")]
    assert not set(redone) & before  # nothing committed before the kill is translated again
    assert len(redone) == len(set(redone))  # nothing translated twice by the rerun
    assert before | set(redone) == set(ts.sources)  # nothing lost
    assert sorted(_cached_sources(db)) == sorted(ts.sources)  # each segment once in the cache
    lines = (tmp_path / "out2" / "slow.txt").read_text(encoding="utf-8").splitlines()
    assert lines == [f"T({s})" for s in ts.sources]  # identical to what a local run writes
