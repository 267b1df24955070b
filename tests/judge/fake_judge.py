"""A fake OpenAI-compatible *judge* on 127.0.0.1: scripted GEMBA answers per hypothesis (a plain module).

``answers[hypothesis]`` is a dict with ``"spans"`` (the error-list answer: GEMBA-MQM or ESA step 1) and
``"score"`` (ESA step 2); either may be a list, indexed by sample (seed − 0), or a ``(text, finish_reason)``
tuple to play a truncated answer. Unscripted hypotheses get "no errors" and score 100. ``fail_after``
answers HTTP 400 from that many POSTs on (an interrupted run). ``GET /v1/models`` lists the model.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_HYPOTHESIS = re.compile(r"(?m)^\w+ translation:\n```(.*?)```", re.DOTALL)
NO_ERRORS = "Critical:\nno-error\nMajor:\nno-error\nMinor:\nno-error"


class FakeJudge:
    def __init__(self, model: str = "judge-x") -> None:
        self.model = model
        self.answers: dict[str, dict[str, Any]] = {}
        self.posts: list[dict[str, Any]] = []
        self.gets = 0
        self.fail_after: int | None = None
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with owner.lock:
                    owner.gets += 1
                if self.path.rstrip("/").endswith("/models"):
                    self._reply(200, {"object": "list", "data": [
                        {"id": owner.model, "object": "model", "created": 123, "owned_by": "fake",
                         "root": "/models/fake-judge-v1"}]})
                else:
                    self._reply(404, {"error": {"message": "no such path"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner.lock:
                    owner.posts.append(body)
                    refuse = owner.fail_after is not None and len(owner.posts) > owner.fail_after
                if refuse:
                    self._reply(400, {"error": {"message": "judge stopped (test)"}})
                    return
                text, reason = owner.answer(body)
                content = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
                self._reply(200, {"model": owner.model, "choices": [
                    {"message": {"role": "assistant", "content": text}, "text": text,
                     "finish_reason": reason}],
                    "usage": {"prompt_tokens": len(content) // 4, "completion_tokens": len(text.split())}})

            def _reply(self, status: int, obj: object) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def spec(self, **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"model": self.model, **options}.items())
        return f"openai:{self.url}?{query}"

    def answer(self, body: dict[str, Any]) -> tuple[str, str]:
        content = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
        found = _HYPOTHESIS.findall(content)
        hypothesis = found[-1] if found else ""
        step = "score" if "Score (0-100)" in content else "spans"
        script = self.answers.get(hypothesis, {}).get(step, "100" if step == "score" else NO_ERRORS)
        if isinstance(script, list):
            script = script[int(body.get("seed", 0)) % len(script)]
        if isinstance(script, tuple):
            return script
        return str(script), "stop"

    def steps(self) -> list[str]:
        """Which step each POST asked: "score" or "spans"."""
        return ["score" if "Score (0-100)" in b["messages"][-1]["content"] else "spans" for b in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
