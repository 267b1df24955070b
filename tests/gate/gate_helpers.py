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


# An Arabic→English test set of two-clause sentences with their human translations: each clause is one
# of 6 subjects × 5 verbs × 7 objects × 3 times, so a few hundred distinct, realistic segments.
_SUBJECTS = [("الولد", "the boy", "the young boy"), ("البنت", "the girl", "the young girl"),
             ("الرجل", "the man", "the gentleman"), ("المعلم", "the teacher", "the schoolteacher"),
             ("الطبيب", "the doctor", "the physician"), ("الوزير", "the minister", "the minister")]
_VERBS = [("يقرأ", "reads", "is reading"), ("يكتب", "writes", "is writing"), ("يرى", "sees", "can see"),
          ("يحب", "loves", "really likes"), ("يشتري", "buys", "purchases")]
_OBJECTS = [("الكتاب", "the book", "the book"), ("الرسالة", "the letter", "the message"),
            ("البيت", "the house", "the home"), ("السيارة", "the car", "the automobile"),
            ("الخبز", "the bread", "the bread"), ("القلم", "the pen", "the pen"),
            ("الصحيفة", "the newspaper", "the paper")]
_TIMES = [("", "", ""), (" اليوم", " today", " this day"), (" غدا", " tomorrow", " the next day")]


def arabic_english(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """``(sources, references, human)``: ``n`` distinct Arabic sentences, their English references and a
    second, human-quality English translation (synonyms and reworded verbs, each segment differently)."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    sources: list[str] = []
    refs: list[str] = []
    human: list[str] = []
    while len(sources) < n:
        parts = [(_SUBJECTS[int(rng.integers(6))], _VERBS[int(rng.integers(5))],
                  _OBJECTS[int(rng.integers(7))], _TIMES[int(rng.integers(3))]) for _ in range(2)]
        source = "، و".join(f"{s[0]} {v[0]} {o[0]}{t[0]}" for s, v, o, t in parts) + "."
        if source in seen:
            continue
        seen.add(source)
        sources.append(source)
        ref = ", and ".join(f"{s[1]} {v[1]} {o[1]}{t[1]}" for s, v, o, t in parts) + "."
        refs.append(ref[0].upper() + ref[1:])
        pick = [[int(rng.integers(2)) + 1 for _ in range(4)] for _ in parts]  # 1: the reference's word
        other = ", and ".join(f"{s[a]} {v[b]} {o[c]}{t[d]}" for (s, v, o, t), (a, b, c, d) in zip(parts, pick,
                                                                                                 strict=True))
        human.append(other[0].upper() + other[1:] + ".")
    return sources, refs, human
