"""gemba-esa / gemba-mqm against a fake OpenAI-compatible judge on 127.0.0.1: scores, failures with the raw
answer, located and unlocated spans in Arabic and emoji hypotheses, samples, usage, cache and resume."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fake_judge import FakeJudge

from mt_eval.errors import MtEvalError
from mt_eval.metrics.base import SegmentDetail
from mt_eval.metrics.judge import JudgeMetric
from mt_eval.metrics.registry import get_metric
from mt_eval.stats.bootstrap import bootstrap_ci

SOURCES = ["ذهب الولد إلى المدرسة.", "القطة تنام.", "الطقس جميل 😀 اليوم.", "قرأت كتابا."]
REFS = [["The boy went to school."], ["The cat sleeps."], ["The weather is nice 😀 today."],
        ["I read a book."]]
# an Arabic output (untranslated), an emoji before the error, a repeated word (ambiguous quote)
HYPS = ["The boy went to the school.", "ذهبت القطة 😺 تنام", "The 🌦️ weather is 😀 beautiful today.",
        "I read a a book book."]


@pytest.fixture
def judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJudge]:
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    server = FakeJudge()
    yield server
    server.close()


def _metric(name: str, server: FakeJudge, judge_options: dict[str, str] | None = None,
            **options: object) -> JudgeMetric:
    metric = get_metric(name, judge=server.spec(max_retries="0", **(judge_options or {})), **options)
    assert isinstance(metric, JudgeMetric)
    return metric


def _score(metric: JudgeMetric, hyps: list[str] = HYPS) -> np.ndarray:
    try:
        return metric.segment_stats(hyps, REFS[:len(hyps)], sources=SOURCES[:len(hyps)])
    finally:
        metric.close()


def _script(server: FakeJudge) -> None:
    server.answers[HYPS[0]] = {"spans": "Major:\nno-error\nMinor:\nfluency/grammar - \"the school\"",
                               "score": "90"}
    server.answers[HYPS[1]] = {"spans": "Major:\nnon-translation - \"القطة 😺 تنام\"\n"
                                        "accuracy/mistranslation - \"ذهبت\"\nMinor:\nno-error",
                               "score": "Score: 5"}
    server.answers[HYPS[2]] = {"spans": "Major:\nno-error\nMinor:\nstyle/awkward - \"beautiful\"\n"
                                        "accuracy/omission - \"nice\"",  # not in the hypothesis: unlocated
                               "score": "75/100"}
    server.answers[HYPS[3]] = {"spans": "Major:\nno-error\nMinor:\nfluency/grammar - \"a\"\n"
                                        "fluency/grammar - \"book book\"",
                               "score": "60"}


def _check_offsets(details: list[SegmentDetail], hyps: list[str]) -> None:
    for i, detail in enumerate(details):
        for span in detail.spans:
            assert span.segment_id == str(i)
            span.check(hyps[i])  # raises if the offsets do not mark span.text
            if span.located:
                assert span.start is not None and span.end is not None
                assert 0 <= span.start < span.end <= len(hyps[i])
                assert hyps[i][span.start:span.end] == span.text


def test_esa_scores_spans_and_usage(judge: FakeJudge) -> None:
    _script(judge)
    metric = _metric("gemba-esa", judge)
    stats = _score(metric)
    assert stats.tolist() == [[90, 1, 0], [5, 1, 0], [75, 1, 0], [60, 1, 0]]
    assert metric.corpus_score(stats) == pytest.approx((90 + 5 + 75 + 60) / 4)
    assert metric.sentence_scores(stats).tolist() == [90, 5, 75, 60]
    assert judge.steps() == ["spans"] * 4 + ["score"] * 4  # step 2 after every step 1
    details = metric.details
    assert details is not None and len(details) == 4 and all(d.failure is None for d in details)
    _check_offsets(details, HYPS)
    # Arabic + emoji: the offsets count code points ("😺" is one, not two UTF-16 units)
    arabic = details[1].spans
    assert [(s.severity, s.start, s.end, s.category) for s in arabic] == [
        ("major", 5, 17, "non-translation"), ("major", 0, 4, "accuracy/mistranslation")]
    assert HYPS[1][5:17] == "القطة 😺 تنام" and len("القطة 😺 تنام") == 12  # 13 UTF-16 units
    emoji = details[2].spans
    assert (emoji[0].start, emoji[0].end) == (HYPS[2].index("beautiful"), HYPS[2].index("beautiful") + 9)
    assert not emoji[1].located and emoji[1].text == "nice"  # omission quoted from the source
    ambiguous = details[3].spans
    assert not ambiguous[0].located and ambiguous[0].text == "a"  # "a" occurs many times
    assert ambiguous[1].located and ambiguous[1].text == "book book"
    assert all(s.source == "" for d in details for s in d.spans)  # the run names it after the metric key
    usage = details[0].usage
    assert usage["requests"] == 2 and usage["prompt_tokens"] > 100 and usage["completion_tokens"] > 0
    assert usage["seconds"] >= 0 and usage["samples_failed"] == 0


def test_mqm_scores_are_negated_gemba_penalties(judge: FakeJudge) -> None:
    judge.answers[HYPS[0]] = {"spans": "Critical:\nno-error\nMajor:\naccuracy/addition - \"the\"\n"
                                       "Minor:\nfluency/grammar - \"went\"\nstyle/awkward - \"boy\""}
    judge.answers[HYPS[1]] = {"spans": "Critical:\naccuracy/mistranslation - \"ذهبت\"\nMajor:\n"
                                       "accuracy/omission - \"الولد\"\nMinor:\nno-error"}
    judge.answers[HYPS[2]] = {"spans": "Critical:\nno-error\nMajor:\n" + "".join(
        f"accuracy/addition - \"w{i}\"\n" for i in range(6)) + "Minor:\nno-error"}
    stats = _score(metric := _metric("gemba-mqm", judge))
    # 5+1+1; 25+5 capped at 25; six majors: only 5 counted = 25; no errors = 0
    assert stats[:, 0].tolist() == [-7, -25, -25, 0] and stats[:, 1].tolist() == [1, 1, 1, 1]
    assert metric.corpus_score(stats) == pytest.approx(-57 / 4)
    assert judge.steps() == ["spans"] * 4  # one request per segment
    assert metric.details is not None
    assert [s.severity for s in metric.details[1].spans] == ["critical", "major"]
    wmt = _score(_metric("gemba-mqm", judge, weights="wmt"))
    assert wmt[:, 0].tolist() == [-7, -15, -30, 0]


def test_malformed_and_truncated_answers_are_failures_with_the_raw_text(judge: FakeJudge) -> None:
    _script(judge)
    judge.answers[HYPS[1]]["spans"] = "The translation has some problems but is okay overall."
    judge.answers[HYPS[2]]["spans"] = ("Major:\naccuracy/mistranslation - \"weath", "length")
    judge.answers[HYPS[3]]["score"] = "I would give it 60 or maybe 70"
    metric = _metric("gemba-esa", judge)
    stats = _score(metric)
    assert stats.tolist() == [[90, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]]
    assert JudgeMetric.failures(stats) == 3
    # a failed segment is excluded from the mean (never a silent zero), and has no sentence score
    assert metric.corpus_score(stats) == 90.0
    assert np.isnan(metric.sentence_scores(stats)[1:]).all()
    details = metric.details
    assert details is not None
    assert details[1].failure is not None and "no severity heading" in details[1].failure
    assert details[1].raw == "The translation has some problems but is okay overall."
    assert details[2].failure == "answer cut at max_tokens=512" and details[2].raw is not None
    assert details[2].raw.startswith("Major:")
    assert details[3].failure is not None and "unparseable score" in details[3].failure
    assert details[3].raw == "I would give it 60 or maybe 70" and details[3].spans == []
    # truncated/malformed step-1 answers are not sent to step 2
    assert judge.steps().count("score") == 2
    ci = bootstrap_ci(metric, stats, n_resamples=200, seed=1)
    assert math.isnan(ci.low) or ci.low <= 90.0 <= ci.high


def test_a_judge_that_never_answers_in_format_fails_the_metric_loudly(judge: FakeJudge) -> None:
    for hyp in HYPS:
        judge.answers[hyp] = {"spans": "Looks fine to me."}
    metric = _metric("gemba-mqm", judge)
    stats = _score(metric)
    assert stats[:, 2].tolist() == [1, 1, 1, 1]
    with pytest.raises(MtEvalError, match="could not score any of the 4 segments"):
        metric.corpus_score(stats)


def test_samples_mean_of_parsed_samples_and_spans_of_the_first(judge: FakeJudge) -> None:
    judge.answers[HYPS[0]] = {
        "spans": ["garbage", "Minor:\nfluency/grammar - \"the school\"",
                  "Major:\naccuracy/addition - \"boy\""],
        "score": ["10", "80", "60"]}
    metric = _metric("gemba-esa", judge, samples=3, temperature=0.7, seed=0)
    stats = _score(metric, HYPS[:1])
    assert stats.tolist() == [[70, 1, 0]]  # sample 0 failed; mean of 80 and 60
    assert sorted({b["seed"] for b in judge.posts}) == [0, 1, 2]
    assert {b["temperature"] for b in judge.posts} == {0.7}
    assert metric.details is not None
    detail = metric.details[0]
    assert [s.text for s in detail.spans] == ["the school"]  # the first *parsed* sample's spans
    assert detail.usage["samples_failed"] == 1 and detail.usage["requests"] == 5


def test_rescoring_is_served_from_the_cache(judge: FakeJudge, tmp_path: Path) -> None:
    _script(judge)
    first = _score(_metric("gemba-esa", judge))
    asked = len(judge.posts)
    metric = _metric("gemba-esa", judge)
    again = _score(metric)
    assert len(judge.posts) == asked and np.array_equal(first, again)  # not one request more
    assert metric.details is not None and metric.details[0].usage["requests"] == 2
    # a changed hypothesis is asked (two steps), the others are not
    changed = [*HYPS[:3], "I read one book."]
    _score(_metric("gemba-esa", judge), changed)
    assert len(judge.posts) == asked + 2
    # other sampling settings are another judge signature: asked again
    _score(_metric("gemba-esa", judge, max_tokens=300), HYPS[:1])
    assert len(judge.posts) == asked + 4
    # cache=false never stores or reads
    _score(_metric("gemba-esa", judge, cache=False), HYPS[:1])
    assert len(judge.posts) == asked + 6


def test_a_killed_run_resumes_where_it_stopped(judge: FakeJudge) -> None:
    _script(judge)
    judge.fail_after = 2
    with pytest.raises(MtEvalError, match="HTTP 400"):
        _score(_metric("gemba-mqm", judge, batch_size=1))
    assert len(judge.posts) == 3  # two answers, then the refused request
    judge.fail_after = None
    metric = _metric("gemba-mqm", judge, batch_size=1)
    stats = _score(metric)
    assert len(judge.posts) == 3 + 2  # only the two segments not answered before
    assert stats[:, 1].tolist() == [1, 1, 1, 1]


def test_signature_names_the_served_model_url_prompt_and_sampling(judge: FakeJudge) -> None:
    metric = _metric("gemba-esa", judge, samples=2, temperature=0.3)
    sig = metric.signature()
    assert sig["judge"] == f"openai:{judge.url}"
    assert sig["judge_model"] == "judge-x|served=judge-x|/models/fake-judge-v1"
    assert judge.gets >= 1  # GET /models was asked
    assert sig["prompt"].startswith("gemba-esa/") and len(sig["prompt"]) == len("gemba-esa/") + 16
    assert (sig["samples"], sig["temperature"], sig["ref"], sig["langs"]) == ("2", "0.3", "no", "ar-en")
    assert "weights" in _metric("gemba-mqm", judge).signature()
    metric.close()
    # a judge that cannot be reached: the field is unknown ("?"), not an error
    down = get_metric("gemba-esa", judge="openai:http://127.0.0.1:9/v1?model=x&max_retries=0&timeout=1")
    assert down.signature()["judge_model"] == "?"


def test_reference_option_puts_the_reference_in_the_prompt(judge: FakeJudge) -> None:
    _score(_metric("gemba-mqm", judge, reference=True), HYPS[:1])
    assert "English reference translation:\n```The boy went to school.```" in \
        judge.posts[-1]["messages"][-1]["content"]
    _score(_metric("gemba-mqm", judge), HYPS[:1])
    assert "reference" not in judge.posts[-1]["messages"][-1]["content"]


def test_sources_are_required(judge: FakeJudge) -> None:
    with pytest.raises(MtEvalError, match="needs the source"):
        _metric("gemba-esa", judge).segment_stats(HYPS, REFS)


def test_a_backend_that_cannot_complete_is_refused(judge: FakeJudge) -> None:
    metric = get_metric("gemba-esa", judge="copy")
    with pytest.raises(MtEvalError, match="cannot complete text"):
        metric.segment_stats(HYPS[:1], REFS[:1], sources=SOURCES[:1])


def test_completions_endpoint_gets_a_flattened_transcript(judge: FakeJudge) -> None:
    _script(judge)
    stats = _score(_metric("gemba-mqm", judge, judge_options={"endpoint": "completions"}), HYPS[:2])
    assert stats[:, 1].tolist() == [1, 1]
    body = judge.posts[-1]
    assert "messages" not in body and body["prompt"].endswith("\nAssistant:")
    assert body["stop"] == ["\nUser:", "\nSystem:"] and body["prompt"].count("User: ") == 4


def test_an_empty_or_filtered_answer_is_a_failure_not_a_retry(judge: FakeJudge) -> None:
    judge.answers[HYPS[0]] = {"spans": ("", "content_filter")}
    metric = _metric("gemba-mqm", judge)
    stats = _score(metric, HYPS[:2])
    assert stats[:, 2].tolist() == [1, 0] and len(judge.posts) == 2
    assert metric.details is not None and metric.details[0].failure is not None
    assert "empty answer" in metric.details[0].failure and metric.details[0].raw == ""


def test_judges_are_listed_and_cleared_like_systems_in_the_cache(judge: FakeJudge, tmp_path: Path) -> None:
    from mt_eval.workcache.store import TranslationCache

    _score(_metric("gemba-mqm", judge), HYPS[:2])
    with TranslationCache(tmp_path / "cache.sqlite") as cache:
        rows = [r for r in cache.stats() if r["name"] == "judge:gemba-mqm"]
        assert len(rows) == 1 and rows[0]["segments"] == 2 and rows[0]["backend"] == "judge/openai"
        assert cache.clear("judge:*") == 2
    _score(_metric("gemba-mqm", judge), HYPS[:2])
    assert len(judge.posts) == 4  # asked again after the clear


def test_esa_score_step_has_its_own_short_cap(judge: FakeJudge) -> None:
    judge.answers[HYPS[0]] = {"score": ("\n100:\n100:\n100:", "length")}  # a rambling judge
    metric = _metric("gemba-esa", judge, score_max_tokens=8)
    stats = _score(metric, HYPS[:2])
    assert [b["max_tokens"] for b in judge.posts] == [512, 512, 8, 8]
    assert stats[:, 2].tolist() == [1, 0]
    assert metric.details is not None and metric.details[0].failure == "score cut at score_max_tokens=8"
    assert metric.signature()["score_max_tokens"] == "8"
