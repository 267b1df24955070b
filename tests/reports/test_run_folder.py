"""``RunFolder``: validated reads (the only ``.npy`` reader), atomic writes, symlinks, modes, leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval import fsio
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.processes import proc_stat
from mt_eval.reports.run_folder import RunFolder, read_stats_file

WEAK = ["Boy go school.", "Cat mat.", "The weather.", "Book.", "We travel.", "Window open."]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(tmp_path / "ts")
    (tmp_path / "good.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    (tmp_path / "weak.txt").write_text("\n".join(WEAK) + "\n", encoding="utf-8")
    return tmp_path


def _score(capsys: pytest.CaptureFixture[str], files: Path, out: Path, *extra: str) -> None:
    code, _, err = run_cli(capsys, "score", "--testset", files / "ts", "--hyp", files / "good.txt",
                           "--hyp", files / "weak.txt", "-m", "bleu", "-m", "chrf++", "--resamples", "30",
                           "-o", out, *extra)
    assert code == 0, err


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------------- reading
def test_reads_validate_and_round_trip(capsys, files: Path) -> None:
    _score(capsys, files, files / "run")
    folder = RunFolder.open(files / "run" / "results.json")  # the file is accepted as well
    results = folder.results()
    assert results.ok_systems == ["good", "weak"]
    records = folder.segments(results)
    assert [r["index"] for r in records] == list(range(6))
    stats = folder.all_stats(results)
    assert stats["good"]["bleu"].dtype == np.int64 and stats["good"]["bleu"].shape[0] == 6
    assert stats["weak"]["chrf++"].min() >= 0


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty statistics file"),
    (b"\x93NUMPY\x01\x00", "unreadable statistics"),
    (b"PK\x03\x04 not a zip", "unreadable statistics"),
    (b"plain text\n", "unreadable statistics"),
])
def test_npy_reader_refuses_damaged_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    with pytest.raises(MtEvalError, match=message) as info:
        read_stats_file(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(("array", "message"), [
    (np.array([[1, 2], [-1, 3]]), "negative count in row 2"),
    (np.array([1, 2, 3]), "shape"),
    (np.zeros((0, 3), dtype=np.int64), "shape"),
    (np.array([[True, False]]), "dtype bool"),
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.array([["a", "b"]]), "dtype"),
])
def test_npy_reader_validates_dtype_shape_and_values(tmp_path: Path, array: np.ndarray, message: str) -> None:
    path = tmp_path / "x.npy"
    np.save(path, array, allow_pickle=False)
    with pytest.raises(MtEvalError, match=message):
        read_stats_file(path)


def test_npy_reader_row_count_pickle_and_float_sign(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.ones((4, 2), dtype=np.int32), allow_pickle=False)
    assert read_stats_file(path, 4).dtype == np.int64
    with pytest.raises(MtEvalError, match="4 statistics rows for 5 segments"):
        read_stats_file(path, 5)
    np.save(path, np.array([[{"x": 1}]], dtype=object), allow_pickle=True)
    with pytest.raises(MtEvalError, match="unreadable statistics"):  # never unpickled
        read_stats_file(path)
    np.save(path, np.array([[-0.25, 1.0]]), allow_pickle=False)  # similarities may be negative
    assert read_stats_file(path)[0, 0] == -0.25


def test_segments_truncated_at_a_line_end_is_refused(capsys, files: Path) -> None:
    _score(capsys, files, files / "run")
    path = files / "run" / "segments.jsonl"
    path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:5]), encoding="utf-8")
    folder = RunFolder.open(files / "run")
    with pytest.raises(MtEvalError, match="5 segment records for 6 segments"):
        folder.segments(folder.results())


def test_old_run_folders_with_legacy_slugs_still_read(capsys, files: Path) -> None:
    _score(capsys, files, files / "run")
    for system in ("good", "weak"):
        new = files / "run" / "stats" / system / "chrf++.npy"
        new.rename(new.with_name("chrfpp.npy"))  # what the old slug() wrote
    code, _, err = run_cli(capsys, "compare", files / "run", "--baseline", "weak", "--save")
    assert code == 0, err
    assert RunFolder.open(files / "run").stats("good", "chrf++").shape[0] == 6


# ----------------------------------------------------------------------------------- writing
def test_compare_save_replaces_results_and_report_together(capsys, files: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _score(capsys, files, files / "run", "--baseline", "good")
    run = files / "run"
    kept = (run / "results.json", run / "report.html", run / "tables" / "scores.md")
    before = {p: p.read_bytes() for p in kept}
    import mt_eval.reports.html as html

    def crash(*_a: object, **_k: object) -> Path:
        raise KeyboardInterrupt  # killed while the report is being written
    monkeypatch.setattr(html, "write_report", crash)
    code, _, err = run_cli(capsys, "compare", run, "--baseline", "weak", "--save")
    assert code == 130, err
    assert {p: p.read_bytes() for p in before} == before  # nothing changed, no mixture
    assert _leftovers(files) == []
    monkeypatch.undo()
    monkeypatch.setenv("COLUMNS", "200")
    code, _, err = run_cli(capsys, "compare", run, "--baseline", "weak", "--save")
    assert code == 0, err
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["significance"]["baseline"] == "weak"
    assert "weak (baseline)" in (run / "tables" / "scores.md").read_text(encoding="utf-8")
    assert (run / "stats" / "good" / "bleu.npy").is_file() and (run / "segments.jsonl").is_file()
    assert _leftovers(files) == []


def test_output_through_a_symlink_writes_the_target_and_keeps_the_link(capsys, files: Path) -> None:
    (files / "real").mkdir()
    link = files / "link"
    link.symlink_to(files / "real", target_is_directory=True)
    for _ in range(2):  # the second write replaces a run folder through the link
        _score(capsys, files, link)
        assert link.is_symlink() and os.readlink(link) == str(files / "real")
        assert (files / "real" / "results.json").is_file()
        assert _leftovers(files) == []


def test_written_files_are_world_readable(capsys, files: Path) -> None:
    old = os.umask(0o022)
    try:
        _score(capsys, files, files / "run")
        code, _, err = run_cli(capsys, "baseline", "save", files / "run", "-o", files / "b.json")
        assert code == 0, err
        (files / "src.ar").write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
        (files / "ref.en").write_text("\n".join(REFS) + "\n", encoding="utf-8")
        code, _, err = run_cli(capsys, "testset", "import", "--source", files / "src.ar", "--reference",
                               files / "ref.en", "-o", files / "imported")
        assert code == 0, err
        fsio.atomic_write_text(files / "secret", "k", private=True)
    finally:
        os.umask(old)
    for root in (files / "run", files / "imported"):
        for path in [root, *root.rglob("*")]:
            expected = 0o755 if path.is_dir() else 0o644
            assert path.stat().st_mode & 0o777 == expected, path
    assert (files / "b.json").stat().st_mode & 0o777 == 0o644
    assert (files / "secret").stat().st_mode & 0o777 == 0o600


# ------------------------------------------------------------------------- leftovers of dead writers
def _dead_token() -> str:
    child = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE)
    pid = int(child.communicate()[0])
    return f"{fsio._host_tag()}-{pid}-1"


def test_staging_of_dead_writers_is_removed_on_the_next_write(capsys, files: Path) -> None:
    dead = files / f".run.{fsio._OWNER_MARK}{_dead_token()}.abc123.tmp"
    live = files / f".run.{fsio._OWNER_MARK}{fsio.owner_token()}.def456.tmp"
    legacy = files / ".run.k2j3h4.tmp"
    recent_legacy = files / ".run.zz9.old"
    for folder in (dead, live, legacy, recent_legacy):
        folder.mkdir()
        (folder / "results.json").write_text("{}", encoding="utf-8")
    hour_ago = time.time() - 2 * fsio.LEGACY_STALE_SECONDS
    os.utime(legacy, (hour_ago, hour_ago))
    _score(capsys, files, files / "run")
    assert not dead.exists() and not legacy.exists()
    assert live.exists() and recent_legacy.exists()  # a live writer and a possibly live old version


def test_a_killed_writer_leaves_staging_that_the_next_write_cleans(tmp_path: Path) -> None:
    target = tmp_path / "out"
    code = ("import os, signal, sys; from mt_eval.fsio import atomic_directory\n"
            f"with atomic_directory({str(target)!r}) as s:\n"
            "    (s / 'half.txt').write_text('x')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert len(_leftovers(tmp_path)) == 1 and not target.exists()
    with fsio.atomic_directory(target) as staging:
        (staging / "whole.txt").write_text("y", encoding="utf-8")
    assert _leftovers(tmp_path) == []
    assert [p.name for p in target.iterdir()] == ["whole.txt"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="zombie detection reads /proc (Linux)")
def test_zombie_and_reused_pid_owners_count_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.time() + 30
        while (proc_stat(child.pid) or ("Z",))[0] != "Z" and time.time() < deadline:
            time.sleep(0.05)
        state = proc_stat(child.pid)
        assert state is not None and state[0] == "Z"  # exited, not reaped
        assert fsio._owner_alive(f"{fsio._host_tag()}-{child.pid}-{state[1]}") is False
    finally:
        child.wait()
    me = fsio.owner_token()
    host, pid, start = me.split("-", 2)
    assert fsio._owner_alive(me) is True
    assert fsio._owner_alive(f"{host}-{pid}-{int(start) + 1}") is False  # same PID, other process
    assert fsio._owner_alive(f"other0-{pid}-{start}") is None  # another host: cannot tell
