"""Outputs produced elsewhere: a plain-text file (one line per segment) or JSONL keyed by segment id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mt_eval.errors import MtEvalError
from mt_eval.translators.base import Translator, TranslatorOptions, file_sha256

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet

_OUTPUT_KEYS = ("hypothesis", "translation", "output", "hyp")


class FileOptions(TranslatorOptions):
    format: str = "auto"  # auto | text | jsonl


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

    def _format(self) -> str:
        fmt = str(getattr(self.options, "format", "auto"))
        if fmt not in ("auto", "text", "jsonl"):
            raise MtEvalError(f"file:{self.path}: format must be auto, text or jsonl, not {fmt!r}")
        if fmt == "auto":
            return "jsonl" if self.path.suffix.lower() in (".jsonl", ".ndjson") else "text"
        return fmt

    def bind(self, testset: TestSet) -> None:
        self._ids = testset.ids

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MtEvalError(f"file:{self.path}: not found") from None
        except UnicodeDecodeError as exc:
            raise MtEvalError(f"file:{self.path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None

    def translate(self, sources: Sequence[str]) -> list[str]:
        text = self._read()
        if self._format() == "text":
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            lines = [line.rstrip("\r") for line in lines]
            if len(lines) != len(sources):
                raise MtEvalError(
                    f"file:{self.path}: {len(lines)} lines but the test set has {len(sources)} segments"
                )
            return lines
        by_id: dict[str, str] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                seg_id = str(obj["id"])
                output = next(obj[k] for k in _OUTPUT_KEYS if k in obj)
            except (ValueError, KeyError, TypeError, StopIteration):
                raise MtEvalError(
                    f"file:{self.path}:{lineno}: expected a JSON object with 'id' and one of "
                    f"{', '.join(_OUTPUT_KEYS)}"
                ) from None
            if seg_id in by_id:
                raise MtEvalError(f"file:{self.path}:{lineno}: duplicate id {seg_id!r}")
            by_id[seg_id] = str(output)
        ids = self._ids if self._ids is not None else [str(i) for i in range(1, len(sources) + 1)]
        if len(ids) != len(sources):
            raise MtEvalError(f"file:{self.path}: bound test set does not match the sources given")
        missing = [i for i in ids if i not in by_id]
        extra = sorted(set(by_id) - set(ids))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"{len(missing)} test-set ids missing (first: {missing[0]!r})")
            if extra:
                parts.append(f"{len(extra)} ids not in the test set (first: {extra[0]!r})")
            raise MtEvalError(f"file:{self.path}: " + "; ".join(parts))
        return [by_id[i] for i in ids]

    def signature(self) -> dict[str, Any]:
        if not self.path.is_file():
            raise MtEvalError(f"file:{self.path}: not found")
        return {"backend": "file", "path": str(self.path), "sha256": file_sha256(self.path),
                "format": self._format()}
