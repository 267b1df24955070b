"""The llama.cpp extra-buffer probe: a child that dies from a signal switches to the plain CPU kernels."""

from __future__ import annotations

import json

import pytest

import mt_eval.environment as environment
import mt_eval.translators.llama_cpp as llama


@pytest.fixture
def amx_host(monkeypatch, tmp_path):
    monkeypatch.setenv("MT_EVAL_MODELS", str(tmp_path))
    monkeypatch.setattr(llama, "_PROBED", {})
    fake = {**environment.host_fingerprint(), "cpu_model": "AMX CPU", "cpu_flags": "avx2 avx512f amx_tile"}
    monkeypatch.setattr(environment, "host_fingerprint", lambda: fake)
    return tmp_path


def test_a_child_killed_by_sigill_turns_extra_buffers_off(amx_host, monkeypatch):
    monkeypatch.setattr(llama, "_PROBE", "import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n")
    assert llama.extra_buffers_work(amx_host / "model.gguf") is False
    (record,) = amx_host.glob("extra-buffers-probe-*.json")
    assert json.loads(record.read_text()) == {"works": False, "signal": -4}
    # remembered: a second call (even another process: the record on disk) does not probe again
    monkeypatch.setattr(llama, "_PROBED", {})
    monkeypatch.setattr(llama, "_PROBE", "raise SystemExit('must not run')")
    assert llama.extra_buffers_work(amx_host / "model.gguf") is False


def test_a_child_that_exits_normally_keeps_them_on(amx_host, monkeypatch):
    monkeypatch.setattr(llama, "_PROBE", "import sys\nsys.exit(0)\n")
    assert llama.extra_buffers_work(amx_host / "model.gguf") is True


def test_no_probe_without_amx(monkeypatch, tmp_path):
    monkeypatch.setenv("MT_EVAL_MODELS", str(tmp_path))
    monkeypatch.setattr(llama, "_PROBED", {})
    fake = {**environment.host_fingerprint(), "cpu_flags": "avx2 avx512f"}
    monkeypatch.setattr(environment, "host_fingerprint", lambda: fake)
    monkeypatch.setattr(llama, "_PROBE", "raise SystemExit('must not run')")
    assert llama.extra_buffers_work(tmp_path / "model.gguf") is True
    assert not list(tmp_path.glob("extra-buffers-probe-*.json"))


def test_an_unwritable_models_folder_only_loses_the_memo(amx_host, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("MT_EVAL_MODELS", str(blocker / "models"))  # a folder under a file
    monkeypatch.setattr(llama, "_PROBE", "import sys\nsys.exit(0)\n")
    assert llama.extra_buffers_work(tmp_path / "model.gguf") is True
