"""Run folders at large N: ``segments.jsonl`` is streamed, the HTML side-by-side view is sampled."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from mt_eval.reports import segments as seg
from mt_eval.reports.html import select_segments


def _records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.uniform(0, 100), rng.uniform(0, 100)
        out.append({"index": i, "id": f"s{i}", "doc_id": "d", "source": f"مصدر {i}",
                    "references": [f"ref {i}"], "outputs": {"A": f"a {i}", "B": f"b {i}"},
                    "scores": {"A": {"chrf": a}, "B": {"chrf": b if i % 97 else None}},
                    "flags": {"A": [], "B": ["empty"] if i % 50 == 0 else []}})
    return out


def test_segments_are_streamed_from_any_iterable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(seg, "SEGMENTS_PER_WRITE", 7)
    records = _records(2503)
    produced = []

    def lazily():
        for record in records:
            produced.append(record["index"])
            yield record

    path = tmp_path / "segments.jsonl"
    seg.write_segments(lazily(), path)
    assert produced == list(range(2503))
    assert seg.read_segments(path) == records
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2503 and json.loads(lines[-1])["id"] == "s2502"


def test_a_failing_stream_leaves_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "segments.jsonl"
    seg.write_segments(_records(3), path)
    before = path.read_bytes()

    def broken():
        yield from _records(1500)
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        seg.write_segments(broken(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["segments.jsonl"]  # no temporary left behind


def test_sampled_view_keeps_the_extremes_of_the_whole_test_set() -> None:
    records = _records(10_000, seed=3)
    shown, note = select_segments(records, "chrf", "A", "B", 400)
    assert len(shown) == 400
    indices = [r["index"] for r in shown]
    assert indices == sorted(set(indices))  # test-set order, no duplicates
    diffs = sorted((r["scores"]["B"]["chrf"] - r["scores"]["A"]["chrf"], r["index"]) for r in records
                   if r["scores"]["B"]["chrf"] is not None)
    assert {i for _, i in diffs[:100]} | {i for _, i in diffs[-100:]} <= set(indices)
    spread = [i for i in indices if i not in {j for _, j in diffs[:100] + diffs[-100:]}]
    assert len(spread) == 200 and spread[0] < 100 and spread[-1] > 9800  # the rest covers the whole set
    assert note.startswith("Showing 400 of 10000 segments: the 100 largest and 100 smallest chrf")
    assert "segments.jsonl" in note
    assert select_segments(records[:300], "chrf", "A", "B", 400) == (records[:300], "")
    same, _ = select_segments(records, "chrf", "A", "B", 400)
    assert same == shown  # deterministic


def test_report_of_a_large_run_stays_small() -> None:
    from mt_eval.reports.html import render_report
    from mt_eval.reports.results import (
        SCHEMA_VERSION,
        BootstrapInfo,
        MetricInfo,
        Results,
        ScoreEntry,
        SystemInfo,
        TestsetInfo,
    )

    n = 20_000
    records = _records(n, seed=4)
    results = Results(
        schema_version=SCHEMA_VERSION, run_name="big", created="2026-01-01T00:00:00+00:00",
        testset=TestsetInfo(hash="0" * 64, name="big", source_lang="ar", target_lang="en", num_segments=n,
                            manifest={}),
        systems={s: SystemInfo(spec=f"file:{s}.txt", signature={}, throughput={}, status="ok", reason="")
                 for s in ("A", "B")},
        metrics={"chrf": MetricInfo(spec={"name": "chrf", "options": {}}, signature={"nc": "6"},
                                    signature_string="nc:6", higher_is_better=True)},
        scores={s: {"chrf": ScoreEntry(score=50.0, ci_low=49.0, ci_high=51.0, signature="nc:6")}
                for s in ("A", "B")},
        significance=None, flags={}, bootstrap=BootstrapInfo(n_resamples=10, confidence=0.95, seed=1),
        environment={}, config={},
    )
    html = render_report(results, records, max_segments=500)
    assert html.count("<tr data-index=") == 500
    payload = json.loads(re.search(r'id="segment-scores">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert len(payload["chrf"]["A"]) == 500
    assert "Showing 500 of 20000 segments" in html
