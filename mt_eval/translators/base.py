"""The translator contract every backend (built-in or plugin) implements.

Backends are batch-first: ``translate`` takes a list of sources and returns one output per source,
in the same order. ``signature`` records everything that changes the output, so the translation
cache and every score can name exactly what produced a hypothesis.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet
    from mt_eval.errors import MtEvalError


class TranslatorOptions(BaseModel):
    """Base for a backend's typed options: unknown keys are an error, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Translator(ABC):
    """A translation system. Subclasses set ``backend`` and ``Options`` and implement two methods."""

    backend: ClassVar[str] = ""
    Options: ClassVar[type[TranslatorOptions]] = TranslatorOptions
    #: False for systems whose output is not a function of the source alone (precomputed files, copy):
    #: the runner then neither caches nor reorders them.
    cacheable: ClassVar[bool] = True

    def __init__(self, target: str, options: TranslatorOptions | None = None, *,
                 source_lang: str = "ar", target_lang: str = "en") -> None:
        self.target = target
        self.options = options if options is not None else self.Options()
        self.source_lang = source_lang
        self.target_lang = target_lang
        #: how many times a model was loaded; a fully cached rerun must leave it at 0
        self.model_loads = 0
        #: per-output token counts of the last ``translate`` call, when the backend knows them for free
        self.last_output_tokens: list[int] | None = None
        #: per-output reason the last ``translate`` call cut an input or output ("" = not cut), e.g.
        #: "input", "output", "input+output" (max_length), "max_tokens" or "repetition" (LLM bounds)
        self.last_truncated: list[str] | None = None

    def bind(self, testset: TestSet) -> None:  # noqa: B027 - optional hook
        """Called by the runner before translating ``testset`` (precomputed outputs need its ids)."""

    def count_tokens(self, outputs: Sequence[str]) -> int:
        """Output tokens for throughput; backends with a tokenizer override this (default: words)."""
        return sum(len(o.split()) for o in outputs)

    @abstractmethod
    def translate(self, sources: Sequence[str]) -> list[str]:
        """Translate a batch; ``len(result) == len(sources)`` and order is kept."""

    @abstractmethod
    def signature(self) -> dict[str, Any]:
        """Everything that changes the output: backend, model id, revision, decoding, versions."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models, threads, connections."""

    def environment(self) -> dict[str, Any]:
        """What may make this backend's outputs differ between machines (not part of the signature).

        The host fingerprint (CPU model and SIMD flags, cores, library versions) for backends that
        run a model here; nothing for precomputed outputs. Backends add their own facts (threads,
        device, dtype, the inference library's build info).
        """
        if not self.cacheable:
            return {}
        from mt_eval.environment import host_fingerprint

        return host_fingerprint()

    @property
    def batch_size(self) -> int:
        return int(getattr(self.options, "batch_size", 16))


class TokenizerTranslator(Translator):
    """A backend holding a transformers tokenizer in ``_tokenizer``: once it is loaded, output tokens for
    throughput are counted by it (before that, as words)."""

    _tokenizer: Any = None

    def count_tokens(self, outputs: Sequence[str]) -> int:
        if self._tokenizer is None:
            return super().count_tokens(outputs)
        tok = self._tokenizer
        return sum(len(tok(text_target=o, add_special_tokens=False)["input_ids"]) for o in outputs)


def signature_key(signature: dict[str, Any]) -> str:
    """The cache key of a signature: sha256 of its canonical JSON."""
    blob = json.dumps(signature, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=256)
def library_version(name: str) -> str:
    """Installed distribution version (``""`` when absent), for signatures; read once per process
    (each lookup scans the installed distributions: 3–7 ms per signature otherwise)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_hash(folder: str | os.PathLike[str]) -> str:
    """Content hash of a local model folder: a revision id for models that have no hub commit."""
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        digest.update(rel.encode("utf-8") + b"\0" + file_sha256(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def hub_snapshot(repo: str, revision: str | None, patterns: list[str], hint: str,
                 error: type[MtEvalError]) -> Path:
    """A hub repository's files from the local Hugging Face cache, or downloaded when the machine is
    online (``HF_HUB_OFFLINE`` not set); else ``error`` with ``hint`` (what to do) and why."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, revision=revision, local_files_only=True,
                                      allow_patterns=patterns))
    except Exception:
        if os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on"):
            raise error(hint + " (HF_HUB_OFFLINE is set)") from None
        try:
            return Path(snapshot_download(repo, revision=revision, allow_patterns=patterns))
        except Exception as exc:
            raise error(f"{hint}; download failed: {type(exc).__name__}") from None


@dataclass
class SystemRun:
    """What translating one test set with one system produced."""

    name: str
    spec: str
    outputs: list[str]
    signature: dict[str, Any]
    throughput: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"  # "ok" | "skipped" | "failed"
    reason: str = ""
    #: per segment (aligned with ``outputs``): why the backend cut the input or output, "" if it did
    #: not; empty when the backend never cuts
    truncated: list[str] = field(default_factory=list)
    #: the machine fingerprint of the process that produced the outputs (``Translator.environment``;
    #: for outputs served from the cache, the one recorded when they were translated)
    environment: dict[str, Any] = field(default_factory=dict)

    def truncated_count(self) -> int:
        return sum(1 for reason in self.truncated if reason)
