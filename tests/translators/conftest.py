"""Shared fixtures: the tiny MarianMT (:mod:`mt_eval.testing.marian`), its CTranslate2 conversion, the
``slow`` backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from mt_eval.testing.marian import build_tiny_marian


@pytest.fixture(scope="session")
def tiny_marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="the tiny Marian fixture needs torch (pip install 'mt-eval[hf]')")
    pytest.importorskip("transformers", reason="needs transformers (pip install 'mt-eval[hf]')")
    pytest.importorskip("sentencepiece", reason="needs sentencepiece (pip install 'mt-eval[hf]')")
    return build_tiny_marian(tmp_path_factory.mktemp("tiny-marian") / "model")


@pytest.fixture(scope="session")
def tiny_marian_ct2(tiny_marian: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("ctranslate2", reason="needs ctranslate2 (pip install 'mt-eval[ct2]')")
    from mt_eval.translators.ct2 import convert_model

    return convert_model(str(tiny_marian), tmp_path_factory.mktemp("tiny-marian-ct2") / "ct2")


@pytest.fixture
def slow_backend():  # type: ignore[no-untyped-def]
    """Register the test-only ``slow`` backend through the registry's plugin hook."""
    from mt_eval.translators.registry import register_backend, unregister_backend

    register_backend("slow", "mt_eval.testing.backends:SlowTranslator")
    yield "slow"
    unregister_backend("slow")

