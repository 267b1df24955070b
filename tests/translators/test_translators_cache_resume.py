"""The SQLite translation cache: reuse, resume after SIGKILL, concurrent runs, stats/clear CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.corpora import make_testset

from mt_eval.testing.backends import SlowTranslator
from mt_eval.translators.registry import create_translator
from mt_eval.translators.runner import translate_testset
from mt_eval.workcache.store import TranslationCache

HERE = Path(__file__).resolve().parent

# Runs `mt-eval translate` with the test-only slow backend registered through the plugin hook.
RUNNER = """
import sys
from mt_eval.translators.registry import register_backend
register_backend("slow", "mt_eval.testing.backends:SlowTranslator")
from mt_eval.cli import main
main(sys.argv[1:])
"""


def _log_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line.split("\t", 1)[1] for line in path.read_text(encoding="utf-8").splitlines()]


def _spawn(tmp_path: Path, ts_dir: Path, out: str, log: Path, delay: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, "translate", "-t", str(ts_dir), "-s", "slow",
         "--opt", f"delay={delay}",
         "--opt", f"log={log}", "-o", str(tmp_path / out), "--cache", str(tmp_path / "cache.sqlite"), "-q"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cached_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM translations").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_rerun_is_served_from_cache_with_original_throughput(tmp_path: Path, slow_backend: str) -> None:
    ts = make_testset(9, repeat=True)
    log = tmp_path / "log.txt"
    translator = create_translator("slow", {"log": str(log)})
    first = translate_testset(ts, "slow", cache=tmp_path / "c.sqlite", progress=False, translator=translator)
    assert first.outputs == [f"T({s})" for s in ts.sources]
    assert len(_log_lines(log)) == 8  # the repeated source is translated once
    assert first.throughput["translated_segments"] == 8 and first.throughput["cached_segments"] == 0
    again = create_translator("slow", {"log": str(log)})
    second = translate_testset(ts, "slow", cache=tmp_path / "c.sqlite", progress=False, translator=again)
    assert second.outputs == first.outputs
    assert len(_log_lines(log)) == 8 and again.model_loads == 0
    assert second.throughput["measured"] == "original"
    assert second.throughput["wall_s"] == pytest.approx(first.throughput["wall_s"], rel=1e-6)
    other = translate_testset(ts, "slow?tag=U", cache=tmp_path / "c.sqlite", progress=False)
    assert other.outputs[0] == f"U({ts.sources[0]})"  # another signature is another cache key


def test_batches_are_length_sorted_and_order_restored(tmp_path: Path) -> None:
    ts = make_testset(12)
    seen: list[list[str]] = []

    class Spy(SlowTranslator):
        def translate(self, sources):  # type: ignore[no-untyped-def]
            seen.append(list(sources))
            return super().translate(sources)

    spy = Spy("", SlowTranslator.Options(batch_size=3))
    run = translate_testset(ts, "spy", cache=False, progress=False, translator=spy)
    assert run.outputs == [f"T({s})" for s in ts.sources]
    flat = [s for batch in seen for s in batch]
    assert [len(s) for s in flat] == sorted((len(s) for s in ts.sources), reverse=True)
    assert all(len(batch) <= 3 for batch in seen)


def test_sigkill_mid_run_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    ts = make_testset(20)
    ts.save(tmp_path / "ts")
    db = tmp_path / "cache.sqlite"
    proc = _spawn(tmp_path, tmp_path / "ts", "out1", tmp_path / "log1.txt", delay=0.4)
    deadline = time.monotonic() + 60
    while _cached_rows(db) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_before = _cached_rows(db)
    assert 4 <= done_before < 20
    with sqlite3.connect(db) as conn:
        kept = {src for (src,) in conn.execute("SELECT source FROM translations")}
    proc2 = _spawn(tmp_path, tmp_path / "ts", "out2", tmp_path / "log2.txt", delay=0.0)
    _, err = proc2.communicate(timeout=120)
    assert proc2.returncode == 0, err
    outputs = (tmp_path / "out2" / "slow.txt").read_text(encoding="utf-8").splitlines()
    assert outputs == [f"T({s})" for s in ts.sources]
    second = _log_lines(tmp_path / "log2.txt")
    assert len(second) == len(set(second)) == 20 - done_before  # only the missing ones, once each
    assert set(second) == set(ts.sources) - kept
    with TranslationCache(db) as cache:
        assert cache.count() == 20 and cache.integrity_ok()
    summary = json.loads((tmp_path / "out2" / "translations.json").read_text(encoding="utf-8"))
    assert summary["systems"]["slow"]["throughput"]["cached_segments"] == done_before


def test_two_concurrent_runs_share_one_cache(tmp_path: Path) -> None:
    ts = make_testset(20)
    ts.save(tmp_path / "ts")
    procs = [_spawn(tmp_path, tmp_path / "ts", f"out{i}", tmp_path / f"log{i}.txt", delay=0.15)
             for i in (1, 2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    expected = [f"T({s})" for s in ts.sources]
    for i in (1, 2):
        assert (tmp_path / f"out{i}" / "slow.txt").read_text(encoding="utf-8").splitlines() == expected
    translated = _log_lines(tmp_path / "log1.txt") + _log_lines(tmp_path / "log2.txt")
    assert sorted(translated) == sorted(ts.sources)  # every segment translated exactly once overall
    with TranslationCache(tmp_path / "cache.sqlite") as cache:
        assert cache.count() == 20 and cache.integrity_ok()


def test_cache_stats_and_clear_cli(tmp_path: Path, slow_backend: str) -> None:
    from typer.testing import CliRunner

    from mt_eval.cli import app

    db = tmp_path / "c.sqlite"
    translate_testset(make_testset(5), "slow?tag=A", cache=db, progress=False, name="sysA")
    translate_testset(make_testset(3), "slow?tag=B", cache=db, progress=False, name="sysB")
    runner = CliRunner()
    stats = runner.invoke(app, ["cache", "stats", "--cache", str(db)])
    assert stats.exit_code == 0 and "8 translations" in stats.output and "sysA" in stats.output
    cleared = runner.invoke(app, ["cache", "clear", "--system", "sysA", "--cache", str(db)])
    assert cleared.exit_code == 0 and "removed 5" in cleared.output
    with TranslationCache(db) as cache:
        assert cache.count() == 3 and [r["name"] for r in cache.stats()] == ["sysB"]


def test_default_cache_location_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            slow_backend: str) -> None:
    monkeypatch.chdir(tmp_path)
    translate_testset(make_testset(2), "slow", progress=False)
    assert (tmp_path / ".mt-eval-cache" / "translations.sqlite").is_file()
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "elsewhere.sqlite"))
    translate_testset(make_testset(2), "slow", progress=False)
    assert (tmp_path / "elsewhere.sqlite").is_file()
