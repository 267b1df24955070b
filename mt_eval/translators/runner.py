"""Translate a test set with one system, through the work cache, in length-sorted batches."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError, SystemFailed
from mt_eval.translators.base import SystemRun, Translator
from mt_eval.translators.registry import create_translator
from mt_eval.workcache.scheduler import InProcess, fetch, one_line
from mt_eval.workcache.store import CacheKey, Row, TranslationCache

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

    The work (length-sorted batches, claims shared with concurrent runs, commits) is the work cache's
    scheduler loop (:func:`~mt_eval.workcache.scheduler.fetch`); the batches run in this process or as
    the ``executor`` (``mt_eval.cluster``) runs them, e.g. on Ray actors. Throughput is the original
    measurement stored with each cached segment. Raises ``SystemUnavailable`` when the system cannot be
    loaded here and ``SystemFailed`` when it fails while translating.
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
            return _translate_uncached(translator, testset.sources, (label, spec), signature, started)
        key = CacheKey(signature, label, spec)
        runner = (local_batches(translator, label) if executor is None else
                  executor.batches(translator, key, options))
        unique = list(dict.fromkeys(testset.sources))
        with _progress(progress, label, len(unique)) as advance:
            done = fetch(unique, store, key, runner, advance)
        records = done.records
        truncated = [records[s].truncated for s in testset.sources]
        # the fingerprint of the machine that produced the outputs: where the batches ran if any did,
        # else the one the cache recorded when they were translated
        if done.done_here or store is None:
            environment = runner.environment() or translator.environment()
            if store is not None:
                store.remember_environment(key.sig_key, environment)
        else:
            environment = store.environment_of(key.sig_key)
        return SystemRun(
            name=label, spec=spec, outputs=[records[s].output for s in testset.sources], signature=signature,
            throughput=_throughput(len(testset.sources), sum(records[s].seconds for s in unique),
                                   sum(records[s].output_tokens for s in testset.sources),
                                   time.perf_counter() - started, (done.cached, done.done_here),
                                   translator.model_loads, sum(1 for t in truncated if t)),
            truncated=truncated if any(truncated) else [],
            environment=environment,
        )
    finally:
        if own_translator:
            translator.close()
        if own_store and store is not None:
            store.close()


def _translate_uncached(translator: Translator, sources: list[str], names: tuple[str, str],
                        signature: dict[str, Any], started: float) -> SystemRun:
    """A system whose outputs are not a function of the source alone (a file, a copy): in one call."""
    label, spec = names
    outputs = translator.translate(sources)
    if len(outputs) != len(sources) or not all(isinstance(o, str) for o in outputs):
        raise SystemFailed(f"system {label}: backend returned {len(outputs)} outputs (or non-text) "
                           f"for {len(sources)} sources")
    elapsed = time.perf_counter() - started
    return SystemRun(name=label, spec=spec, outputs=list(outputs), signature=signature,
                     throughput=_throughput(len(outputs), elapsed, translator.count_tokens(outputs), elapsed,
                                            (0, len(outputs)), translator.model_loads),
                     environment=translator.environment())


def translate_rows(translator: Translator, batch: list[str], *, name: str) -> list[Row]:
    """One batch translated by ``translator``, checked, as cache rows (no cache access): what runs in
    this process and on a cluster's workers. A backend that raises, returns the wrong number of outputs
    or a non-text output fails the system (:class:`SystemFailed`)."""
    translator.last_output_tokens = None
    translator.last_truncated = None
    t0 = time.perf_counter()
    try:
        outs = translator.translate(batch)
    except MtEvalError:
        raise
    except Exception as exc:  # a crashed backend fails the system with its message, in one line
        raise SystemFailed(f"system {name}: backend {translator.backend!r} failed: {one_line(exc)}") from exc
    seconds = time.perf_counter() - t0
    if not isinstance(outs, list | tuple) or len(outs) != len(batch):
        got = len(outs) if isinstance(outs, list | tuple) else type(outs).__name__
        raise SystemFailed(f"system {name}: backend returned {got} outputs for {len(batch)} sources")
    bad = [type(o).__name__ for o in outs if not isinstance(o, str)]
    if bad:
        raise SystemFailed(f"system {name}: backend returned a {bad[0]} output, not text")
    counts = translator.last_output_tokens
    if counts is None or len(counts) != len(batch):
        counts = [translator.count_tokens([out]) for out in outs]
    cut = translator.last_truncated
    if cut is not None and len(cut) != len(batch):
        cut = None
    each = seconds / len(batch)
    return [(src, out, each, int(tok), cut[i] if cut else "")
            for i, (src, out, tok) in enumerate(zip(batch, outs, counts, strict=True))]


def local_batches(translator: Translator, name: str) -> InProcess:
    """A system's batches in this process: ``translator.batch_size`` sources at a time, checked."""
    return InProcess(functools.partial(translate_rows, translator, name=name), max(1, translator.batch_size))


def _throughput(segments: int, seconds: float, tokens: int, run_wall: float, measured: tuple[int, int],
                loads: int, truncated: int = 0) -> dict[str, Any]:
    """``seconds``: of the unique segments, as measured when they were translated; ``measured``: how
    many were (cached, translated now)."""
    cached, translated = measured
    return {
        "segments": segments,
        "wall_s": round(seconds, 6),
        "segments_per_s": round(segments / seconds, 3) if seconds > 0 else None,
        "output_tokens": tokens,
        "output_tokens_per_s": round(tokens / seconds, 3) if seconds > 0 else None,
        "measured": "original" if cached and not translated else ("mixed" if cached else "this run"),
        "cached_segments": cached,
        "translated_segments": translated,
        "run_wall_s": round(run_wall, 6),
        "model_loads": loads,
        "truncated_segments": truncated,
    }


@contextlib.contextmanager
def _progress(enabled: bool, label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (or nothing); yields ``advance(n)``."""
    if not enabled or total <= 0:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(f"translating {label}", total=total)
        yield lambda n: bar.advance(task, n)
