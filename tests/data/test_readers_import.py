"""Importers (plain, TSV, JSONL, datasets, sacrebleu names) and the datasets export round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mt_eval.data import readers
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError

FLORES = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "flores-ara-eng"
SRC = ["مرحبا بكم", "شكرا جزيلا", "إلى اللقاء"]
REF1 = ["Welcome", "Thank you very much", "Goodbye"]
REF2 = ["Hello and welcome", "Many thanks", "See you"]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_plain_files_with_two_references(tmp_path: Path) -> None:
    result = readers.import_plain(_write(tmp_path / "src.ar", SRC),
                                  [_write(tmp_path / "r1.en", REF1), _write(tmp_path / "r2.en", REF2)])
    ts = result.testset
    assert ts.ids == ["1", "2", "3"] and ts.sources == SRC
    assert ts.references == [[a, b] for a, b in zip(REF1, REF2, strict=True)]
    out = result.save(tmp_path / "out")
    assert (out / "reference-2.en").read_text(encoding="utf-8").splitlines() == REF2
    assert TestSet.load(out).content_hash == ts.content_hash


def test_import_keeps_text_as_published_unless_asked(tmp_path: Path) -> None:
    src = _write(tmp_path / "s.ar", ["مرحبا\u200b "])
    ref = _write(tmp_path / "r.en", ["Cafe\u0301"])
    kept = readers.import_plain(src, [ref])
    assert kept.testset.sources == ["مرحبا\u200b "] and kept.testset.references == [["Cafe\u0301"]]
    assert kept.manifest_extra()["normalisation"] == {
        "applied": False, "total": {"nfc": 1, "trailing_whitespace": 1, "zero_width": 1}}
    fixed = readers.import_plain(src, [ref], normalize=True)
    assert fixed.testset.sources == ["مرحبا"] and fixed.testset.references == [["Café"]]
    assert fixed.manifest_extra()["normalisation"]["applied"] is True


def test_tsv_with_header_and_two_references(tmp_path: Path) -> None:
    rows = [f"{s}\t{a}\t{b}" for s, a, b in zip(SRC, REF1, REF2, strict=True)]
    path = _write(tmp_path / "t.tsv", ["src\tref\tref2", *rows])
    ts = readers.import_tsv(path, header=True).testset
    assert ts.sources == SRC and ts.references[2] == ["Goodbye", "See you"]
    bad = _write(tmp_path / "bad.tsv", [f"{SRC[0]}\t{REF1[0]}", f"{SRC[1]}\t{REF1[1]}\textra"])
    with pytest.raises(MtEvalError) as info:
        readers.import_tsv(bad)
    assert str(info.value) == f"{bad}:2: 3 tab-separated fields, line 1 has 2"


def test_jsonl_with_configured_fields(tmp_path: Path) -> None:
    rows = [{"uid": f"s{k}", "ar": s, "en": [a, b], "doc": "d1"}
            for k, (s, a, b) in enumerate(zip(SRC, REF1, REF2, strict=True))]
    path = _write(tmp_path / "x.jsonl", [json.dumps(r, ensure_ascii=False) for r in rows])
    fields = readers.RecordFields(source="ar", references=["en"], id="uid", doc="doc")
    ts = readers.import_jsonl(path, fields).testset
    assert ts.ids == ["s0", "s1", "s2"] and ts.references[1] == ["Thank you very much", "Many thanks"]
    assert {s.doc_id for s in ts} == {"d1"}
    with pytest.raises(MtEvalError) as info:
        readers.import_jsonl(path, readers.RecordFields(source="ar"))
    assert str(info.value) == (f"{path}:1: no reference field (references / reference / target) among"
                               " ar, doc, en, uid; name it with --reference-field")


def test_datasets_round_trip_through_save_to_disk(tmp_path: Path) -> None:
    pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")
    original = readers.import_plain(_write(tmp_path / "src.ar", SRC),
                                    [_write(tmp_path / "r1.en", REF1), _write(tmp_path / "r2.en", REF2)],
                                    name="tiny").testset
    out = readers.export_hf(original, tmp_path / "hf")
    import datasets

    loaded = datasets.load_from_disk(str(out))
    assert loaded.column_names == ["id", "doc_id", "source", "references", "meta"]
    assert loaded[1]["references"] == ["Thank you very much", "Many thanks"]
    back = readers.import_hf(str(out)).testset
    assert back.content_hash == original.content_hash
    assert (back.name, back.source_lang, back.target_lang) == ("tiny", "ar", "en")
    with pytest.raises(MtEvalError, match="already exists; use --force"):
        readers.export_hf(original, out)


def test_datasets_translation_layout_and_splits(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")
    pairs = [{"translation": {"ar": s, "en": r}} for s, r in zip(SRC, REF1, strict=True)]
    dd = datasets.DatasetDict({"dev": datasets.Dataset.from_list(pairs[:2]),
                               "test": datasets.Dataset.from_list(pairs[2:])})
    dd.save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(MtEvalError) as info:
        readers.import_hf(str(tmp_path / "dd"))
    assert str(info.value) == f"{tmp_path / 'dd'}: several splits (dev, test); choose one with --split"
    ts = readers.import_hf(str(tmp_path / "dd"), split="dev").testset
    assert ts.sources == SRC[:2] and ts.references == [[REF1[0]], [REF1[1]]]


def test_sacrebleu_names_are_checked_offline() -> None:
    with pytest.raises(MtEvalError, match=r"^no-such-set: not a sacrebleu test set$"):
        readers.import_sacrebleu("no-such-set")
    with pytest.raises(MtEvalError, match=r"^wmt20: no language pair ar-en \(has: cs-en, "):
        readers.import_sacrebleu("wmt20")


@pytest.mark.skipif(not FLORES.is_dir(), reason=f"FLORES validation data not present at {FLORES}")
def test_flores_import_reproduces_published_scores(tmp_path: Path) -> None:
    import sacrebleu

    result = readers.import_plain(FLORES / "source.ara", [FLORES / "reference.eng"])
    out = result.save(tmp_path / "flores")
    assert len(result.testset) == 1012
    # kept as published: the written plain files are byte-identical to the originals
    assert (out / "reference.en").read_bytes() == (FLORES / "reference.eng").read_bytes()
    assert (out / "source.ar").read_bytes() == (FLORES / "source.ara").read_bytes()
    assert result.manifest_extra()["normalisation"]["total"]["zero_width"] == 2
    published = json.loads((FLORES / "published.json").read_text(encoding="utf-8"))["systems"]
    hyps = (FLORES / "systems" / "opus-mt-ara-eng-2021-02-23.eng").read_text(encoding="utf-8").splitlines()
    refs = TestSet.load(out).reference_streams()
    scores = published["opus-mt-ara-eng-2021-02-23"]
    assert round(sacrebleu.corpus_bleu(hyps, refs).score, 1) == scores["bleu"]
    assert round(sacrebleu.corpus_chrf(hyps, refs).score / 100, 5) == scores["chrf"]


def test_missing_local_dataset_folder_is_not_sent_to_the_hub(tmp_path: Path) -> None:
    pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")
    missing = str(tmp_path / "nope")
    with pytest.raises(MtEvalError) as info:
        readers.import_hf(missing)
    assert str(info.value) == f"{missing}: no such folder (and not a hub id of the form owner/name)"
