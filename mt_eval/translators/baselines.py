"""Baselines every comparison table should show: ``copy`` (the source as output) is the lower bound."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from mt_eval.translators.base import Translator


class CopyTranslator(Translator):
    """Returns the source unchanged; scores above it mean the system translated something."""

    backend: ClassVar[str] = "copy"
    cacheable: ClassVar[bool] = False

    def translate(self, sources: Sequence[str]) -> list[str]:
        return list(sources)

    def signature(self) -> dict[str, Any]:
        return {"backend": "copy"}
