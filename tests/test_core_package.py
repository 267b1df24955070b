"""Package-level promises: light import, CLI entry points, atomic writes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mt_eval.fsio import atomic_directory, atomic_write_text, write_lines


def test_import_does_not_pull_heavy_backends() -> None:
    code = ("import sys, mt_eval, mt_eval.cli; "
            "heavy = [m for m in ('torch', 'transformers', 'ctranslate2', 'llama_cpp') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m_and_version() -> None:
    out = subprocess.run([sys.executable, "-m", "mt_eval", "version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("mt-eval ")
    assert "sacrebleu" in out.stdout


def test_unknown_command_exits_2() -> None:
    out = subprocess.run([sys.executable, "-m", "mt_eval", "no-such-command"], capture_output=True, text=True)
    assert out.returncode == 2


def test_atomic_write_leaves_no_temp_files(tmp_path) -> None:
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_text(tmp_path / "a.txt", "y")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "y"


def test_write_lines_refuses_embedded_newlines(tmp_path) -> None:
    with pytest.raises(ValueError, match="item 2 contains a line break"):
        write_lines(tmp_path / "x.txt", ["ok", "bad\nline"])
    assert not (tmp_path / "x.txt").exists()


def test_atomic_directory_keeps_old_content_on_error(tmp_path) -> None:
    target = tmp_path / "run"
    with atomic_directory(target) as staging:
        (staging / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("interrupted")
    assert sorted(os.listdir(target)) == ["old.txt"]
    assert sorted(os.listdir(tmp_path)) == ["run"]  # no staging folder left behind
