"""What the benchmark scripts share: their synthetic corpora, the files a command reads, and timing.

The scripts beside this file import it as ``_bench`` (``python scripts/bench_cli.py`` puts ``scripts/`` on
the path); the test fixtures they need (the tiny MarianMT, the ``slow`` backend, a local Ray cluster)
come from :mod:`mt_eval.testing`.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

# ------------------------------------------------------------------------------------------ corpora
_VOCABULARY = ("the a of to and in is was for on that with as by at from it be this which are an has have "
               "government people year city river report said new first two three would more their about "
               "after also its over into than other some could many been most only time world state country "
               "president minister water energy health school market company research study university "
               "science climate island border police court election vote team season game village bridge "
               "museum children family music history million percent week month morning evening north south "
               "east west small large old young public local national because while during before under "
               "between against without within")
WORDS = tuple(_VOCABULARY.split())
NAMES = ("Cairo", "Beirut", "Zürich", "São Paulo", "Kraków", "Müller", "Ahmed", "O'Neill")
SOURCE_WORDS = ("قال", "المدينة", "الحكومة", "في", "من", "على", "إلى", "الناس", "عام", "النهر", "تقرير",
                "جديد", "الماء", "المدرسة", "السوق", "الشركة", "البحث", "الجامعة", "العلوم", "المناخ")


def cli_corpus(n: int, seed: int = 0) -> dict[str, list[str]]:
    """Sources, references (20–30 words) and two systems: A lightly, B heavily edited references."""
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, len(WORDS) + 1) ** 0.8
    probs /= probs.sum()
    refs, sys_a, sys_b, sources = [], [], [], []
    for _ in range(n):
        length = int(rng.integers(20, 31))
        words = [WORDS[k] for k in rng.choice(len(WORDS), size=length, p=probs)]
        for k in range(length):
            r = rng.random()
            if r < 0.05:
                words[k] = NAMES[int(rng.integers(len(NAMES)))]
            elif r < 0.08:
                words[k] = f"{int(rng.integers(1, 5000)):,}"
            elif r < 0.12 and k:
                words[k] += ","
        words[0] = words[0].capitalize()
        refs.append(" ".join(words) + ".")
        sys_a.append(_noisy(words, rng, 0.12) + ".")
        sys_b.append(_noisy(words, rng, 0.25) + (" ." if rng.random() < 0.5 else "."))
        sources.append(" ".join(SOURCE_WORDS[k] for k in rng.integers(0, len(SOURCE_WORDS), size=length)))
    return {"sources": sources, "refs": refs, "A": sys_a, "B": sys_b}


def _noisy(words: list[str], rng: np.random.Generator, rate: float) -> str:
    out = []
    for word in words:
        r = rng.random()
        if r < rate / 3:
            continue  # dropped
        if r < 2 * rate / 3:
            out.append(WORDS[int(rng.integers(len(WORDS)))])  # replaced
        elif r < rate:
            out.extend([word, WORDS[int(rng.integers(len(WORDS)))]])  # inserted
        else:
            out.append(word)
    return " ".join(out) if out else words[0]


def zipf_corpus(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """References and two systems' outputs: Zipfian words, 5-35 words a line, system-specific edits."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(8000)] + [",", ".", "the", "of", "and"])
    probs = 1.0 / np.arange(1, len(vocab) + 1)
    probs /= probs.sum()
    lengths = rng.integers(5, 36, size=n)
    words = rng.choice(len(vocab), size=int(lengths.sum()), p=probs)
    refs: list[str] = []
    sys_a: list[str] = []
    sys_b: list[str] = []
    start = 0
    for length in lengths:
        ref = words[start : start + length]
        start += length
        refs.append(" ".join(vocab[ref]))
        for out, rate in ((sys_a, 0.25), (sys_b, 0.255)):
            hyp = ref.copy()
            swap = rng.random(length) < rate
            hyp[swap] = rng.choice(len(vocab), size=int(swap.sum()), p=probs)
            keep = rng.random(length) > rate / 4
            out.append(" ".join(vocab[hyp[keep]]))
    return refs, sys_a, sys_b


def paired_sources(base: Sequence[str]) -> list[str]:
    """Eight longer sources per sentence of ``base``: each joined with another one (about 8x the text)."""
    return [f"{a} {base[(i * 7 + k) % len(base)]}" for i, a in enumerate(base) for k in range(1, 9)]


def write_lines(path: Path, lines: Sequence[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def write_corpus(folder: Path, corpus: dict[str, list[str]], name: str) -> dict[str, Path]:
    """``refs.txt``, ``A.txt``, ``B.txt`` and the test set ``ts`` of a :func:`cli_corpus`; their paths."""
    from mt_eval.data.testset import TestSet

    folder.mkdir(parents=True, exist_ok=True)
    files = {key: folder / f"{key}.txt" for key in ("refs", "A", "B")}
    for key, path in files.items():
        write_lines(path, corpus[key])
    TestSet.from_pairs([(s, [r]) for s, r in zip(corpus["sources"], corpus["refs"], strict=True)],
                       source_lang="ar", target_lang="en", name=name).save(folder / "ts")
    return {**files, "ts": folder / "ts"}


def mt_eval_command() -> str:
    """The ``mt-eval`` console script installed next to this interpreter, as a user runs it."""
    return str(Path(sys.executable).parent / "mt-eval")


def score_command(files: dict[str, Path], out: Path, extra: Sequence[str] = ()) -> list[str]:
    """``mt-eval score`` of systems A and B against A, BLEU and chrF (files from :func:`write_corpus`)."""
    return [mt_eval_command(), "score", "--testset", str(files["ts"]), "--hyp", f"A={files['A']}",
            "--hyp", f"B={files['B']}", "-m", "bleu", "-m", "chrf", "--baseline", "A", "-o", str(out), *extra]


# ------------------------------------------------------------------------------------------- timing
def run_command(cmd: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall time, peak RSS (this child, ``os.wait4``), stdout and stderr of one command; exits on failure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-2000:]}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "stdout": stdout, "stderr": stderr,
            "cpu_s": usage.ru_utime + usage.ru_stime}  # the child's and its reaped children's CPU time


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (pool workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def best_time(fn: Callable[[], T], repeats: int) -> tuple[float, float, T | None]:
    """Fastest wall time of ``repeats`` calls, the CPU seconds of that call, and its result."""
    best, best_cpu, result = float("inf"), 0.0, None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), cpu_seconds()
        result = fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, best_cpu = wall, cpu_seconds() - cpu
    return best, best_cpu, result


def median_time(fn: Callable[[], T], repeats: int) -> tuple[float, T | None]:
    """Median wall time of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def machine() -> dict[str, Any]:
    """Python version and platform: the start of every benchmark's machine record."""
    return {"python": platform.python_version(), "platform": platform.platform()}


# ------------------------------------------------------------------------------------------- FLORES
FLORES_DIR = ROOT.parent / "shared" / "external" / "flores-ara-eng"


def flores_files(folder: Path = FLORES_DIR) -> dict[str, Any] | None:
    """FLORES devtest ar→en, read in place (never copied into the repository): ``source``, ``reference``
    and ``systems`` ({name: path}, sorted); None where the folder or a file is missing."""
    systems = sorted((folder / "systems").glob("*.eng")) if (folder / "systems").is_dir() else []
    if not (folder / "source.ara").is_file() or not (folder / "reference.eng").is_file() or not systems:
        return None
    return {"source": folder / "source.ara", "reference": folder / "reference.eng",
            "systems": {path.stem: path for path in systems}}


def clear_numba_cache(module_file: Path) -> list[str]:
    """Remove numba's on-disk cache of one module (``__pycache__/<stem>.*.nbi/.nbc`` beside it, and the
    same names under ``$NUMBA_CACHE_DIR``), so that its next import compiles; the names removed."""
    folders = [module_file.parent / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        folders.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    removed = []
    for folder in folders:
        for suffix in ("nbi", "nbc"):
            for path in folder.rglob(f"{module_file.stem}.*.{suffix}") if folder.is_dir() else []:
                path.unlink(missing_ok=True)
                removed.append(str(path))
    return removed
