"""CTranslate2 translators (``ct2``) and the converter behind ``mt-eval convert``.

A converted model folder holds ``model.bin`` plus the tokenizer files (``convert_model`` saves
them there); the tokenizer can also be named with the ``tokenizer`` option.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

from pydantic import Field

from mt_eval.errors import MtEvalError, SystemUnavailable
from mt_eval.translators.base import TokenizerTranslator, TranslatorOptions, folder_hash, library_version


class CT2Options(TranslatorOptions):
    batch_size: int = Field(16, ge=1, le=100_000, description="segments per batch")
    beam_size: int = Field(1, ge=1, le=64, description="1 = greedy")
    max_length: int = Field(256, ge=1, le=65_536,
                            description="input and output cap in tokens (cut segments are reported)")
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="where to run")
    compute_type: str = Field("default", description="CTranslate2 compute type (int8, float16, ...)")
    threads: int = Field(0, ge=0, le=1024, description="intra-op threads; 0 = CTranslate2's default")
    tokenizer: str | None = Field(None, description="tokenizer folder (default: the model folder)")
    src_lang: str | None = Field(None, description="source language token (NLLB/M2M100)")
    tgt_lang: str | None = Field(None, description="target language token, forced as first output token")


class CTranslate2Translator(TokenizerTranslator):
    """``ctranslate2.Translator`` over a converted folder; greedy output matches transformers'."""

    backend: ClassVar[str] = "ct2"
    Options: ClassVar[type[TranslatorOptions]] = CT2Options

    def __init__(self, target: str, options: TranslatorOptions | None = None, **kwargs: Any) -> None:
        super().__init__(target, options, **kwargs)
        self.folder = Path(target).expanduser()
        if not target:
            raise MtEvalError("system 'ct2': needs a converted model folder, e.g. ct2:/models/opus-ar-en-ct2")
        self._translator: Any = None
        self._revision: str | None = None

    @property
    def opts(self) -> CT2Options:
        return cast(CT2Options, self.options)

    def _check_folder(self) -> None:
        if not (self.folder / "model.bin").is_file():
            raise SystemUnavailable(
                f"ct2:{self.folder}: no converted model there (model.bin missing); "
                f"create it with `mt-eval convert MODEL -o {self.folder}`"
            )

    def load(self) -> None:
        if self._translator is not None:
            return
        self._check_folder()
        try:
            import ctranslate2
            from transformers import AutoTokenizer
        except ImportError as exc:
            raise SystemUnavailable(f"ct2: {exc}; pip install 'mt-eval[ct2]'") from None
        o = self.opts
        device = o.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        tok_source = o.tokenizer or str(self.folder)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(tok_source, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise SystemUnavailable(f"ct2:{self.folder}: cannot load tokenizer from {tok_source} "
                                    f"({str(exc).splitlines()[0]}); pass --opt tokenizer=PATH") from None
        if o.src_lang:
            self._tokenizer.src_lang = o.src_lang
        self._translator = ctranslate2.Translator(str(self.folder), device=device,
                                                  compute_type=o.compute_type,
                                                  inter_threads=1, intra_threads=o.threads)
        self.model_loads += 1

    def translate(self, sources: Sequence[str]) -> list[str]:
        if not sources:
            return []
        self.load()
        o = self.opts
        tok = self._tokenizer
        encoded = [tok(s)["input_ids"] for s in sources]
        cut_input = [len(ids) > o.max_length for ids in encoded]
        batch = [tok.convert_ids_to_tokens(tok(s, truncation=True, max_length=o.max_length)["input_ids"]
                                           if cut else ids)
                 for s, ids, cut in zip(sources, encoded, cut_input, strict=True)]
        prefix = [[o.tgt_lang] for _ in sources] if o.tgt_lang else None
        results = self._translator.translate_batch(batch, beam_size=o.beam_size, max_batch_size=o.batch_size,
                                                   max_decoding_length=o.max_length, target_prefix=prefix)
        outputs = []
        counts = []
        truncated = []
        for res, cut in zip(results, cut_input, strict=True):
            tokens = res.hypotheses[0]
            counts.append(len(tokens))
            # the hypothesis holds no end token: reaching the cap means decoding was stopped there
            cut_output = len(tokens) >= o.max_length
            truncated.append("+".join(r for r, on in (("input", cut), ("output", cut_output)) if on))
            if o.tgt_lang and tokens and tokens[0] == o.tgt_lang:
                tokens = tokens[1:]
            ids = tok.convert_tokens_to_ids(tokens)
            outputs.append(tok.decode(ids, skip_special_tokens=True).strip())
        self.last_output_tokens = counts
        self.last_truncated = truncated
        return outputs

    def signature(self) -> dict[str, Any]:
        self._check_folder()
        if self._revision is None:
            self._revision = "sha256:" + folder_hash(self.folder)
        o = self.opts
        return {
            "backend": "ct2",
            "model": str(self.folder),
            "revision": self._revision,
            "tokenizer": o.tokenizer,
            "beam_size": o.beam_size,
            "max_length": o.max_length,
            "compute_type": o.compute_type,
            "device": o.device,
            "src_lang": o.src_lang,
            "tgt_lang": o.tgt_lang,
            "versions": {"ctranslate2": library_version("ctranslate2"),
                         "transformers": library_version("transformers")},
        }

    def environment(self) -> dict[str, Any]:
        o = self.opts
        return {**super().environment(), "device": o.device, "compute_type": o.compute_type,
                "threads": o.threads}

    def close(self) -> None:
        self._translator = None


def convert_model(model: str, output_dir: str | os.PathLike[str], *, quantization: str | None = None,
                  force: bool = False) -> Path:
    """Convert a transformers Marian/NLLB/M2M100 model (folder or cached hub id) to CTranslate2.

    The tokenizer is saved next to ``model.bin`` so ``ct2:OUTPUT_DIR`` needs nothing else.
    """
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise MtEvalError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise MtEvalError(f"{out}: exists and is not empty; use --force to overwrite")
    try:
        from ctranslate2.converters import TransformersConverter
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise SystemUnavailable(f"convert: {exc}; pip install 'mt-eval[ct2]'") from None
    from mt_eval.fsio import atomic_directory
    from mt_eval.translators.hf_seq2seq import resolve_model

    folder, _ = resolve_model(model)
    try:
        with atomic_directory(out) as staging:  # a killed conversion leaves the old folder, not half a model
            TransformersConverter(str(folder)).convert(str(staging), quantization=quantization, force=True)
            AutoTokenizer.from_pretrained(str(folder), local_files_only=True).save_pretrained(str(staging))
            mask = os.umask(0)
            os.umask(mask)
            staging.chmod(0o777 & ~mask)  # mkdtemp made it private
    except (OSError, ValueError, NotImplementedError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MtEvalError(f"convert {model}: {first}") from None
    return out
