"""Translate a test set with one system, through the cache, in length-sorted batches."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mt_eval.data.testset import TestSet
from mt_eval.errors import SystemFailed
from mt_eval.translators.base import SystemRun, Translator
from mt_eval.translators.cache import CachingTranslator, TranslationCache
from mt_eval.translators.registry import create_translator

CacheArg = TranslationCache | str | os.PathLike[str] | bool | None


def _open_cache(cache: CacheArg) -> tuple[TranslationCache | None, bool]:
    """``None``/``True``: the default cache; ``False``: none; a path or an open cache as given."""
    if cache is False:
        return None, False
    if isinstance(cache, TranslationCache):
        return cache, False
    if cache is None or cache is True:
        return TranslationCache(), True
    return TranslationCache(Path(cache)), True


def translate_testset(testset: TestSet, spec: str, *, options: Mapping[str, Any] | None = None,
                      cache: CacheArg = None, name: str | None = None, progress: bool = True,
                      translator: Translator | None = None, executor: Any = None) -> SystemRun:
    """Translate every segment; only sources missing from the cache reach the backend.

    The work (length-sorted batches, claims shared with concurrent runs, commits) is done by
    :class:`~mt_eval.translators.cache.CachingTranslator`, or by the wrapper an ``executor``
    (``mt_eval.cluster``) makes to send the batches to workers elsewhere. Throughput is the original
    measurement stored with each cached segment. Raises ``SystemUnavailable`` when the system cannot be loaded
    here and ``SystemFailed`` when it fails while translating.
    """
    own_translator = translator is None
    if translator is None:
        translator = create_translator(spec, options, source_lang=testset.source_lang,
                                       target_lang=testset.target_lang)
    label = name or spec
    store, own_store = _open_cache(cache) if translator.cacheable else (None, False)
    started = time.perf_counter()
    try:
        translator.bind(testset)
        signature = translator.signature()
        if not translator.cacheable:
            outputs = translator.translate(testset.sources)
            if len(outputs) != len(testset.sources) or not all(isinstance(o, str) for o in outputs):
                raise SystemFailed(f"system {label}: backend returned {len(outputs)} outputs (or non-text) "
                                   f"for {len(testset.sources)} sources")
            elapsed = time.perf_counter() - started
            tokens = translator.count_tokens(outputs)
            return SystemRun(name=label, spec=spec, outputs=list(outputs), signature=signature,
                             throughput=_throughput(len(outputs), elapsed, tokens, elapsed, 0,
                                                    len(outputs), translator.model_loads),
                             environment=translator.environment())
        unique = list(dict.fromkeys(testset.sources))
        with _progress(progress, label, len(unique)) as advance:
            wrapper = (CachingTranslator(translator, store, name=label, spec=spec, progress=advance,
                                         signature=signature)
                       if executor is None else
                       executor.wrap(translator, store, name=label, spec=spec, options=options,
                                     progress=advance))
            records = wrapper.translate_records(unique)
        outputs = [records[s].output for s in testset.sources]
        truncated = [records[s].truncated for s in testset.sources]
        # the fingerprint of the machine that produced the outputs: this one if it translated any,
        # else the one the cache recorded when they were translated
        if wrapper.translated or store is None:
            environment = wrapper.environment()
            if store is not None:
                store.remember_environment(wrapper.sig_key(), environment)
        else:
            environment = store.environment_of(wrapper.sig_key())
        seconds_total = sum(records[s].seconds for s in unique)
        tokens_total = sum(records[s].output_tokens for s in testset.sources)
        seg_seconds = sum(records[s].seconds for s in testset.sources)
        return SystemRun(
            name=label, spec=spec, outputs=outputs, signature=signature,
            throughput=_throughput(len(outputs), seg_seconds, tokens_total,
                                   time.perf_counter() - started, wrapper.cached, wrapper.translated,
                                   translator.model_loads, unique_seconds=seconds_total,
                                   truncated=sum(1 for t in truncated if t)),
            truncated=truncated if any(truncated) else [],
            environment=environment,
        )
    finally:
        if own_translator:
            translator.close()
        if own_store and store is not None:
            store.close()


def _throughput(segments: int, seconds: float, tokens: int, run_wall: float, cached: int,
                translated: int, loads: int, unique_seconds: float | None = None,
                truncated: int = 0) -> dict[str, Any]:
    secs = unique_seconds if unique_seconds is not None else seconds
    return {
        "segments": segments,
        "wall_s": round(secs, 6),
        "segments_per_s": round(segments / secs, 3) if secs > 0 else None,
        "output_tokens": tokens,
        "output_tokens_per_s": round(tokens / secs, 3) if secs > 0 else None,
        "measured": "original" if cached and not translated else ("mixed" if cached else "this run"),
        "cached_segments": cached,
        "translated_segments": translated,
        "run_wall_s": round(run_wall, 6),
        "model_loads": loads,
        "truncated_segments": truncated,
    }


class _progress:
    """A rich progress bar on stderr (or nothing); yields ``advance(n)``."""

    def __init__(self, enabled: bool, label: str, total: int) -> None:
        self.enabled = enabled and total > 0
        self.label = label
        self.total = total
        self._bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                             TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True)
        self._bar.start()
        task = self._bar.add_task(f"translating {self.label}", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *_: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
