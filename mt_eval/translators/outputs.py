"""Translate a test set with several systems and write one hypothesis file per system, atomically.

Every system is translated before anything is written, and the folder (hypothesis files plus
``translations.json``) is then replaced in one step: a system that fails, or a kill at any moment,
leaves the previous folder exactly as it was, never new files next to an old ``translations.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mt_eval.errors import MtEvalError, SystemFailed, SystemUnavailable
from mt_eval.translators.base import SystemRun

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet
    from mt_eval.translators.runner import CacheArg

TRANSLATIONS_FILE = "translations.json"


def one_line_output(text: str) -> str:
    """A hypothesis file holds one segment per ``\\n``-terminated line: line ends inside become spaces.

    Only ``\\n`` and ``\\r`` matter; U+2028 and U+0085 stay, because every reader splits on ``\\n`` only.
    """
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def check_output_folder(output: Path) -> Path:
    """The folder to write (a symlink is followed, so the link survives): absent, empty, or an earlier
    ``translate`` output (only ``*.txt`` files and ``translations.json``). Anything else is refused
    *before* translating, because the folder is replaced whole."""
    target = output.resolve() if output.is_symlink() else output
    if target.exists() and not target.is_dir():
        raise MtEvalError(f"{output}: exists and is not a folder")
    if target.is_dir():
        try:
            entries = list(target.iterdir())
        except OSError as exc:
            raise MtEvalError(f"{output}: cannot read the folder ({exc.strerror})") from None
        foreign = [p.name for p in entries if p.is_symlink() or not p.is_file()
                   or not (p.suffix == ".txt" or p.name == TRANSLATIONS_FILE)]
        if foreign:
            raise MtEvalError(f"{output}: holds {foreign[0]!r}, which `mt-eval translate` did not write; "
                              f"the folder is replaced whole, so give a new or empty folder")
    parent = target.parent if target.parent != Path("") else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise MtEvalError(f"{output}: cannot write in {parent}")
    return target


@dataclass(frozen=True)
class TranslateRules:
    """Where systems translate and what becomes of one that cannot: ``strict`` makes an unavailable
    system an error (else it is skipped); ``allow_skip`` records one that fails while running as
    failed (else :class:`SystemFailed` is raised). ``executor``: see ``mt_eval.cluster`` (None = here)."""

    cache: CacheArg = None
    strict: bool = False
    allow_skip: bool = False
    progress: bool = True
    executor: Any = None


def translate_or_skip(testset: TestSet, spec: str, rules: TranslateRules, *,
                      options: Mapping[str, Any] | None = None, name: str | None = None) -> SystemRun:
    """Translate with one system; following ``rules``, one that is unavailable here or fails while running
    becomes a ``"skipped"`` or ``"failed"`` :class:`SystemRun` (with the reason) instead of raising."""
    from mt_eval.translators.runner import translate_testset

    try:
        return translate_testset(testset, spec, options=options, name=name, cache=rules.cache,
                                 progress=rules.progress, executor=rules.executor)
    except SystemFailed as exc:
        if not rules.allow_skip:
            raise
        status, reason = "failed", str(exc)
    except SystemUnavailable as exc:
        if rules.strict:
            raise
        status, reason = "skipped", str(exc)
    return SystemRun(name=name or spec, spec=spec, outputs=[], signature={}, status=status, reason=reason)


def translate_systems(testset: TestSet, specs: Sequence[str], rules: TranslateRules = TranslateRules(), *,
                      options: Mapping[str, Mapping[str, Any]] | None = None,
                      on_run: Callable[[SystemRun], None] | None = None) -> list[SystemRun]:
    """Translate with each system in turn (``options``: per spec), following ``rules``."""
    runs = []
    for spec in specs:
        runs.append(translate_or_skip(testset, spec, rules, options=(options or {}).get(spec)))
        if on_run is not None:
            on_run(runs[-1])
    return runs


def truncation_record(testset: TestSet, run: SystemRun) -> dict[str, str]:
    """``{segment id: reason}`` for the segments whose input or output the backend cut."""
    return {seg_id: reason for seg_id, reason in zip(testset.ids, run.truncated, strict=False) if reason}


def write_translations(output: Path, testset: TestSet, runs: Sequence[SystemRun],
                       extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Replace ``output`` with one ``<slug>.txt`` per translated system plus ``translations.json``
    (``extra``: more top-level keys, e.g. the ``shard`` of ``translate --shard``); returns the latter."""
    from mt_eval.fsio import atomic_directory, dumps_json, slug

    target = check_output_folder(output)
    summary: dict[str, Any] = {
        "testset": {"name": testset.name, "hash": testset.content_hash, "num_segments": len(testset),
                    "source_lang": testset.source_lang, "target_lang": testset.target_lang},
        "systems": {},
        **dict(extra or {}),
    }
    files: dict[str, list[str]] = {}
    for run in runs:
        if run.status != "ok":
            summary["systems"][run.spec] = {"spec": run.spec, "status": run.status, "reason": run.reason}
            continue
        file = f"{slug(run.name)}.txt"
        if file in files or run.name in summary["systems"]:
            raise MtEvalError(f"translate: system {run.spec!r} given twice")
        files[file] = [one_line_output(o) for o in run.outputs]
        summary["systems"][run.name] = {
            "spec": run.spec, "status": "ok", "file": file, "signature": run.signature,
            "throughput": run.throughput, "truncated": truncation_record(testset, run),
            "environment": run.environment,
        }
    contents = {name: "".join(f"{line}\n" for line in lines) for name, lines in files.items()}
    contents[TRANSLATIONS_FILE] = dumps_json(summary)
    try:
        with atomic_directory(target) as staging:  # made readable (umask permitting) before the swap
            for file_name, text in contents.items():
                with open(staging / file_name, "w", encoding="utf-8", newline="") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
    except OSError as exc:
        raise MtEvalError(f"{output}: cannot write the translations ({exc.strerror or exc})") from None
    return summary
