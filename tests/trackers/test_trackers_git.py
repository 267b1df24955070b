"""``results.json``'s ``git`` (schema 4): the commit a run was made from, never a reason to fail."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers.cli import run_cli

from mt_eval.cluster.shards import _parts_git
from mt_eval.environment import git_info
from mt_eval.reports.results import parse_results
from mt_eval.reports.run_folder import load_run

ROOT = Path(__file__).resolve().parents[2]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True, timeout=30).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "tracked.txt").write_text("one\n", encoding="utf-8")
    _git(root, "add", "tracked.txt")
    _git(root, "commit", "-q", "-m", "first")
    return root


def test_git_info_reads_commit_date_and_dirty(repo: Path) -> None:
    info = git_info(repo)
    assert info == {"commit": _git(repo, "rev-parse", "HEAD"),
                    "commit_date": _git(repo, "log", "-1", "--format=%cI"), "dirty": False}
    (repo / "untracked.txt").write_text("x\n", encoding="utf-8")
    assert git_info(repo)["dirty"] is False  # untracked files do not count
    (repo / "tracked.txt").write_text("two\n", encoding="utf-8")
    assert git_info(repo / ".")["dirty"] is True


def test_no_repository_or_no_git_gives_nothing(tmp_path: Path, repo: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plain").mkdir()
    assert git_info(tmp_path / "plain") == {}
    assert git_info(tmp_path / "missing-folder") == {}
    empty = tmp_path / "empty-repo"
    empty.mkdir()
    _git(empty, "init", "-q")
    assert git_info(empty) == {}  # no commit yet
    monkeypatch.setenv("PATH", str(tmp_path / "plain"))  # no git program at all
    assert git_info(repo) == {}


def test_a_run_records_the_commit_of_the_current_directory(repo: Path, tmp_path: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.chdir(repo)
    code, _, err = run_cli(capsys, "run", "-s", "copy", "-m", "chrf", "--resamples", "20",
                           "-o", tmp_path / "in")
    assert code == 0, err
    assert load_run(tmp_path / "in").git == git_info(repo)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "run", "-s", "copy", "-m", "chrf", "--resamples", "20",
                           "-o", tmp_path / "out")
    assert code == 0, err
    assert load_run(tmp_path / "out").git == {}


def test_merge_keeps_the_commit_the_shards_agree_on(repo: Path, tmp_path: Path, capsys,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.chdir(repo)
    parts = []
    for index in range(2):
        parts.append(tmp_path / f"part{index}")
        code, _, err = run_cli(capsys, "run", "-s", "copy", "-m", "chrf", "--resamples", "20", "--shard",
                               f"{index}/2", "-o", parts[-1])
        assert code == 0, err
    monkeypatch.chdir(tmp_path)  # merged elsewhere, outside the repository
    code, _, err = run_cli(capsys, "merge", *parts, "-o", tmp_path / "merged")
    assert code == 0, err
    assert load_run(tmp_path / "merged").git == git_info(repo) != {}
    assert _parts_git([{"commit": "a"}, {"commit": "b"}]) is None  # disagreeing: the merge's own
    assert _parts_git([{}, {}]) is None


def test_a_schema_3_results_file_still_reads_with_an_empty_git() -> None:
    data = json.loads((ROOT / "results" / "default" / "results.json").read_text(encoding="utf-8"))
    data["schema_version"] = 3
    data.pop("git", None)
    data.pop("analysis", None)
    assert parse_results(data).git == {}
