"""evaluate(): scores equal sacrebleu's, statistics are cached and reused, the folder is atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sacrebleu
from helpers.corpora import GOOD, REFS, SOURCES

import mt_eval.evaluate as ev
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.evaluate import RunRecord
from mt_eval.metrics.registry import get_metric
from mt_eval.reports.html import render_report
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.run_folder import RunFolder, load_run
from mt_eval.reports.segments import read_segments
from mt_eval.settings import EvalSettings
from mt_eval.stats.bootstrap import bootstrap_ci
from mt_eval.stats.significance import approximate_randomization, paired_bootstrap
from mt_eval.translators.base import SystemRun

WEAK = ["Boy go school.", "Cat mat.", "The weather the weather the weather the weather.",
        "Book.", "", "Window open."]


def _testset() -> TestSet:
    return TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)],
                              source_lang="ar", target_lang="en", name="tiny")


def _systems() -> list[SystemRun]:
    return [SystemRun("copy", "copy", list(SOURCES), {"backend": "copy"}),
            SystemRun("good", "file:good.txt", list(GOOD), {"backend": "file"}),
            SystemRun("weak", "file:weak.txt", list(WEAK), {"backend": "file"}),
            SystemRun("marian", "marian:Helsinki-NLP/opus-mt-ar-en", [], {}, status="skipped",
                      reason="offline and not cached")]


def test_scores_cis_and_tests_match_sacrebleu_and_stats_module(tmp_path) -> None:
    run = ev.evaluate(_testset(), _systems(), ["bleu", "chrf", "ter"],
                      EvalSettings(resamples=200, seed=7, method="paired-bs", baseline="copy"),
                      sink=RunFolder(tmp_path / "run"), record=RunRecord("tiny-run"))
    res = run.results
    for name, hyps in (("copy", SOURCES), ("good", GOOD), ("weak", WEAK)):
        got = res.scores[name]
        assert got["bleu"].score == pytest.approx(sacrebleu.corpus_bleu(hyps, [REFS]).score, abs=1e-9)
        assert got["chrf"].score == pytest.approx(sacrebleu.corpus_chrf(hyps, [REFS]).score, abs=1e-9)
        assert got["ter"].score == pytest.approx(sacrebleu.corpus_ter(hyps, [REFS]).score, abs=1e-9)
    # sentence scores in segments.jsonl are sacrebleu's sentence scores
    records = read_segments(RunLayout.of(tmp_path / "run").segments_jsonl)
    for i, record in enumerate(records):
        expected_chrf = sacrebleu.sentence_chrf(GOOD[i], [REFS[i]]).score
        assert record["scores"]["good"]["chrf"] == pytest.approx(expected_chrf)
        assert record["outputs"]["weak"] == WEAK[i]
    bleu = get_metric("bleu")
    stats = bleu.segment_stats(GOOD, [[r] for r in REFS])
    ci = bootstrap_ci(bleu, stats, n_resamples=200, seed=7)
    assert (res.scores["good"]["bleu"].ci_low, res.scores["good"]["bleu"].ci_high) == (ci.low, ci.high)
    base = bleu.segment_stats(SOURCES, [[r] for r in REFS])
    expected = paired_bootstrap(bleu, base, stats, n_resamples=200, seed=7)
    got = res.significance.results["good"]["bleu"]
    assert res.significance.baseline == "copy"
    assert got.p_value == expected.p_value and got.delta == pytest.approx(expected.delta)
    # Holm over the two tests shown for BLEU (copy→good, copy→weak)
    other = res.significance.results["weak"]["bleu"].p_value
    low, high = sorted((got.p_value, other))
    expected_adjusted = min(1.0, 2 * low) if got.p_value == low else max(min(1.0, 2 * low), high)
    assert got.p_adjusted == pytest.approx(expected_adjusted)
    assert res.significance.warnings and "only 6 segments" in res.significance.warnings[0]
    assert "marian" not in res.scores and res.systems["marian"].status == "skipped"
    assert res.systems["marian"].reason == "offline and not cached"
    assert res.metrics["ter"].higher_is_better is False
    assert res.flags["weak"]["empty"] == 1 and res.flags["weak"]["repetition"] == 1
    assert res.flags["copy"]["copy_of_source"] == len(SOURCES)
    assert records[4]["flags"]["weak"] == ["empty"]
    # the saved statistics are the metric's statistics
    saved = np.load(RunLayout.of(tmp_path / "run").stats_path("good", "bleu"), allow_pickle=False)
    assert saved.dtype == np.int64 and np.array_equal(saved, stats)
    assert load_run(tmp_path / "run") == res


def test_ar_and_all_pairs(tmp_path) -> None:
    asked = EvalSettings(method="ar", all_pairs=True, resamples=300, seed=3, baseline="weak",  # type: ignore[arg-type]
                         checks=None)
    run = ev.evaluate(_testset(), _systems()[:3], ["chrf"], asked)
    assert run.results.significance.method == "paired-ar"  # the canonical name of "ar"
    sig = run.results.significance
    assert sig.baseline == "weak" and set(sig.results) == {"copy", "good"}
    chrf = get_metric("chrf")
    refs = [[r] for r in REFS]
    expected = approximate_randomization(chrf, chrf.segment_stats(WEAK, refs), chrf.segment_stats(GOOD, refs),
                                         n_resamples=300, seed=3)
    assert sig.results["good"]["chrf"].p_value == expected.p_value
    assert sig.results["good"]["chrf"].method == "paired-ar"
    pairs = {(a, b) for a, per_b in sig.pairs.items() for b in per_b}
    assert len(pairs) == 3 and {frozenset(p) for p in pairs} == {frozenset(("weak", "copy")),
                                                                  frozenset(("weak", "good")),
                                                                  frozenset(("copy", "good"))}
    assert run.results.flags == {} and run.path is None
    html = render_report(run.results, run.records)
    assert "Paired comparisons" in html and html.count("<tr><td>weak</td><td>") == 2
    assert "Rank clusters" in html  # every pair compared: clusters are shown


def test_without_baseline_every_pair_is_compared_and_ranked() -> None:
    run = ev.evaluate(_testset(), _systems(), ["chrf", "ter"],
                      EvalSettings(resamples=300, seed=3, checks=None))
    sig = run.results.significance
    assert sig.baseline is None and sig.results == {}  # copy is no implicit anchor
    assert sig.method == "paired-ar"  # 6 segments: exact AR by default, with a warning
    assert sig.warnings
    pairs = {frozenset((a, b)) for a, per_b in sig.pairs.items() for b in per_b}
    assert pairs == {frozenset(p) for p in (("copy", "good"), ("copy", "weak"), ("good", "weak"))}
    for key in ("chrf", "ter"):
        members = [s for cluster in sig.clusters[key] for s in cluster]
        assert sorted(members) == ["copy", "good", "weak"]  # skipped systems are not ranked
        for system, (best, worst) in sig.rank_bands[key].items():
            assert 1 <= best <= worst <= 3, system
    # every recorded pair carries a Holm-adjusted p no smaller than the raw one
    for per_b in sig.pairs.values():
        for per_metric in per_b.values():
            for entry in per_metric.values():
                assert entry.p_adjusted is not None and entry.p_adjusted >= entry.p_value


def test_statistics_are_cached_in_the_run_folder(tmp_path, monkeypatch) -> None:
    out = tmp_path / "run"
    ev.evaluate(_testset(), _systems()[:2], ["bleu", "chrf"], EvalSettings(resamples=50), sink=RunFolder(out))
    index = json.loads(RunLayout.of(out).stats_index.read_text())
    assert len(index) == 4
    calls: list[int] = []
    import mt_eval.metrics.sacrebleu_metrics as sm

    original = sm.SacreBleuMetric.segment_stats

    def counting(self, hyps, refs, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(hyps))
        return original(self, hyps, refs, **kw)

    monkeypatch.setattr(sm.SacreBleuMetric, "segment_stats", counting)
    again = ev.evaluate(_testset(), _systems()[:2], ["bleu", "chrf"], EvalSettings(resamples=50),
                        sink=RunFolder(out))
    assert calls == []  # everything came from the cache
    assert again.results.scores["good"]["bleu"].score == pytest.approx(
        sacrebleu.corpus_bleu(GOOD, [REFS]).score)
    assert again.results.metrics["bleu"].signature["nrefs"] == "1"
    changed = [*_systems()[:1], SystemRun("good", "file:good.txt", [*GOOD[:-1], "Close the door."], {})]
    ev.evaluate(_testset(), changed, ["bleu", "chrf"], EvalSettings(resamples=50), sink=RunFolder(out))
    assert calls == [len(SOURCES), len(SOURCES)]  # only the changed system was recomputed


def test_bad_inputs_are_one_line_errors(tmp_path) -> None:
    ts = _testset()
    short = SystemRun("short", "file:s.txt", GOOD[:4], {})
    with pytest.raises(MtEvalError, match="system short: 4 output lines but the test set has 6 segments"):
        ev.evaluate(ts, [short], ["bleu"])
    with pytest.raises(MtEvalError, match="unknown metric 'blue'"):
        ev.evaluate(ts, _systems()[:2], ["blue"])
    with pytest.raises(MtEvalError, match="used twice"):
        ev.evaluate(ts, [_systems()[0], _systems()[0]], ["bleu"])
    with pytest.raises(MtEvalError, match="baseline 'marian' was skipped: offline"):
        ev.evaluate(ts, _systems(), ["bleu"], EvalSettings(baseline="marian"))
    with pytest.raises(MtEvalError, match="baseline 'nope' is not a system"):
        ev.evaluate(ts, _systems(), ["bleu"], EvalSettings(baseline="nope"))
    with pytest.raises(ValueError, match="unknown significance method"):  # the settings refuse it
        EvalSettings(method="t-test")  # type: ignore[arg-type]
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(MtEvalError, match="not a run folder"):
        ev.evaluate(ts, _systems()[:2], ["bleu"], EvalSettings(checks=None), sink=RunFolder(tmp_path))
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_failed_write_keeps_the_previous_run(tmp_path, monkeypatch) -> None:
    out = tmp_path / "run"
    ev.evaluate(_testset(), _systems()[:2], ["bleu"], EvalSettings(resamples=20, checks=None),
                sink=RunFolder(out))
    before = (out / "results.json").read_text()

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr("mt_eval.reports.html.write_report", boom)
    with pytest.raises(RuntimeError):
        ev.evaluate(_testset(), _systems()[:3], ["bleu"], EvalSettings(resamples=20, checks=None),
                    sink=RunFolder(out))
    assert (out / "results.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder left


def test_segments_the_backend_cut_are_flagged_truncated() -> None:
    cut = SystemRun("good", "file:good.txt", list(GOOD), {"backend": "file"},
                    truncated=["", "max_tokens", "", "", "repetition", ""])
    run = ev.evaluate(_testset(), [cut], ["chrf"], EvalSettings(resamples=50))
    assert run.results.flags["good"]["truncated"] == 2
    flagged = [i for i, r in enumerate(run.records) if "truncated" in r["flags"]["good"]]
    assert flagged == [1, 4]
