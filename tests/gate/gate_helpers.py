"""Helpers shared by the gate tests: synthetic references, graded corruption, the in-process CLI.

A plain module (not ``conftest``) so that ``from gate_helpers import ...`` never picks up another
folder's ``conftest`` when several test folders run in one pytest process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mt_eval.cli import main

VOCAB = [f"{a}{b}" for a in ("ka", "lo", "mi", "ru", "se", "ta", "vo", "ze") for b in
         ("bar", "den", "fim", "gol", "hut", "jex", "kip", "lom", "nur", "pas", "qis", "rev")]


def references(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(VOCAB, int(rng.integers(8, 16)))) + " ." for _ in range(n)]


def corrupt(refs: Sequence[str], rate: float, seed: int) -> list[str]:
    """Replace each word with a random one with probability ``rate`` (same rate = same quality)."""
    rng = np.random.default_rng(seed)
    out = []
    for ref in refs:
        words = ref.split()
        out.append(" ".join(w if rng.random() >= rate else str(rng.choice(VOCAB)) for w in words))
    return out


def cli(*args: object) -> int:
    """Run ``mt-eval`` in-process; returns its exit code."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


RunMaker = Callable[..., Path]
