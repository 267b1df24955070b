"""Translate a test set with one system, through the cache, in length-sorted batches."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mt_eval.data.testset import TestSet
from mt_eval.translators.base import SystemRun, Translator, signature_key
from mt_eval.translators.cache import TranslationCache
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
                      translator: Translator | None = None) -> SystemRun:
    """Translate every segment; only sources missing from the cache reach the backend.

    Unique sources are sorted by length (longest first) for batching and the test-set order is
    restored afterwards. Each finished batch is committed to the cache at once. Throughput is the
    original measurement stored with each cached segment. Raises ``SystemUnavailable`` when the
    system cannot be loaded here.
    """
    own_translator = translator is None
    if translator is None:
        translator = create_translator(spec, options, source_lang=testset.source_lang,
                                       target_lang=testset.target_lang)
    store, own_store = _open_cache(cache) if translator.cacheable else (None, False)
    started = time.perf_counter()
    try:
        translator.bind(testset)
        signature = translator.signature()
        if not translator.cacheable:
            outputs = translator.translate(testset.sources)
            elapsed = time.perf_counter() - started
            tokens = translator.count_tokens(outputs)
            return SystemRun(name=name or spec, spec=spec, outputs=list(outputs), signature=signature,
                             throughput=_throughput(len(outputs), elapsed, tokens, elapsed, 0,
                                                    len(outputs), translator.model_loads))
        key = signature_key(signature)
        unique = list(dict.fromkeys(testset.sources))
        done: dict[str, tuple[str, float, int]] = {}
        if store is not None:
            store.register_system(key, signature, name=name or spec, spec=spec)
            done = {s: (c.output, c.seconds, c.output_tokens) for s, c in store.get_many(key, unique).items()}
        from_cache = len(done)
        missing = sorted((s for s in unique if s not in done), key=len, reverse=True)
        translated = 0
        owner = store.new_owner() if store is not None else ""
        size = max(1, translator.batch_size)

        def run_batch(batch: list[str]) -> None:
            nonlocal translated
            translator.last_output_tokens = None
            t0 = time.perf_counter()
            outs = translator.translate(batch)
            seconds = time.perf_counter() - t0
            counts = translator.last_output_tokens
            if len(outs) != len(batch):
                raise RuntimeError(f"{spec}: backend returned {len(outs)} outputs for {len(batch)} sources")
            rows = []
            if counts is None or len(counts) != len(batch):
                counts = [translator.count_tokens([out]) for out in outs]
            for src, out, tok in zip(batch, outs, counts, strict=True):
                rows.append((src, out, seconds / len(batch), tok))
                done[src] = (out, seconds / len(batch), tok)
            if store is not None:
                store.put_many(key, rows)
            translated += len(batch)

        def refresh(sources: list[str]) -> list[str]:
            if store is not None:
                for src, c in store.get_many(key, sources).items():
                    done[src] = (c.output, c.seconds, c.output_tokens)
            return [s for s in sources if s not in done]

        try:
            with _progress(progress and bool(missing), name or spec, len(missing)) as advance:
                deferred: list[str] = []
                for start in range(0, len(missing), size):
                    batch = missing[start:start + size]
                    if store is not None:  # skip what a concurrent run did or is doing
                        mine, others = store.claim(key, batch, owner)
                        deferred += others
                        refresh([s for s in batch if s not in mine and s not in others])
                        batch = mine
                    if batch:
                        run_batch(batch)
                    advance(len(batch))
                while deferred:  # segments another live run claimed: wait for them, or take them over
                    deferred = refresh(deferred)
                    if not deferred or store is None:
                        break
                    mine, deferred = store.claim(key, deferred, owner)
                    refresh(mine)
                    for start in range(0, len(mine), size):
                        run_batch(mine[start:start + size])
                    advance(len(mine))
                    if deferred:
                        time.sleep(0.2)
        finally:
            if store is not None:
                store.release(key, owner)
        outputs = [done[s][0] for s in testset.sources]
        per_source = {s: done[s] for s in unique}
        seconds_total = sum(v[1] for v in per_source.values())
        tokens_total = sum(done[s][2] for s in testset.sources)
        seg_seconds = sum(done[s][1] for s in testset.sources)
        return SystemRun(
            name=name or spec, spec=spec, outputs=outputs, signature=signature,
            throughput=_throughput(len(outputs), seg_seconds, tokens_total,
                                   time.perf_counter() - started, from_cache, translated,
                                   translator.model_loads, unique_seconds=seconds_total),
        )
    finally:
        if own_translator:
            translator.close()
        if own_store and store is not None:
            store.close()


def _throughput(segments: int, seconds: float, tokens: int, run_wall: float, cached: int,
                translated: int, loads: int, unique_seconds: float | None = None) -> dict[str, Any]:
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
    }


class _progress:
    """A rich progress bar on stderr (or nothing); yields ``advance(n)``."""

    def __init__(self, enabled: bool, label: str, total: int) -> None:
        self.enabled = enabled
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
