"""The TestSet model: immutability, per-segment references, hashing, atomic save/load."""

from __future__ import annotations

import json

import pytest

from mt_eval.data.testset import Segment, TestSet
from mt_eval.errors import MtEvalError


def _testset(**kwargs: object) -> TestSet:
    pairs = [("مرحبا", ["hello", "hi"]), ("شكرا", ["thanks"])]
    return TestSet.from_pairs(pairs, source_lang="ar", target_lang="en", name="tiny", **kwargs)  # type: ignore[arg-type]


def test_references_are_per_segment_lists() -> None:
    ts = _testset()
    assert ts.references == [["hello", "hi"], ["thanks"]]
    assert ts.num_refs == 2
    # sacrebleu's stream layout pads the missing second reference of segment 2
    assert ts.reference_streams() == [["hello", "thanks"], ["hi", ""]]


def test_segment_rejects_string_as_references() -> None:
    with pytest.raises(TypeError):
        Segment(id="1", source="a", references="not a list")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no reference"):
        Segment(id="1", source="a", references=())


def test_immutable() -> None:
    ts = _testset()
    with pytest.raises(AttributeError):
        ts.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ts.segments[0].meta["x"] = 1  # type: ignore[index]


def test_hash_is_stable_and_content_sensitive() -> None:
    a, b = _testset(), _testset()
    assert a.content_hash == b.content_hash
    assert len(a.content_hash) == 64
    changed = TestSet.from_pairs([("مرحبا", ["hello", "hi"]), ("شكرا", ["thank you"])],
                                 source_lang="ar", target_lang="en", name="tiny")
    assert changed.content_hash != a.content_hash
    # provenance and name do not change the content hash
    renamed = TestSet(segments=a.segments, source_lang="ar", target_lang="en", name="x", provenance={"k": 1})
    assert renamed.content_hash == a.content_hash


def test_duplicate_ids_are_an_error() -> None:
    seg = Segment(id="1", source="a", references=("b",))
    with pytest.raises(MtEvalError, match="duplicate segment id '1'"):
        TestSet(segments=(seg, seg), source_lang="ar", target_lang="en")


def test_save_and_load_round_trip(tmp_path) -> None:
    ts = _testset()
    out = ts.save(tmp_path / "ts")
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "reference-2.en", "reference.en", "source.ar", "testset.jsonl"]
    assert (out / "source.ar").read_text(encoding="utf-8") == "مرحبا\nشكرا\n"
    assert (out / "reference-2.en").read_text(encoding="utf-8") == "hi\n\n"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["hash"] == ts.content_hash
    assert manifest["counts"]["segments"] == 2
    assert TestSet.load(out) == ts


def test_save_refuses_a_different_testset_without_force(tmp_path) -> None:
    ts = _testset()
    ts.save(tmp_path / "ts")
    other = TestSet.from_pairs([("x", ["y"])], source_lang="ar", target_lang="en")
    with pytest.raises(MtEvalError, match="already holds a different test set"):
        other.save(tmp_path / "ts")
    assert TestSet.load(tmp_path / "ts") == ts  # untouched
    ts.save(tmp_path / "ts")  # same content: allowed
    other.save(tmp_path / "ts", force=True)
    assert TestSet.load(tmp_path / "ts") == other


def test_load_detects_hand_edits(tmp_path) -> None:
    out = _testset().save(tmp_path / "ts")
    data = out / "testset.jsonl"
    data.write_text(data.read_text(encoding="utf-8").replace("thanks", "thx"), encoding="utf-8")
    with pytest.raises(MtEvalError, match="does not match manifest"):
        TestSet.load(out)


def test_load_of_a_non_testset_folder(tmp_path) -> None:
    with pytest.raises(MtEvalError, match="not a test set folder"):
        TestSet.load(tmp_path)
