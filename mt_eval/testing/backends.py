"""A test-only backend: ``slow``, a logging translator for resume, concurrency and Ray tests and the
scaling benchmark. Register it with
``register_backend("slow", "mt_eval.testing.backends:SlowTranslator")``."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from mt_eval.translators.base import Translator, TranslatorOptions


class SlowOptions(TranslatorOptions):
    batch_size: int = 2
    delay: float = 0.0
    log: str = ""
    tag: str = "T"


class SlowTranslator(Translator):
    """Output ``TAG(source)`` after ``delay`` seconds per batch; appends each translated source to ``log``."""

    backend: ClassVar[str] = "slow"
    Options: ClassVar[type[TranslatorOptions]] = SlowOptions

    def translate(self, sources: Sequence[str]) -> list[str]:
        opts: Any = self.options
        if self.model_loads == 0:
            self.model_loads = 1
        time.sleep(opts.delay)
        if opts.log:
            with open(opts.log, "a", encoding="utf-8") as handle:
                handle.write("".join(f"{os.getpid()}\t{s}\n" for s in sources))
        return [f"{opts.tag}({s})" for s in sources]

    def signature(self) -> dict[str, Any]:
        opts: Any = self.options
        return {"backend": "slow", "tag": opts.tag}
