"""Hugging Face seq2seq translators: MarianMT (``marian``) and NLLB/M2M100/mBART (``hf-seq2seq``).

The model is loaded on the first batch, so a rerun served entirely from the cache loads nothing.
Offline, a hub id that is not in the local cache becomes ``SystemUnavailable`` with what to do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

from pydantic import Field

from mt_eval.errors import MtEvalError, SystemUnavailable
from mt_eval.translators.base import TokenizerTranslator, TranslatorOptions, folder_hash, library_version


class HFOptions(TranslatorOptions):
    batch_size: int = Field(16, ge=1, le=100_000, description="segments per batch")
    beam_size: int = Field(1, ge=1, le=64, description="1 = greedy")
    max_length: int = Field(256, ge=1, le=65_536,
                            description="input cap and new-token cap (cut segments are reported)")
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="where to run")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field("float32", description="weights dtype")
    threads: int | None = Field(None, ge=1, le=1024, description="torch CPU threads (default: all cores)")
    revision: str | None = Field(None, description="hub revision (commit, tag or branch)")
    src_lang: str | None = Field(None, description="source language code (NLLB/M2M100/mBART)")
    tgt_lang: str | None = Field(None, description="target language code, forced as first token")


def resolve_model(model: str, revision: str | None = None) -> tuple[Path, str]:
    """A local folder or a hub id -> (folder, revision): a content hash or the hub commit hash."""
    local = Path(model).expanduser()
    if local.is_dir():
        return local, "sha256:" + folder_hash(local)
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise SystemUnavailable(f"model folder {model} not found")
    from mt_eval.translators.base import hub_snapshot

    folder = hub_snapshot(model, revision, ["*.json", "*.safetensors", "*.model", "*.spm", "*.txt",
                                            "pytorch_model.bin"],
                          f"model {model!r} is not in the local Hugging Face cache; on a machine with network"
                          f" run `hf download {model}` (or pass a local model folder)", SystemUnavailable)
    return folder, folder.name if folder.parent.name == "snapshots" else "sha256:" + folder_hash(folder)


class HFSeq2SeqTranslator(TokenizerTranslator):
    """AutoModelForSeq2SeqLM + AutoTokenizer, greedy or beam search, batch-first."""

    backend: ClassVar[str] = "hf-seq2seq"
    Options: ClassVar[type[TranslatorOptions]] = HFOptions

    def __init__(self, target: str, options: TranslatorOptions | None = None, **kwargs: Any) -> None:
        super().__init__(target, options, **kwargs)
        if not target:
            raise MtEvalError(f"system {self.backend!r}: needs a model id or folder, e.g. "
                              f"{self.backend}:Helsinki-NLP/opus-mt-ar-en")
        self._folder: Path | None = None
        self._revision: str | None = None
        self._model: Any = None
        self._forced_bos: int | None = None

    @property
    def opts(self) -> HFOptions:
        return cast(HFOptions, self.options)

    def _resolve(self) -> tuple[Path, str]:
        if self._folder is None or self._revision is None:
            self._folder, self._revision = resolve_model(self.target, self.opts.revision)
        return self._folder, self._revision

    def load(self) -> None:
        """Load tokenizer and model (once)."""
        if self._model is not None:
            return
        try:
            import torch
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as exc:
            raise SystemUnavailable(f"{self.backend}: {exc}; pip install 'mt-eval[hf]'") from None
        folder, _ = self._resolve()
        o = self.opts
        torch.set_num_threads(o.threads or os.cpu_count() or 1)
        device = o.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = {"auto": "auto", "float32": torch.float32, "float16": torch.float16,
                 "bfloat16": torch.bfloat16}[o.dtype]
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModelForSeq2SeqLM.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
        except (OSError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            where = f"{self.backend}:{self.target}"
            raise SystemUnavailable(f"{where}: cannot load the model ({first})") from None
        model.to(device).eval()
        if o.src_lang:
            tokenizer.src_lang = o.src_lang
        if o.tgt_lang:
            get_lang_id = getattr(tokenizer, "get_lang_id", None)
            lang_id: Any = (get_lang_id(o.tgt_lang) if callable(get_lang_id)
                            else tokenizer.convert_tokens_to_ids(o.tgt_lang))
            self._forced_bos = int(lang_id)
        self._tokenizer, self._model, self._device = tokenizer, model, device
        self.model_loads += 1

    def translate(self, sources: Sequence[str]) -> list[str]:
        if not sources:
            return []
        import torch

        self.load()
        o = self.opts
        lengths = [len(ids) for ids in self._tokenizer(list(sources))["input_ids"]]
        enc = self._tokenizer(list(sources), return_tensors="pt", padding=True, truncation=True,
                              max_length=o.max_length).to(self._device)
        kwargs: dict[str, Any] = {"num_beams": o.beam_size, "do_sample": False,
                                  "max_new_tokens": o.max_length}
        if self._forced_bos is not None:
            kwargs["forced_bos_token_id"] = self._forced_bos
        with torch.inference_mode():
            generated = self._model.generate(**enc, **kwargs)
        special = set(self._tokenizer.all_special_ids)
        rows = [row.tolist() for row in generated]
        self.last_output_tokens = [sum(1 for t in row if t not in special) for row in rows]
        eos = self._model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        pad = self._tokenizer.pad_token_id
        truncated = []
        for n_in, row in zip(lengths, rows, strict=True):
            body = [t for t in row[1:] if t != pad] if pad not in eos_ids else row[1:]
            # stopped by the cap: max_length new tokens and the last one is not an end token
            cut_output = len(body) >= o.max_length and (not body or body[-1] not in eos_ids)
            cut_input = n_in > o.max_length
            truncated.append("+".join(r for r, on in (("input", cut_input), ("output", cut_output)) if on))
        self.last_truncated = truncated
        return [t.strip() for t in self._tokenizer.batch_decode(generated, skip_special_tokens=True)]

    def signature(self) -> dict[str, Any]:
        _, revision = self._resolve()
        o = self.opts
        return {
            "backend": self.backend,
            "model": self.target,
            "revision": revision,
            "beam_size": o.beam_size,
            "max_length": o.max_length,
            "dtype": o.dtype,
            "src_lang": o.src_lang,
            "tgt_lang": o.tgt_lang,
            "versions": {"transformers": library_version("transformers"), "torch": library_version("torch")},
        }

    def environment(self) -> dict[str, Any]:
        o = self.opts
        return {**super().environment(), "device": getattr(self, "_device", o.device), "dtype": o.dtype,
                "threads": o.threads or os.cpu_count()}

    def close(self) -> None:
        self._model = None
        self._tokenizer = None


class MarianTranslator(HFSeq2SeqTranslator):
    """MarianMT (OPUS-MT): one language pair per model, no language codes needed."""

    backend: ClassVar[str] = "marian"
