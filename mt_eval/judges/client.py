"""The judge client: any backend that can complete text, behind the translation cache.

A judge is a system spec (``llama-cpp:/path/model.gguf``, ``openai:http://127.0.0.1:8000/v1?model=NAME``,
or a plugin backend with ``complete``). Each request — a chat conversation plus a sample index — becomes
one "source" of :class:`~mt_eval.translators.cache.CachingTranslator`, keyed by the judge signature and the
canonical JSON of the conversation (which holds the source, hypothesis and, when used, the reference) and
the sample index. So the cache machinery gives judges what it gives translators: rescoring never asks
twice, work is committed about once a second (a killed run resumes where it stopped), concurrent runs share
claims, ``mt-eval cache stats`` lists judges (named ``judge:<metric>``) and ``cache clear`` removes them.

What is stored per request is the judge's raw answer with its token counts and finish reason (as JSON
text); a failed *request* (server down after every retry) is never stored, while an answer that cannot be
parsed is — it is the judge's answer, and asking again at temperature 0 would give it again.

The judge signature (the cache key and part of the metric signature) names the model: for llama.cpp the
GGUF's sha256 (and the extra-buffer setting, which can change greedy choices); for a server its URL, the
model name and what ``GET /models`` reports for it; plus the sampling settings. Sample ``k`` of a segment
is asked with seed ``seed + k``, so samples differ when ``temperature > 0``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mt_eval.errors import MtEvalError, SystemFailed
from mt_eval.translators.base import Translator, TranslatorOptions, signature_key
from mt_eval.translators.cache import CachingTranslator, TranslationCache
from mt_eval.translators.completion import Completion, Conversation, can_complete


@dataclass(frozen=True)
class JudgeRequest:
    """A conversation, its sample index and (when not the client's) its own answer-length cap."""

    messages: Conversation
    sample: int = 0
    max_tokens: int | None = None

    def key(self) -> str:
        """Canonical JSON: the cache's "source" text for this request."""
        data: dict[str, Any] = {"messages": [dict(m) for m in self.messages], "sample": self.sample}
        if self.max_tokens is not None:
            data["max_tokens"] = self.max_tokens
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class JudgeAnswer:
    """An answer and what it cost (``seconds`` as measured when it was asked, also when served cached)."""

    completion: Completion
    seconds: float

    @property
    def text(self) -> str:
        return self.completion.text


def _redact_spec(spec: str) -> str:
    return spec.split("?", 1)[0]


class _CompletionAdapter(Translator):
    """A judge backend seen as a translator of request keys into JSON answers (for the cache)."""

    backend: ClassVar[str] = "judge"
    Options: ClassVar[type[TranslatorOptions]] = TranslatorOptions

    def __init__(self, client: JudgeClient) -> None:
        super().__init__(client.spec)
        self.client = client

    @property
    def batch_size(self) -> int:
        return self.client.batch_size

    def signature(self) -> dict[str, Any]:
        return self.client.signature()

    def translate(self, sources: Sequence[str]) -> list[str]:
        requests = [json.loads(s) for s in sources]
        answers: list[Completion | None] = [None] * len(sources)
        groups: dict[tuple[int, int], list[int]] = {}  # (sample, max_tokens) -> request indexes
        for i, request in enumerate(requests):
            cap = int(request.get("max_tokens") or self.client.max_tokens)
            groups.setdefault((int(request["sample"]), cap), []).append(i)
        for (sample, cap), indexes in sorted(groups.items()):
            got = self.client.backend.complete([requests[i]["messages"] for i in indexes],
                                               max_tokens=cap,
                                               temperature=self.client.temperature,
                                               seed=self.client.seed + sample)
            if len(got) != len(indexes):
                raise SystemFailed(f"judge {self.client.where}: {len(got)} answers for"
                                   f" {len(indexes)} prompts")
            for i, completion in zip(indexes, got, strict=True):
                answers[i] = completion
        done = [a for a in answers if a is not None]
        self.last_output_tokens = [a.completion_tokens or 0 for a in done]
        self.last_truncated = ["max_tokens" if a.truncated else "" for a in done]
        return [json.dumps({"text": a.text, "prompt_tokens": a.prompt_tokens,
                            "completion_tokens": a.completion_tokens, "finish_reason": a.finish_reason},
                           ensure_ascii=False) for a in done]


class JudgeClient:
    """Ask a judge backend, through the cache (``cache=None``: no cache)."""

    def __init__(self, spec: str, *, name: str, source_lang: str, target_lang: str, max_tokens: int,
                 temperature: float, seed: int, cache: TranslationCache | None, batch_size: int = 16) -> None:
        from mt_eval.translators.registry import create_translator

        self.spec = spec
        self.where = _redact_spec(spec)
        self.name = name
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.batch_size = batch_size
        self.cache = cache
        # Any: ``complete`` is duck-typed (checked just below), not part of the Translator contract
        self.backend: Any = create_translator(spec, source_lang=source_lang, target_lang=target_lang)
        if not can_complete(self.backend):
            self.backend.close()
            raise MtEvalError(f"judge {self.where!r}: backend {self.backend.backend!r} cannot complete text;"
                              f" use llama-cpp:PATH.gguf or openai:URL?model=NAME")
        self._signature: dict[str, Any] | None = None
        #: of the last :meth:`ask`: unique requests served from the cache / asked of the judge
        self.cached = 0
        self.asked = 0

    def identity(self) -> dict[str, Any]:
        """The judge model's identity (see the module docstring)."""
        backend = self.backend
        if backend.backend == "llama-cpp":
            sig = backend.signature()
            o = backend.options
            return {"backend": "llama-cpp", "model": sig["model"], "revision": sig["revision"],
                    "extra_buffers": sig["extra_buffers"], "n_ctx": getattr(o, "n_ctx", None),
                    "repeat_penalty": getattr(o, "repeat_penalty", None), "versions": sig["versions"]}
        if backend.backend == "openai":
            o = backend.options
            return {"backend": "openai", "url": getattr(backend, "where", ""),
                    "endpoint": getattr(o, "endpoint", ""), "model": getattr(o, "model", ""),
                    "served_model": backend.served_model()}
        return {"backend": backend.backend, "signature": backend.signature()}

    def signature(self) -> dict[str, Any]:
        if self._signature is None:
            identity = self.identity()
            self._signature = {"backend": f"judge/{identity['backend']}", "judge": identity,
                               "sampling": {"max_tokens": self.max_tokens, "temperature": self.temperature,
                                            "seed": self.seed}}
        return self._signature

    def sig_key(self) -> str:
        return signature_key(self.signature())

    def ask(self, requests: Sequence[JudgeRequest]) -> list[JudgeAnswer]:
        """One answer per request (duplicates asked once); served from the cache where possible."""
        if not requests:
            return []
        keys = [r.key() for r in requests]
        wrapper = CachingTranslator(_CompletionAdapter(self), self.cache, name=f"judge:{self.name}",
                                    spec=self.where)
        records = wrapper.translate_records(keys)
        self.cached, self.asked = wrapper.cached, wrapper.translated
        out = []
        for key in keys:
            record = records[key]
            try:
                data = json.loads(record.output)
                completion = Completion(text=str(data["text"]), prompt_tokens=data.get("prompt_tokens"),
                                        completion_tokens=data.get("completion_tokens"),
                                        finish_reason=data.get("finish_reason"))
            except (ValueError, KeyError, TypeError):
                raise MtEvalError(f"judge cache {getattr(self.cache, 'path', '')}: a stored answer of"
                                  f" judge:{self.name} is not valid; clear it with mt-eval cache clear"
                                  f" --system 'judge:*'") from None
            out.append(JudgeAnswer(completion, record.seconds))
        return out

    def close(self) -> None:
        self.backend.close()
