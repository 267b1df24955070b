"""What makes inference results vary between machines: a fingerprint recorded with every system.

Greedy decoding is deterministic on one machine but not across machines: llama.cpp, CTranslate2 and
torch pick kernels by CPU features (AVX2, AVX-512, …), thread counts change reduction orders, and
library versions change numerics. The fingerprint records those facts per system, so that a gate
which sees outputs change under an unchanged translator signature can say "different hardware",
not "your change". Reading it is cheap: ``/proc/cpuinfo`` and package metadata, no heavy import.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from typing import Any

# CPU flags that select different SIMD kernels in llama.cpp / CTranslate2 / oneDNN
SIMD_FLAGS = ("sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
              "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8",
              "amx_bf16", "asimd", "sve", "sve2")
INFERENCE_LIBRARIES = ("llama-cpp-python", "ctranslate2", "torch", "transformers", "sentencepiece",
                       "numpy")


@cache
def _cpuinfo() -> tuple[str, tuple[str, ...]]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model", "hardware") and value.strip():
                    model = value.strip()
                elif key in ("flags", "features"):
                    flags.update(value.split())
    except OSError:
        pass
    return model, tuple(f for f in SIMD_FLAGS if f in flags)


def library_versions(names: tuple[str, ...] = INFERENCE_LIBRARIES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def host_fingerprint() -> dict[str, Any]:
    """The machine-level facts: CPU model and SIMD flags, usable cores, OS, Python, library versions.

    Read once per process (signatures, the llama.cpp probe and every system ask for it); callers get a
    copy they may extend.
    """
    facts = _host_facts()
    return {**facts, "libraries": dict(facts["libraries"])}


@cache
def _host_facts() -> dict[str, Any]:
    model, flags = _cpuinfo()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return {
        "cpu_model": model,
        "cpu_flags": " ".join(flags),
        "usable_cores": cores,
        "machine": platform.machine(),
        "os": platform.system(),
        "python": platform.python_version(),
        "libraries": library_versions(),
    }


def fingerprint_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """``["cpu_flags ('avx avx2 avx512f' vs 'avx avx2')", ...]`` over the fields both sides recorded."""
    out = []
    for key in sorted(set(a) & set(b)):
        va, vb = a[key], b[key]
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out += [f"{key}.{d}" for d in fingerprint_differences(va, vb)]
        elif str(va) != str(vb):
            out.append(f"{key} ({str(va)!r} vs {str(vb)!r})")
    return out


#: seconds one ``git`` call may take before the run goes on without the commit
GIT_TIMEOUT_S = 10.0


def git_info(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The commit the work tree at ``path`` (default: the current directory) is on: ``commit`` (full
    hash), ``commit_date`` (committer date, ISO 8601) and ``dirty`` (tracked files differ from it;
    untracked files do not count, as for ``git describe --dirty``).

    ``{}`` when ``path`` is not inside a git work tree, when git is not installed, or when it fails or
    hangs: a run never fails for want of git. Read once per run (three quick ``git`` calls).
    """
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True,
                                  timeout=GIT_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("log", "-1", "--format=%H%n%cI")
    lines = (head or "").splitlines()
    if len(lines) != 2 or git("rev-parse", "--is-inside-work-tree") != "true":
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    info: dict[str, Any] = {"commit": lines[0], "commit_date": lines[1]}
    if status is not None:
        info["dirty"] = bool(status)
    return info
