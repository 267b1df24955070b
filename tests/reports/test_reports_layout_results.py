"""Run-folder paths, slugs and the results.json schema (writer + validating reader)."""

from __future__ import annotations

import json

import pytest

from mt_eval.errors import MtEvalError
from mt_eval.fsio import slug, unslug
from mt_eval.reports.layout import RunLayout, legacy_slug
from mt_eval.reports.results import (
    SCHEMA_VERSION,
    MetricInfo,
    Results,
    ScoreEntry,
    SystemInfo,
    TestsetInfo,
    parse_results,
    write_results,
)
from mt_eval.reports.run_folder import load_run


def test_slug_is_safe_unique_and_reversible() -> None:
    names = ["bleu", "chrf", "chrf++", "ter", "marian:Helsinki-NLP/opus-mt-ar-en",
             "marian:Helsinki-NLP/opus-mt-ar:en", "a b", "a/b", "a:b", "../etc", "نظام", "gpt+", "gptp",
             "a%3Ab", ".hidden", "..", "a\\b", "x\x00y", "CON:"]
    slugs = [slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    for name, s in zip(names, slugs, strict=True):
        assert s and "/" not in s and ":" not in s and "\\" not in s and not s.startswith(".")
        assert all(c.isascii() and (c.isalnum() or c in "._-~+%") for c in s)
        assert unslug(s) == name
    assert slug("bleu") == "bleu"
    assert slug("chrf++") == "chrf++"
    assert slug("gpt+") != slug("gptp")
    assert slug(slug("gemma-3.q4")) == slug("gemma-3.q4")  # safe names are fixed points
    with pytest.raises(ValueError):
        slug("")


def test_long_names_stay_unique_and_fit_a_file_name() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert slug(a) != slug(b)
    assert len(slug(a).encode()) <= 200 and len(slug("ن" * 300).encode()) <= 200


def test_legacy_slugs_are_what_old_run_folders_used() -> None:
    assert legacy_slug("chrf++") == "chrfpp"
    assert legacy_slug("copy") == "copy"
    assert legacy_slug("a/b") != legacy_slug("a:b")


def test_layout_paths(tmp_path) -> None:
    layout = RunLayout.of(tmp_path / "run")
    assert layout.results_json == tmp_path / "run" / "results.json"
    assert layout.stats_path("marian:x/y", "chrf++").parent.name == slug("marian:x/y")
    assert layout.stats_path("copy", "chrf++").name == "chrf++.npy"
    assert layout.legacy_stats_path("copy", "chrf++").name == "chrfpp.npy"
    assert layout.gate_dir == tmp_path / "run" / "gate"
    assert layout.output_path("copy").name == "copy.txt"
    assert layout.table_path("tex").name == "scores.tex"
    with pytest.raises(ValueError):
        layout.table_path("xlsx")


def _results() -> Results:
    return Results(
        run_name="r", created="2026-01-01T00:00:00+00:00",
        testset=TestsetInfo(hash="ab" * 32, name="t", source_lang="ar", target_lang="en", num_segments=2),
        systems={"copy": SystemInfo(spec="copy"),
                 "m": SystemInfo(spec="marian:x", status="skipped", reason="offline")},
        metrics={"bleu": MetricInfo(spec={"name": "bleu", "options": {}}, signature={"nrefs": "1"},
                                    signature_string="nrefs:1")},
        scores={"copy": {"bleu": ScoreEntry(score=1.5, ci_low=1.0, ci_high=2.0, signature="nrefs:1")}},
    )


def test_results_round_trip_and_skipped_view(tmp_path) -> None:
    results = _results()
    write_results(results, tmp_path / "results.json")
    loaded = load_run(tmp_path)  # a folder is accepted as well as the file
    assert loaded == results
    assert loaded.schema_version == SCHEMA_VERSION
    assert loaded.ok_systems == ["copy"]
    assert loaded.skipped_systems == {"m": "offline"}


def test_reader_refuses_newer_schema_and_bad_fields(tmp_path) -> None:
    obj = _results().model_dump(mode="json")
    newer = dict(obj, schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(MtEvalError, match="newer"):
        parse_results(newer)
    broken = json.loads(json.dumps(obj))
    broken["scores"]["copy"]["bleu"]["score"] = "high"
    with pytest.raises(MtEvalError, match=r"scores\.copy\.bleu\.score") as info:
        parse_results(broken)
    assert "\n" not in str(info.value)
    extra = dict(obj, surprise=1)
    with pytest.raises(MtEvalError, match="surprise"):
        parse_results(extra)
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(MtEvalError, match="malformed JSON"):
        load_run(tmp_path)
    with pytest.raises(MtEvalError, match="not found"):
        load_run(tmp_path / "nowhere")
