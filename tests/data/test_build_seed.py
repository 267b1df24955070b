"""The seed document builds to exactly 7 pairs + 1 rejected caption, with stable ids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mt_eval.data.build import build_testset, default_build, default_testset, seeds_dir
from mt_eval.data.testset import TestSet

STEM = "000_3f6bb7e6e5b2fcec"
REPO = Path(__file__).resolve().parents[2]


def test_seed_builds_seven_pairs_and_rejects_the_caption() -> None:
    result = build_testset([REPO / "seeds"])
    ts = result.testset
    assert (ts.source_lang, ts.target_lang, ts.name) == ("ar", "en", "seeds")
    assert ts.ids == [f"{STEM}:1:{k}" for k in (1, 2, 3, 4, 5, 7, 8)]
    assert [s.meta["source_lines"] for s in ts] == [[1], [2], [3], [4], [5], [7], [8]]
    assert [s.meta["reference_lines"] for s in ts] == [[9], [10], [11], [12], [13], [15], [16]]
    assert all(s.meta["alignment"] == "1-1" and s.meta["confidence"] > 0.9 for s in ts)
    assert ts.segments[0].references[0].startswith("U.S. President Donald Trump announced today")
    assert ts.segments[5].source.startswith("واشترط المفاوضون الروس")
    [reject] = result.rejects
    assert (reject.id, reject.code, reject.reason) == (
        f"{STEM}:1:6", "reference_not_target_language", "reference not English (looks Arabic)")
    assert reject.reference == "جندي من القوات الأوكرانية."
    assert (reject.source_lines, reject.reference_lines) == ((6,), (14,))
    extra = result.manifest_extra()
    assert extra["counts"]["segments"] == 7
    assert extra["counts"]["rejected_by_reason"] == {"reference_not_target_language": 1}
    [doc] = extra["documents"]
    assert doc["order"] == "source_first" and doc["beads"] == {"1-1": 8}
    assert doc["source_lines"] == [1, 8] and doc["target_lines"] == [9, 16]
    assert extra["normalisation"]["total"] == {"missing_final_newline": 1}


def test_ids_and_hash_stable_across_runs_and_locations(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = build_testset([REPO / "seeds"])
    copy = tmp_path / "elsewhere" / "seeds"
    shutil.copytree(REPO / "seeds", copy)
    monkeypatch.chdir(tmp_path)
    second = build_testset([Path("elsewhere/seeds")])
    assert second.testset.content_hash == first.testset.content_hash
    assert second.testset.ids == first.testset.ids
    # the manifest names inputs relative to the folder given, never by absolute path
    assert second.manifest_extra() == first.manifest_extra()
    assert dict(second.testset.provenance) == dict(first.testset.provenance)
    assert str(tmp_path) not in json.dumps(second.manifest_extra(), ensure_ascii=False)


def test_default_testset_is_the_seed_and_package_copy_matches() -> None:
    assert seeds_dir() == REPO / "seeds"
    packaged = Path(__import__("mt_eval").__file__).parent / "data" / "seeds" / f"{STEM}.txt"
    assert packaged.read_bytes() == (REPO / "seeds" / f"{STEM}.txt").read_bytes()
    from_package = build_testset([packaged.parent], name="seeds")
    assert from_package.testset.content_hash == default_testset().content_hash
    assert len(default_build().rejects) == 1


def test_cli_build_then_show(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    out_dir = tmp_path / "seed"
    code, out, err = cli("testset", "build", REPO / "seeds", "-o", out_dir)
    assert (code, err) == (0, "")
    ts = TestSet.load(out_dir)
    assert len(ts) == 7
    assert out.strip() == f"{out_dir}: 7 segments, 1 rejected, ar->en, hash {ts.short_hash}"
    lines = (out_dir / "reference.en").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7 and lines[0].startswith("U.S. President")
    assert len((out_dir / "source.ar").read_text(encoding="utf-8").splitlines()) == 7
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["hash"] == ts.content_hash
    assert manifest["rejects"][0]["code"] == "reference_not_target_language"
    # rebuilding the same test set into the same folder is allowed without --force
    assert cli("testset", "build", REPO / "seeds", "-o", out_dir)[0] == 0
    code, out, err = cli("testset", "show", out_dir)
    assert code == 0
    assert ts.content_hash[:40] in out
    assert "reference not English" in out and "rejected" in out
    assert f"{STEM}:1:1" in out


def test_seed_at_sentence_granularity() -> None:
    result = build_testset([REPO / "seeds"], granularity="sentence")
    ts = result.testset
    # the Arabic paragraphs are one sentence each; three English ones are two sentences (1-2 beads)
    assert ts.ids == [f"{STEM}:1:{k}.1" for k in (1, 2, 3, 4, 5, 7, 8)]
    assert [s.meta["sentence_alignment"] for s in ts] == ["1-1", "1-2", "1-1", "1-1", "1-2", "1-2", "1-1"]
    assert ts.segments[1].references[0].endswith("several leaders from NATO.")
    assert [r.code for r in result.rejects] == ["reference_not_target_language"]
    assert result.manifest_extra()["granularity"] == "sentence"
