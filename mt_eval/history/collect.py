"""The runs of a history: which folders, read and validated, in time order, with their gate verdicts.

An argument is a run folder (or its ``results.json``) or a folder whose immediate sub-folders are run
folders. A run is placed in time by the date of the commit it was made from (``results.json``
``git.commit_date``, ISO 8601, recorded by :func:`mt_eval.environment.git_info`) when recorded, else by
its ``created`` time. The gate's verdict is the one
``mt-eval run --gate`` leaves in the run folder (``gate/verdict.json``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.fsio import check_input_folder, read_input_json, resolve_output
from mt_eval.reports.layout import RESULTS_FILE, RunLayout
from mt_eval.reports.results import Results
from mt_eval.reports.run_folder import RunFolder

VERDICT_FILE = "verdict.json"
#: gate statuses that fail a build (mt_eval.gate.verdict.FAILING, as they are written to verdict.json)
FAILING = ("regression", "below-min-score", "above-max-score")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")  # a run's sub-folder of the site is also a plain URL path


@dataclass(frozen=True)
class GateMark:
    """A run's gate verdict: the outcome and, per (candidate system, metric key), the comparison status."""

    outcome: str
    statuses: Mapping[tuple[str, str], str] = field(default_factory=dict)
    reasons: Mapping[tuple[str, str], str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()  # what stopped the gate from comparing at all

    def status(self, system: str, key: str) -> tuple[str, str]:
        """(status, reason) of a system × metric; a gate that compared nothing marks every point."""
        if (system, key) in self.statuses:
            return self.statuses[(system, key)], self.reasons.get((system, key), "")
        if not self.statuses and self.outcome == "cannot-compare":
            return self.outcome, "; ".join(self.errors)
        return "", ""


@dataclass(frozen=True)
class Run:
    """One run of the history: its folder, validated results, place in time and gate verdict."""

    folder: RunFolder
    results: Results
    when: datetime
    when_source: str  # "commit" or "created"
    label: str  # unique, file-name and URL safe: the run's sub-folder of the site
    gate: GateMark | None = None
    notes: tuple[str, ...] = ()

    @property
    def commit(self) -> str:
        value = self.results.git.get("commit")
        return str(value) if value else ""


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def run_time(results: Results, where: str) -> tuple[datetime, str, list[str]]:
    """When a run belongs on the time axis: the commit's date if recorded, else ``created``."""
    notes: list[str] = []
    committed = results.git.get("commit_date")
    if committed is not None:
        parsed = _parse_time(committed)
        if parsed is not None:
            return parsed, "commit", notes
        notes.append(f"git commit_date {committed!r} is not an ISO 8601 time; placed by its creation time")
    created = _parse_time(results.created)
    if created is None:
        raise MtEvalError(f"{where}: created {results.created!r} is not an ISO 8601 time")
    return created, "created", notes


def read_gate(folder: RunFolder) -> tuple[GateMark | None, list[str]]:
    """``gate/verdict.json`` of a run folder; absent: ``None``; unreadable: ``None`` and a note."""
    path = folder.layout.gate_dir / VERDICT_FILE
    if not path.exists() and not path.is_symlink():
        return None, []
    try:
        document = read_input_json(path, "gate verdict")
        if not isinstance(document, dict) or not isinstance(document.get("outcome"), str):
            raise MtEvalError(f"{path}: not a gate verdict (no outcome)")
        statuses, reasons = {}, {}
        for entry in document.get("comparisons") or []:
            if not isinstance(entry, dict):
                continue
            system = entry.get("candidate_system") or entry.get("system")
            key = (str(system), str(entry.get("metric")))
            statuses[key] = str(entry.get("status", ""))
            reasons[key] = str(entry.get("reason", ""))
    except MtEvalError as exc:
        return None, [f"gate verdict left out: {exc}"]
    errors = tuple(str(e) for e in document.get("errors") or [] if isinstance(e, str))
    return GateMark(document["outcome"], statuses, reasons, errors), []


def _is_run_folder(path: Path) -> bool:
    return RunLayout.of(path).results_json.is_file()


def run_folders(arguments: Sequence[str | Path]) -> list[Path]:
    """Every run folder the arguments name, in argument order, each once."""
    found: list[Path] = []
    for argument in arguments:
        target = Path(argument)
        if target.name == RESULTS_FILE and target.is_file():
            target = target.parent
        check_input_folder(target, "run folder or folder of run folders")
        if _is_run_folder(target):
            found.append(target)
            continue
        inside = sorted(p for p in target.iterdir() if p.is_dir() and _is_run_folder(p))
        if not inside:
            raise MtEvalError(f"{argument}: not a run folder (no {RESULTS_FILE}) and holds no run folders")
        found.extend(inside)
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


def check_output(output: str | Path, arguments: Sequence[str | Path]) -> Path:
    """Refuse an output folder that is an input, lies inside one or holds one (it is replaced whole)."""
    target = Path(os.path.realpath(resolve_output(output)))
    for argument in arguments:
        source = Path(os.path.realpath(argument))
        if source.name == RESULTS_FILE and source.is_file():
            source = source.parent
        if target == source:
            raise MtEvalError(f"-o {output}: is the input {argument}; choose another output folder")
        if source in target.parents:
            raise MtEvalError(f"-o {output}: is inside the input {argument}; choose a folder outside it")
        if target in source.parents:
            raise MtEvalError(f"-o {output}: holds the input {argument} and would replace it; choose"
                              " another output folder")
    return target


def load_runs(arguments: Sequence[str | Path]) -> list[Run]:
    """Read every run the arguments name, ordered by time (then creation time, then name)."""
    loaded = []
    for path in run_folders(arguments):
        folder = RunFolder.open(path)
        results = folder.results()
        when, source, notes = run_time(results, str(folder.layout.results_json))
        gate, gate_notes = read_gate(folder)
        loaded.append((when, results.created, results.run_name, folder, results, source, gate,
                       notes + gate_notes))
    if not loaded:
        raise MtEvalError("no run folders given")
    loaded.sort(key=lambda item: (item[0], _parse_time(item[1]) or item[0], item[2], str(item[3].root)))
    runs, used = [], set()
    for when, _, name, folder, results, source, gate, notes in loaded:
        base = _UNSAFE.sub("-", name or folder.root.name).strip("-.") or "run"
        label, n = base, 1
        while label in used:
            n += 1
            label = f"{base}-{n}"
        used.add(label)
        runs.append(Run(folder, results, when, source, label, gate, tuple(notes)))
    return runs
