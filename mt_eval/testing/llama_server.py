"""A real OpenAI-compatible server for tests and benchmarks: llama-cpp-python's own (``llama_cpp.server``).

    python -m mt_eval.testing.llama_server --model PATH.gguf --host 127.0.0.1 --port 8000 [server options]

runs ``llama_cpp.server`` in this process with the ``llama-cpp`` backend's CPU workaround applied: llama.cpp's
extra weight buffers (AMX repacking) are switched off where the backend's probe finds that they die with
SIGILL (or with ``MT_EVAL_LLAMA_NO_EXTRA_BUFFERS=1``), exactly as the backend loads the model. A request
without ``repeat_penalty`` gets none (1.0), as from other OpenAI-compatible servers, instead of 1.1.

:func:`serve` starts it on 127.0.0.1 on a free port in its own process group, waits until ``GET /v1/models``
answers, and on exit stops the whole group (SIGTERM, then SIGKILL) and checks that nothing is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:PORT/v1
    model: str  # the model id it serves (GET /v1/models)
    pid: int
    log: Path

    def spec(self, **options: object) -> str:
        """An ``openai:`` system spec for this server (``/completions``: the GGUF has no chat template)."""
        query = "&".join(f"{k}={v}" for k, v in {"model": self.model, "endpoint": "completions",
                                                  **options}.items())
        return f"openai:{self.base}?{query}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _models(base: str) -> str:
    with urllib.request.urlopen(base + "/models", timeout=2) as response:
        return str(json.loads(response.read())["data"][0]["id"])


@contextlib.contextmanager
def serve(model: Path, log: Path, *, n_ctx: int = 2048, n_threads: int = 2, alias: str = "gemma-3-270m",
          timeout: float = 180.0) -> Iterator[Server]:
    """Run the server until the block ends; the process group it started is gone afterwards."""
    port = free_port()
    args = [sys.executable, "-m", "mt_eval.testing.llama_server", "--model", str(model),
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
            "--n_threads_batch", str(n_threads), "--model_alias", alias]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # its own session and process group
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + timeout
        while True:
            try:
                served = _models(base)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                    raise RuntimeError(f"llama_cpp.server did not start (exit {proc.poll()}):"
                                       f" {tail}") from None
                time.sleep(0.25)
        yield Server(base=base, model=served, pid=proc.pid, log=log)
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the process group led by ``proc``, SIGKILL what is left after ``grace`` seconds, reap it."""
    group = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(group, signal.SIGKILL)  # members other than the leader, if any
        except ProcessLookupError:
            break
        if proc.poll() is None:
            proc.wait(timeout=grace)
        if time.monotonic() > deadline:
            raise RuntimeError(f"process group {group} survived SIGKILL")
        time.sleep(0.05)


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def no_default_repeat_penalty() -> None:
    """Requests that name no ``repeat_penalty`` get 1.0 (none), as from llama.cpp's own server, vLLM and the
    OpenAI API: llama-cpp-python's server would apply 1.1, which no OpenAI client field can turn off."""
    from llama_cpp.server import types

    for request in (types.CreateCompletionRequest, types.CreateChatCompletionRequest):
        request.model_fields["repeat_penalty"].default = 1.0
        request.model_rebuild(force=True)


def main(argv: list[str]) -> None:
    """Apply the backend's CPU workaround, then run ``llama_cpp.server`` with ``argv``."""
    from llama_cpp.server.__main__ import main as server_main

    from mt_eval.translators.llama_cpp import extra_buffers_default, extra_buffers_setting

    model = Path(argv[argv.index("--model") + 1])
    sys.argv = ["llama_cpp.server", *argv]
    no_default_repeat_penalty()
    with extra_buffers_setting(extra_buffers_default(model)):
        server_main()


if __name__ == "__main__":
    main(sys.argv[1:])
