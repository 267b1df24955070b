"""The judge client: any backend that can complete text, behind the work cache.

A judge is a system spec (``llama-cpp:/path/model.gguf``, ``openai:http://127.0.0.1:8000/v1?model=NAME``,
or a plugin backend with ``complete``). Each request — a chat conversation plus a sample index — is one
item of the work cache (:func:`mt_eval.workcache.scheduler.fetch`), keyed by a :class:`JudgeKey` (the judge
signature) and the canonical JSON of the conversation (which holds the source, hypothesis and, when used,
the reference) and the sample index. So the cache gives judges what it gives translators: rescoring never
asks twice, work is committed about once a second (a killed run resumes where it stopped), concurrent runs
share claims, ``mt-eval cache stats`` lists judges (named ``judge:<metric>``) and ``cache clear`` removes
them. The keys are those of earlier versions, which sent the requests through the translation wrapper:
answers cached then are found now.

What is stored per request is the judge's raw answer with its token counts and finish reason (as JSON
text); a failed *request* (server down after every retry) is never stored, while an answer that cannot be
parsed is — it is the judge's answer, and asking again at temperature 0 would give it again. What is kept
of an answer is bounded: one longer than :func:`answer_limit` characters cannot have honoured
``max_tokens`` (a server that ignores the cap, answering megabytes), so it is cut to that length and
marked ``oversized`` (finish reason), a failure of its segment, before anything parses or stores it.

The judge signature (the cache key and part of the metric signature) names the model: for llama.cpp the
GGUF's sha256 (and the extra-buffer setting, which can change greedy choices); for a server its URL, the
model name and what ``GET /models`` reports for it; plus the sampling settings. Sample ``k`` of a segment
is asked with seed ``seed + k``, so samples differ when ``temperature > 0``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mt_eval.errors import MtEvalError, SystemFailed
from mt_eval.translators.completion import Completion, Conversation, can_complete
from mt_eval.workcache.scheduler import InProcess, fetch, one_line
from mt_eval.workcache.store import JUDGE_BACKEND, CacheKey, Row, TranslationCache

#: characters per allowed token beyond which an answer ignored ``max_tokens`` (real tokens are far shorter)
CHARS_PER_TOKEN = 32
#: the least an answer may hold before it counts as oversized, whatever its ``max_tokens``
MIN_ANSWER_CHARS = 1024
#: the finish reason of an answer cut to :func:`answer_limit`
OVERSIZED = "oversized"


def answer_limit(max_tokens: int) -> int:
    """The most characters kept of an answer asked with ``max_tokens``; a longer one is oversized."""
    return max(MIN_ANSWER_CHARS, CHARS_PER_TOKEN * max_tokens)


def _bounded(answer: Completion, max_tokens: int) -> tuple[Completion, int]:
    """``answer`` cut to :func:`answer_limit` and marked oversized, with its whole length (0: kept whole)."""
    limit = answer_limit(max_tokens)
    if len(answer.text) <= limit:
        return answer, 0
    return dataclasses.replace(answer, text=answer.text[:limit], finish_reason=OVERSIZED), len(answer.text)


@dataclass(frozen=True)
class JudgeRequest:
    """A conversation, its sample index and (when not the client's) its own answer-length cap."""

    messages: Conversation
    sample: int = 0
    max_tokens: int | None = None

    def key(self) -> str:
        """Canonical JSON: the request's item text in the cache."""
        data: dict[str, Any] = {"messages": [dict(m) for m in self.messages], "sample": self.sample}
        if self.max_tokens is not None:
            data["max_tokens"] = self.max_tokens
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class JudgeAnswer:
    """An answer and what it cost (``seconds`` as measured when it was asked, also when served cached)."""

    completion: Completion
    seconds: float
    #: the length of the whole answer when it was cut as oversized (0: kept whole)
    chars: int = 0

    @property
    def text(self) -> str:
        return self.completion.text

    @property
    def oversized(self) -> bool:
        """Far longer than ``max_tokens`` allows (:func:`answer_limit`): cut, and a failure."""
        return self.completion.finish_reason == OVERSIZED


@dataclass(frozen=True)
class Sampling:
    """How a judge is asked: the answer-length cap, temperature and seed (sample ``k``: ``seed + k``)."""

    max_tokens: int
    temperature: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class JudgeKey(CacheKey):
    """The cache key of a judge's answers: ``{"backend": "judge/<backend>", "judge": identity, "sampling":
    …}``, a signature no translator has (see :class:`~mt_eval.workcache.store.CacheKey`)."""

    judge: ClassVar[bool] = True

    @classmethod
    def of(cls, identity: Mapping[str, Any], sampling: Sampling, *, name: str, spec: str) -> JudgeKey:
        signature = {"backend": f"{JUDGE_BACKEND}{identity['backend']}", "judge": dict(identity),
                     "sampling": dataclasses.asdict(sampling)}
        return cls(signature, name, spec)


def _encode(answer: Completion, chars: int = 0) -> str:
    data = {"text": answer.text, "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens, "finish_reason": answer.finish_reason}
    return json.dumps({**data, "chars": chars} if chars else data, ensure_ascii=False)


class JudgeClient:
    """Ask a judge backend, through the cache (``cache=None``: no cache); ``langs`` (source, target)."""

    def __init__(self, spec: str, *, name: str, langs: tuple[str, str], sampling: Sampling,
                 cache: TranslationCache | None = None, batch_size: int = 16) -> None:
        from mt_eval.translators.registry import create_translator

        self.spec = spec
        self.where = spec.split("?", 1)[0]
        self.name = name
        self.sampling = sampling
        self.batch_size = batch_size
        self.cache = cache
        # Any: ``complete`` is duck-typed (checked just below), not part of the Translator contract
        self.backend: Any = create_translator(spec, source_lang=langs[0], target_lang=langs[1])
        if not can_complete(self.backend):
            self.backend.close()
            raise MtEvalError(f"judge {self.where!r}: backend {self.backend.backend!r} cannot complete text;"
                              f" use llama-cpp:PATH.gguf or openai:URL?model=NAME")
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
            return {"backend": "openai", "url": backend.http.where, "endpoint": o.endpoint, "model": o.model,
                    "served_model": backend.http.served_model()}
        return {"backend": backend.backend, "signature": backend.signature()}

    @functools.cached_property
    def key(self) -> JudgeKey:
        return JudgeKey.of(self.identity(), self.sampling, name=f"judge:{self.name}", spec=self.where)

    def signature(self) -> dict[str, Any]:
        return dict(self.key.signature)

    def ask(self, requests: Sequence[JudgeRequest]) -> list[JudgeAnswer]:
        """One answer per request (duplicates asked once); served from the cache where possible."""
        if not requests:
            return []
        by_key = {r.key(): r for r in requests}
        runner = InProcess(functools.partial(self._answer, by_key), max(1, self.batch_size))
        outcome = fetch(list(by_key), self.cache, self.key if self.cache is not None else None, runner)
        self.cached, self.asked = outcome.cached, outcome.done_here
        out = []
        for request in requests:
            record = outcome.records[request.key()]
            try:
                data = json.loads(record.output)
                completion = Completion(text=str(data["text"]), prompt_tokens=data.get("prompt_tokens"),
                                        completion_tokens=data.get("completion_tokens"),
                                        finish_reason=data.get("finish_reason"))
                chars = int(data.get("chars") or 0)
            except (ValueError, KeyError, TypeError):
                raise MtEvalError(f"judge cache {getattr(self.cache, 'path', '')}: a stored answer of"
                                  f" judge:{self.name} is not valid; clear it with mt-eval cache clear"
                                  f" --system 'judge:*'") from None
            # an answer stored whole by an earlier version is bounded as a new one is
            completion, whole = _bounded(completion, request.max_tokens or self.sampling.max_tokens)
            out.append(JudgeAnswer(completion, record.seconds, chars or whole))
        return out

    def _answer(self, requests: Mapping[str, JudgeRequest], keys: list[str]) -> list[Row]:
        """One batch of requests asked of the backend (grouped by sample and cap), as cache rows."""
        groups: dict[tuple[int, int], list[int]] = {}  # (sample, max_tokens) -> indexes in keys
        for i, key in enumerate(keys):
            request = requests[key]
            groups.setdefault((request.sample, request.max_tokens or self.sampling.max_tokens), []).append(i)
        answers: dict[int, tuple[Completion, int]] = {}  # bounded at once: see answer_limit
        t0 = time.perf_counter()
        try:
            for (sample, cap), indexes in sorted(groups.items()):
                got = self.backend.complete([requests[keys[i]].messages for i in indexes], max_tokens=cap,
                                            temperature=self.sampling.temperature,
                                            seed=self.sampling.seed + sample)
                if len(got) != len(indexes):
                    raise SystemFailed(f"judge {self.where}: {len(got)} answers for {len(indexes)} prompts")
                answers.update((i, _bounded(a, cap)) for i, a in zip(indexes, got, strict=True))
        except MtEvalError:
            raise
        except Exception as exc:  # a crashed backend fails the judge with its message, in one line
            raise SystemFailed(f"system judge:{self.name}: backend 'judge' failed: {one_line(exc)}") from exc
        each = (time.perf_counter() - t0) / len(keys)
        rows: list[Row] = []
        for i, key in enumerate(keys):
            answer, chars = answers[i]
            rows.append((key, _encode(answer, chars), each, answer.completion_tokens or 0,
                         OVERSIZED if chars else "max_tokens" if answer.truncated else ""))
        return rows

    def close(self) -> None:
        self.backend.close()
