"""Outputs produced elsewhere: a plain-text file (one line per segment) or JSONL keyed by segment id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from pydantic import Field

from mt_eval.errors import MtEvalError
from mt_eval.fsio import decode_text, read_input_bytes, split_text_lines
from mt_eval.translators.base import Translator, TranslatorOptions

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet

_OUTPUT_KEYS = ("hypothesis", "translation", "output", "hyp")


class FileOptions(TranslatorOptions):
    format: Literal["auto", "text", "jsonl"] = Field(
        "auto", description="auto: .jsonl/.ndjson are JSONL, anything else one line per segment")


class FileTranslator(Translator):
    """Reads hypotheses from ``file:PATH``; a count or id mismatch with the test set is an error."""

    backend: ClassVar[str] = "file"
    Options: ClassVar[type[TranslatorOptions]] = FileOptions
    cacheable: ClassVar[bool] = False

    def __init__(self, target: str, options: TranslatorOptions | None = None, **kwargs: Any) -> None:
        super().__init__(target, options, **kwargs)
        if not target:
            raise MtEvalError("system 'file': needs a path, e.g. file:outputs/sysA.txt")
        self.path = Path(target)
        self._ids: list[str] | None = None
        self._data: bytes | None = None
        #: how messages name the file: the system spec; ``score --hyp`` sets the plain path
        self.where = f"file:{self.path}"

    def _format(self) -> str:
        fmt = cast(FileOptions, self.options).format
        if fmt == "auto":
            return "jsonl" if self.path.suffix.lower() in (".jsonl", ".ndjson") else "text"
        return fmt

    def bind(self, testset: TestSet) -> None:
        self._ids = testset.ids

    def _bytes(self) -> bytes:
        """The file's bytes, read once (the signature hashes exactly what is scored).

        The project's one input reader (:func:`mt_eval.fsio.read_input_bytes`) refuses folders, FIFOs and
        devices before opening, so a FIFO never blocks; its message is prefixed with ``file:``.
        """
        if self._data is None:
            try:
                self._data = read_input_bytes(self.path, "hypothesis file")
            except MtEvalError as exc:
                text = str(exc)
                detail = text[len(str(self.path)) + 2:] if text.startswith(f"{self.path}: ") else text
                if detail.startswith("is "):  # a folder, a FIFO, a device
                    detail = f"not a regular file ({detail})"
                raise MtEvalError(f"{self.where}: {detail}") from None
        return self._data

    def translate(self, sources: Sequence[str]) -> list[str]:
        # strict UTF-8 (a BOM dropped), lines split at ``\n`` only (never U+2028/U+0085) as sacrebleu does;
        # a bad byte or a NUL names the line, as every reader does
        text = decode_text(self._bytes(), self.where)
        if self._format() == "text":
            lines = split_text_lines(text)
            if len(lines) != len(sources):
                raise MtEvalError(
                    f"{self.where}: {len(lines)} lines but the test set has {len(sources)} segments"
                )
            return lines
        by_id: dict[str, str] = {}
        for lineno, line in enumerate(split_text_lines(text), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise TypeError
                seg_id = str(obj["id"])
                output = next(obj[k] for k in _OUTPUT_KEYS if k in obj)
            except (ValueError, KeyError, TypeError, StopIteration):
                raise MtEvalError(
                    f"{self.where}:{lineno}: expected a JSON object with 'id' and one of "
                    f"{', '.join(_OUTPUT_KEYS)}"
                ) from None
            if seg_id in by_id:
                raise MtEvalError(f"{self.where}:{lineno}: duplicate id {seg_id!r}")
            if not isinstance(output, str):
                raise MtEvalError(f"{self.where}:{lineno}: the output of id {seg_id!r} is "
                                  f"{'null' if output is None else type(output).__name__}, not text")
            by_id[seg_id] = output
        ids = self._ids if self._ids is not None else [str(i) for i in range(1, len(sources) + 1)]
        if len(ids) != len(sources):
            raise MtEvalError(f"{self.where}: bound test set does not match the sources given")
        missing = [i for i in ids if i not in by_id]
        extra = sorted(set(by_id) - set(ids))
        problems = [f"{len(missing)} test-set ids missing (first: {missing[0]!r})"] if missing else []
        problems += [f"{len(extra)} ids not in the test set (first: {extra[0]!r})"] if extra else []
        if problems:
            raise MtEvalError(f"{self.where}: " + "; ".join(problems))
        return [by_id[i] for i in ids]

    def signature(self) -> dict[str, Any]:
        """The identity is the content (sha256 of the file's bytes) and how it is read, never the
        path: the same outputs moved or renamed compare equal in the gate and in caches."""
        return {"backend": "file", "sha256": hashlib.sha256(self._bytes()).hexdigest(),
                "format": self._format()}
