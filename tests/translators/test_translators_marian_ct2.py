"""Real seq2seq backends on the tiny MarianMT: transformers, CTranslate2 parity, convert, offline errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mt_eval.errors import SystemUnavailable
from mt_eval.testing.corpora import tiny_pairs
from mt_eval.translators.registry import create_translator

SOURCES = [a for a, _ in tiny_pairs()[::37]]
EXPECTED = [b for _, b in tiny_pairs()[::37]]


@pytest.fixture(scope="module")
def marian_outputs(tiny_marian: Path) -> list[str]:
    translator = create_translator(f"marian:{tiny_marian}", {"threads": 1, "batch_size": 4})
    outputs = translator.translate(SOURCES)
    assert translator.model_loads == 1
    return outputs


def test_tiny_marian_translates_meaningfully(marian_outputs: list[str]) -> None:
    exact = sum(out == ref for out, ref in zip(marian_outputs, EXPECTED, strict=True))
    assert exact >= len(EXPECTED) * 0.9, list(zip(marian_outputs, EXPECTED, strict=True))


def test_marian_signature_names_model_revision_and_decoding(tiny_marian: Path) -> None:
    sig = create_translator(f"marian:{tiny_marian}", {"beam_size": 2}).signature()
    assert sig["backend"] == "marian" and sig["beam_size"] == 2
    assert sig["revision"].startswith("sha256:") and len(sig["revision"]) == 71
    assert sig["versions"]["transformers"]


def test_ct2_greedy_output_equals_transformers(tiny_marian_ct2: Path, marian_outputs: list[str]) -> None:
    ct2 = create_translator(f"ct2:{tiny_marian_ct2}", {"threads": 1, "batch_size": 4})
    assert ct2.translate(SOURCES) == marian_outputs
    assert ct2.signature()["revision"].startswith("sha256:")


def test_convert_cli_and_refuses_to_overwrite(tiny_marian: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mt_eval.cli import app

    out = tmp_path / "ct2"
    result = CliRunner().invoke(app, ["convert", str(tiny_marian), "-o", str(out), "--quantization", "int8"])
    assert result.exit_code == 0, result.output
    assert (out / "model.bin").is_file() and (out / "vocab.json").is_file()
    again = CliRunner().invoke(app, ["convert", str(tiny_marian), "-o", str(out)])
    assert again.exit_code != 0 and "use --force" in str(again.exception)
    int8 = create_translator(f"ct2:{out}", {"compute_type": "int8", "threads": 1}).translate(SOURCES[:2])
    assert len(int8) == 2 and all(int8)


def test_hub_model_not_cached_offline_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    translator = create_translator("marian:Helsinki-NLP/opus-mt-xx-not-cached")
    with pytest.raises(SystemUnavailable, match=r"not in the local Hugging Face cache; on a machine with"):
        translator.signature()


def test_ct2_without_converted_model_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SystemUnavailable, match="mt-eval convert"):
        create_translator(f"ct2:{tmp_path}").signature()


@pytest.mark.parametrize("backend", ["marian", "ct2"])
def test_truncation_at_max_length_is_reported_per_segment(backend: str, tiny_marian: Path,
                                                          tiny_marian_ct2: Path, tmp_path: Path) -> None:
    from mt_eval.data.testset import TestSet
    from mt_eval.translators.runner import translate_testset

    folder = tiny_marian if backend == "marian" else tiny_marian_ct2
    long_source = " ".join(SOURCES[:6])  # far more tokens than the cap below
    ts = TestSet.from_pairs([(SOURCES[0], [EXPECTED[0]]), (long_source, ["x"])], source_lang="ar",
                            target_lang="en", name="cut")
    opts = {"threads": 1, "max_length": 12}
    run = translate_testset(ts, f"{backend}:{folder}", options=opts, cache=tmp_path / "c.sqlite",
                            progress=False)
    assert run.truncated[0] == "" and run.truncated[1].startswith("input")
    assert run.throughput["truncated_segments"] == 1
    again = translate_testset(ts, f"{backend}:{folder}", options=opts, cache=tmp_path / "c.sqlite",
                              progress=False)
    assert again.throughput["cached_segments"] == 2 and again.truncated == run.truncated  # kept in the cache
    short = TestSet.from_pairs([(s, [e]) for s, e in zip(SOURCES[:3], EXPECTED[:3], strict=True)],
                               source_lang="ar", target_lang="en", name="short")
    full = translate_testset(short, f"{backend}:{folder}", options={"threads": 1}, cache=False,
                             progress=False)
    assert full.truncated == [] and full.throughput["truncated_segments"] == 0
