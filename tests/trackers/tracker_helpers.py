"""Constants and checks shared by the tracker tests."""

from __future__ import annotations

from pathlib import Path

# a system name that exercises the key mapping: '+', '(', ')' and ' ' are not all accepted by both trackers
STRONG = "YusufAli+v2 (best)"
STRONG_MLFLOW = "YusufAlipv2 _best_"  # '+' -> 'p', '(' and ')' -> '_', the space kept
STRONG_WANDB = "YusufAlipv2__best_"  # '+' -> 'p', anything but [A-Za-z0-9_] -> '_'
WEAK = ["Boy go school.", "Cat mat.", "The weather.", "Book.", "We travel.", "Window open."]
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused at once


def folder_bytes(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a folder with its modification time, by relative path (logging must leave a run
    folder byte-identical and untouched)."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}
