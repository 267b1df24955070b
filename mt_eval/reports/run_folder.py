"""A run folder (``results/<run-name>/``): every path, every read and every atomic write in one class.

:class:`RunFolder` is the one place that knows the files of a run (``results.json``, ``stats/*.npy``
and ``stats/index.json``, ``segments.jsonl``, ``outputs/``, ``tables/``, ``report.html``, ``gate/``,
``canaries.json``),
validates what it reads (it is the only ``.npy`` reader: dtype, shape, finiteness, non-negative
counts) and writes through a staging copy swapped in whole, so ``compare --save`` and ``report``
never leave ``results.json`` and ``report.html`` disagreeing. Scoring lives in :mod:`mt_eval.evaluate`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mt_eval.data.testset import one_line
from mt_eval.errors import IncompatibleError, MtEvalError
from mt_eval.fsio import (
    atomic_directory,
    atomic_write_json,
    atomic_write_text,
    check_input_folder,
    check_output_folder,
    read_input_bytes,
    read_input_json,
    read_input_text,
    write_lines,
)
from mt_eval.metrics.signature import MetricSignature
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.results import Results, parse_results, write_results
from mt_eval.reports.segments import parse_segments, write_segments

if TYPE_CHECKING:
    from mt_eval.evaluate import RunResult
    from mt_eval.metrics.base import SegmentDetail

log = logging.getLogger(__name__)

META_FILE = "meta.json"  # written by `mt-eval meta`, dropped by RunFolder.add_scores


class RunFolder:
    """One run folder. Constructing it touches nothing; reads validate, writes are atomic."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.layout = RunLayout.of(self.root)

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        """An existing run folder, given as the folder or as its ``results.json``."""
        target = Path(path)
        if target.name == RunLayout.of(".").results_json.name and not target.is_dir():
            target = target.parent
        if not target.exists() and not target.is_symlink():
            raise MtEvalError(f"{path}: not found (expected a run folder or its results.json)")
        check_input_folder(target, "run folder")
        if not RunLayout.of(target).results_json.exists():
            raise MtEvalError(f"{target}: not a run folder (no results.json)")
        return cls(target)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    # ------------------------------------------------------------------------------ reading
    def results(self) -> Results:
        """``results.json``, validated field by field."""
        path = self.layout.results_json
        if not path.exists() and not path.is_symlink():
            raise MtEvalError(f"{path}: not found (not a run folder?)")
        return parse_results(read_input_json(path, "results.json"), where=str(path))

    def segments(self, results: Results | None = None) -> list[dict[str, Any]]:
        """``segments.jsonl``; with ``results``, a missing or truncated file is an error."""
        path = self.layout.segments_jsonl
        if not path.exists() and not path.is_symlink():
            if results is None:
                return []
            raise MtEvalError(f"{path}: not found (the run folder is incomplete; re-run the evaluation)")
        records = parse_segments(read_input_text(path, "segments file"), where=str(path))
        if results is not None:
            expected = results.testset.num_segments
            if len(records) != expected:
                raise MtEvalError(f"{path}: {len(records)} segment records for {expected} segments"
                                  " (truncated?)")
            for number, record in enumerate(records, 1):
                if record.get("index", number - 1) != number - 1:
                    raise MtEvalError(f"{path}:{number}: record index {record.get('index')!r}, expected"
                                      f" {number - 1}")
        return records

    def stats_path(self, system: str, metric_key: str) -> Path:
        """The statistics file of a system × metric (a folder from before the reversible slugs too)."""
        return _current_or_legacy(self.layout.stats_path(system, metric_key),
                                  self.layout.legacy_stats_path(system, metric_key))

    def output_path(self, system: str) -> Path:
        return _current_or_legacy(self.layout.output_path(system), self.layout.legacy_output_path(system))

    def outputs(self, system: str, num_segments: int | None = None) -> list[str]:
        """``outputs/<system>.txt``: one hypothesis per line (split on ``\n`` only)."""
        path = self.output_path(system)
        lines = read_input_text(path, "outputs file").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if num_segments is not None and len(lines) != num_segments:
            raise MtEvalError(f"{path}: {len(lines)} lines for {num_segments} segments (truncated?)")
        return lines

    def stats(self, system: str, metric_key: str, num_segments: int | None = None) -> np.ndarray:
        """One ``stats/<system>/<metric>.npy``, validated (the only ``.npy`` reader of mt-eval)."""
        path = self.stats_path(system, metric_key)
        if not path.exists() and not path.is_symlink():
            raise MtEvalError(f"{path}: statistics file not found (system {system!r}, metric"
                              f" {metric_key!r}); re-run the evaluation")
        return read_stats_file(path, num_segments)

    def all_stats(self, results: Results) -> dict[str, dict[str, np.ndarray]]:
        """The statistics of every evaluated system and metric of ``results``."""
        n = results.testset.num_segments
        return {system: {key: self.stats(system, key, n) for key in results.metrics}
                for system in results.ok_systems}

    def details(self, system: str, metric_key: str, num_segments: int) -> list[SegmentDetail] | None:
        """``stats/<system>/<metric>.details.json`` (spans, failures, usage), or ``None`` if absent."""
        from mt_eval.reports.details import parse_details_document

        path = self.layout.details_path(system, metric_key)
        if not path.exists() and not path.is_symlink():
            return None
        return parse_details_document(read_input_json(path, "details file"), num_segments, where=str(path))

    def meta(self, results: Results | None = None) -> dict[str, Any] | None:
        """``meta.json`` when it belongs to this run (``results``): its human metric and every metric it
        rates have the signatures they have in the run. Stale or unreadable: ``None`` (and a log line)."""
        path = self.meta_json
        if not path.exists():
            return None
        try:
            document = read_input_json(path, "meta.json")
        except MtEvalError as exc:
            log.warning("%s", exc)
            return None
        if not isinstance(document, dict) or not isinstance(document.get("metrics"), dict):
            log.warning("%s: not a meta-evaluation; left out of the report", path)
            return None
        if results is not None and not meta_matches(document, results):
            log.warning("%s: computed from other scores than the run has now; left out of the report", path)
            return None
        return document

    def stats_index(self) -> dict[str, Any]:
        """Cache keys of the saved statistics; an unreadable index only means "recompute"."""
        try:
            index = read_input_json(self.layout.stats_index, "statistics index")
        except MtEvalError:
            return {}
        return index if isinstance(index, dict) else {}

    # ------------------------------------------------------------------------------ writing
    def check_writable(self) -> None:
        """Refuse to replace something that is not a run folder (``-o .`` must not wipe a checkout)."""
        root = check_output_folder(self.root, "-o")
        if root.exists() and any(root.iterdir()) and not RunLayout.of(root).results_json.is_file():
            raise MtEvalError(f"{self.root}: exists, is not empty and is not a run folder; choose another -o")

    @contextlib.contextmanager
    def _staged(self, keep: Callable[[Path], bool] | None = None) -> Iterator[RunLayout]:
        """A staging copy of this folder (files hard-linked when ``keep`` says so), swapped in whole."""
        self.check_writable()
        with atomic_directory(self.root) as staging:
            if keep is not None and self.root.is_dir():
                _link_tree(self.root, staging, keep)
            yield RunLayout.of(staging)

    def write(self, run: RunResult, outputs: Mapping[str, Sequence[str]],
              stats_index: Mapping[str, Any] | None = None) -> Path:
        """Write the whole run folder (outputs, statistics, results, segments, tables, report) at once."""
        with self._staged() as layout:
            for name, lines in outputs.items():
                write_lines(layout.output_path(name), [one_line(x) for x in lines])
            for name, per_metric in run.stats.items():
                for key, arr in per_metric.items():
                    _save_npy(layout.stats_path(name, key), arr)
            _save_details(layout, run.details)
            index = dict(stats_index) if stats_index is not None else {
                f"{name}\t{key}": {"key": "", "signature": run.results.metrics[key].signature}
                for name, per_metric in run.stats.items() for key in per_metric}
            _write_scores(layout, run.results, run.records, index)
        return self.root

    def update(self, results: Results | None = None,
               records: Sequence[Mapping[str, Any]] | None = None) -> list[Path]:
        """Re-write ``results.json`` (when given), the tables and ``report.html`` in one swap.

        Everything else (outputs, statistics, segments, gate verdicts) is carried over unchanged.
        """
        from mt_eval.reports.details import summarize_records
        from mt_eval.reports.html import write_report
        from mt_eval.reports.tables import write_tables

        current = self.results()
        if records is None:
            records = self.segments(results or current)
        regenerated = {self.layout.report_html, self.layout.tables_dir}
        if results is not None:
            regenerated.add(self.layout.results_json)
            results = summarize_records(results, records)
        # tables and report count the spans the records hold (an older results.json may lack them)
        shown = results or summarize_records(current, records)
        meta = self.meta(shown)
        with self._staged(keep=lambda p: p not in regenerated) as layout:
            if results is not None:
                write_results(results, layout.results_json)
            tables = write_tables(shown, layout.root)
            report = write_report(shown, records, layout.root, meta=meta)
        return [self.root / p.relative_to(layout.root) for p in (*tables, report)]

    # ------------------------------------------------------------------ scores added after the run
    # (mt-eval humeval import, mt-eval meta); kept apart from the writers above.
    @property
    def meta_json(self) -> Path:
        """``meta.json``: the meta-evaluation of the run's metrics against human scores (``mt-eval meta``)."""
        return self.root / META_FILE

    def add_scores(self, results: Results, records: Sequence[Mapping[str, Any]],
                   stats: Mapping[str, Mapping[str, np.ndarray]]) -> list[Path]:
        """Like :meth:`update`, plus new statistics files and a rewritten ``segments.jsonl``, in one swap.

        For scores added to a finished run (imported human judgements): ``stats[system][key]`` go to
        ``stats/`` with an index entry that never matches a computed cache key (they cannot be
        recomputed), and ``meta.json``, computed from the previous scores, is dropped as stale.
        """
        from mt_eval.reports.details import summarize_records

        self.results()  # a readable run folder, or a one-line error before anything is staged
        results = summarize_records(results, records)
        index = self.stats_index()
        new_stats = {self.layout.stats_path(name, key) for name, per_metric in stats.items()
                     for key in per_metric}
        regenerated = {self.layout.results_json, self.layout.segments_jsonl, self.layout.report_html,
                       self.layout.tables_dir, self.layout.stats_index, self.meta_json, *new_stats}
        with self._staged(keep=lambda p: p not in regenerated) as layout:
            for name, per_metric in stats.items():
                for key, arr in per_metric.items():
                    _save_npy(layout.stats_path(name, key), arr)
                    index[f"{name}\t{key}"] = {"key": "", "signature": results.metrics[key].signature}
            written = _write_scores(layout, results, records, index)
        return [self.root / p.relative_to(layout.root) for p in written]

    def write_meta(self, document: Mapping[str, Any]) -> Path:
        """Write ``meta.json`` and re-render ``report.html`` with its "Meta-evaluation" section, in one
        swap (the other files of the run are carried over unchanged)."""
        return self._write_beside_report(META_FILE, document, lambda results: dict(document)
                                         if meta_matches(document, results) else None)

    def write_canaries(self, document: Mapping[str, Any]) -> Path:
        """Write ``canaries.json`` and re-render ``report.html`` with its "Metric canaries" section, in one
        swap (the other files of the run are carried over unchanged)."""
        from mt_eval.canaries.report import FILE_NAME

        return self._write_beside_report(FILE_NAME, document, self.meta)

    def _write_beside_report(self, name: str, document: Mapping[str, Any],
                             meta_of: Callable[[Results], dict[str, Any] | None]) -> Path:
        """The JSON file ``name`` and ``report.html`` (with the meta-evaluation ``meta_of`` the run) in one
        swap."""
        from mt_eval.reports.html import write_report

        results = self.results()
        records = self.segments(results)
        meta = meta_of(results)
        regenerated = {self.root / name, self.layout.report_html}
        with self._staged(keep=lambda p: p not in regenerated) as layout:
            atomic_write_json(layout.root / name, dict(document))
            write_report(results, records, layout.root, meta=meta)
        return self.root / name

    def write_gate(self, files: Mapping[str, str]) -> list[Path]:
        """Replace ``gate/`` with ``files`` (name → text) in one swap."""
        target = self.layout.gate_dir
        with atomic_directory(target) as staging:
            for name, text in files.items():
                (staging / name).write_text(text, encoding="utf-8")
        return [target / name for name in files]


def load_run(path: str | Path) -> Results:
    """The validated ``results.json`` of a run folder, given as the folder or as a results file."""
    target = Path(path)
    if target.is_dir():
        return RunFolder.open(target).results()
    if not target.exists() and not target.is_symlink():
        raise MtEvalError(f"{target}: not found (not a run folder?)")
    return parse_results(read_input_json(target, "results.json"), where=str(target))


# ---------------------------------------------------------------------------------- .npy files
def read_stats_file(path: str | Path, num_segments: int | None = None) -> np.ndarray:
    """Read and validate a statistics ``.npy``: a 2-D int64 (counts, never negative) or finite float64
    array, one row per segment. Never with pickle; a FIFO, a folder, a truncated or 0-byte file,
    an ``.npz``, an object array are one-line errors."""
    file = Path(path)
    data = read_input_bytes(file, "statistics file")
    if not data:
        raise MtEvalError(f"{file}: empty statistics file (0 bytes; an interrupted write?);"
                          " re-run the evaluation")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError, TypeError, UnicodeError, zipfile.BadZipFile) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MtEvalError(f"{file}: unreadable statistics (truncated or not a .npy file: {first})") from None
    if not isinstance(arr, np.ndarray):
        raise MtEvalError(f"{file}: not a single .npy array")
    if arr.dtype.kind not in "iuf":
        raise MtEvalError(f"{file}: statistics of dtype {arr.dtype}; expected int64 or float64")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MtEvalError(f"{file}: statistics of shape {arr.shape}; expected (segments, values)")
    if num_segments is not None and arr.shape[0] != num_segments:
        raise MtEvalError(f"{file}: {arr.shape[0]} statistics rows for {num_segments} segments")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise MtEvalError(f"{file}: statistics hold NaN or infinity")
        return arr.astype(np.float64, copy=False)
    if (arr < 0).any():
        row = int(np.argwhere(arr < 0)[0][0])
        raise MtEvalError(f"{file}: negative count in row {row + 1} (statistics are counts)")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise MtEvalError(f"{file}: counts overflow int64")
    return arr.astype(np.int64, copy=False)


def meta_matches(document: Mapping[str, Any], results: Results) -> bool:
    """Whether a meta-evaluation was computed from this run's scores: its human metric and every metric
    it rates are in the run with the signatures it recorded (where it recorded them)."""
    human = document.get("human")
    metrics = document.get("metrics")
    if not isinstance(human, str) or human not in results.metrics or not isinstance(metrics, Mapping):
        return False
    recorded = document.get("human_signature")
    if recorded and recorded != results.metrics[human].signature_string:
        return False
    for key, entry in metrics.items():
        if key not in results.metrics or not isinstance(entry, Mapping):
            return False
        signature = entry.get("signature")
        if signature and signature != results.metrics[key].signature_string:
            return False
    systems = document.get("systems")
    return not isinstance(systems, list) or set(systems) <= set(results.ok_systems)


def _save_details(layout: RunLayout, details: Mapping[str, Mapping[str, Sequence[SegmentDetail]]]) -> None:
    from mt_eval.reports.details import details_document

    for name, per_metric in details.items():
        for key, per_segment in per_metric.items():
            path = layout.details_path(name, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            # a cache file, not for reading by eye: compact (a 100k-segment run has 100k entries)
            atomic_write_text(path, json.dumps(details_document(per_segment), ensure_ascii=False,
                                               separators=(",", ":")) + "\n")


def _write_scores(layout: RunLayout, results: Results, records: Sequence[Mapping[str, Any]],
                  stats_index: Mapping[str, Any]) -> list[Path]:
    """The statistics index, ``results.json``, ``segments.jsonl``, tables and report into a staged folder;
    returns the tables and the report."""
    from mt_eval.reports.html import write_report
    from mt_eval.reports.tables import write_tables

    atomic_write_json(layout.stats_index, stats_index)
    write_results(results, layout.results_json)
    write_segments(records, layout.segments_jsonl)
    return [*write_tables(results, layout.root), write_report(results, records, layout.root)]


def _current_or_legacy(path: Path, legacy: Path) -> Path:
    """``legacy`` (a run folder from before the reversible slugs) only where ``path`` is absent."""
    return legacy if not path.exists() and legacy.exists() else path


def _save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(arr), allow_pickle=False)


def _link_tree(source: Path, dest: Path, keep: Callable[[Path], bool]) -> None:
    """Hard-link (copy where linking fails) every kept file of ``source`` into ``dest``.

    Linking is safe because no file of a run folder is ever changed in place, only replaced.
    Hidden entries (temporaries of other writers) are not carried over.
    """
    for entry in os.scandir(source):
        path = Path(entry.path)
        if entry.name.startswith(".") or not keep(path):
            continue
        target = dest / entry.name
        if entry.is_dir(follow_symlinks=False):
            target.mkdir()
            _link_tree(path, target, keep)
        elif entry.is_file(follow_symlinks=False):
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)


# ------------------------------------------------------------------------------ several runs
def combine_runs(root: str | Path, others: Sequence[str | Path]) -> tuple[Results, list[dict[str, Any]],
                                                                          dict[str, dict[str, np.ndarray]]]:
    """Merge other runs' systems into one run's view; test set and metric signatures must match."""
    folder = RunFolder.open(root)
    results = folder.results()
    records = folder.segments(results)
    stats = folder.all_stats(results)
    for other_root in others:
        other_folder = RunFolder.open(other_root)
        other = other_folder.results()
        if other.testset.hash != results.testset.hash:
            raise IncompatibleError(f"{other_root}: test set {other.testset.hash[:12]} differs from"
                                    f" {results.testset.hash[:12]} in {root}")
        for key, info in results.metrics.items():
            if key not in other.metrics:
                raise IncompatibleError(f"{other_root}: has no metric {key} (needed to combine with {root})")
            mine_sig, their_sig = (MetricSignature.recorded(m.signature) for m in (info, other.metrics[key]))
            if mine_sig.differences(their_sig):
                raise IncompatibleError(f"{other_root}: metric {key} signature {their_sig} differs from"
                                        f" {mine_sig} in {root}")
        other_stats = other_folder.all_stats(other)
        other_records = other_folder.segments(other)
        for system in other.ok_systems:
            if system in results.systems:
                raise MtEvalError(f"{other_root}: system {system!r} is also in {root}; rename one")
            results.systems[system] = other.systems[system]
            results.scores[system] = {k: v for k, v in other.scores.get(system, {}).items()
                                      if k in results.metrics}
            if system in other.flags:
                results.flags[system] = other.flags[system]
            for field in ("usage", "judge_failures"):
                theirs = getattr(other, field).get(system)
                if theirs is not None:
                    getattr(results, field)[system] = {k: v for k, v in theirs.items()
                                                       if k in results.metrics}
            stats[system] = {k: other_stats[system][k] for k in results.metrics}
            for mine, theirs in zip(records, other_records, strict=True):
                mine["outputs"][system] = theirs["outputs"].get(system, "")
                mine["scores"][system] = {k: v for k, v in theirs["scores"].get(system, {}).items()
                                          if k in results.metrics}
                mine["flags"][system] = theirs["flags"].get(system, [])
                for field in ("spans", "failures"):
                    if system in (theirs.get(field) or {}):
                        mine.setdefault(field, {})[system] = theirs[field][system]
    if others:
        from mt_eval.reports.details import summarize_records

        results = summarize_records(results, records)  # span counts of the joined systems too
    return results, records, stats

