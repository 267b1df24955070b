"""Spec parsing, lazy entry-point registry, typed options, plugins, light imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mt_eval.errors import MtEvalError
from mt_eval.translators.registry import (
    DEFAULT_SYSTEMS,
    available_backends,
    create_translator,
    load_backend,
    parse_options,
    parse_spec,
)


def test_parse_spec_splits_backend_target_and_options() -> None:
    spec = parse_spec("openai:http://127.0.0.1:8000/v1?model=gemma&concurrency=2")
    assert (spec.backend, spec.target) == ("openai", "http://127.0.0.1:8000/v1")
    assert dict(spec.options) == {"model": "gemma", "concurrency": 2}
    assert parse_spec("copy").backend == "copy" and parse_spec("copy").target == ""
    assert parse_spec("marian:Helsinki-NLP/opus-mt-ar-en").target == "Helsinki-NLP/opus-mt-ar-en"
    assert parse_spec("file:out/sys A.txt").target == "out/sys A.txt"


def test_parse_options_reads_json_values() -> None:
    assert parse_options(["beam_size=4", "stop=[\"\\n\", \"###\"]", "device=cpu", "x=true"]) == {
        "beam_size": 4, "stop": ["\n", "###"], "device": "cpu", "x": True}
    with pytest.raises(MtEvalError, match="key=value"):
        parse_options(["beam_size"])


def test_builtins_come_from_the_entry_point_group() -> None:
    backends = available_backends()
    for name in ("marian", "hf-seq2seq", "ct2", "llama-cpp", "openai", "file", "copy"):
        assert name in backends
    assert backends["ct2"] == "mt_eval.translators.ct2:CTranslate2Translator"
    assert DEFAULT_SYSTEMS == ["llama-cpp:default", "copy", "marian:Helsinki-NLP/opus-mt-ar-en"]
    for name in backends:
        assert load_backend(name).backend == name


def test_unknown_backend_and_option_are_one_line_errors() -> None:
    with pytest.raises(MtEvalError, match=r"unknown translator backend 'nope' \(known: .*copy"):
        create_translator("nope:x")
    with pytest.raises(MtEvalError, match=r"unknown option 'beam' for backend 'marian' \(known: batch_size"):
        create_translator("marian:some/model?beam=4")
    with pytest.raises(MtEvalError, match="option beam_size"):
        create_translator("marian:some/model", {"beam_size": "many"})
    with pytest.raises(MtEvalError, match="needs a base URL"):
        create_translator("openai:localhost?model=x")


def test_unknown_backend_in_cli_exits_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from helpers.corpora import make_testset

    make_testset(3).save(tmp_path / "ts")
    proc = subprocess.run([sys.executable, "-m", "mt_eval", "translate", "-t", str(tmp_path / "ts"),
                           "-s", "copy", "--opt", "beam_size=4", "-o", str(tmp_path / "out"), "--no-cache"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last == "mt-eval: error: --opt beam_size: no selected system has this option"


def test_plugin_registered_from_a_fixture(slow_backend: str) -> None:
    translator = create_translator("slow?tag=X&delay=0")
    assert translator.translate(["a", "b"]) == ["X(a)", "X(b)"]
    assert "slow" in available_backends()


def test_import_and_registry_stay_light() -> None:
    code = ("import sys, mt_eval, mt_eval.cli, mt_eval.translators.registry, mt_eval.translators.runner;"
            "mt_eval.translators.registry.available_backends();"
            "heavy = ('torch', 'transformers', 'ctranslate2', 'llama_cpp');"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_backend_module_that_raises_on_import_is_a_one_line_error(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mt_eval.translators.registry import register_backend, unregister_backend

    (tmp_path / "exploding_backend_plugin.py").write_text("raise RuntimeError('boom at import')\n",
                                                          encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    register_backend("exploding", "exploding_backend_plugin:Backend")
    try:
        with pytest.raises(MtEvalError, match=r"'exploding': importing exploding_backend_plugin failed"):
            load_backend("exploding")
    finally:
        unregister_backend("exploding")


def test_spec_values_are_typed_by_the_backends_options_model(slow_backend: str) -> None:
    """One value reader: text a text option accepts stays text; numbers, JSON lists, null otherwise."""
    slow = create_translator("slow?tag=1234&delay=0&batch_size=3")
    assert slow.options.tag == "1234" and slow.options.batch_size == 3  # type: ignore[attr-defined]
    assert slow.translate(["a"]) == ["1234(a)"]
    openai = create_translator('openai:http://127.0.0.1:9/v1?model=007&stop=["###"]&max_tokens=null&seed=none')
    assert (openai.options.model, openai.options.stop) == ("007", ["###"])  # type: ignore[attr-defined]
    assert openai.options.max_tokens is None and openai.options.seed is None  # type: ignore[attr-defined]
    with pytest.raises(MtEvalError, match="option concurrency"):
        create_translator("openai:http://127.0.0.1:9/v1?model=x&concurrency=many")


def test_one_lookup_rule_and_entry_points_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from mt_eval.translators import registry

    assert load_backend("COPY") is load_backend("copy")  # names are case-insensitive, like metric names
    assert create_translator("Copy").translate(["x"]) == ["x"]
    calls = []

    def counting(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return []

    monkeypatch.setattr(registry.BACKENDS, "discovered", registry.BACKENDS.discovered)  # restored after
    monkeypatch.setattr("mt_eval.plugins.entry_points", counting)
    registry.BACKENDS.refresh()
    for _ in range(3):
        load_backend("copy")  # a built-in: found without any entry point
        with pytest.raises(MtEvalError, match="unknown translator backend"):
            load_backend("nope")
    assert len(calls) == 1  # read once per process, until refresh()
    registry.BACKENDS.refresh()
    available_backends()
    assert len(calls) == 2
