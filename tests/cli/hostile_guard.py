"""Shared by the hostile-input batteries: run a command in-process with a FIFO watchdog, and find
the temporary files a failed write may leave behind."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers.cli import run_cli

#: how temporary files of an atomic write are named (mt_eval.fsio)
TEMP_MARK = "~mte-"
#: seconds a reader may block on a FIFO before the watchdog unblocks it and the case fails as hung
HANG_SECONDS = float(os.environ.get("MT_EVAL_TEST_HANG_SECONDS", "20"))


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if TEMP_MARK in p.name or p.name.endswith((".tmp", ".old"))]


def run_guarded(capsys: pytest.CaptureFixture[str], root: Path,
                args: Sequence[str]) -> tuple[int, str, str, bool]:
    """Run in-process; a reader blocked on a FIFO for ``HANG_SECONDS`` is unblocked and reported as hung."""
    done = threading.Event()
    hung: list[Path] = []

    def watchdog() -> None:
        while not done.wait(HANG_SECONDS):
            for path in root.rglob("*"):
                if path.is_symlink() or not stat.S_ISFIFO(path.lstat().st_mode):
                    continue
                try:  # succeeds only when someone is blocked reading; closing gives them EOF
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                hung.append(path)
                os.close(fd)

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        code, out, err = run_cli(capsys, *args)
    finally:
        done.set()
        thread.join()
    return code, out, err, bool(hung)


#: a weak system beside helpers.corpora.GOOD, for comparisons
WEAK = ["Boy go school.", "Cat mat.", "The weather.", "Book.", "We travel.", "Window open."]


def setup_cli(*args: object) -> None:
    """Run one command that builds a battery's workspace; it must succeed."""
    from mt_eval.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert not exc.code, f"setting up the workspace failed: {args}"


def scored_workspace(root: Path, resamples: int = 30) -> list[object]:
    """The test set ``ts``, ``good.txt`` and ``weak.txt`` under ``root``, scored into ``root/run``; returns
    the ``score`` arguments (without ``-o``) for further runs of the same systems."""
    from helpers.corpora import GOOD, REFS, SOURCES

    from mt_eval.data.testset import TestSet

    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(root / "ts")
    (root / "good.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    (root / "weak.txt").write_text("\n".join(WEAK) + "\n", encoding="utf-8")
    score: list[object] = ["score", "--testset", root / "ts", "--hyp", root / "good.txt", "--hyp",
                           root / "weak.txt", "-m", "bleu", "-m", "chrf", "--resamples", str(resamples)]
    setup_cli(*score, "-o", root / "run")
    return score
