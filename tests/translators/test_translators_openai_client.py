"""One HTTP completion client for the ``openai`` translator and the LLM judges: the same faults are
retried the same way, keys are redacted the same way, and only the reply's meaning differs (a reply
without text is retried for a translation, an empty answer for a judge)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_openai import FaultyServer

from mt_eval.errors import SystemFailed
from mt_eval.translators.registry import create_translator

FAST = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 2.0, "concurrency": 2}
KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as srv:
        yield srv


def _ask(translator: object, text: str) -> str:
    answer = translator.complete([[{"role": "user", "content": text}]], max_tokens=8)  # type: ignore[attr-defined]
    return str(answer[0].text)


@pytest.mark.parametrize("fault", ["429", "500", "drop", "error-200", "no-choices", "retry-after:0.05"])
def test_translation_and_judge_requests_are_retried_alike(server: FaultyServer, fault: str) -> None:
    translator = create_translator(f"openai:{server.url}?model=m", FAST)
    try:
        server.faults = {"a": [fault, fault]}
        assert translator.translate(["a"]) == ["EN:a"]
        translated = len(server.requests)
        server.faults = {"a": [fault, fault]}
        assert _ask(translator, "a") == "EN:a"
        assert len(server.requests) == 2 * translated == 6  # two faults, then the answer, both times
    finally:
        translator.close()


def test_a_reply_without_text_is_retried_for_a_translation_and_an_answer_for_a_judge(
        server: FaultyServer) -> None:
    translator = create_translator(f"openai:{server.url}?model=m", FAST)
    try:
        server.faults = {"a": ["null"]}
        assert translator.translate(["a"]) == ["EN:a"] and len(server.requests) == 2
        server.faults = {"a": ["null"]}
        (answer,) = translator.complete([[{"role": "user", "content": "a"}]], max_tokens=8)  # type: ignore[attr-defined]
        assert (answer.text, answer.finish_reason) == ("", "content_filter") and len(server.requests) == 3
    finally:
        translator.close()


def test_an_echoed_key_is_redacted_for_both(server: FaultyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_FOR_TEST", KEY)
    server.faults = {"x": ["401-echo", "401-echo"]}
    translator = create_translator(f"openai:{server.url}?model=m&api_key_env=KEY_FOR_TEST", FAST)
    messages = []
    try:
        for call in (lambda: translator.translate(["x"]), lambda: _ask(translator, "x")):
            with pytest.raises(SystemFailed) as info:
                call()
            messages.append(str(info.value))
    finally:
        translator.close()
    assert messages[0] == messages[1] and "HTTP 401" in messages[0] and "***" in messages[0]
    assert KEY not in messages[0]
