"""The fine-grained analysis on small hand-made corpora: bucket counts, scores from summed statistics,
CIs around the point estimate, word accuracy, n-gram differences both ways, both matchers, the run hook,
the switch and the report section."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from mt_eval.analysis import text as analysis_text
from mt_eval.analysis.core import (
    FREQUENCY_CUTOFFS,
    AnalysisInput,
    AnalysisOptions,
    analyse,
    bucket_of,
    labels,
)
from mt_eval.analysis.text import RefIndex, Vocabulary, match_flags, match_ids, ngram_keys, ngram_keys_at
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.evaluate import evaluate
from mt_eval.metrics.base import MeanOfSegmentsMetric
from mt_eval.metrics.registry import metric_from_spec
from mt_eval.reports.html import render_report
from mt_eval.reports.results import dumps_results, parse_results
from mt_eval.reports.run_folder import RunFolder
from mt_eval.settings import EvalSettings
from mt_eval.translators.base import SystemRun

# segment lengths 3, 3, 12, 12, 12, 25: reference-length buckets <10 (2), [10,20) (3), [20,30) (1)
REFS = ["the red car", "a blue sky", "he went to the market and bought some fresh red apples today",
        "she reads a book about the history of the old city every single evening",
        "we saw the red car near the old city gate on the way home",
        " ".join(["the quick brown fox jumps over the lazy dog"] * 2 + ["near", "the", "old", "city", "gate",
                                                                      "again"] + ["today"])]
SOURCES = ["s " * 5, "s " * 15, "s " * 15, "s " * 25, "s " * 25, "s " * 25]
# A gets "red car" right everywhere, B says "red auto"
A = ["the red car", "a blue sky", "he went to the market and bought some red apples",
     "she reads a book about the history of the old city every evening",
     "we saw the red car near the city gate on the way home",
     "the quick brown fox jumps over the lazy dog the quick brown fox jumps over a lazy dog"
     " near the old city"]
B = ["the red auto", "a blue sky", "he went to a market and bought fresh red apples today",
     "she reads a book on the history of the old city every single evening",
     "we saw the red auto near the old city gate on the way home",
     "the quick brown fox jumps over the lazy dog twice near the old city gate again today"]


def _stats(metrics: dict[str, object], outputs: dict[str, list[str]]) -> dict[str, dict[str, np.ndarray]]:
    refs = [[r] for r in REFS]
    return {name: {key: m.segment_stats(out, refs)  # type: ignore[attr-defined]
                   for key, m in metrics.items()} for name, out in outputs.items()}


@pytest.fixture(scope="module")
def small() -> tuple[object, dict[str, object], dict[str, dict[str, np.ndarray]]]:
    metrics = {"bleu": metric_from_spec("bleu:tokenize=none"), "chrf": metric_from_spec("chrf"),
               "ter": metric_from_spec("ter")}
    outputs = {"A": A, "B": B}
    stats = _stats(metrics, outputs)
    data = AnalysisInput(SOURCES, REFS, outputs, stats, metrics, [("A", "B")])  # type: ignore[arg-type]
    return analyse(data, AnalysisOptions(300, 0.9, 7)), metrics, stats


def test_length_buckets_count_segments_as_compare_mt_labels_them(small: tuple) -> None:
    analysis, _, _ = small
    by_name = {b.name: b for b in analysis.bucketings}
    assert [(b.label, b.segments) for b in by_name["ref_length"].buckets] == [
        ("<10", 2), ("[10,20)", 3), ("[20,30)", 1)]
    assert [(b.label, b.segments) for b in by_name["src_length"].buckets] == [
        ("<10", 1), ("[10,20)", 2), ("[20,30)", 3)]
    assert sum(b.segments for b in by_name["ref_frequency"].buckets) == len(REFS)
    assert labels([1, 2, 3, 5, 10]) == ["<1", "1", "2", "[3,5)", "[5,10)", ">=10"]
    assert bucket_of(np.array([0, 1, 4, 5, 99]), [1, 2, 5]).tolist() == [0, 1, 2, 3, 3]


def test_bucket_scores_are_the_metric_on_the_bucket_segments(small: tuple) -> None:
    """Summed statistics give what the metric computes on the bucket's strings (sacrebleu's own)."""
    analysis, metrics, _ = small
    ref_length = analysis.bucketings[0]
    long_ones = [i for i, r in enumerate(REFS) if 10 <= len(r.split()) < 20]
    bucket = next(b for b in ref_length.buckets if b.label == "[10,20)")
    for key, metric in metrics.items():
        again = metric.corpus_score(metric.segment_stats([A[i] for i in long_ones],
                                                         [[REFS[i]] for i in long_ones]))
        assert bucket.scores["A"][key].score == pytest.approx(again, abs=1e-9)


def test_every_interval_contains_its_point_estimate(small: tuple) -> None:
    analysis, _, _ = small
    checked = 0
    for bucketing in analysis.bucketings:
        for bucket in bucketing.buckets:
            for by_metric in bucket.scores.values():
                for entry in by_metric.values():
                    if entry.ci_low is not None and bucket.segments > 1:
                        assert entry.ci_low - 1e-9 <= entry.score <= entry.ci_high + 1e-9
                        checked += 1
    for word_bucket in analysis.word_buckets:
        for score in word_bucket.systems.values():
            if word_bucket.ref_words and score.ci_low is not None:
                assert score.ci_low - 1e-9 <= score.fmeasure <= score.ci_high + 1e-9
    assert checked > 10
    # one segment: resamples that miss it are left out (an empty bucket has no score, not 0); those that
    # draw it k times score it as itself (BLEU/chrF/TER are ratios)
    single = next(b for b in analysis.bucketings[0].buckets if b.segments == 1)
    for entry in single.scores["A"].values():
        assert entry.ci_low == pytest.approx(entry.score) and entry.ci_high == pytest.approx(entry.score)
    assert analysis.n_resamples == 300 and analysis.confidence == 0.9 and analysis.seed == 7


def test_word_accuracy_counts_clipped_matches_by_frequency(small: tuple) -> None:
    analysis, _, _ = small
    counts = Counter(w for r in REFS for w in r.split())
    k = len(FREQUENCY_CUTOFFS) + 1
    ref_words = [0] * k
    for r in REFS:
        for w in r.split():
            ref_words[int(bucket_of(np.array([counts[w]]), FREQUENCY_CUTOFFS)[0])] += 1
    assert [b.ref_words for b in analysis.word_buckets] == ref_words
    matches = sum(sum((Counter(a.split()) & Counter(r.split())).values())
                  for a, r in zip(A, REFS, strict=True))
    assert sum(b.systems["A"].matches for b in analysis.word_buckets) == matches
    assert sum(b.systems["A"].out_words for b in analysis.word_buckets) == sum(len(a.split()) for a in A)


def test_ngram_differences_both_ways(small: tuple) -> None:
    analysis, _, _ = small
    (pair,) = analysis.ngrams
    a_only = {g.ngram: g.count for g in pair.a_only}
    b_only = {g.ngram: g.count for g in pair.b_only}
    assert a_only["car"] == 2 and a_only["red car"] == 2 and a_only["the red car"] == 2  # B says "auto"
    assert "car" not in b_only
    assert b_only["fresh"] == 1 and b_only["gate again today"] == 1  # only B has them
    assert "fresh" not in a_only
    counts = [g.count for g in pair.a_only]
    assert counts == sorted(counts, reverse=True)  # most frequent first
    assert pair.a_only_total >= sum(counts) and pair.b_only_total >= sum(g.count for g in pair.b_only)


def test_the_cap_keeps_the_most_frequent(small: tuple) -> None:
    _, metrics, stats = small
    data = AnalysisInput(SOURCES, REFS, {"A": A, "B": B}, stats, metrics, [("A", "B")])  # type: ignore[arg-type]
    capped = analyse(data, AnalysisOptions(20, 0.95, 1, cap=2)).ngrams[0]
    assert len(capped.a_only) == 2 and capped.a_only[0].count == 2


def _brute_force(ref: list[str], hyp: list[str], n: int) -> list[bool]:
    """Reference n-gram positions matched: the first min(count) occurrences of each n-gram."""
    grams = [tuple(ref[i:i + n]) for i in range(len(ref) - n + 1)]
    have = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
    out = []
    for g in grams:
        out.append(have[g] > 0)
        have[g] -= 1
    return out + [False] * min(n - 1, len(ref))


@pytest.mark.parametrize("compiled", [False, True])
def test_matchers_equal_brute_force_counting(compiled: bool) -> None:
    rng = random.Random(3)
    words = ["a", "b", "c", "d", "e"]
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(60)]
    hyps = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(60)]
    vocab = Vocabulary()
    ref, hyp = vocab.encode(refs), vocab.encode(hyps)
    keys = ngram_keys([ref, hyp], len(vocab), 4)
    for n in range(1, 5):
        got = match_flags(RefIndex(keys[0][n - 1], ref), keys[1][n - 1], hyp, compiled=compiled)
        expected = [flag for r, h in zip(refs, hyps, strict=True)
                    for flag in _brute_force(r.split(), h.split(), n)]
        assert got.tolist() == expected


def test_compiled_word_matcher_equals_brute_force_counting() -> None:
    rng = random.Random(4)
    words = ["a", "b", "c"]
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(80)]
    hyps = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(80)]
    ref, hyp = Vocabulary().encode_all([refs, hyps], compiled=True)
    got = match_ids(ref, hyp, 4)
    for n in range(1, 5):
        expected = [flag for r, h in zip(refs, hyps, strict=True)
                    for flag in _brute_force(r.split(), h.split(), n)]
        assert got[n - 1].tolist() == expected


def test_keys_at_positions_are_equal_exactly_for_equal_ngrams() -> None:
    vocab = Vocabulary()
    vocab.index.update({f"w{i}": i for i in range(70_000)})  # V**4 beyond int64
    ref = vocab.encode(["w1 w2 w3 w4 w5", "w69999 w1 w2 w3 w4", "w69999 w1 w2 w3 w5"])
    positions = np.array([0, 1, 5, 6, 10, 11])
    keys = ngram_keys_at(ref, len(vocab), 4, positions)
    grams = [" ".join(vocab.words()[w] for w in ref.ids[p:p + 4]) for p in positions]
    assert len(set(keys.tolist())) == len(set(grams)) == 4
    assert all((keys[i] == keys[j]) == (grams[i] == grams[j]) for i in range(6) for j in range(6))


@pytest.mark.parametrize(("texts", "kernel"), [
    ([["a b", "", "c", ""], ["x  y\tz", "Zürich قال  b", ""]], True),
    ([["a\x1fb c\x0bd", "e\rf"], [], ["", ""]], True),
    ([["a\u00a0b", "c"], ["d"]], False),          # whitespace outside ASCII: Python splits
    ([["a\u2003b c\u3000"], ["d\x85e"]], False),
    ([["a\nb", "c"], ["d"]], False),               # a line break inside a line
    ([["a \ud800 b"], ["c"]], False),              # a lone surrogate
])
def test_compiled_words_equal_str_split(texts: list[list[str]], kernel: bool) -> None:
    vocab = Vocabulary()
    counted = [["قال  x", "", "y z\tw"]]
    *encoded, only_counted = vocab.encode_all(texts, compiled=True, counted=counted)
    assert (vocab._index is None) == kernel  # the words are spelled from the kernel's spans
    assert only_counted.lengths.tolist() == [2, 0, 3] and (only_counted.ids == -1).all()
    assert vocab.encode_all(texts, compiled=False, counted=counted)[-1].lengths.tolist() == [2, 0, 3]
    words = vocab.words()
    assert len(words) == len(vocab) == len(set(words))
    for lines, tokens in zip(texts, encoded, strict=True):
        got = [[words[i] for i in tokens.ids[a:b]] for a, b in pairwise(tokens.offsets.tolist())]
        assert got == [line.split() for line in lines]
    assert vocab.index == {w: i for i, w in enumerate(words)}


def test_compiled_and_numpy_paths_give_the_same_analysis(small: tuple,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _, metrics, stats = small
    data = AnalysisInput(SOURCES, REFS, {"A": A, "B": B}, stats, metrics, [("A", "B"), ("B", "A")])
    found = []
    for compiled in (False, True):
        monkeypatch.setattr(analysis_text, "COMPILED", compiled)
        found.append(analyse(data, AnalysisOptions(300, 0.9, 7)).model_dump_json())
    assert found[0] == found[1]
    assert '"a_only_total":0' not in found[0]


def test_keys_stay_exact_when_the_vocabulary_is_huge() -> None:
    """V**4 beyond int64: the trigram keys are renumbered, distinct n-grams keep distinct keys."""
    vocab = Vocabulary()
    vocab.index.update({f"w{i}": i for i in range(70_000)})
    ref = vocab.encode(["w1 w2 w3 w4 w5", "w69999 w1 w2 w3 w4"])
    keys = ngram_keys([ref], len(vocab), 4)[0]
    four = keys[3][keys[3] >= 0]
    assert len(four) == 4 and len(set(four.tolist())) == 3  # "w1 w2 w3 w4" twice


def _testset() -> TestSet:
    return TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                              target_lang="en", name="hand-made")


def _systems() -> list[SystemRun]:
    return [SystemRun("A", "file:a.txt", list(A), {}), SystemRun("B", "file:b.txt", list(B), {}),
            SystemRun("gone", "marian:x", [], {}, status="skipped", reason="offline")]


def test_a_run_records_the_analysis_and_its_report_shows_it(tmp_path: Path) -> None:
    run = evaluate(_testset(), _systems(), ["bleu", "chrf"], EvalSettings(resamples=50, checks=None),
                   sink=RunFolder(tmp_path / "run"))
    analysis = run.results.analysis
    assert [b.name for b in analysis.bucketings] == ["ref_length", "src_length", "ref_frequency"]
    assert analysis.metrics == ["bleu", "chrf"] and analysis.frequency_source == "test-set references"
    assert [(p.a, p.b) for p in analysis.ngrams] == [("A", "B")]  # the pair the run compared
    saved = json.loads((tmp_path / "run" / "results.json").read_text("utf-8"))
    assert saved["analysis"]["bucketings"][0]["buckets"][0]["label"] == "<10"
    assert parse_results(json.loads(dumps_results(run.results))).analysis == analysis
    html = (tmp_path / "run" / "report.html").read_text("utf-8")
    assert 'id="analysis"' in html and 'id="analysis-ref_length"' in html and "red car" in html


def test_the_switch_turns_it_off_and_a_corpus_file_gives_the_frequencies(tmp_path: Path) -> None:
    off = evaluate(_testset(), _systems()[:2], ["bleu"], EvalSettings(resamples=20, checks=None,
                                                                       analysis=False))
    assert off.results.analysis.bucketings == []
    assert 'id="analysis"' not in render_report(off.results, off.records)
    corpus = tmp_path / "train.en"
    corpus.write_text("car car car car car car car car car car car car\nthe\n", encoding="utf-8")
    on = evaluate(_testset(), _systems()[:2], ["bleu"], EvalSettings(resamples=20, checks=None,
                                                                      analysis_corpus=str(corpus)))
    words = {b.label: b.ref_words for b in on.results.analysis.word_buckets}
    assert on.results.analysis.frequency_source == "train.en"
    assert words["[10,100)"] == REFS[0].split().count("car") + REFS[4].split().count("car")
    assert words["1"] == sum(r.split().count("the") for r in REFS)
    with pytest.raises(MtEvalError, match="frequency corpus not found"):
        evaluate(_testset(), _systems()[:2], ["bleu"], EvalSettings(resamples=20, checks=None,
                                                                    analysis_corpus=str(tmp_path / "nope")))


def test_old_results_read_with_an_empty_analysis() -> None:
    run = evaluate(_testset(), _systems()[:2], ["bleu"],
                   EvalSettings(resamples=20, checks=None, analysis=False))
    data = json.loads(dumps_results(run.results))
    data["schema_version"] = 3
    del data["analysis"]
    assert parse_results(data).analysis.bucketings == []


def test_the_command_line_switch_and_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from helpers.cli import run_cli

    _testset().save(tmp_path / "ts")
    for name, lines in (("A", A), ("B", B)):
        (tmp_path / f"{name}.txt").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    common = ["score", "--testset", tmp_path / "ts", "--hyp", f"A={tmp_path / 'A.txt'}", "--hyp",
              f"B={tmp_path / 'B.txt'}", "-m", "bleu", "--resamples", "20"]
    code, _, err = run_cli(capsys, *common, "-o", tmp_path / "off", "--no-analysis")
    assert code == 0, err
    assert json.loads((tmp_path / "off" / "results.json").read_text("utf-8"))["analysis"]["bucketings"] == []
    code, _, err = run_cli(capsys, *common, "-o", tmp_path / "bad", "--analysis-corpus",
                           tmp_path / "nope.txt")
    assert code == 2 and "frequency corpus not found" in err and not (tmp_path / "bad").exists()
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 bar\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text(" \n\n", encoding="utf-8")
    for name, says in (("folder", "is a folder"), ("fifo", "FIFO"), ("latin1.txt", "not valid UTF-8"),
                       ("empty.txt", "has no words"), ("blank.txt", "has no words")):
        code, _, err = run_cli(capsys, *common, "-o", tmp_path / "bad", "--analysis-corpus", tmp_path / name)
        # checked before any work: one line, no progress, no run folder
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, (name, err)
        assert not (tmp_path / "bad").exists()
    (tmp_path / "train.txt").write_text("red car\n", encoding="utf-8")
    code, _, err = run_cli(capsys, *common, "-o", tmp_path / "on", "--analysis-corpus",
                           tmp_path / "train.txt")
    assert code == 0, err
    saved = json.loads((tmp_path / "on" / "results.json").read_text("utf-8"))["analysis"]
    assert saved["frequency_source"] == "train.txt" and saved["ngrams"][0]["a"] == "A"


def test_config_keys_resolve_relative_to_the_config(tmp_path: Path) -> None:
    from mt_eval.config import load_config

    (tmp_path / "run.toml").write_text('analysis_corpus = "data/train.en"\nanalysis_resamples = 50\n'
                                       "analysis = false\n", encoding="utf-8")
    config = load_config(tmp_path / "run.toml")
    assert config.analysis_corpus == str(tmp_path / "data" / "train.en")
    assert (config.analysis, config.analysis_resamples) == (False, 50)
    assert EvalSettings().analysis and EvalSettings().analysis_corpus is None


class _Picky(MeanOfSegmentsMetric):
    """Scores only outputs of more than five words and, like an LLM judge, has no score without one."""

    name = "picky"

    def segment_stats(self, hypotheses, references, *, sources=None, workers=1):  # type: ignore[no-untyped-def]
        return np.array([[1.0, 1.0] if len(h.split()) > 5 else [0.0, 0.0] for h in hypotheses])

    def corpus_score(self, stats: np.ndarray) -> float:
        if not np.asarray(stats)[:, 1].sum() > 0:
            raise MtEvalError("picky: no segment scored")
        return super().corpus_score(stats)

    def signature(self) -> dict[str, str]:
        return {"nrefs": "?"}


def test_a_bucket_a_metric_cannot_score_has_no_score_and_no_nan() -> None:
    metric = _Picky()
    stats = {"A": {"picky": metric.segment_stats(A, [])}}
    analysis = analyse(AnalysisInput(SOURCES, REFS, {"A": A}, stats, {"picky": metric}),
                       AnalysisOptions(50, 0.95, 3))
    short = analysis.bucketings[0].buckets[0]
    assert short.label == "<10" and short.scores["A"]["picky"].score is None
    assert short.scores["A"]["picky"].ci_low is None
    assert analysis.bucketings[0].buckets[1].scores["A"]["picky"].score == 100.0
    assert "NaN" not in analysis.model_dump_json()


@pytest.mark.parametrize("lines", [["a b", "", "c", ""], ["a b", "", "c\x00d e"], [""], []])
def test_words_of_every_line(lines: list[str]) -> None:
    vocab = Vocabulary()
    tokens = vocab.encode(lines)
    words = vocab.words()
    bounds = tokens.offsets.tolist()
    got = [[words[i] for i in tokens.ids[a:b]] for a, b in pairwise(bounds)]
    assert got == [line.split() for line in lines]
