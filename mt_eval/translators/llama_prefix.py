"""Evaluate a prompt's fixed prefix once (``prefix_cache``): llama.cpp keeps its KV cache between segments.

Every prompt of a run starts with the same text (the translation header and few-shot examples; a judge's
system message and examples). :class:`PrefixCache` evaluates that prefix once and, before each segment,
truncates the KV cache back to it (``llama_memory_seq_rm``), so only the segment's own tokens are read.

The requirement is equality: a segment's logits, and so its output, must be bit-identical to evaluating
the whole prompt from an empty cache (``prefix_cache=false``), whatever ran before it. Truncation gives that
because llama.cpp computes each token's row of every operation on its own, with three conditions this class
keeps:

- **Aligned reuse.** The CPU matmul kernels group a batch's tokens (4 rows for the repacked AVX2/ARM kernels,
  32 for AMX) and may round a partial group differently from a full one. A one-piece evaluation groups from
  position 0 (its micro-batches are 512 tokens); the reused length is a multiple of :data:`ALIGN`, so every
  token lands in the same group either way.
- **A prefix evaluated as a prefix.** Only positions evaluated by a batch that started at 0 or at an aligned
  reuse point are kept: never the previous segment's own tokens or generated tokens (those were computed one
  row at a time).
- **An intact cache.** A sliding-window cache that ran out of cells (llama.cpp's ``swa_full=false``) drops
  the oldest positions; then ``llama_memory_seq_pos_min`` is above 0 and the prefix is evaluated again.

Where exactness is not established it is not attempted: with layers on a GPU (its kernels pick an algorithm
by batch size), for recurrent or hybrid models (no partial removal), for a GGUF chat template (the judge then
sends the formatted conversation as is), and for prompts whose shared part is shorter than :data:`ALIGN`,
every prompt is evaluated in one piece as before. Measured on Gemma 3 270M (its 512-token sliding window
included): max |Δlogit| = 0 for aligned reuse; ``tests/translators/test_llama_prefix_cache.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: reused lengths are multiples of this (the largest row group of llama.cpp's CPU matmul kernels: AMX's 32)
ALIGN = 32


def common_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if diff.size else n


class PrefixCache:
    """Prepares a ``llama_cpp.Llama`` for ``create_completion(prompt)``, reusing the cached fixed prefix.

    :meth:`prepare` leaves the model with ``n_tokens`` = the reused length and the KV cache holding exactly
    those positions; llama-cpp-python's ``generate`` then evaluates only the rest of the prompt (it keeps
    the longest common prefix of ``input_ids[:n_tokens]`` and the prompt, which is that length).
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
        empty (its shared tokens are the prefix). Returns how many prompt tokens are reused (0: one piece)."""
        tokens = self.prompt_tokens(prompt)
        if not self.enabled:
            return self._one_piece(tokens)
        shared = common_length(tokens, self.prompt_tokens(fixed))
        reuse = min(shared, len(tokens) - 1) // ALIGN * ALIGN
        if reuse == 0:
            return self._one_piece(tokens)
        llm = self.llm
        if (len(self.tokens) < reuse or common_length(self.tokens, tokens) < reuse or not self._intact(reuse)
                or common_length(llm.input_ids[:reuse].tolist(), tokens) < reuse):
            llm.reset()
            self.tokens = []
            llm.eval(tokens[:reuse])
            self.prefix_evaluations += 1
            self.evaluated += reuse
        else:
            llm._ctx.kv_cache_seq_rm(-1, reuse, -1)
            llm.n_tokens = reuse
            self.reused += reuse
        self.tokens = tokens[:reuse]
        self.evaluated += len(tokens) - reuse
        return reuse

    def _one_piece(self, tokens: list[int]) -> int:
        self.llm.reset()
        self.tokens = []
        self.evaluated += len(tokens)
        return 0

    def _intact(self, reuse: int) -> bool:
        """Whether the cache holds positions 0..reuse-1 (a sliding-window cache may have dropped some)."""
        first, last = self.positions()
        return first == 0 and last >= reuse - 1

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
        import llama_cpp

        llm = self.llm
        reuse = self.prepare(prompt, fixed)
        tokens = self.prompt_tokens(prompt)
        try:
            llm.eval(tokens[reuse:])
        except BaseException:
            self.invalidate()
            raise
        pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()
