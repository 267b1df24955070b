"""Per-segment output checks: the failure modes a corpus score hides.

Flags (stable names used in ``segments.jsonl``, tables and the gate):

* ``empty`` — the output is empty or whitespace only;
* ``copy_of_source`` — the output is the source, up to case and whitespace (untranslated);
* ``wrong_language`` — the output is not in the target language (``mt_eval.data.langid.is_language``);
* ``length_ratio`` — output length / source (or reference) length is outside a configurable band;
* ``repetition`` — a word n-gram repeats back to back (a decoding loop: "the the the the",
  "I am here. I am here. I am here.").

:func:`check_outputs` computes the flags of a whole system at once (language ID and repetition loops
vectorised, fastText in one batch); :func:`check_segment` is the same rule for one segment.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, count, pairwise
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from mt_eval.data.langid import is_language, is_language_many
from mt_eval.errors import MtEvalError, first_validation_problem

FLAGS = ("empty", "copy_of_source", "wrong_language", "length_ratio", "repetition")


class CheckConfig(BaseModel):
    """Which checks run and their thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: tuple[str, ...] = FLAGS
    length_unit: Literal["chars", "words"] = "chars"
    length_against: Literal["source", "reference"] = "source"
    min_length_ratio: float = 0.5
    max_length_ratio: float = 2.5
    # below this many units in the basis the ratio is too noisy to judge
    min_length: int = 10
    repeat_max_n: int = 8
    repeat_min_count: int = 3  # consecutive copies of an n-gram with n >= 2
    repeat_unigram_min_count: int = 4  # consecutive copies of one word ("very very very" is legal)
    language_min_share: float = 0.5

    @model_validator(mode="after")
    def _check(self) -> CheckConfig:
        unknown = [f for f in self.enabled if f not in FLAGS]
        if unknown:
            raise ValueError(f"unknown check(s) {unknown}; known: {', '.join(FLAGS)}")
        if not 0 <= self.min_length_ratio < self.max_length_ratio:
            raise ValueError("need 0 <= min_length_ratio < max_length_ratio")
        if self.repeat_min_count < 2 or self.repeat_unigram_min_count < 2 or self.repeat_max_n < 1:
            raise ValueError("repeat counts must be >= 2 and repeat_max_n >= 1")
        return self


@dataclass(frozen=True)
class CheckResult:
    """``flags[i]`` lists the flags of segment ``i``; ``counts`` has every enabled flag (0 included)."""

    flags: list[list[str]]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def flagged(self) -> int:
        return sum(1 for f in self.flags if f)

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "flagged_segments": self.flagged}


def make_config(config: CheckConfig | dict[str, Any] | None) -> CheckConfig:
    if config is None:
        return CheckConfig()
    if isinstance(config, CheckConfig):
        return config
    try:
        return CheckConfig(**config)
    except ValidationError as exc:
        loc, msg = first_validation_problem(exc, root="checks")
        raise MtEvalError(f"checks config: {loc}: {msg}") from None


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _length(text: str, unit: str) -> int:
    return len(text.split()) if unit == "words" else len("".join(text.split()))


def has_repetition_loop(text: str, *, max_n: int = 8, min_count: int = 3, unigram_min_count: int = 4) -> bool:
    """True when some word n-gram (n <= ``max_n``) occurs back to back ``min_count`` times or more."""
    words = text.casefold().split()
    for n in range(1, max_n + 1):
        need = unigram_min_count if n == 1 else min_count
        if len(words) < n * need:
            break
        # compare each window with the one n words earlier; a run of n*(need-1) matches = need copies
        matches = 0
        for i in range(n, len(words)):
            if words[i] == words[i - n]:
                matches += 1
                if matches >= n * (need - 1):
                    return True
            else:
                matches = 0
    return False


def check_segment(source: str, output: str, *, target_lang: str, references: Sequence[str] = (),
                  config: CheckConfig | None = None) -> list[str]:
    """The flags of one segment, in :data:`FLAGS` order."""
    cfg = config or CheckConfig()
    on = set(cfg.enabled)
    flags: list[str] = []
    empty = not output.strip()
    if "empty" in on and empty:
        flags.append("empty")
    if empty:
        return flags
    if "copy_of_source" in on and source.strip() and _norm(output) == _norm(source):
        flags.append("copy_of_source")
    if "wrong_language" in on and target_lang and not is_language(output, target_lang,
                                                                  min_share=cfg.language_min_share):
        flags.append("wrong_language")
    if "length_ratio" in on:
        basis_texts = [source] if cfg.length_against == "source" else list(references)
        if basis_texts:
            basis = sum(_length(t, cfg.length_unit) for t in basis_texts) / len(basis_texts)
            if basis >= cfg.min_length:
                ratio = _length(output, cfg.length_unit) / basis
                if not cfg.min_length_ratio <= ratio <= cfg.max_length_ratio:
                    flags.append("length_ratio")
    if "repetition" in on and has_repetition_loop(output, max_n=cfg.repeat_max_n,
                                                  min_count=cfg.repeat_min_count,
                                                  unigram_min_count=cfg.repeat_unigram_min_count):
        flags.append("repetition")
    return flags


def repetition_loops(texts: Sequence[str], *, max_n: int = 8, min_count: int = 3,
                     unigram_min_count: int = 4) -> np.ndarray:
    """:func:`has_repetition_loop` of every text, computed with numpy over the whole list.

    Words become integer ids (exact string identity); for each ``n`` a position matches when its word
    equals the word ``n`` before it in the same text, and a text loops when a run of consecutive
    matches reaches ``n * (need - 1)``. A text stops being checked at the first ``n`` it is too short
    for, as in the per-text loop.
    """
    words = [t.casefold().split() for t in texts]
    vocab: defaultdict[str, int] = defaultdict(count().__next__)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    flat = list(chain.from_iterable(words))
    ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
    text_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    position = np.arange(len(ids), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    found = np.zeros(len(texts), dtype=bool)
    eligible = np.ones(len(texts), dtype=bool)
    for n in range(1, max_n + 1):
        need = unigram_min_count if n == 1 else min_count
        eligible &= lengths >= n * need
        if not eligible.any():
            break
        match = np.zeros(len(ids) + 1, dtype=np.int8)  # one trailing 0 closes the last run
        if len(ids) > n:
            match[n:len(ids)] = (ids[n:] == ids[:-n]) & (position[n:] >= n)
        edges = np.diff(np.concatenate(([0], match)))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        long_runs = starts[(ends - starts) >= n * (need - 1)]
        hit = np.zeros(len(texts), dtype=bool)
        hit[text_of[long_runs]] = True
        found |= hit & eligible
    return found


# Below this many segments forking workers for the checks costs more than it saves.
PARALLEL_MIN_SEGMENTS = 4000
_FORK_JOB: tuple[Sequence[str], Sequence[str], str, Sequence[Sequence[str]] | None, CheckConfig] | None = None


def _fork_chunk(bounds: tuple[int, int]) -> list[list[str]]:
    """One worker's share: the flags of segments ``start:end`` (the job was set before the fork)."""
    assert _FORK_JOB is not None  # set by check_outputs in the parent before forking
    sources, outputs, target_lang, references, cfg = _FORK_JOB
    start, end = bounds
    part = _check_all(sources[start:end], outputs[start:end], target_lang,
                      None if references is None else references[start:end], cfg)
    return part.flags


def check_outputs(sources: Sequence[str], outputs: Sequence[str], *, target_lang: str,
                  references: Sequence[Sequence[str]] | None = None,
                  config: CheckConfig | dict[str, Any] | None = None, workers: int = 1) -> CheckResult:
    """Flag every segment of one system's outputs; counts per flag for the tables.

    Same flags as :func:`check_segment` on each segment, computed for the whole list at once. Every
    flag depends on its own segment only, so ``workers > 1`` splits large lists into contiguous chunks
    over forked processes (language ID is most of the time) and concatenates the flags in order.
    """
    cfg = make_config(config)
    if len(sources) != len(outputs):
        raise MtEvalError(f"checks: {len(outputs)} outputs for {len(sources)} source segments")
    if references is not None and len(references) != len(outputs):
        raise MtEvalError(f"checks: {len(references)} reference lists for {len(outputs)} outputs")
    if cfg.length_against == "reference" and references is None:
        raise MtEvalError("checks: length_against='reference' needs the references")
    if workers <= 1 or len(outputs) < PARALLEL_MIN_SEGMENTS or "fork" not in mp.get_all_start_methods():
        return _check_all(sources, outputs, target_lang, references, cfg)
    global _FORK_JOB
    bounds = np.linspace(0, len(outputs), workers + 1).astype(int).tolist()
    _FORK_JOB = (sources, list(outputs), target_lang, references, cfg)
    gc.freeze()  # children's collections skip the parent's heap (no copy-on-write of all of it)
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_fork_chunk, list(pairwise(bounds)))
    finally:
        gc.unfreeze()
        _FORK_JOB = None
    flags = [f for part in parts for f in part]
    order = [name for name in FLAGS if name in set(cfg.enabled)]
    counts = {name: sum(1 for f in flags if name in f) for name in order}
    return CheckResult(flags=flags, counts=counts)


def _check_all(sources: Sequence[str], outputs: Sequence[str], target_lang: str,
               references: Sequence[Sequence[str]] | None, cfg: CheckConfig) -> CheckResult:
    """:func:`check_outputs` in this process (inputs already validated)."""
    on = set(cfg.enabled)
    outputs = list(outputs)
    empty = [not out.strip() for out in outputs]
    live = [i for i, e in enumerate(empty) if not e]  # the other checks only look at non-empty outputs
    live_outputs = [outputs[i] for i in live]
    per_flag: dict[str, set[int]] = {name: set() for name in FLAGS}
    per_flag["empty"] = {i for i, e in enumerate(empty) if e}
    if "copy_of_source" in on:
        per_flag["copy_of_source"] = {i for i in live if sources[i].strip()
                                      and _norm(outputs[i]) == _norm(sources[i])}
    if "wrong_language" in on and target_lang:
        ok = is_language_many(live_outputs, target_lang, min_share=cfg.language_min_share)
        per_flag["wrong_language"] = {i for i, good in zip(live, ok, strict=True) if not good}
    if "length_ratio" in on:
        per_flag["length_ratio"] = {i for i in live if _length_flag(
            outputs[i], [sources[i]] if cfg.length_against == "source"
            else list(references[i]) if references is not None else [], cfg)}
    if "repetition" in on:
        loops = repetition_loops(live_outputs, max_n=cfg.repeat_max_n, min_count=cfg.repeat_min_count,
                                 unigram_min_count=cfg.repeat_unigram_min_count)
        per_flag["repetition"] = {i for i, loop in zip(live, loops.tolist(), strict=True) if loop}
    order = [name for name in FLAGS if name in on]
    flags = [[name for name in order if i in per_flag[name]] for i in range(len(outputs))]
    counts = {name: len(per_flag[name]) for name in order}
    return CheckResult(flags=flags, counts=counts)


def _length_flag(output: str, basis_texts: Sequence[str], cfg: CheckConfig) -> bool:
    """The ``length_ratio`` rule of :func:`check_segment`."""
    if not basis_texts:
        return False
    basis = sum(_length(t, cfg.length_unit) for t in basis_texts) / len(basis_texts)
    if basis < cfg.min_length:
        return False
    ratio = _length(output, cfg.length_unit) / basis
    return not cfg.min_length_ratio <= ratio <= cfg.max_length_ratio
