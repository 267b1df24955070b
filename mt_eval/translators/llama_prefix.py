"""Evaluate a prompt's fixed prefix once (``prefix_cache``): llama.cpp keeps its KV cache between segments.

Every prompt of a run starts with the same text (the translation header and few-shot examples; a judge's
system message and examples). :class:`PrefixCache` evaluates that prefix once and, before each segment,
truncates the KV cache back to it (``llama_memory_seq_rm``), so only the segment's own tokens are read.

The requirement is equality: a segment's logits, and so its output, must be bit-identical to evaluating
the whole prompt from an empty cache (``prefix_cache=false``: llama-cpp-python feeds the prompt to llama.cpp
in micro-batches of 512 tokens, ``[0, 512)``, ``[512, 1024)``, …). llama.cpp computes each token's row on its
own, but *which kernel* computes it depends on the micro-batch it is in (measured and read in llama.cpp's
CPU backend): a K-quant matmul takes its tiled kernel from 8 rows on and a vector dot product below; the
llamafile kernels (Q5_0, Q8_0, F16 attention) serve 2 rows or more; the repacked AVX2/ARM kernels work on
groups of 4 rows and AMX on 32; these round differently. So the reuse keeps every token in a micro-batch of
the same kind as in the one-piece evaluation:

- **Aligned reuse**: the reused length is a multiple of :data:`ALIGN` (32), so row groups line up.
- **The same micro-batches**: the rest of the prompt is evaluated in chunks cut at the one-piece
  evaluation's boundaries (multiples of 512), so its last micro-batch — the one whose last row gives the
  logits — is exactly the one-piece evaluation's; a chunk that differs from its one-piece counterpart has at
  least :data:`MIN_CHUNK` (32) rows, as its counterpart has (the reused length is lowered until it does).
- **A prefix evaluated as a prefix**: the cache keeps only positions evaluated by such chunks, never the
  previous segment's own or generated tokens.
- **An intact cache**: a sliding-window cache that ran out of cells (llama.cpp's ``swa_full=false``) drops
  the oldest positions; then ``llama_memory_seq_pos_min`` is above 0 and the prefix is evaluated again. The
  backend loads with ``swa_full=True`` (llama.cpp's default for a context), so Gemma's 800-token judge
  prefix, beyond its 512-token window, stays whole and is reused.

Measured on Gemma 3 270M (its 512-token sliding window included), with and without the repacked kernels, 1
and 2 threads: max |Δlogit| = 0 with these rules (``results/bench/llm_exactness.json``), up to 0.98 without
them — a reuse length that is not a multiple of 4, or a last micro-batch of 1 or 2 tokens evaluated inside a
larger one (``results/bench/llm.json``, ``exactness``; ``tests/translators/test_llama_prefix_cache.py``
compares translations and logits). Where exactness is not established it is not
attempted: layers on a GPU (its kernels choose by batch size too), recurrent or hybrid models (no partial
removal), a GGUF chat template (the judge then sends the formatted conversation as is), ``n_batch`` ≠
``n_ubatch``, and prompts that share fewer than :data:`ALIGN` tokens are evaluated in one piece as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

#: reused lengths are multiples of this (row groups: 4 for the repacked kernels, 32 for AMX)
ALIGN = 32
#: a chunk evaluated in a micro-batch other than the one-piece evaluation's has at least this many rows
MIN_CHUNK = 32


def common_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if diff.size else n


def chunks(start: int, end: int, ubatch: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` cut at the multiples of ``ubatch`` (the one-piece evaluation's boundaries)."""
    while start < end:
        stop = min(end, (start // ubatch + 1) * ubatch)
        yield start, stop
        start = stop


def reuse_length(n_tokens: int, shared: int, ubatch: int) -> int:
    """How many of a prompt's ``n_tokens`` tokens to reuse when ``shared`` of them are the fixed prefix."""
    reuse = min(shared, n_tokens - 1) // ALIGN * ALIGN
    while reuse > 0 and reuse % ubatch and min(n_tokens, (reuse // ubatch + 1) * ubatch) - reuse < MIN_CHUNK:
        reuse -= ALIGN
    return max(reuse, 0)


class PrefixCache:
    """Readies a ``llama_cpp.Llama`` for ``create_completion(prompt)``, reusing the cached fixed prefix.

    With reuse, :meth:`prepare` evaluates the whole prompt itself (see the module docstring), so
    llama-cpp-python's ``generate`` finds it cached and samples at once; without, it empties the cache and
    ``create_completion`` evaluates the prompt in one piece, exactly as before.
    """

    def __init__(self, llm: Any, *, enabled: bool = True) -> None:
        self.llm = llm
        self.enabled = enabled and self.supported(llm)
        #: tokens whose KV (positions 0..len-1) is in the cache and was evaluated as a prefix
        self.tokens: list[int] = []
        #: counters: prompt tokens evaluated (prefix evaluations included), prompt tokens reused
        self.evaluated = 0
        self.reused = 0
        self.prefix_evaluations = 0

    @staticmethod
    def supported(llm: Any) -> bool:
        """Exactness is established on the CPU for attention-only models (see the module docstring)."""
        if getattr(llm, "_is_recurrent", True) or getattr(llm, "_is_hybrid", True):
            return False
        params = getattr(llm, "context_params", None)
        if params is not None and getattr(params, "n_ubatch", 0) != getattr(llm, "n_batch", 0):
            return False
        params = getattr(llm, "model_params", None)
        if params is not None and int(getattr(params, "n_gpu_layers", 0) or 0) != 0:
            import llama_cpp

            return not llama_cpp.llama_supports_gpu_offload()
        return True

    def prompt_tokens(self, text: str) -> list[int]:
        """The tokens ``create_completion(text)`` evaluates (BOS, then the text with special tokens)."""
        llm = self.llm
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) if text else []
        model = llm._model
        bos = model.token_cls() if model.token_cls() != -1 else llm.token_bos()
        if model.add_bos_token() and bos != -1:
            tokens = [bos, *tokens]
        sep = model.token_sep()
        if model.add_eos_token() or sep != -1:  # as create_completion does
            tokens.append(sep if sep != -1 else llm.token_eos())
        return list(tokens)

    def invalidate(self) -> None:
        """Forget the cached prefix (after an error, or when the model was used another way)."""
        self.tokens = []

    def prepare(self, prompt: str, fixed: str) -> int:
        """Ready the model for ``create_completion(prompt)``; ``fixed`` is the prompt with its variable part
        empty (its shared tokens are the prefix). Returns how many prompt tokens were reused: 0 means the
        cache is empty and ``create_completion`` evaluates the prompt in one piece, as without the option."""
        return self.prepare_tokens(self.prompt_tokens(prompt), self.prompt_tokens(fixed))

    def prepare_tokens(self, tokens: list[int], fixed: list[int]) -> int:
        """:meth:`prepare` for token lists (``fixed``: the tokens of the fixed prefix)."""
        llm = self.llm
        reuse = reuse_length(len(tokens), common_length(tokens, fixed), llm.n_batch) if self.enabled else 0
        if reuse == 0:
            llm.reset()
            self.tokens = []
            self.evaluated += len(tokens)
            return 0
        have = 0
        if self.tokens and self._intact(len(self.tokens)):
            have = min(common_length(self.tokens, tokens),
                       common_length(llm.input_ids[:len(self.tokens)], tokens)) // ALIGN * ALIGN
            have = min(have, reuse)
        try:
            llm._ctx.kv_cache_seq_rm(-1, have, -1)
            llm.n_tokens = have
            if have < reuse:
                self.prefix_evaluations += 1
            self._evaluate(tokens, have, reuse)  # the missing part of the prefix
            self.tokens = tokens[:reuse]
            self._evaluate(tokens, reuse, len(tokens))  # the segment: the last chunk is the one-piece one
        except BaseException:
            self.invalidate()
            raise
        self.reused += have
        self.evaluated += len(tokens) - have
        return reuse

    def _evaluate(self, tokens: list[int], start: int, end: int) -> None:
        for a, b in chunks(start, end, self.llm.n_batch):
            self.llm.eval(tokens[a:b])

    def _intact(self, length: int) -> bool:
        """Whether the cache holds positions 0..length-1 (a sliding-window cache may have dropped some)."""
        first, last = self.positions()
        return first == 0 and last >= length - 1

    def positions(self) -> tuple[int, int]:
        """The smallest and largest position in the KV cache (-1, -1 when it is empty)."""
        import llama_cpp

        memory = llama_cpp.llama_get_memory(self.llm.ctx)
        if memory is None:
            return -1, -1
        return (int(llama_cpp.llama_memory_seq_pos_min(memory, 0)),
                int(llama_cpp.llama_memory_seq_pos_max(memory, 0)))

    def first_logits(self, prompt: str, fixed: str) -> np.ndarray:
        """The logits of the first generated token of ``prompt``, reached the way generation reaches them
        (for tests and measurements: compare with ``np.array_equal``)."""
        return self.first_logits_tokens(self.prompt_tokens(prompt), self.prompt_tokens(fixed))

    def first_logits_tokens(self, tokens: list[int], fixed: list[int]) -> np.ndarray:
        """:meth:`first_logits` for token lists."""
        import llama_cpp

        llm = self.llm
        if self.prepare_tokens(tokens, fixed) == 0:
            llm.eval(tokens)  # what create_completion does after a reset
        pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()
