"""Any OpenAI-compatible server (``openai``): vLLM, llama.cpp server, Ollama, TGI or a hosted API.

Stdlib ``urllib`` plus a thread pool (no extra dependency). Requests are retried with exponential
backoff on 429, 5xx, timeouts and dropped connections. The API key is read from the environment
variable named by ``api_key_env`` and is never part of the signature, a log line or an error.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field

from mt_eval.errors import MtEvalError, SystemUnavailable
from mt_eval.translators.base import Translator, TranslatorOptions
from mt_eval.translators.llama_cpp import DEFAULT_FEW_SHOT, DEFAULT_HEADER, DEFAULT_TEMPLATE, LANG_NAMES

DEFAULT_SYSTEM_PROMPT = ("You are a professional translator. Translate the user's {src_name} text into "
                         "{tgt_name}. Reply with the translation only.")


class OpenAIOptions(TranslatorOptions):
    model: str = ""
    endpoint: Literal["chat", "completions"] = "chat"
    api_key_env: str | None = None
    batch_size: int = 16
    concurrency: int = 4
    timeout: float = 60.0
    max_retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 20.0
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = 0
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    few_shot: list[tuple[str, str]] = DEFAULT_FEW_SHOT
    header: str = DEFAULT_HEADER
    template: str = DEFAULT_TEMPLATE
    stop: list[str] = Field(default_factory=lambda: ["\n"])


class _Retryable(Exception):
    pass


def _redact(url: str) -> str:
    """The URL without user:password, query or fragment, for signatures and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class OpenAITranslator(Translator):
    """One request per segment, ``concurrency`` at a time; greedy (temperature 0) by default."""

    backend: ClassVar[str] = "openai"
    Options: ClassVar[type[TranslatorOptions]] = OpenAIOptions

    def __init__(self, target: str, options: TranslatorOptions | None = None, **kwargs: Any) -> None:
        super().__init__(target, options, **kwargs)
        if not target.startswith(("http://", "https://")):
            raise MtEvalError(f"system 'openai:{target}': needs a base URL, e.g. openai:http://127.0.0.1:8000/v1"
                              "?model=NAME")
        if not self.opts.model:
            raise MtEvalError(f"system 'openai:{_redact(target)}': needs a model, e.g. ?model=NAME")
        self.base_url = target.rstrip("/")
        self.requests_sent = 0

    @property
    def opts(self) -> OpenAIOptions:
        return cast(OpenAIOptions, self.options)

    def _names(self) -> dict[str, str]:
        return {"src_name": LANG_NAMES.get(self.source_lang, self.source_lang),
                "tgt_name": LANG_NAMES.get(self.target_lang, self.target_lang)}

    def _payload(self, source: str) -> tuple[str, dict[str, Any]]:
        o = self.opts
        names = self._names()
        body: dict[str, Any] = {"model": o.model, "max_tokens": o.max_tokens, "temperature": o.temperature}
        if o.seed is not None:
            body["seed"] = o.seed
        if o.endpoint == "chat":
            messages: list[dict[str, str]] = [{"role": "system", "content": o.system_prompt.format(**names)}]
            for src, tgt in o.few_shot:
                messages += [{"role": "user", "content": src}, {"role": "assistant", "content": tgt}]
            messages.append({"role": "user", "content": source})
            body["messages"] = messages
            return "/chat/completions", body
        parts = [o.header.format(**names)]
        parts += [o.template.format(source=src, **names) + f" {tgt}\n\n" for src, tgt in o.few_shot]
        parts.append(o.template.format(source=" ".join(source.split()), **names))
        body["prompt"] = "".join(parts)
        body["stop"] = list(o.stop)
        return "/completions", body

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        env = self.opts.api_key_env
        if env:
            key = os.environ.get(env)
            if not key:
                raise MtEvalError(f"openai: environment variable {env} (api_key_env) is not set")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post_once(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode("utf-8"),
                                         headers=headers, method="POST")
        self.requests_sent += 1
        try:
            with urllib.request.urlopen(request, timeout=self.opts.timeout) as response:
                data = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise _Retryable(f"HTTP {exc.code}") from None
            detail = exc.read(300).decode("utf-8", "replace").replace("\n", " ")
            raise MtEvalError(f"openai {_redact(self.base_url)}{path}: HTTP {exc.code} ({detail})") from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
            raise _Retryable(type(exc).__name__) from None
        try:
            return cast(dict[str, Any], json.loads(data))
        except ValueError:
            raise _Retryable("malformed JSON response") from None

    def _request(self, source: str, headers: dict[str, str]) -> tuple[str, int | None]:
        o = self.opts
        path, body = self._payload(source)
        last = ""
        for attempt in range(o.max_retries + 1):
            try:
                reply = self._post_once(path, body, headers)
                choice = reply["choices"][0]
                text = choice["message"]["content"] if o.endpoint == "chat" else choice["text"]
                used = (reply.get("usage") or {}).get("completion_tokens")
                return " ".join(str(text or "").split()), (int(used) if used is not None else None)
            except _Retryable as exc:
                last = str(exc)
            except (KeyError, IndexError, TypeError):
                where = _redact(self.base_url) + path
                raise MtEvalError(f"openai {where}: unexpected response shape") from None
            if attempt < o.max_retries:
                time.sleep(min(o.max_backoff, o.backoff * (2 ** attempt)))
        raise SystemUnavailable(f"openai {_redact(self.base_url)}{path}: gave up after {o.max_retries + 1} "
                                f"attempts ({last}); is the server running?")

    def translate(self, sources: Sequence[str]) -> list[str]:
        if not sources:
            return []
        headers = self._headers()
        with ThreadPoolExecutor(max_workers=max(1, self.opts.concurrency)) as pool:
            replies = list(pool.map(lambda s: self._request(s, headers), sources))
        counts = [n for _, n in replies if n is not None]
        self.last_output_tokens = counts if len(counts) == len(replies) else None
        return [text for text, _ in replies]

    def signature(self) -> dict[str, Any]:
        o = self.opts
        path, body = self._payload("{source}")
        body.pop("model", None)
        return {
            "backend": "openai",
            "url": _redact(self.base_url) + path,
            "model": o.model,
            "request": body,
        }
