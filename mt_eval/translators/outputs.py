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


@dataclass
class SystemOutcome:
    """What happened to one requested system: a run, or why it was skipped or failed."""

    spec: str
    run: SystemRun | None = None
    status: str = "ok"  # "ok" | "skipped" (unavailable here) | "failed" (failed while running)
    reason: str = ""
    file: str = ""


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


def translate_systems(testset: TestSet, specs: Sequence[str], *,
                      options: Mapping[str, Mapping[str, Any]] | None = None, cache: CacheArg = None,
                      strict: bool = False, allow_skip: bool = False, progress: bool = True,
                      on_outcome: Callable[[SystemOutcome], None] | None = None,
                      executor: Any = None) -> list[SystemOutcome]:
    """Translate with each system in turn (``executor``: where, see ``mt_eval.cluster``; None = here).

    A system that is unavailable here is skipped (``strict`` raises instead); one that fails while
    running raises :class:`SystemFailed` unless ``allow_skip``, which records it as failed.
    """
    from mt_eval.translators.runner import translate_testset

    outcomes: list[SystemOutcome] = []
    for spec in specs:
        try:
            run = translate_testset(testset, spec, options=(options or {}).get(spec), cache=cache,
                                    progress=progress, executor=executor)
            outcome = SystemOutcome(spec=spec, run=run)
        except SystemFailed as exc:
            if not allow_skip:
                raise
            outcome = SystemOutcome(spec=spec, status="failed", reason=str(exc))
        except SystemUnavailable as exc:
            if strict:
                raise
            outcome = SystemOutcome(spec=spec, status="skipped", reason=str(exc))
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def truncation_record(testset: TestSet, run: SystemRun) -> dict[str, str]:
    """``{segment id: reason}`` for the segments whose input or output the backend cut."""
    return {seg_id: reason for seg_id, reason in zip(testset.ids, run.truncated, strict=False) if reason}


def write_translations(output: Path, testset: TestSet, outcomes: Sequence[SystemOutcome],
                       extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Replace ``output`` with one ``<slug>.txt`` per translated system plus ``translations.json``
    (``extra``: more top-level keys, e.g. the ``shard`` of ``translate --shard``)."""
    from mt_eval.fsio import atomic_directory, dumps_json
    from mt_eval.reports.layout import slug

    target = check_output_folder(output)
    summary: dict[str, Any] = {
        "testset": {"name": testset.name, "hash": testset.content_hash, "num_segments": len(testset),
                    "source_lang": testset.source_lang, "target_lang": testset.target_lang},
        "systems": {},
        **dict(extra or {}),
    }
    files: dict[str, list[str]] = {}
    for outcome in outcomes:
        run = outcome.run
        if run is None:
            summary["systems"][outcome.spec] = {"spec": outcome.spec, "status": outcome.status,
                                                "reason": outcome.reason}
            continue
        name = slug(run.name)
        if f"{name}.txt" in files or run.name in summary["systems"]:
            raise MtEvalError(f"translate: system {outcome.spec!r} given twice")
        outcome.file = f"{name}.txt"
        files[outcome.file] = [one_line_output(o) for o in run.outputs]
        summary["systems"][run.name] = {
            "spec": outcome.spec, "status": "ok", "file": outcome.file, "signature": run.signature,
            "throughput": run.throughput, "truncated": truncation_record(testset, run),
            "environment": run.environment,
        }
    try:
        mask = os.umask(0)
        os.umask(mask)
        with atomic_directory(target) as staging:
            contents = {name: "".join(f"{line}\n" for line in lines) for name, lines in files.items()}
            contents[TRANSLATIONS_FILE] = dumps_json(summary)
            for file_name, text in contents.items():
                with open(staging / file_name, "w", encoding="utf-8", newline="") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                (staging / file_name).chmod(0o666 & ~mask)
            staging.chmod(0o777 & ~mask)  # readable like any file the user creates, not mkdtemp's 0700
    except OSError as exc:
        raise MtEvalError(f"{output}: cannot write the translations ({exc.strerror or exc})") from None
    return summary
