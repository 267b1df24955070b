"""A fake OpenAI-compatible server on 127.0.0.1 that plays scripted faults (a plain module for tests)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
                if fault.startswith("retry-after:"):  # 429 with a Retry-After header
                    self._reply(429, {"error": {"message": "slow down"}},
                                {"Retry-After": fault.partition(":")[2]})
                    return
                if fault == "401-echo":  # a server that echoes the credentials it was sent
                    echoed = self.headers.get("Authorization")
                    self._reply(401, {"error": {"message": f"invalid key {echoed}"}})
                    return
                text = "EN:" + source
                message: dict = {"role": "assistant", "content": text}
                reply: dict = {"choices": [{"message": message, "text": text}],
                               "usage": {"completion_tokens": 3}}
                if fault == "error-200":
                    reply = {"error": {"message": "model overloaded, try later"}}
                elif fault == "no-choices":
                    reply["choices"] = []
                elif fault == "null":
                    message["content"] = None
                    reply["choices"][0]["text"] = None
                    reply["choices"][0]["finish_reason"] = "content_filter"
                elif fault == "number":
                    message["content"] = 42
                elif fault == "empty":
                    message["content"] = "  "
                elif fault == "bad-usage":
                    reply["usage"] = {"completion_tokens": "many"}
                elif fault == "usage-list":
                    reply["usage"] = [1, 2]
                self._reply(200, reply)

            def _reply(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
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


class RedirectServer:
    """Answers every request with ``status`` and ``Location: target + path``; records the headers."""

    def __init__(self, target: str, status: int = 307) -> None:
        self.headers: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _redirect(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.headers.append(dict(self.headers))
                self.send_response(status)
                self.send_header("Location", target + self.path.removeprefix("/v1"))
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = _redirect
            do_GET = _redirect

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> RedirectServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
