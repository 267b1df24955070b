"""Shared material for the test-set tests: real Arabic/English paragraphs taken from the seed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mt_eval.cli import main

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "seeds" / "000_3f6bb7e6e5b2fcec.txt"


def _seed_lines() -> list[str]:
    return SEED.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def paragraphs() -> tuple[list[str], list[str]]:
    """The seed's 7 translated paragraph pairs (the untranslated caption, line 6/14, left out)."""
    lines = _seed_lines()
    arabic = [line for k, line in enumerate(lines[:8]) if k != 5]
    english = [line for k, line in enumerate(lines[8:]) if k != 5]
    return arabic, english


@pytest.fixture
def write_doc(tmp_path: Path) -> Callable[..., Path]:
    """Write lines (joined with newlines) as a UTF-8 file under tmp_path."""

    def write(name: str, lines: list[str], *, folder: Path | None = None) -> Path:
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the real entry point in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
