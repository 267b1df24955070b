"""Judges have their own cache key type: a judge answer and a translation of the same text never collide,
and answers cached by earlier versions (which sent judge requests through the translation wrapper) are
still found under the same keys."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.judges.client import JudgeClient, JudgeKey, JudgeRequest, Sampling
from mt_eval.testing.backends import SlowTranslator
from mt_eval.translators.base import signature_key
from mt_eval.translators.completion import Completion
from mt_eval.translators.runner import translate_testset
from mt_eval.workcache.store import CacheKey, TranslationCache

MESSAGES = [{"role": "system", "content": "You judge translations."}, {"role": "user", "content": "Rate: ok"}]


class Completer(SlowTranslator):
    """A backend that can also complete text (a judge): answers ``judged(<last message>)``."""

    backend: ClassVar[str] = "completer"
    asked: ClassVar[list[str]] = []

    def complete(self, prompts: Sequence[Any], *, max_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> list[Completion]:
        self.asked.extend(p[-1]["content"] for p in prompts)
        return [Completion(text=f"judged({p[-1]['content']})", prompt_tokens=7, completion_tokens=2,
                           finish_reason="stop") for p in prompts]

    def signature(self) -> dict[str, Any]:
        return {"backend": "completer"}


@pytest.fixture
def completer() -> Iterator[type[Completer]]:
    from mt_eval.translators.registry import register_backend, unregister_backend

    register_backend("completer", Completer)
    Completer.asked.clear()
    yield Completer
    unregister_backend("completer")


def _client(db: Path) -> JudgeClient:
    return JudgeClient("completer", name="gemba-x", langs=("ar", "en"), sampling=Sampling(16),
                       cache=TranslationCache(db))


def test_a_judge_answer_and_a_translation_of_the_same_text_never_collide(tmp_path: Path,
                                                                         completer: type[Completer]) -> None:
    db = tmp_path / "c.sqlite"
    request = JudgeRequest(MESSAGES)
    text = request.key()  # the judge request's item text, given to a translator as a source
    sources = TestSet.from_pairs([(text, ["a reference"])], source_lang="ar", target_lang="en")
    assert translate_testset(sources, "slow", cache=db, progress=False,
                             translator=SlowTranslator("")).outputs == [f"T({text})"]
    client = _client(db)
    assert [a.text for a in client.ask([request])] == ["judged(Rate: ok)"]  # not the translation
    assert client.asked == 1 and completer.asked == ["Rate: ok"]
    assert client.cache is not None
    client.cache.close()
    again = translate_testset(sources, "slow", cache=db, progress=False, translator=SlowTranslator(""))
    assert again.outputs == [f"T({text})"] and again.throughput["cached_segments"] == 1  # not the answer
    with TranslationCache(db) as cache:
        assert sorted(r["name"] for r in cache.stats()) == ["judge:gemba-x", "slow"]
        assert cache.count() == 2
    # the key types make a collision impossible: a translator cannot pose as a judge, nor a judge as one
    with pytest.raises(MtEvalError, match="must not name a backend judge/"):
        CacheKey({"backend": "judge/completer"}, "sys", "spec")
    with pytest.raises(MtEvalError, match="must name a backend judge/"):
        JudgeKey({"backend": "completer"}, "judge:x", "spec")


def test_answers_cached_under_the_earlier_keys_are_found(tmp_path: Path, completer: type[Completer]) -> None:
    db = tmp_path / "c.sqlite"
    # what earlier versions stored: the judge signature's key, the request's canonical JSON as the source
    old_signature = {"backend": "judge/completer",
                     "judge": {"backend": "completer", "signature": {"backend": "completer"}},
                     "sampling": {"max_tokens": 16, "temperature": 0.0, "seed": 0}}
    item = json.dumps({"messages": MESSAGES, "sample": 0}, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    answer = json.dumps({"text": "old answer", "prompt_tokens": 5, "completion_tokens": 2,
                         "finish_reason": "stop"})
    with TranslationCache(db) as cache:
        cache.put_many(signature_key(old_signature), [(item, answer, 0.5, 2, "")])
    client = _client(db)
    assert client.key.sig_key == signature_key(old_signature)
    (got,) = client.ask([JudgeRequest(MESSAGES)])
    assert client.cache is not None
    client.cache.close()
    assert (got.text, got.seconds, got.completion.prompt_tokens) == ("old answer", 0.5, 5)
    assert client.cached == 1 and client.asked == 0 and completer.asked == []
