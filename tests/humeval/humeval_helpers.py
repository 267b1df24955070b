"""Shared set-up of the human-evaluation tests: a four-system run and simulated annotators.

A plain module (not ``conftest``) so that ``from humeval_helpers import ...`` is unambiguous.
The systems are far apart in quality, so any sensible metric orders them ref > good > weak > junk.
``junk`` outputs Arabic text with emoji, to exercise span offsets outside ASCII and the BMP.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval.cli import main
from mt_eval.data.testset import TestSet
from mt_eval.reports.run_folder import RunFolder

WEAK = ["Boy go school.", "Cat mat.", "The weather.", "Book.", "We travel.", "Window open."]
JUNK = [f"{s} 👍🏽" for s in SOURCES]
SYSTEMS = {"ref": REFS, "good": GOOD, "weak": WEAK, "junk": JUNK}


def make_run(root: Path) -> Path:
    """Score the four systems with chrF, BLEU and TER into ``root / "run"`` (no baseline: all pairs)."""
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny", doc_id="news1").save(root / "ts")
    args: list[str] = ["score", "--testset", str(root / "ts")]
    for name, lines in SYSTEMS.items():
        (root / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        args += ["--hyp", f"{name}={root / f'{name}.txt'}"]
    try:
        main([*args, "-m", "chrf", "-m", "bleu", "-m", "ter", "--resamples", "200", "-o", str(root / "run")])
    except SystemExit as exc:
        assert not exc.code, f"mt-eval score exited {exc.code}"
    return root / "run"


def copy_run(template: Path, root: Path) -> Path:
    """A private copy of a run folder made once per module (scoring it again costs seconds)."""
    return Path(shutil.copytree(template, root / "run", symlinks=True))


def export(capsys: pytest.CaptureFixture[str], run: Path, out: Path, *extra: object) -> None:
    code, _, err = run_cli(capsys, "humeval", "export", run, "-o", out, *extra)
    assert code == 0, err


def batch_items(folder: Path) -> list[dict[str, Any]]:
    """Every item of every ``batch-*.jsonl`` of an export, in file order."""
    items = []
    for path in sorted(folder.glob("batch-*.jsonl")):
        items += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return items


def chrf_annotator(run: Path, folder: Path, *, reverse: bool = False) -> list[dict[str, Any]]:
    """Simulated judgements: each item's score is the sentence chrF of its output (or 100 − it).

    The annotator sees only the batch file; the key is used here only to look up the chrF the
    run stored for that output, as a stand-in for a human who agrees with chrF segment by segment.
    """
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
    folder_obj = RunFolder.open(run)
    records = folder_obj.segments(folder_obj.results())
    rows = []
    for item in batch_items(folder):
        info = key["items"][item["item_id"]]
        chrf = float(records[info["segment_index"]]["scores"][info["system"]]["chrf"])
        rows.append({"item_id": item["item_id"], "score": 100.0 - chrf if reverse else chrf})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder (relative path → bytes), to prove that nothing was written."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
