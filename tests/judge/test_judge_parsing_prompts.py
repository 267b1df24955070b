"""Judge answer parsing, prompts and the ``judge=`` metric spec (no server, no model)."""

from __future__ import annotations

import pytest

from mt_eval.errors import MtEvalError
from mt_eval.judges import prompts
from mt_eval.judges.parsing import ErrorItem, JudgeParseError, parse_error_list, parse_score
from mt_eval.metrics.registry import get_metric, metric_from_spec, parse_metric_spec


# ---------------------------------------------------------------------------------------- parsing
def test_error_list_in_gemba_format() -> None:
    answer = ("Critical:\nno-error\nMajor:\naccuracy/mistranslation - \"twenty\"\n"
              "accuracy/omission - \"بالإسكندرية\"\nMinor:\nfluency/grammar - \"approved yesterday\"\n")
    assert parse_error_list(answer) == [
        ErrorItem("major", "accuracy/mistranslation", "twenty"),
        ErrorItem("major", "accuracy/omission", "بالإسكندرية"),
        ErrorItem("minor", "fluency/grammar", "approved yesterday")]


def test_error_list_tolerates_markdown_bullets_inline_headings_and_curly_quotes() -> None:
    answer = ("**Major:** accuracy/mistranslation - “the cat”\n## Minor:\n- style/awkward - \"very very\"\n"
              "1. fluency/punctuation - \"said \"yes\" twice\"\n")
    assert parse_error_list(answer) == [
        ErrorItem("major", "accuracy/mistranslation", "the cat"),
        ErrorItem("minor", "style/awkward", "very very"),
        ErrorItem("minor", "fluency/punctuation", 'said "yes" twice')]


def test_no_errors_is_an_empty_list_not_a_failure() -> None:
    assert parse_error_list("Critical:\nno-error\nMajor:\nno-error\nMinor: no-error\n") == []


def test_non_translation_is_critical_and_major_for_esa() -> None:
    assert parse_error_list("Critical:\naccuracy - \"x\"", severities=("major", "minor")) == [
        ErrorItem("major", "accuracy", "x")]
    assert parse_error_list("Minor:\nnon-translation - \"x y\"")[0].severity == "critical"
    esa = parse_error_list("Minor:\nnon-translation - \"x y\"", severities=("major", "minor"))
    assert esa[0].severity == "major"


@pytest.mark.parametrize("answer, why", [
    ("", "empty"),
    ("The translation is good.", "no severity heading"),
    ("accuracy/mistranslation - \"x\"\nMajor:\nno-error", "before any severity heading"),
    ("Here is my answer.\nThe translation is fine.", "no severity heading"),
])
def test_malformed_error_lists_fail(answer: str, why: str) -> None:
    with pytest.raises(JudgeParseError, match=why):
        parse_error_list(answer, severities=("major", "minor"))


def test_line_without_quotes_keeps_its_text_as_the_quote() -> None:
    assert parse_error_list("Major:\naccuracy/omission - the second clause") == [
        ErrorItem("major", "accuracy/omission", "the second clause")]


@pytest.mark.parametrize("answer, value", [("85", 85.0), (" 72.5\n", 72.5), ("Score: 90", 90.0),
                                           ("85/100", 85.0), ("0", 0.0), ("100.", 100.0)])
def test_scores(answer: str, value: float) -> None:
    assert parse_score(answer) == value


@pytest.mark.parametrize("answer", ["", "good", "between 60 and 70", "150", "Score (0-100): 80"])
def test_bad_scores_fail(answer: str) -> None:
    with pytest.raises(JudgeParseError):
        parse_score(answer)


# ---------------------------------------------------------------------------------------- prompts
def test_mqm_conversation_has_system_three_examples_and_the_segment() -> None:
    messages = prompts.mqm_messages("مرحبا", "Hello", source_lang="ar", target_lang="en")
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    last = messages[-1]["content"]
    assert "Arabic source:\n```مرحبا```" in last and "English translation:\n```Hello```" in last
    assert "reference" not in last and "Critical:, Major: and Minor:" in last
    with_ref = prompts.mqm_messages("مرحبا", "Hello", "Hi there", source_lang="ar", target_lang="en")[-1]
    assert "English reference translation:\n```Hi there```" in with_ref["content"]


def test_esa_prompts_have_two_severities_and_a_score_step() -> None:
    messages = prompts.esa_span_messages("a", "b", source_lang="fr", target_lang="en")
    assert "Critical" not in "".join(m["content"] for m in messages[1:])
    score = prompts.esa_score_messages("a", "b", "Major:\nno-error", source_lang="fr", target_lang="en")
    assert len(score) == 1 and score[0]["content"].endswith("Score (0-100): ")
    assert "French source" in score[0]["content"] and "```Major:\nno-error```" in score[0]["content"]


def test_template_hash_covers_every_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    mqm, esa = prompts.template_hash("gemba-mqm"), prompts.template_hash("gemba-esa")
    assert mqm != esa and len(mqm) == 16 and prompts.template_hash("gemba-mqm") == mqm
    monkeypatch.setattr(prompts, "ESA_SCORE", prompts.ESA_SCORE.replace("100", "10"))
    assert prompts.template_hash("gemba-esa") != esa and prompts.template_hash("gemba-mqm") == mqm


# ---------------------------------------------------------------------------------------- spec
def test_everything_after_judge_is_the_judge_spec() -> None:
    name, options = parse_metric_spec(
        "gemba-esa:samples=3,temperature=0.5,judge=openai:http://127.0.0.1:8000/v1?model=x&timeout=5,b=2")
    assert name == "gemba-esa"
    assert options == {"samples": 3, "temperature": 0.5,
                       "judge": "openai:http://127.0.0.1:8000/v1?model=x&timeout=5,b=2"}
    assert parse_metric_spec("gemba-mqm:judge=llama-cpp:/m/x.gguf?n_ctx=4096") == (
        "gemba-mqm", {"judge": "llama-cpp:/m/x.gguf?n_ctx=4096"})
    norwegian = parse_metric_spec("gemba-mqm:target_lang=no,judge=openai:http://h/v1?model=y")[1]
    assert norwegian["target_lang"] == "no"
    # only an option named judge starts the judge spec, not a value that contains "judge="
    assert parse_metric_spec("bleu:tokenize=13a")[1] == {"tokenize": "13a"}


def test_metric_from_spec_and_back() -> None:
    metric = metric_from_spec("gemba-mqm:weights=wmt,judge=openai:http://127.0.0.1:9/v1?model=x")
    assert metric.name == "gemba-mqm" and metric.options["judge"] == "openai:http://127.0.0.1:9/v1?model=x"
    assert metric.options["weights"] == "wmt" and not metric.gate_family_default
    again = metric_from_spec(metric.spec())
    assert again.options == metric.options


@pytest.mark.parametrize("spec, message", [
    ("gemba-esa", "judge"),
    ("gemba-esa:samples=0,judge=openai:http://127.0.0.1:9/v1?model=x", "samples"),
    ("gemba-esa:colour=red,judge=openai:http://127.0.0.1:9/v1?model=x", "colour"),
    ("gemba-mqm:weights=odd,judge=openai:http://127.0.0.1:9/v1?model=x", "weights"),
    ("gemba-esa:judge=openai:http://user:secret@127.0.0.1:9/v1?model=x", "credentials"),
])
def test_bad_judge_specs_are_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(MtEvalError, match=message):
        metric_from_spec(spec)


def test_judges_are_not_default_metrics() -> None:
    from mt_eval.settings import DEFAULT_METRICS

    assert "gemba-esa" not in DEFAULT_METRICS and "gemba-mqm" not in DEFAULT_METRICS
    assert get_metric("gemba-esa", judge="openai:http://127.0.0.1:9/v1?model=x").reports_details


def test_a_preamble_before_the_first_heading_is_skipped() -> None:
    assert parse_error_list("Here are the errors I found:\nMajor:\naccuracy/addition - \"very\"") == [
        ErrorItem("major", "accuracy/addition", "very")]
