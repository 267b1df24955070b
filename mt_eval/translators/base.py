"""The translator contract every backend (built-in or plugin) implements.

Backends are batch-first: ``translate`` takes a list of sources and returns one output per source,
in the same order. ``signature`` records everything that changes the output, so the translation
cache and every score can name exactly what produced a hypothesis.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class TranslatorOptions(BaseModel):
    """Base for a backend's typed options: unknown keys are an error, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Translator(ABC):
    """A translation system. Subclasses set ``backend`` and ``Options`` and implement two methods."""

    backend: ClassVar[str] = ""
    Options: ClassVar[type[TranslatorOptions]] = TranslatorOptions

    def __init__(self, target: str, options: TranslatorOptions | None = None, *,
                 source_lang: str = "ar", target_lang: str = "en") -> None:
        self.target = target
        self.options = options if options is not None else self.Options()
        self.source_lang = source_lang
        self.target_lang = target_lang

    @abstractmethod
    def translate(self, sources: Sequence[str]) -> list[str]:
        """Translate a batch; ``len(result) == len(sources)`` and order is kept."""

    @abstractmethod
    def signature(self) -> dict[str, Any]:
        """Everything that changes the output: backend, model id, revision, decoding, versions."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models, threads, connections."""


@dataclass
class SystemRun:
    """What translating one test set with one system produced."""

    name: str
    spec: str
    outputs: list[str]
    signature: dict[str, Any]
    throughput: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"  # "ok" | "skipped"
    reason: str = ""
