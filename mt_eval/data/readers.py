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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mt_eval.data.normalize import NormalizationReport, normalize_if, read_lines_and_bytes
from mt_eval.data.testset import Segment, TestSet
from mt_eval.errors import MtEvalError
from mt_eval.fsio import (
    atomic_directory,
    check_input_folder,
    check_output_folder,
    read_input_bytes,
    read_input_text,
    split_text_lines,
)

DEFAULT_SOURCE_FIELD = "source"
DEFAULT_REFERENCE_FIELDS = ("references", "reference", "target")

# (id, source, references, doc_id, meta)
Row = tuple[str, str, list[str], str, dict[str, Any]]


@dataclass(frozen=True)
class RecordFields:
    """Which fields of a JSONL record or dataset row hold the source (default ``source``), the
    references (default: the first of :data:`DEFAULT_REFERENCE_FIELDS` present), the segment id and
    the document id (default: none)."""

    source: str | None = None
    references: Sequence[str] | None = None
    id: str | None = None
    doc: str | None = None


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


def _file_info(path: Path, data: bytes | None = None) -> dict[str, Any]:
    data = read_input_bytes(path) if data is None else data
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _refuse_blank(lines: Sequence[str], where: str, what: str) -> None:
    """Line ``i`` is segment ``i``: a blank line would be a segment with nothing to translate or to
    score against, and dropping it would shift every later line against outputs made from the file."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise MtEvalError(f"{where}:{number}: blank {what} line; remove that line from every file"
                              " of the test set (or fill it)")


def check_language(texts: Sequence[str], lang: str, where: str, what: str) -> None:
    """Refuse a file whose letters are mostly not in ``lang``'s script (swapped files, wrong --*-lang).

    Only the script is checked (instant and exact); per-line language problems are what the output
    checks and the document builder's rejects are for.
    """
    from mt_eval.data.langid import language_name, script_of_language, script_shares

    script = script_of_language(lang)
    if script is None:
        return
    shares = script_shares(" ".join(texts))
    if shares and shares.get(script, 0.0) < 0.5:
        top, share = max(shares.items(), key=lambda item: item[1])
        raise MtEvalError(f"{where}: the {what} is not {language_name(lang)} ({share:.0%} of its letters"
                          f" are {top}, {shares.get(script, 0.0):.0%} {script}); check --source-lang/"
                          "--target-lang, or whether source and reference are swapped")


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
    src_lines, src_report, src_data = read_lines_and_bytes(src_path, apply=normalize)
    report.add(src_report)
    _refuse_blank(src_lines, str(source), "source")
    check_language(src_lines, source_lang, str(source), "source")
    ref_streams: list[list[str]] = []
    ref_infos = []
    for ref in references:
        lines, ref_report, ref_data = read_lines_and_bytes(ref, apply=normalize)
        report.add(ref_report)
        if len(lines) != len(src_lines):
            raise MtEvalError(f"{ref}: {len(lines)} lines, but source {source} has {len(src_lines)} lines")
        _refuse_blank(lines, str(ref), "reference")
        check_language(lines, target_lang, str(ref), "reference")
        ref_streams.append(lines)
        ref_infos.append(_file_info(Path(ref), ref_data))
    rows: list[Row] = [(str(i + 1), src, [stream[i] for stream in ref_streams], "", {})
            for i, src in enumerate(src_lines)]
    provenance = {"kind": "plain", "source": _file_info(src_path, src_data), "references": ref_infos}
    return _make(rows, source_lang=source_lang, target_lang=target_lang, name=name or src_path.stem,
                 provenance=provenance, report=report, where=str(source), normalize=normalize)


# ------------------------------------------------------------------------------------------ TSV
def import_tsv(path: str | Path, *, source_lang: str = "ar", target_lang: str = "en",
               name: str | None = None, header: bool = False, normalize: bool = False) -> ImportResult:
    """``source<TAB>reference[<TAB>reference…]`` per line; tabs are never quoted, so no CSV dialect."""
    file = Path(path)
    lines, report, data = read_lines_and_bytes(file, apply=False)  # cells are normalised one by one below
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
        blank = next((k for k, c in enumerate(cells) if not c.strip()), None)
        if blank is not None:
            raise MtEvalError(f"{path}:{number}: {'source' if blank == 0 else 'reference'} field {blank + 1}"
                              " is blank; remove the line or fill the field")
        cells = [normalize_if(c, report, normalize) for c in cells]
        rows.append((str(len(rows) + 1), cells[0], cells[1:], "", {"line": number}))
    if rows:
        check_language([r[1] for r in rows], source_lang, str(path), "source column")
        check_language([x for r in rows for x in r[2]], target_lang, str(path), "reference column")
    return _make(rows, source_lang=source_lang, target_lang=target_lang, name=name or file.stem,
                 provenance={"kind": "tsv", "input": _file_info(file, data)}, report=report, where=str(path),
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


def _rows_from_records(records: Sequence[Mapping[str, Any]], fields: RecordFields, *, where: str,
                       line_of: Callable[[int], object], report: NormalizationReport,
                       normalize: bool) -> list[Row]:
    """Shared by JSONL and datasets: fields checked on the first record, then on every record."""
    if not records:
        raise MtEvalError(f"{where}: no records")
    source_field = fields.source or DEFAULT_SOURCE_FIELD
    ref_fields = _pick_reference_fields(records[0], fields.references, f"{where}:{line_of(0)}")
    wanted = [source_field, *ref_fields, *(f for f in (fields.id, fields.doc) if f)]
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
        texts = [source[0], *refs]
        if any(not t.strip() for t in texts):
            field_name = source_field if not source[0].strip() else "reference"
            raise MtEvalError(f"{here}: blank {field_name!r} text; remove the record or fill it")
        seg_id = str(record[fields.id]) if fields.id else str(index + 1)
        doc_id = str(record[fields.doc]) if fields.doc else ""
        rows.append((seg_id, normalize_if(source[0], report, normalize), refs, doc_id, {}))
    return rows


def import_jsonl(path: str | Path, fields: RecordFields = RecordFields(), *, source_lang: str = "ar",
                 target_lang: str = "en", name: str | None = None, normalize: bool = False) -> ImportResult:
    """One JSON object per line; the reference field may hold a string or a list of references."""
    file = Path(path)
    lines, report, data = read_lines_and_bytes(file, apply=False)
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
    rows = _rows_from_records(records, fields, where=str(path), line_of=lambda i: numbers[i], report=report,
                              normalize=normalize)
    source_field = fields.source or DEFAULT_SOURCE_FIELD
    check_language([r[1] for r in rows], source_lang, str(path), f"source field {source_field!r}")
    check_language([x for r in rows for x in r[2]], target_lang, str(path), "reference field")
    provenance = {"kind": "jsonl", "input": _file_info(file, data), "source_field": source_field,
                  "reference_fields": list(fields.references or [])}
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


def import_hf(path_or_id: str, *, split: str | None = None, config: str | None = None,
              fields: RecordFields = RecordFields(), source_lang: str = "ar", target_lang: str = "en",
              name: str | None = None, normalize: bool = False) -> ImportResult:
    """A ``datasets`` dataset saved with ``save_to_disk`` (a folder) or a hub id (needs the network).

    Datasets in the common ``translation: {"ar": …, "en": …}`` layout are read without field names.
    """
    try:
        import datasets
    except ImportError:
        raise MtEvalError("--hf needs the 'datasets' package: pip install 'mt-eval[hf]'") from None
    with _quiet_datasets():
        loaded, origin = _load_hf(datasets, path_or_id, config, split)
        if isinstance(loaded, datasets.DatasetDict):
            if split is None:
                if len(loaded) != 1:
                    raise MtEvalError(f"{path_or_id}: several splits ({', '.join(loaded)});"
                                      " choose one with --split")
                split = next(iter(loaded))
            if split not in loaded:
                raise MtEvalError(f"{path_or_id}: no split {split!r} (splits: {', '.join(loaded)})")
            loaded = loaded[split]
        records, fields = _hf_records(loaded, path_or_id, fields, (source_lang, target_lang))
    report = NormalizationReport()
    rows = _rows_from_records(records, fields, where=path_or_id, line_of=lambda i: f"row {i}", report=report,
                              normalize=normalize)
    description = getattr(getattr(loaded, "info", None), "description", "") or ""
    meta: dict[str, Any] = {}
    if description.startswith("{"):
        with contextlib.suppress(ValueError):
            meta = json.loads(description)
    return _make(rows, source_lang=meta.get("source_lang", source_lang),
                 target_lang=meta.get("target_lang", target_lang),
                 name=name or meta.get("name") or Path(path_or_id).name or path_or_id,
                 provenance={**origin, "split": split}, report=report, where=path_or_id, normalize=normalize)


def _load_hf(datasets: Any, path_or_id: str, config: str | None,
             split: str | None) -> tuple[Any, dict[str, Any]]:
    """The dataset (or dataset dict) from a ``save_to_disk`` folder or the hub, and where it came from."""
    local = Path(path_or_id)
    looks_local = path_or_id.startswith((".", "/", "~")) or path_or_id.count("/") > 1
    if not local.exists() and looks_local:
        raise MtEvalError(f"{path_or_id}: no such folder (and not a hub id of the form owner/name)")
    if local.exists():
        try:
            return datasets.load_from_disk(str(local)), {"kind": "hf_disk", "path": local.name}
        except (FileNotFoundError, ValueError) as exc:
            raise MtEvalError(f"{path_or_id}: not a dataset saved with save_to_disk ({exc})") from None
    try:
        loaded = datasets.load_dataset(path_or_id, config, split=split)
    except Exception as exc:  # network, unknown id, gated: all one message for the user
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MtEvalError(f"{path_or_id}: cannot load from the Hugging Face hub ({first})") from None
    return loaded, {"kind": "hf_hub", "id": path_or_id, "config": config}


def _hf_records(loaded: Any, path_or_id: str, fields: RecordFields,
                langs: tuple[str, str]) -> tuple[list[Mapping[str, Any]], RecordFields]:
    """The rows as records, and the fields to read: ``translation`` pairs become source/reference, and
    ``id``/``doc_id`` columns are used unless other fields are named."""
    records: list[Mapping[str, Any]] = list(loaded)
    columns = list(loaded.column_names)
    if fields.source is None and "translation" in columns and not fields.references:
        records = [{"source": r["translation"].get(langs[0]), "reference": r["translation"].get(langs[1]),
                    **{k: v for k, v in r.items() if k != "translation"}} for r in records]
        if records and (records[0]["source"] is None or records[0]["reference"] is None):
            raise MtEvalError(f"{path_or_id}: translation pairs have no {langs[0]!r} / {langs[1]!r} keys")
        fields = replace(fields, source="source", references=["reference"])
    if fields.id is None and "id" in columns:
        fields = replace(fields, id="id")
    if fields.doc is None and "doc_id" in columns:
        fields = replace(fields, doc="doc_id")
    return records, fields


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
    target = check_output_folder(directory, "--hf folder")
    if target.exists() and any(target.iterdir()):
        if not force:
            raise MtEvalError(f"{directory}: already exists; use --force to replace it")
        if not (target / "dataset_info.json").exists() and not (target / "dataset_dict.json").exists():
            raise MtEvalError(f"{directory}: is not a saved dataset; --force replaces only a dataset folder")
    with _quiet_datasets():
        dataset = to_hf_dataset(testset)
        with atomic_directory(target) as staging:
            dataset.save_to_disk(str(staging))
    return target


# ------------------------------------------------------------------------------------ sacrebleu
def import_sacrebleu(name: str, *, langpair: str | None = None, source_lang: str = "ar",
                     target_lang: str = "en", normalize: bool = False,
                     testset_name: str | None = None) -> ImportResult:
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
    label = testset_name or f"{name}:{pair}"
    result = import_plain(source_file, reference_files, source_lang=src, target_lang=tgt,
                          name=label, normalize=normalize)
    provenance = {"kind": "sacrebleu", "test_set": name, "langpair": pair}
    testset = TestSet(result.testset.segments, src, tgt, name=label, provenance=provenance)
    return ImportResult(testset, result.normalisation, normalize)


# ------------------------------------------------------------------------ hypotheses, test-set folders
# three-letter file extensions used by OPUS/FLORES-style plain folders
LANG3 = {"ara": "ar", "arb": "ar", "eng": "en", "fra": "fr", "deu": "de", "spa": "es", "rus": "ru",
         "zho": "zh", "heb": "he", "fas": "fa", "urd": "ur"}


def read_hypotheses(path: str | Path) -> list[str]:
    """One hypothesis per ``\\n``-terminated line, text exactly as written (only ``\\r\\n``/``\\n`` go).

    U+2028, U+0085 and lone CRs are not line breaks (sacrebleu splits on ``\\n`` too), so line ``i``
    stays segment ``i``. A FIFO, a folder, invalid UTF-8 or a NUL byte is a one-line error.
    """
    return split_text_lines(read_input_text(path, "hypothesis file"))


def read_plain_testset(folder: str | Path) -> TestSet:
    """A folder of ``source.<lang>`` and ``reference[-k].<lang>`` plain files (one segment a line).

    The text is taken exactly as written (only line ends removed), as sacrebleu reads it: the
    importer's normalisation (NFC, invisible characters, edge blanks) would change published scores.
    """
    root = Path(folder)
    sources = sorted(p for p in root.glob("source.*") if p.is_file())
    refs = sorted((p for p in root.glob("reference*.*") if p.is_file()), key=lambda p: p.name)
    if len(sources) != 1 or not refs:
        raise MtEvalError(f"{root}: not a test set folder (needs manifest.json + testset.jsonl, or one"
                          " source.<lang> and reference.<lang> files)")
    src_lines = read_hypotheses(sources[0])
    ref_streams = [read_hypotheses(p) for p in refs]
    for path, stream in zip(refs, ref_streams, strict=True):
        if len(stream) != len(src_lines):
            raise MtEvalError(f"{path}: {len(stream)} lines but {sources[0].name} has {len(src_lines)}")
    if not src_lines:
        raise MtEvalError(f"{sources[0]}: no segments (the file is empty)")
    _refuse_blank(src_lines, str(sources[0]), "source")  # the rule of `testset import`
    for path, stream in zip(refs, ref_streams, strict=True):
        _refuse_blank(stream, str(path), "reference")
    src_ext, tgt_ext = sources[0].suffix.lstrip("."), refs[0].suffix.lstrip(".")
    pairs = [(src, [stream[i] for stream in ref_streams]) for i, src in enumerate(src_lines)]
    return TestSet.from_pairs(pairs, source_lang=LANG3.get(src_ext, src_ext),
                              target_lang=LANG3.get(tgt_ext, tgt_ext), name=root.resolve().name,
                              provenance={"imported_from": str(root), "normalised": False})


def load_testset(path: str | Path) -> TestSet:
    """A saved test-set folder (:meth:`TestSet.load`) or a folder of plain ``source``/``reference`` files."""
    from mt_eval.data.testset import MANIFEST_FILE

    folder = check_input_folder(path, "test set folder")
    if (folder / MANIFEST_FILE).exists():
        return TestSet.load(folder)
    return read_plain_testset(folder)
