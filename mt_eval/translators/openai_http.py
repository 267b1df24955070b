"""Any OpenAI-compatible server (``openai``): vLLM, llama.cpp server, Ollama, TGI or a hosted API.

:class:`CompletionClient` is the one HTTP client for such servers: the translator
(:class:`OpenAITranslator`) and the LLM judges (through its :meth:`~CompletionClient.complete`) send
their requests through it. HTTP goes through one pooled ``httpx.Client`` per server, ``concurrency``
requests at a time.
Requests are retried with jittered exponential backoff on 408/425/429/5xx, timeouts, dropped
connections and 200 replies that carry no answer (an error body, empty ``choices``; for a
translation also ``content: null`` from a content filter, non-string or empty content); a
``Retry-After`` header is honoured, capped by ``max_backoff``. When the retries run out the system
*fails* (:class:`SystemFailed`) with the server's last message: such a reply is never returned, so it is
never cached.

The API key is read from the environment variable named by ``api_key_env``. It is sent only to the
origin of the base URL (a redirect to another origin is followed without it), and it is never part
of the signature, a log line or an error message (a server that echoes it gets it redacted).
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, ClassVar, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field

from mt_eval.errors import MtEvalError, SystemFailed
from mt_eval.translators.base import Translator, TranslatorOptions
from mt_eval.translators.completion import (
    TRANSCRIPT_STOP,
    Completion,
    Conversation,
    messages_to_text,
    usage_int,
)
from mt_eval.translators.prompts import (
    CHARS_PER_TOKEN_ESTIMATE,
    DEFAULT_FEW_SHOT,
    DEFAULT_HEADER,
    DEFAULT_MAX_TOKENS_FLOOR,
    DEFAULT_MAX_TOKENS_RATIO,
    DEFAULT_SYSTEM_PROMPT,
    DEFAULT_TEMPLATE,
    GenerationBounds,
    chat_messages,
    completion_prompt,
)

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_MESSAGE_CHARS = 300
_BEARER = re.compile(r"(?i)\bbearer\s+[^\s\"',]+")

__all__ = ["DEFAULT_SYSTEM_PROMPT", "CompletionClient", "OpenAIOptions", "OpenAITranslator"]
#: A request: the endpoint's path and the JSON body
Request = tuple[str, dict[str, Any]]


class OpenAIOptions(TranslatorOptions):
    model: str = Field("", description="model name the server expects (required)")
    endpoint: Literal["chat", "completions"] = Field("chat", description="/chat/completions or /completions")
    api_key_env: str | None = Field(None, description="environment variable holding the API key")
    batch_size: int = Field(16, ge=1, le=100_000, description="segments per cache commit")
    concurrency: int = Field(4, ge=1, le=256, description="requests in flight at once")
    timeout: float = Field(60.0, gt=0, le=3600, description="seconds per request")
    max_retries: int = Field(5, ge=0, le=100, description="retries after the first attempt")
    backoff: float = Field(0.5, ge=0, le=600, description="first retry delay in seconds (doubles, jittered)")
    max_backoff: float = Field(20.0, ge=0, le=3600, description="longest delay, also caps Retry-After")
    server_failures: int = Field(3, ge=1, le=1000, description="several base URLs: consecutive failed"
                                 " requests that set a server aside for server_cooldown seconds")
    server_cooldown: float = Field(30.0, ge=0, le=3600, description="several base URLs: seconds a failing"
                                   " server gets no requests while the others take its work")
    max_tokens: int | None = Field(None, ge=1, description="output cap; None derives it from the source")
    max_tokens_ratio: float = Field(DEFAULT_MAX_TOKENS_RATIO, gt=0, le=100,
                                    description="derived cap: output tokens per estimated source token")
    max_tokens_floor: int = Field(DEFAULT_MAX_TOKENS_FLOOR, ge=1, description="smallest derived cap")
    temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy")
    seed: int | None = Field(0, description="sampling seed sent to the server")
    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT,
                               description="chat: system message ({src_name}, {tgt_name})")
    few_shot: list[tuple[str, str]] = Field(DEFAULT_FEW_SHOT,
                                            description="example (source, translation) pairs")
    header: str = Field(DEFAULT_HEADER, description="completions: first line of the prompt")
    template: str = Field(DEFAULT_TEMPLATE, description="completions: one example ({source})")
    stop: list[str] = Field(default_factory=lambda: ["\n"], description="completions: stop strings")


class _Retryable(Exception):
    """A transient failure; ``retry_after`` is the server's requested delay in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _redact(url: str) -> str:
    """The URL without user:password, query or fragment, for signatures and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def _origin(url: Any) -> tuple[str, str, int | None]:
    parts = urlsplit(str(url))
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or invalid."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retry_delay(attempt: int, *, backoff: float, max_backoff: float, retry_after: float | None,
                rng: random.Random) -> float:
    """Delay before retry ``attempt`` (0-based): the server's Retry-After if given, else jittered backoff.

    Both are capped by ``max_backoff``. Jitter ("equal jitter": half fixed, half random) keeps
    ``concurrency`` clients from retrying in lock-step.
    """
    if retry_after is not None:
        return min(max_backoff, retry_after)
    base = min(max_backoff, backoff * (2.0 ** min(attempt, 60)))
    return base / 2 + rng.uniform(0, base / 2)


class _Server:
    """One base URL of ``openai:URL1,URL2,...``: its own pooled client (the key goes to its origin only)
    and its health: ``failures`` in a row; set aside until ``down_until`` (``time.monotonic``)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.where = _redact(self.url)
        self.client: Any = None
        self.failures = 0
        self.down_until = 0.0
        self.requests = 0


def _base_urls(target: str) -> list[str]:
    """``URL`` or ``URL1,URL2,...`` (one server per URL, e.g. one vLLM server per GPU node)."""
    urls = [u.strip().rstrip("/") for u in target.split(",")]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise MtEvalError(f"system 'openai:{_redact(url) or target}': needs a base URL, e.g. "
                              "openai:http://127.0.0.1:8000/v1?model=NAME (several: URL1,URL2)")
    twice = sorted({_redact(u) for u in urls if urls.count(u) > 1})
    if twice:
        raise MtEvalError(f"system 'openai:...': base URL {twice[0]} is listed twice")
    return urls


class CompletionClient:
    """The HTTP side of ``openai:URL[,URL2...]``: requests to the servers round robin, retried, in
    parallel; replies parsed into :class:`~mt_eval.translators.completion.Completion`.

    With several base URLs the requests go round robin over the servers that are up; a server whose
    requests fail ``server_failures`` times in a row (connection errors, timeouts, retryable HTTP
    statuses) is set aside for ``server_cooldown`` seconds and the others take its work, while each
    request keeps its retries and ``Retry-After``.
    """

    def __init__(self, target: str, options: OpenAIOptions) -> None:
        urls = _base_urls(target)
        self.opts = options
        if not options.model:
            raise MtEvalError(f"system 'openai:{_redact(urls[0])}': needs a model, e.g. ?model=NAME")
        self.servers = [_Server(url) for url in urls]
        self._turn = 0  # round robin
        self.base_url = urls[0]
        self.where = ",".join(s.where for s in self.servers)
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._secrets: list[str] = []

    def body(self, content: str | list[dict[str, Any]], *, max_tokens: int | None, temperature: float,
             seed: int | None, stop: Sequence[str] = ()) -> Request:
        """A request for the endpoint: chat ``messages`` (a list) or a completion ``prompt`` (a string)."""
        body: dict[str, Any] = {"model": self.opts.model, "temperature": temperature}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if seed is not None:
            body["seed"] = seed
        if isinstance(content, str):
            body["prompt"], body["stop"] = content, list(stop)
            return "/completions", body
        body["messages"] = content
        return "/chat/completions", body

    def complete(self, prompts: Sequence[Conversation], *, max_tokens: int, temperature: float = 0.0,
                 seed: int | None = 0) -> list[Completion]:
        """Chat conversations → answers, ``concurrency`` at a time (what an LLM judge asks).

        Transport faults, errors and replies without choices are retried and finally fail the whole call
        (:class:`SystemFailed`); a reply whose content is null or empty is an *answer* (``text=""``, the
        server's ``finish_reason`` kept): the judge records it as a failed judgement. The ``completions``
        endpoint gets the conversation flattened (:func:`messages_to_text`).
        """
        chat = self.opts.endpoint == "chat"
        return self.post_all([self.body([dict(m) for m in p] if chat else messages_to_text(p),
                                        max_tokens=max_tokens, temperature=temperature, seed=seed,
                                        stop=TRANSCRIPT_STOP) for p in prompts], need_text=False)

    def post_all(self, requests: Sequence[Request], *, need_text: bool) -> list[Completion]:
        """Every request's answer, in order, ``concurrency`` at a time; the first that fails for good
        cancels the others (they give up at their next retry) and is raised. ``need_text``: a reply
        without text (null, not a string, empty) is retried like a transport fault."""
        if not requests:
            return []
        headers = self._headers()
        stop = threading.Event()

        def one(request: Request) -> Completion:
            path, body = request
            return self._with_retries(path, stop, lambda: self._parse(self._post_once(path, body, headers),
                                                                      need_text))

        with ThreadPoolExecutor(max_workers=min(self.opts.concurrency, len(requests))) as pool:
            futures = [pool.submit(one, r) for r in requests]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f in done and f.exception() is not None), None)
            if failed is not None:
                stop.set()  # the others give up at their next retry instead of running out theirs
                for future in futures:
                    future.cancel()
                raise cast(BaseException, failed.exception())
            return [f.result() for f in futures]

    def _parse(self, reply: dict[str, Any], need_text: bool) -> Completion:
        """A 200 reply's answer and token counts, or ``_Retryable`` saying why there is none."""
        error = _error_message(reply)
        if error is not None:
            raise _Retryable(f"HTTP 200 with an error: {self._scrub(error)}")
        choices = reply.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _Retryable("HTTP 200 without choices")
        choice = choices[0]
        if self.opts.endpoint == "chat":
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = choice.get("text")
        reason = choice.get("finish_reason")
        if need_text and not isinstance(text, str):
            what = "null" if text is None else type(text).__name__
            raise _Retryable(f"HTTP 200 with {what} content"
                             + (f" (finish_reason={self._scrub(str(reason))})" if reason else ""))
        if need_text and not str(text).strip():
            raise _Retryable("HTTP 200 with empty content")
        used = reply.get("usage")
        usage: dict[str, Any] = used if isinstance(used, dict) else {}
        return Completion(text=text if isinstance(text, str) else "",
                          prompt_tokens=usage_int(usage.get("prompt_tokens")),
                          completion_tokens=usage_int(usage.get("completion_tokens")),
                          finish_reason=str(reason) if reason is not None else None)

    # ------------------------------------------------------------------ transport
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        env = self.opts.api_key_env
        if env:
            key = os.environ.get(env)
            if not key:
                raise MtEvalError(f"openai {self.where}: environment variable {env} (api_key_env) is not set")
            self._secrets = [key]
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _scrub(self, text: str) -> str:
        """One line, the API key (and any bearer token) replaced, at most a few hundred characters."""
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        text = _BEARER.sub("Bearer ***", " ".join(text.split()))
        return text[:_MESSAGE_CHARS]

    def client(self) -> Any:
        """The pooled HTTP client of the first server (created once; closed by :meth:`close`)."""
        return self._client_of(self.servers[0])

    def _client_of(self, server: _Server) -> Any:
        """``server``'s pooled HTTP client, created once; its requests carry the key to its origin only."""
        with self._lock:
            if server.client is None:
                import httpx

                home = _origin(server.url)

                def keep_key_home(request: Any) -> None:
                    # httpx already drops Authorization on a cross-origin redirect; this makes it a rule
                    # of this backend whatever the client version: no request elsewhere carries the key.
                    if _origin(request.url) != home:
                        request.headers.pop("Authorization", None)

                n = self.opts.concurrency
                server.client = httpx.Client(
                    timeout=httpx.Timeout(self.opts.timeout),
                    limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                    follow_redirects=True, max_redirects=5, trust_env=False,
                    event_hooks={"request": [keep_key_home]},
                )
            return server.client

    def _pick(self) -> _Server:
        """The next server round robin among those not set aside (all set aside: the one back soonest)."""
        with self._lock:
            now, count = time.monotonic(), len(self.servers)
            for step in range(count):
                server = self.servers[(self._turn + step) % count]
                if server.down_until <= now:
                    self._turn = (self._turn + step + 1) % count
                    break
            else:
                server = min(self.servers, key=lambda s: s.down_until)
            server.requests += 1
            return server

    def _health(self, server: _Server, ok: bool) -> None:
        """Count failures in a row; ``server_failures`` of them set a server aside (several URLs only)."""
        if len(self.servers) < 2:
            return
        with self._lock:
            if ok:
                server.failures = 0
                return
            server.failures += 1
            if server.failures >= self.opts.server_failures:
                server.failures = 0
                server.down_until = time.monotonic() + self.opts.server_cooldown

    def _post_once(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        """One attempt on the next server (see :meth:`_pick`); the outcome counts for that server's health."""
        server = self._pick()
        try:
            reply = self._post_to(server, path, body, headers)
        except _Retryable as exc:
            self._health(server, ok=False)
            if len(self.servers) > 1:  # say which server failed
                raise _Retryable(f"{server.where}: {exc}", exc.retry_after) from None
            raise
        self._health(server, ok=True)
        return reply

    def _post_to(self, server: _Server, path: str, body: dict[str, Any],
                 headers: dict[str, str]) -> dict[str, Any]:
        import httpx

        try:
            response = self._client_of(server).post(server.url + path,
                                                    content=json.dumps(body).encode("utf-8"), headers=headers)
        except httpx.TimeoutException:
            raise _Retryable(f"timed out after {self.opts.timeout:g} s") from None
        except httpx.TooManyRedirects:
            raise SystemFailed(f"openai {server.where}{path}: too many redirects") from None
        except (httpx.TransportError, OSError) as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        status = response.status_code
        if status != 200:
            message = self._server_message(response)
            if status in RETRY_STATUS:
                raise _Retryable(f"HTTP {status}{': ' + message if message else ''}",
                                 parse_retry_after(response.headers.get("Retry-After")))
            raise SystemFailed(f"openai {server.where}{path}: HTTP {status}"
                               f"{': ' + message if message else ''}")
        try:
            data = response.json()
        except ValueError:
            raise _Retryable("HTTP 200 with a body that is not JSON") from None
        if not isinstance(data, dict):
            raise _Retryable("HTTP 200 with a JSON body that is not an object")
        return cast(dict[str, Any], data)

    def _server_message(self, response: Any) -> str:
        try:
            data = response.json()
        except ValueError:
            return self._scrub(response.text)
        return self._scrub(_error_message(data) or json.dumps(data, ensure_ascii=False))

    def _with_retries(self, path: str, stop: threading.Event,
                      attempt_once: Callable[[], Completion]) -> Completion:
        """``attempt_once()`` until it returns, retrying :class:`_Retryable` failures with jittered
        backoff (``Retry-After`` honoured); ``SystemFailed`` when they run out or ``stop`` is set."""
        o = self.opts
        last = ""
        for attempt in range(o.max_retries + 1):
            if stop.is_set():
                raise SystemFailed(f"openai {self.where}{path}: cancelled after another request failed")
            try:
                return attempt_once()
            except _Retryable as exc:
                last = str(exc)
                retry_after = exc.retry_after
            if attempt < o.max_retries:
                delay = retry_delay(attempt, backoff=o.backoff, max_backoff=o.max_backoff,
                                    retry_after=retry_after, rng=self._rng)
                if stop.wait(delay):
                    break
        raise SystemFailed(f"openai {self.where}{path}: gave up after {o.max_retries + 1} attempts ({last})")

    def served_model(self) -> dict[str, Any]:
        """What the first server's ``GET /models`` says about the model (id, root, owner, llama.cpp's meta),
        for a judge's signature; ``{}`` when it does not list it. The volatile ``created`` field is left
        out."""
        import httpx

        try:
            response = self.client().get(self.base_url + "/models", headers=self._headers())
            data = response.json() if response.status_code == 200 else {}
        except ValueError:  # not JSON: a server without the listing
            data = {}
        except (httpx.HTTPError, OSError) as exc:
            raise SystemFailed(f"openai {self.where}/models: connection failed"
                               f" ({type(exc).__name__})") from None
        entries = data.get("data") if isinstance(data, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("id") == self.opts.model:
                return {k: entry[k] for k in ("id", "root", "owned_by", "meta") if k in entry}
        return {}

    def close(self) -> None:
        with self._lock:
            clients = [s.client for s in self.servers]
            for server in self.servers:
                server.client = None
        for client in clients:
            if client is not None:
                client.close()


class OpenAITranslator(Translator):
    """One request per segment, ``concurrency`` at a time; greedy (temperature 0) by default.

    Several base URLs (``openai:URL1,URL2?model=M``) share the work (see :class:`CompletionClient`). The
    servers must serve the same model: the signature names the model and request, not a server (the URLs
    are in ``environment()``).
    """

    backend: ClassVar[str] = "openai"
    Options: ClassVar[type[TranslatorOptions]] = OpenAIOptions

    def __init__(self, target: str, options: TranslatorOptions | None = None, **kwargs: Any) -> None:
        super().__init__(target, options, **kwargs)
        self.http = CompletionClient(target, self.opts)
        self.where = self.http.where

    @property
    def opts(self) -> OpenAIOptions:
        return cast(OpenAIOptions, self.options)

    @property
    def bounds(self) -> GenerationBounds:
        o = self.opts
        return GenerationBounds(max_tokens=o.max_tokens, ratio=o.max_tokens_ratio, floor=o.max_tokens_floor,
                                repetition_stop=False)

    def max_tokens_for(self, source: str) -> int:
        """The server's tokenizer is unknown: source tokens are estimated from its length in characters."""
        estimate = math.ceil(len("".join(source.split())) / CHARS_PER_TOKEN_ESTIMATE)
        return self.bounds.limit(estimate)

    def _payload(self, source: str, max_tokens: int | None) -> Request:
        o = self.opts
        langs = {"source_lang": self.source_lang, "target_lang": self.target_lang}
        if o.endpoint == "chat":
            content: str | list[dict[str, Any]] = chat_messages(source, system_prompt=o.system_prompt,
                                                                few_shot=o.few_shot, **langs)
        else:
            content = completion_prompt(source, header=o.header, template=o.template, few_shot=o.few_shot,
                                        **langs)
        return self.http.body(content, max_tokens=max_tokens, temperature=o.temperature, seed=o.seed,
                              stop=o.stop)

    def client(self) -> Any:
        """The pooled HTTP client of the first server (created once; closed by :meth:`close`)."""
        return self.http.client()

    def translate(self, sources: Sequence[str]) -> list[str]:
        answers = self.http.post_all([self._payload(s, self.max_tokens_for(s)) for s in sources],
                                     need_text=True)
        counts = [a.completion_tokens for a in answers if a.completion_tokens is not None]
        self.last_output_tokens = counts if len(counts) == len(answers) else None
        return [" ".join(a.text.split()) for a in answers]

    def complete(self, prompts: Sequence[Conversation], *, max_tokens: int, temperature: float = 0.0,
                 seed: int | None = 0) -> list[Completion]:
        """Free completion for LLM judges: :meth:`CompletionClient.complete`."""
        return self.http.complete(prompts, max_tokens=max_tokens, temperature=temperature, seed=seed)

    def signature(self) -> dict[str, Any]:
        path, body = self._payload("{source}", None)
        body.pop("model", None)
        several = len(self.http.servers) > 1  # any server may answer any segment: the model is the identity
        return {
            "backend": "openai",
            "url": f"<several servers>{path}" if several else self.where + path,
            "model": self.opts.model,
            "request": body,
            "generation": {**self.bounds.describe(),
                           "source_tokens": f"chars / {CHARS_PER_TOKEN_ESTIMATE:g}"},
        }

    def environment(self) -> dict[str, Any]:
        """The host's fingerprint, plus the servers' URLs when there are several (not in the signature)."""
        env = super().environment()
        if len(self.http.servers) > 1:
            env["servers"] = [s.where for s in self.http.servers]
        return env

    def close(self) -> None:
        self.http.close()


def _error_message(data: Any) -> str | None:
    """The ``error`` of an OpenAI-style body (``{"error": {"message": ...}}`` or ``{"error": "..."}``)."""
    if not isinstance(data, dict) or data.get("error") in (None, "", {}):
        return None
    error = data["error"]
    if isinstance(error, dict):
        return str(error.get("message") or json.dumps(error, ensure_ascii=False))
    return str(error)
