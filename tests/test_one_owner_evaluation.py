"""One owner per concept, shown by behaviour: a metric's signature (``MetricSignature``), where statistics
come from (a ``StatsSource``), whether a metric may be sharded (``Metric.batch_invariant``) and the
paired test (``mt_eval.evaluate.paired_tests``) each have one place, and what that place says shows up
in a run, ``mt-eval merge``, the CI gate, ``compare`` and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.cli import run_cli

import mt_eval.metrics.sacrebleu_metrics as sm
from mt_eval.data.testset import TestSet
from mt_eval.errors import IncompatibleError
from mt_eval.evaluate import LocalStats, SegmentStats, StatsJob, evaluate, rebuild_metrics
from mt_eval.metrics.registry import get_metric
from mt_eval.reports.run_folder import RunFolder, load_run
from mt_eval.settings import EvalSettings
from mt_eval.testing.corpora import synthetic_corpus
from mt_eval.translators.base import SystemRun

N = 40


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    corpus = synthetic_corpus(N, seed=3)
    pairs = [(f"src {i} {a}", [r] if i else [r, corpus["C"][i]]) for i, (a, r) in
             enumerate(zip(corpus["A"], corpus["refs"], strict=True))]  # one two-reference segment
    TestSet.from_pairs(pairs, source_lang="de", target_lang="en", name="owners").save(tmp_path / "ts")
    for name in ("A", "B"):
        (tmp_path / f"{name}.txt").write_text("\n".join(corpus[name]) + "\n", encoding="utf-8")
    return tmp_path


def _probe(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A field added to BLEU's signature, in the one place a metric declares it."""
    original = sm.BLEU.signature

    def signature(self: sm.BLEU) -> dict[str, str]:
        return {**original(self), "probe": value}

    monkeypatch.setattr(sm.BLEU, "signature", signature)


def _run(capsys: pytest.CaptureFixture[str], ws: Path, out: str, *extra: object) -> Path:
    code, _, err = run_cli(capsys, "run", "--testset", ws / "ts", "-s", f"file:{ws / 'A.txt'}",
                           "-s", f"file:{ws / 'B.txt'}", "-m", "bleu", "-m", "chrf", "--resamples", "50",
                           "-o", ws / out, *extra)
    assert code == 0, err
    return ws / out


def test_a_signature_field_added_once_shows_up_in_run_merge_gate_compare_and_report(
        ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as mp:
        _probe(mp, "x")
        run = _run(capsys, ws, "run")
        parts = [_run(capsys, ws, f"part{i}", "--shard", f"{i}/2") for i in range(2)]
        code, _, err = run_cli(capsys, "merge", *parts, "-o", ws / "merged")
        assert code == 0, err
        code, _, err = run_cli(capsys, "baseline", "save", run, "-o", ws / "baseline.json")
        assert code == 0, err
    # the run: results.json, the score entries and the tables carry the field, nrefs is the test set's
    results = load_run(run)
    bleu = results.metrics["bleu"]
    assert bleu.signature["probe"] == "x" and bleu.signature["nrefs"] == "var"
    assert "|probe:x" in bleu.signature_string and "nrefs:var|" in bleu.signature_string
    assert results.scores["A.txt"]["bleu"].signature == bleu.signature_string
    assert bleu.signature_string in (run / "tables" / "scores.md").read_text(encoding="utf-8")
    # the merge: the parts' field (and the whole test set's nrefs, not a slice's)
    merged = load_run(ws / "merged").metrics["bleu"]
    assert merged.signature == bleu.signature and merged.signature_string == bleu.signature_string
    assert load_run(parts[1]).metrics["bleu"].signature["nrefs"] == "1"  # part 1 has no two-ref segment
    # a part made without the field does not merge with one made with it
    other = _run(capsys, ws, "plain1", "--shard", "1/2")
    code, _, err = run_cli(capsys, "merge", parts[0], other, "-o", ws / "mixed")
    assert code == 2 and "field 'probe'" in err and not (ws / "mixed").exists()
    # the gate: the baseline holds the field; a candidate without it cannot be compared on BLEU
    baseline = json.loads((ws / "baseline.json").read_text(encoding="utf-8"))
    assert baseline["systems"]["A.txt"]["metrics"]["bleu"]["signature"]["probe"] == "x"
    candidate = _run(capsys, ws, "candidate")
    code, out, _ = run_cli(capsys, "gate", "-b", ws / "baseline.json", "-c", candidate)
    assert code == 2 and "probe (baseline 'x', candidate '<absent>')" in out
    # compare: the recorded field must be what this installation computes
    with monkeypatch.context() as mp:
        _probe(mp, "y")
        with pytest.raises(IncompatibleError, match="signature field probe differs"):
            rebuild_metrics(results)


class CannedStats:
    """A statistics source test double: fixed statistics and flags, and the jobs it was asked for."""

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr
        self.jobs: list[tuple[str, str]] = []

    def stats(self, job: StatsJob) -> SegmentStats:
        self.jobs.append((job.system.name, job.key))
        return SegmentStats(self.arr, {"nrefs": "?", "metric": "canned"})

    def flags(self, testset: TestSet, system: SystemRun, options: Any, workers: int) -> Any:
        return [["canned"]] * len(testset), {"canned": len(testset)}


def test_evaluate_takes_statistics_and_flags_from_the_source_it_is_given(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    testset = TestSet.load(ws / "ts")
    hyps = (ws / "A.txt").read_text(encoding="utf-8").splitlines()
    arr = get_metric("bleu").segment_stats(hyps, testset.references)
    source = CannedStats(arr)

    def never(*args: Any, **kwargs: Any) -> np.ndarray:
        raise AssertionError("evaluate computed statistics itself")

    monkeypatch.setattr(sm.SacreBleuMetric, "segment_stats", never)
    systems = [SystemRun("one", "file:a", hyps, {}), SystemRun("two", "file:b", list(reversed(hyps)), {})]
    run = evaluate(testset, systems, ["bleu"], EvalSettings(resamples=20), stats=source)
    assert source.jobs == [("one", "bleu"), ("two", "bleu")]
    scores = run.results.scores
    assert scores["one"]["bleu"].score == scores["two"]["bleu"].score == get_metric("bleu").corpus_score(arr)
    assert run.results.metrics["bleu"].signature == {"nrefs": "var", "metric": "canned"}  # nrefs: test set's
    assert run.results.flags == {"one": {"canned": N}, "two": {"canned": N}}


def test_the_run_folder_cache_is_a_source_in_front_of_the_given_one(ws: Path) -> None:
    testset = TestSet.load(ws / "ts")
    hyps = (ws / "A.txt").read_text(encoding="utf-8").splitlines()
    systems = [SystemRun("one", "file:a", hyps, {})]
    folder = RunFolder(ws / "cached")
    first = evaluate(testset, systems, ["bleu"], EvalSettings(resamples=20), sink=folder)
    source = CannedStats(np.zeros_like(first.stats["one"]["bleu"]))
    again = evaluate(testset, systems, ["bleu"], EvalSettings(resamples=20), stats=source, sink=folder)
    assert source.jobs == []  # the folder's statistics still match their cache key
    assert again.results.scores == first.results.scores


def test_batch_invariance_is_the_metrics_own_declaration(ws: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A metric that declares itself batch-dependent is recomputed over the whole test set by merge."""
    parts = [_run(capsys, ws, f"part{i}", "--shard", f"{i}/2") for i in range(2)]
    computed: list[int] = []
    original = LocalStats.stats

    def counting(self: LocalStats, job: StatsJob) -> SegmentStats:
        computed.append(len(job.testset))
        return original(self, job)

    monkeypatch.setattr(LocalStats, "stats", counting)
    code, _, err = run_cli(capsys, "merge", *parts, "-o", ws / "joined")
    assert code == 0 and computed == [], err  # every metric joined from the parts
    monkeypatch.setattr(sm.CHRF, "batch_invariant", False)
    code, _, err = run_cli(capsys, "merge", *parts, "-o", ws / "recomputed")
    assert code == 0, err
    assert computed == [N, N]  # chrF for both systems, over the whole test set
    full = _run(capsys, ws, "full")
    for name in ("A.txt", "B.txt"):
        recomputed = RunFolder(ws / "recomputed").stats(name, "chrf")
        assert np.array_equal(recomputed, RunFolder(full).stats(name, "chrf"))


def test_the_gate_and_a_run_share_one_paired_test(ws: Path) -> None:
    from mt_eval.evaluate import significance
    from mt_eval.gate.policy import GatePolicy
    from mt_eval.gate.verdict import assess

    testset = TestSet.load(ws / "ts")
    bleu = get_metric("bleu")
    a, b = (bleu.segment_stats((ws / f"{n}.txt").read_text(encoding="utf-8").splitlines(), testset.references)
            for n in ("A", "B"))
    for method in ("paired-bs", "paired-ar"):
        sig = significance({"bleu": bleu}, {"A": {"bleu": a}, "B": {"bleu": b}}, ["A", "B"],
                           EvalSettings(baseline="A", method=method, resamples=300, seed=5))  # type: ignore[arg-type]
        gated = assess(bleu, a, b, system="A", key="bleu",
                       policy=GatePolicy(method=method, n_resamples=300, seed=5))  # type: ignore[arg-type]
        assert gated.p_value == sig.results["B"]["bleu"].p_value
        assert gated.delta == pytest.approx(sig.results["B"]["bleu"].delta)
