"""Import test sets from the formats MT data comes in, and export them as a ``datasets.Dataset``.

Line-oriented imports keep every line (segment ``i`` is line ``i``) so that system outputs written
one per line stay aligned with the test set. Imported text is kept as published by default — a
published score is computed against those exact references (FLORES-200 has a zero-width space whose
removal moves chrF in the fifth digit) — and the manifest records what :mod:`mt_eval.data.normalize`
*would* change; ``normalize=True`` applies it, as the document builder always does.
``datasets`` and sacrebleu's downloader are imported inside the functions that need them, so
``import mt_eval`` stays light.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mt_eval.data.normalize import NormalizationReport, normalize_if, read_lines
from mt_eval.data.testset import Segment, TestSet
from mt_eval.errors import MtEvalError
from mt_eval.fsio import atomic_directory

DEFAULT_SOURCE_FIELD = "source"
DEFAULT_REFERENCE_FIELDS = ("references", "reference", "target")

# (id, source, references, doc_id, meta)
Row = tuple[str, str, list[str], str, dict[str, Any]]


@dataclass
class ImportResult:
    """An imported test set plus the manifest's record of what was read and normalised."""

    testset: TestSet
    normalisation: dict[str, int] = field(default_factory=dict)
    normalised: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def manifest_extra(self) -> dict[str, Any]:
        return {"normalisation": {"applied": self.normalised, "total": self.normalisation}, **self.extra}

    def save(self, directory: str | Path, *, force: bool = False) -> Path:
        return self.testset.save(directory, manifest_extra=self.manifest_extra(), force=force)


def _file_info(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _make(rows: list[Row], *, source_lang: str, target_lang: str,
          name: str, provenance: dict[str, Any], report: NormalizationReport,
          where: str, normalize: bool) -> ImportResult:
    """Rows are (id, source, references, doc_id, meta); segments without any reference are an error."""
    if not rows:
        raise MtEvalError(f"{where}: no segments")
    segments = []
    for seg_id, source, refs, doc_id, meta in rows:
        if not refs:
            raise MtEvalError(f"{where}: segment {seg_id} has no reference")
        segments.append(Segment(seg_id, source, tuple(refs), doc_id, meta))
    testset = TestSet(tuple(segments), source_lang, target_lang, name=name, provenance=provenance)
    return ImportResult(testset, report.as_dict(), normalize)


# ----------------------------------------------------------------------------------- plain text
def import_plain(source: str | Path, references: Sequence[str | Path], *, source_lang: str = "ar",
                 target_lang: str = "en", name: str | None = None, normalize: bool = False) -> ImportResult:
    """A source file and one or more reference files, one segment per line (sacrebleu's layout)."""
    if not references:
        raise MtEvalError("--reference: at least one reference file is needed")
    report = NormalizationReport()
    src_path = Path(source)
    src_lines, src_report = read_lines(src_path, apply=normalize)
    report.add(src_report)
    ref_streams: list[list[str]] = []
    for ref in references:
        lines, ref_report = read_lines(ref, apply=normalize)
        report.add(ref_report)
        if len(lines) != len(src_lines):
            raise MtEvalError(f"{ref}: {len(lines)} lines, but source {source} has {len(src_lines)} lines")
        ref_streams.append(lines)
    rows: list[Row] = [(str(i + 1), src, [stream[i] for stream in ref_streams], "", {})
            for i, src in enumerate(src_lines)]
    provenance = {"kind": "plain", "source": _file_info(src_path),
                  "references": [_file_info(Path(r)) for r in references]}
    return _make(rows, source_lang=source_lang, target_lang=target_lang, name=name or src_path.stem,
                 provenance=provenance, report=report, where=str(source), normalize=normalize)


# ------------------------------------------------------------------------------------------ TSV
def import_tsv(path: str | Path, *, source_lang: str = "ar", target_lang: str = "en",
               name: str | None = None, header: bool = False, normalize: bool = False) -> ImportResult:
    """``source<TAB>reference[<TAB>reference…]`` per line; tabs are never quoted, so no CSV dialect."""
    file = Path(path)
    lines, report = read_lines(file, apply=False)  # cells are normalised (or not) one by one below
    if header:
        lines = lines[1:]
    rows: list[Row] = []
    width: int | None = None
    for number, line in enumerate(lines, 2 if header else 1):
        cells = line.split("\t")
        if len(cells) < 2:
            raise MtEvalError(f"{path}:{number}: expected source<TAB>reference, found {len(cells)} field")
        if width is None:
            width = len(cells)
        elif len(cells) != width:
            raise MtEvalError(f"{path}:{number}: {len(cells)} tab-separated fields, line 1 has {width}")
        cells = [normalize_if(c, report, normalize) for c in cells]
        rows.append((str(len(rows) + 1), cells[0], cells[1:], "", {"line": number}))
    return _make(rows, source_lang=source_lang, target_lang=target_lang, name=name or file.stem,
                 provenance={"kind": "tsv", "input": _file_info(file)}, report=report, where=str(path),
                 normalize=normalize)


# ---------------------------------------------------------------------------------------- JSONL
def _pick_reference_fields(record: Mapping[str, Any], fields: Sequence[str] | None,
                           where: str) -> list[str]:
    if fields:
        return list(fields)
    for candidate in DEFAULT_REFERENCE_FIELDS:
        if candidate in record:
            return [candidate]
    raise MtEvalError(f"{where}: no reference field ({' / '.join(DEFAULT_REFERENCE_FIELDS)}) among"
                      f" {', '.join(sorted(record))}; name it with --reference-field")


def _as_texts(value: Any, where: str, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise MtEvalError(f"{where}: field {key!r} must be a string or a list of strings,"
                      f" not {type(value).__name__}")


def _rows_from_records(records: Sequence[Mapping[str, Any]], *, source_field: str,
                       reference_fields: Sequence[str] | None, id_field: str | None,
                       doc_field: str | None, where: str, line_of: Any,
                       report: NormalizationReport, normalize: bool) -> list[Row]:
    """Shared by JSONL and datasets: fields checked on the first record, then on every record."""
    if not records:
        raise MtEvalError(f"{where}: no records")
    ref_fields = _pick_reference_fields(records[0], reference_fields, f"{where}:{line_of(0)}")
    wanted = [source_field, *ref_fields, *(f for f in (id_field, doc_field) if f)]
    rows: list[Row] = []
    for index, record in enumerate(records):
        here = f"{where}:{line_of(index)}"
        missing = [f for f in wanted if f not in record]
        if missing:
            raise MtEvalError(f"{here}: unknown field {', '.join(repr(f) for f in missing)}"
                              f" (fields: {', '.join(sorted(record))})")
        source = _as_texts(record[source_field], here, source_field)
        if len(source) != 1:
            raise MtEvalError(f"{here}: field {source_field!r} must hold one source text")
        refs = [normalize_if(r, report, normalize) for f in ref_fields for r in _as_texts(record[f], here, f)]
        seg_id = str(record[id_field]) if id_field else str(index + 1)
        doc_id = str(record[doc_field]) if doc_field else ""
        rows.append((seg_id, normalize_if(source[0], report, normalize), refs, doc_id, {}))
    return rows


def import_jsonl(path: str | Path, *, source_field: str = DEFAULT_SOURCE_FIELD,
                 reference_fields: Sequence[str] | None = None, id_field: str | None = None,
                 doc_field: str | None = None, source_lang: str = "ar", target_lang: str = "en",
                 name: str | None = None, normalize: bool = False) -> ImportResult:
    """One JSON object per line; the reference field may hold a string or a list of references."""
    file = Path(path)
    lines, report = read_lines(file, apply=False)
    records: list[Mapping[str, Any]] = []
    numbers: list[int] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MtEvalError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise MtEvalError(f"{path}:{number}: expected a JSON object, found {type(record).__name__}")
        records.append(record)
        numbers.append(number)
    rows = _rows_from_records(records, source_field=source_field, reference_fields=reference_fields,
                              id_field=id_field, doc_field=doc_field, where=str(path),
                              line_of=lambda i: numbers[i], report=report, normalize=normalize)
    provenance = {"kind": "jsonl", "input": _file_info(file), "source_field": source_field,
                  "reference_fields": list(reference_fields or [])}
    return _make(rows, source_lang=source_lang, target_lang=target_lang, name=name or file.stem,
                 provenance=provenance, report=report, where=str(path), normalize=normalize)


# ------------------------------------------------------------------------ Hugging Face datasets
@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """datasets draws its own progress bars on stderr; the CLI keeps stderr for errors and rich."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


def import_hf(path_or_id: str, *, split: str | None = None, source_field: str | None = None,
              reference_fields: Sequence[str] | None = None, id_field: str | None = None,
              doc_field: str | None = None, config: str | None = None, source_lang: str = "ar",
              target_lang: str = "en", name: str | None = None, normalize: bool = False) -> ImportResult:
    """A ``datasets`` dataset saved with ``save_to_disk`` (a folder) or a hub id (needs the network).

    Datasets in the common ``translation: {"ar": …, "en": …}`` layout are read without field names.
    """
    try:
        import datasets
    except ImportError:
        raise MtEvalError("--hf needs the 'datasets' package: pip install 'mt-eval[hf]'") from None
    with _quiet_datasets():
        return _import_hf(datasets, path_or_id, split=split, source_field=source_field,
                          reference_fields=reference_fields, id_field=id_field, doc_field=doc_field,
                          config=config, source_lang=source_lang, target_lang=target_lang, name=name,
                          normalize=normalize)


def _import_hf(datasets: Any, path_or_id: str, *, split: str | None, source_field: str | None,
               reference_fields: Sequence[str] | None, id_field: str | None, doc_field: str | None,
               config: str | None, source_lang: str, target_lang: str, name: str | None,
               normalize: bool) -> ImportResult:
    local = Path(path_or_id)
    looks_local = path_or_id.startswith((".", "/", "~")) or path_or_id.count("/") > 1
    if not local.exists() and looks_local:
        raise MtEvalError(f"{path_or_id}: no such folder (and not a hub id of the form owner/name)")
    if local.exists():
        try:
            loaded = datasets.load_from_disk(str(local))
        except (FileNotFoundError, ValueError) as exc:
            raise MtEvalError(f"{path_or_id}: not a dataset saved with save_to_disk ({exc})") from None
        origin: dict[str, Any] = {"kind": "hf_disk", "path": local.name}
    else:
        try:
            loaded = datasets.load_dataset(path_or_id, config, split=split)
        except Exception as exc:  # network, unknown id, gated: all one message for the user
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise MtEvalError(f"{path_or_id}: cannot load from the Hugging Face hub ({first})") from None
        origin = {"kind": "hf_hub", "id": path_or_id, "config": config}
    if isinstance(loaded, datasets.DatasetDict):
        if split is None:
            if len(loaded) != 1:
                raise MtEvalError(f"{path_or_id}: several splits ({', '.join(loaded)});"
                                  " choose one with --split")
            split = next(iter(loaded))
        if split not in loaded:
            raise MtEvalError(f"{path_or_id}: no split {split!r} (splits: {', '.join(loaded)})")
        loaded = loaded[split]
    report = NormalizationReport()
    records: list[Mapping[str, Any]] = list(loaded)
    columns = list(loaded.column_names)
    if source_field is None and "translation" in columns and not reference_fields:
        records = [{"source": r["translation"].get(source_lang),
                    "reference": r["translation"].get(target_lang),
                    **{k: v for k, v in r.items() if k != "translation"}} for r in records]
        if records and (records[0]["source"] is None or records[0]["reference"] is None):
            raise MtEvalError(f"{path_or_id}: translation pairs have no {source_lang!r} /"
                              f" {target_lang!r} keys")
        source_field, reference_fields = "source", ["reference"]
    if id_field is None and "id" in columns:
        id_field = "id"
    if doc_field is None and "doc_id" in columns:
        doc_field = "doc_id"
    rows = _rows_from_records(records, source_field=source_field or DEFAULT_SOURCE_FIELD,
                              reference_fields=reference_fields, id_field=id_field, doc_field=doc_field,
                              where=path_or_id, line_of=lambda i: f"row {i}", report=report,
                              normalize=normalize)
    info = getattr(loaded, "info", None)
    description = getattr(info, "description", "") or ""
    meta: dict[str, Any] = {}
    if description.startswith("{"):
        try:
            meta = json.loads(description)
        except ValueError:
            meta = {}
    langs = meta.get("source_lang", source_lang), meta.get("target_lang", target_lang)
    return _make(rows, source_lang=langs[0], target_lang=langs[1],
                 name=name or meta.get("name") or local.name or path_or_id,
                 provenance={**origin, "split": split}, report=report, where=path_or_id,
                 normalize=normalize)


def to_hf_dataset(testset: TestSet) -> Any:
    """The test set as a ``datasets.Dataset`` (columns id, doc_id, source, references, meta as JSON)."""
    import datasets

    description = json.dumps({"name": testset.name, "hash": testset.content_hash,
                              "source_lang": testset.source_lang, "target_lang": testset.target_lang},
                             ensure_ascii=False)
    features = datasets.Features({
        "id": datasets.Value("string"), "doc_id": datasets.Value("string"),
        "source": datasets.Value("string"),
        "references": getattr(datasets, "List", datasets.Sequence)(datasets.Value("string")),
        "meta": datasets.Value("string"),
    })
    columns = {
        "id": testset.ids, "doc_id": [s.doc_id for s in testset.segments], "source": testset.sources,
        "references": testset.references,
        "meta": [json.dumps(dict(s.meta), ensure_ascii=False, sort_keys=True) for s in testset.segments],
    }
    info = datasets.DatasetInfo(description=description, features=features)
    return datasets.Dataset.from_dict(columns, features=features, info=info)


def export_hf(testset: TestSet, directory: str | Path, *, force: bool = False) -> Path:
    """Write the test set with ``save_to_disk``, atomically; an existing non-empty folder needs ``force``."""
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise MtEvalError(f"{target}: already exists; use --force to replace it")
    with _quiet_datasets():
        dataset = to_hf_dataset(testset)
        with atomic_directory(target) as staging:
            dataset.save_to_disk(str(staging))
    return target


# ------------------------------------------------------------------------------------ sacrebleu
def import_sacrebleu(name: str, *, langpair: str | None = None, source_lang: str = "ar",
                     target_lang: str = "en", normalize: bool = False) -> ImportResult:
    """A sacrebleu named test set (downloaded by sacrebleu into its cache; needs the network once)."""
    from sacrebleu.dataset import DATASETS

    if name not in DATASETS:
        close = [n for n in DATASETS if name.lower() in n.lower()][:5]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise MtEvalError(f"{name}: not a sacrebleu test set{hint}")
    pair = langpair or f"{source_lang}-{target_lang}"
    dataset = DATASETS[name]
    if pair not in dataset.langpairs:
        raise MtEvalError(f"{name}: no language pair {pair} (has: {', '.join(sorted(dataset.langpairs))})")
    try:
        source_file = dataset.get_source_file(pair)
        reference_files = dataset.get_reference_files(pair)
    except Exception as exc:  # network failures come in many types; one line for the user
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MtEvalError(f"{name}: cannot download {pair} ({first})") from None
    src, tgt = pair.split("-", 1)
    result = import_plain(source_file, reference_files, source_lang=src, target_lang=tgt,
                          name=f"{name}:{pair}", normalize=normalize)
    provenance = {"kind": "sacrebleu", "test_set": name, "langpair": pair}
    testset = TestSet(result.testset.segments, src, tgt, name=f"{name}:{pair}", provenance=provenance)
    return ImportResult(testset, result.normalisation, normalize)
