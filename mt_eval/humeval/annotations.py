"""``mt-eval humeval import``: judged items back into the run, as a metric and as spans.

Rows are read and checked first, all of them (a bad row is a one-line error naming the file and
line, and nothing is written); then every item is mapped through the export's key to its (segment,
system), and the run folder gains, in one atomic swap: the metric ``--name`` in ``results.json``
(scores, bootstrap CIs, paired tests, Holm correction, rank clusters — computed by
:func:`mt_eval.evaluate.confidence_intervals` and :func:`mt_eval.evaluate.significance` with the
run's own settings), ``stats/<system>/<name>.npy``, the per-segment scores and spans in
``segments.jsonl``, and re-rendered tables and report.

**Every output is judged, or nothing is imported.** Each (segment, system) of every evaluated system
must have a score (``direct``) or a ``spans`` field (``mqm``; ``[]`` = no error); otherwise the import
is refused with the number missing. A human score over a subset of segments would be compared by the
paired tests with metrics over all of them, and its CIs would describe another test set; annotate
the missing items, or build a smaller test set and run on that.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mt_eval.errors import MtEvalError
from mt_eval.fsio import decode_text, read_input_bytes, read_input_json
from mt_eval.humeval.export import KEY_FILE, KEY_FORMAT, sha256_text
from mt_eval.humeval.metric import HumanMetric
from mt_eval.reports.results import MetricInfo, Results, ScoreEntry, Significance
from mt_eval.reports.run_folder import RunFolder
from mt_eval.settings import CONFIDENCE, RESAMPLES, SEED, EvalSettings
from mt_eval.spans import WMT_WEIGHTS, Span, make_span, mqm_penalty, set_record_spans, span_from_quote

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
PROTOCOLS = ("auto", "direct", "mqm")


@dataclass
class Row:
    """One judged item as read from a file; ``where`` is ``file:line`` for messages."""

    item_id: str
    where: str
    score: float | None = None
    spans: list[Any] | None = None
    annotator: str | None = None


@dataclass
class ImportSummary:
    name: str
    protocol: str
    items: int
    spans: int
    unlocated: int
    systems: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------ reading rows
def read_rows(path: str | Path) -> list[Row]:
    """Rows of one annotation file (``.tsv`` with a header, or ``.jsonl``); bad rows name file:line."""
    file = Path(path)
    suffix = file.suffix.lower()
    data = read_input_bytes(file, "annotation file")  # a FIFO or a folder is refused before any suffix rule
    if suffix not in (".tsv", ".jsonl"):
        raise MtEvalError(f"{file}: annotation files must end in .tsv or .jsonl")
    text = decode_text(data, str(file))  # strict UTF-8 (BOM dropped); bad bytes and NUL name line and offset
    return _read_tsv(file, text) if suffix == ".tsv" else _read_jsonl(file, text)


def _read_jsonl(file: Path, text: str) -> list[Row]:
    rows = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise MtEvalError(f"{where}: malformed JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise MtEvalError(f"{where}: expected a JSON object per line")
        rows.append(_row(obj, where, spans_json=False))
    return rows


def _read_tsv(file: Path, text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")  # records end at \n, not U+2028
    try:
        header = next(reader)
    except StopIteration:
        raise MtEvalError(f"{file}:1: empty file (a header row with item_id is expected)") from None
    except csv.Error as exc:
        raise MtEvalError(f"{file}:1: unreadable TSV ({exc})") from None
    header = [h.strip() for h in header]
    if "item_id" not in header:
        raise MtEvalError(f"{file}:1: no item_id column in the header")
    rows = []
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise MtEvalError(f"{file}:{start}: unreadable TSV row ({exc})") from None
        where = f"{file}:{start}"
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise MtEvalError(f"{where}: {len(values)} fields, the header has {len(header)}")
        rows.append(_row(dict(zip(header, values, strict=True)), where, spans_json=True))
    return rows


def _row(obj: Mapping[str, Any], where: str, *, spans_json: bool) -> Row:
    item = obj.get("item_id")
    if isinstance(item, str):
        item = item.strip()
    if not isinstance(item, str) or not item:
        raise MtEvalError(f"{where}: item_id missing or empty")
    return Row(item_id=item, where=where, score=_score(obj.get("score"), where),
               spans=_spans(obj.get("spans"), where, spans_json),
               annotator=_annotator(obj.get("annotator"), where))


def _score(value: Any, where: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise MtEvalError(f"{where}: score {value!r} is not a number")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise MtEvalError(f"{where}: score {value!r} is not a number") from None
    if not math.isfinite(number) or not 0.0 <= number <= 100.0:
        raise MtEvalError(f"{where}: score {value!r} is outside 0–100")
    return number


def _spans(value: Any, where: str, from_json_text: bool) -> list[Any] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if from_json_text and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise MtEvalError(f"{where}: spans is not valid JSON ({exc})") from None
    if not isinstance(value, list):
        raise MtEvalError(f"{where}: spans must be a list of span objects")
    for number, span in enumerate(value, 1):
        if not isinstance(span, dict):
            raise MtEvalError(f"{where}: span {number} is not an object")
    return value


def _annotator(value: Any, where: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise MtEvalError(f"{where}: annotator must be text")
    return value.strip()


# ------------------------------------------------------------------------------ key
def load_key(path: str | Path) -> dict[str, Any]:
    """The export's ``key.json``, checked enough to map items back."""
    key = read_input_json(path, "humeval key")
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT:
        raise MtEvalError(f"{path}: not a humeval key file (written by mt-eval humeval export)")
    items = key.get("items")
    if not isinstance(items, dict) or not items:
        raise MtEvalError(f"{path}: the key lists no items")
    for item_id, info in items.items():
        if not isinstance(info, dict) or not isinstance(info.get("segment_index"), int) \
                or not isinstance(info.get("system"), str):
            raise MtEvalError(f"{path}: item {item_id!r} is malformed")
    return key


def default_key_path(annotation_files: Sequence[str | Path]) -> Path:
    """``key.json`` next to the first annotation file (where export wrote it)."""
    return Path(annotation_files[0]).parent / KEY_FILE


# ------------------------------------------------------------------------------ import
def import_annotations(run_dir: str | Path, files: Sequence[str | Path], *, name: str = "human",
                       key_path: str | Path | None = None, protocol: str = "auto",
                       weights: Mapping[str, float] = WMT_WEIGHTS, replace: bool = False) -> ImportSummary:
    """Read annotation files, map them through the key and add metric ``name`` to the run folder."""
    if not files:
        raise MtEvalError("no annotation file given")
    if protocol not in PROTOCOLS:
        raise MtEvalError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if not _NAME.match(name):
        raise MtEvalError(f"--name {name!r}: use letters, digits and . _ + - (at most 64, no spaces)")
    folder = RunFolder.open(run_dir)
    results = folder.results()
    records = folder.segments(results)
    if name in results.metrics:
        if results.metrics[name].spec.get("name") != HumanMetric.name:
            raise MtEvalError(f"metric {name!r} is already a computed metric of {run_dir};"
                              " choose another --name")
        if not replace:
            raise MtEvalError(f"metric {name!r} is already in {run_dir}; --replace overwrites it")
    key_file = Path(key_path) if key_path is not None else default_key_path(files)
    key = load_key(key_file)
    systems = results.ok_systems
    _check_key(key, key_file, results, systems)
    rows, provenance = _read_judged(files, key, key_file)
    if protocol == "auto":
        protocol = "direct" if any(r.score is not None for r in rows.values()) else "mqm"
    judged = _Judged(protocol, name, weights, {s: [None] * len(records) for s in systems})
    judged.collect(key, rows, records)

    metric = HumanMetric(protocol=protocol, weights=dict(weights), annotations=provenance,
                         items=len(key["items"]))
    stats = {s: HumanMetric.stats_from_scores([float(v) for v in judged.scores[s] if v is not None])
             for s in systems}
    _add_metric(results, name, metric, stats, systems)
    sources = {span.source for found in judged.spans.values() for span in found}
    for index, record in enumerate(records):
        for system in systems:
            record.setdefault("scores", {}).setdefault(system, {})[name] = judged.scores[system][index]
            if judged.spans or sources:
                set_record_spans(record, system, judged.spans.get((index, system), []),
                                 replace_sources=sources)
    folder.add_scores(results, records, {s: {name: stats[s]} for s in systems})
    all_spans = [span for found in judged.spans.values() for span in found]
    return ImportSummary(name=name, protocol=protocol, items=len(key["items"]), spans=len(all_spans),
                         unlocated=sum(1 for s in all_spans if not s.located), systems=list(systems),
                         scores={s: results.scores[s][name].score for s in systems})


def _read_judged(files: Sequence[str | Path], key: Mapping[str, Any],
                 key_file: Path) -> tuple[dict[str, Row], str]:
    """Every row of every file by item id (each item at most once), and a hash of the files' bytes."""
    rows: dict[str, Row] = {}
    digests = []
    for file in files:
        file_rows = read_rows(file)
        digests.append(hashlib.sha256(read_input_bytes(file, "annotation file")).hexdigest())
        for row in file_rows:
            if row.item_id not in key["items"]:
                raise MtEvalError(f"{row.where}: unknown item_id {row.item_id!r} (not in {key_file})")
            if row.item_id in rows:
                raise MtEvalError(f"{row.where}: item {row.item_id!r} is annotated twice (also at"
                                  f" {rows[row.item_id].where})")
            rows[row.item_id] = row
    return rows, hashlib.sha256("".join(sorted(digests)).encode("ascii")).hexdigest()


@dataclass
class _Judged:
    """Per system, the human score of every segment (``scores``), and the spans per (segment, system)."""

    protocol: str  # "direct" or "mqm"
    name: str  # the metric, also the spans' default source
    weights: Mapping[str, float]
    scores: dict[str, list[float | None]]
    spans: dict[tuple[int, str], list[Span]] = field(default_factory=dict)

    def collect(self, key: Mapping[str, Any], rows: Mapping[str, Row], records: Sequence[Any]) -> None:
        """Map every item of the key to its segment; every item must be judged."""
        missing = [item_id for item_id, info in key["items"].items()
                   if not self._item(item_id, info, rows.get(item_id), records)]
        if missing:
            first = key["items"][missing[0]]
            what = "score" if self.protocol == "direct" else "spans field ([] for no error)"
            raise MtEvalError(f"{len(missing)} of {len(key['items'])} items have no {what} (first: item"
                              f" {missing[0]} = segment {first.get('segment_id')!r}, system"
                              f" {first['system']!r}); every output of every system must be judged (scores"
                              " on a subset would not be comparable with the run's other metrics)")

    def _item(self, item_id: str, info: Mapping[str, Any], judged: Row | None,
              records: Sequence[Any]) -> bool:
        """Record one item's score and spans; False when it has no score (or no spans under MQM)."""
        index, system = info["segment_index"], info["system"]
        hypothesis = str(records[index]["outputs"].get(system, ""))
        if judged is not None and info.get("hypothesis_sha256") not in (None, sha256_text(hypothesis)):
            raise MtEvalError(f"{judged.where}: item {item_id!r}: the output of system {system!r} for segment"
                              f" {info.get('segment_id')!r} changed since the export; export again")
        if judged is None:
            return False
        found = _spans_of(judged, hypothesis, str(records[index]["id"]), system, self.name)
        if found is not None:
            self.spans[(index, system)] = found
        value = judged.score if self.protocol == "direct" else (
            None if found is None else -mqm_penalty(found, self.weights))
        self.scores[system][index] = value
        return value is not None


def _check_key(key: Mapping[str, Any], key_file: Path, results: Results, systems: Sequence[str]) -> None:
    if key.get("testset_hash") != results.testset.hash:
        raise MtEvalError(f"{key_file}: exported from test set {str(key.get('testset_hash'))[:12]},"
                          f" the run has {results.testset.hash[:12]}")
    n = results.testset.num_segments
    covered: set[tuple[int, str]] = set()
    for item_id, info in key["items"].items():
        if not 0 <= info["segment_index"] < n:
            raise MtEvalError(f"{key_file}: item {item_id!r} points to segment {info['segment_index']}"
                              f" of {n}")
        if info["system"] not in systems:
            raise MtEvalError(f"{key_file}: item {item_id!r} is an output of system {info['system']!r},"
                              " which is not an evaluated system of the run")
        covered.add((info["segment_index"], info["system"]))
    for system in systems:
        absent = sum(1 for i in range(n) if (i, system) not in covered)
        if absent:
            raise MtEvalError(f"{key_file}: {absent} segments of system {system!r} were not exported; export"
                              " the run again so that every system is judged")


def _spans_of(row: Row, hypothesis: str, segment_id: str, system: str,
              default_source: str) -> list[Span] | None:
    if row.spans is None:
        return None
    source = row.annotator or default_source
    out = []
    for number, raw in enumerate(row.spans, 1):
        where = f"{row.where}: span {number}"
        fields = {k: v for k, v in raw.items() if k in ("start", "end", "severity", "category", "text")}
        if fields.get("start") is None and fields.get("end") is None:
            quote = fields.get("text")
            if not isinstance(quote, str) or not quote.strip():
                raise MtEvalError(f"{where}: give start/end offsets or the quoted error text")
            make_span({"segment_id": segment_id, "system": system, "severity": fields.get("severity"),
                       "source": source, "text": quote, "category": fields.get("category")}, where=where)
            span = span_from_quote(quote, hypothesis, segment_id=segment_id, system=system,
                                   severity=str(fields.get("severity")), source=source,
                                   category=fields.get("category"))
        else:
            span = make_span({**fields, "segment_id": segment_id, "system": system, "source": source},
                             where=where)
            try:
                span = span.check(hypothesis)
            except MtEvalError as exc:
                raise MtEvalError(f"{where}: {exc}") from None
        out.append(span)
    return out


def _add_metric(results: Results, name: str, metric: HumanMetric, stats: Mapping[str, np.ndarray],
                systems: Sequence[str]) -> None:
    """Scores, CIs and paired tests of the new metric, with the run's own settings, into ``results``."""
    from mt_eval.evaluate import confidence_intervals, significance
    from mt_eval.metrics.signature import MetricSignature

    boot = results.bootstrap
    n_resamples = boot.n_resamples if boot is not None else RESAMPLES
    seed = boot.seed if boot is not None else SEED
    signature = MetricSignature.of(metric)
    results.metrics[name] = MetricInfo(spec=metric.spec(), signature=signature.as_dict(),
                                       signature_string=str(signature), higher_is_better=True)
    intervals = confidence_intervals([(metric, stats[s]) for s in systems], n_resamples,
                                     boot.confidence if boot is not None else CONFIDENCE, seed)
    for system, (low, high) in zip(systems, intervals, strict=True):
        results.scores.setdefault(system, {})[name] = ScoreEntry(
            score=metric.corpus_score(stats[system]), ci_low=low if math.isfinite(low) else None,
            ci_high=high if math.isfinite(high) else None, signature=str(signature))
    previous = results.significance
    settings = EvalSettings(resamples=n_resamples, seed=seed)
    if previous is not None:  # the run's own test settings
        settings = EvalSettings.model_validate(
            {"baseline": previous.baseline, "method": previous.method, "resamples": previous.n_resamples,
             "seed": previous.seed, "all_pairs": previous.baseline is not None and bool(previous.pairs),
             "alpha": previous.alpha})
    new = significance({name: metric}, {s: {name: stats[s]} for s in systems}, list(systems), settings)
    if previous is None:
        results.significance = new
        return
    _merge(previous, new, name)


def _merge(into: Significance, new: Significance, key: str) -> None:
    for system, per_metric in new.results.items():
        into.results.setdefault(system, {})[key] = per_metric[key]
    for a, per_b in new.pairs.items():
        for b, per_metric in per_b.items():
            into.pairs.setdefault(a, {}).setdefault(b, {})[key] = per_metric[key]
    if key in new.clusters:
        into.clusters[key] = new.clusters[key]
        into.rank_bands[key] = new.rank_bands[key]
