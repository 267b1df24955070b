"""Outputs produced elsewhere: a plain-text file (one line per segment) or JSONL keyed by segment id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from mt_eval.errors import MtEvalError
from mt_eval.translators.base import Translator, TranslatorOptions, file_sha256

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet

_OUTPUT_KEYS = ("hypothesis", "translation", "output", "hyp")


def split_lines(text: str) -> list[str]:
    """Lines ended by ``\n`` (a final one optional, one ``\r`` before it dropped), and nothing else.

    ``str.splitlines`` also splits on U+2028, U+0085, form feeds and more, which may occur inside a
    segment; a hypothesis file is one segment per ``\n``-terminated line, as sacrebleu reads it.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


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

    def _format(self) -> str:
        fmt = str(getattr(self.options, "format", "auto"))
        if fmt not in ("auto", "text", "jsonl"):
            raise MtEvalError(f"file:{self.path}: format must be auto, text or jsonl, not {fmt!r}")
        if fmt == "auto":
            return "jsonl" if self.path.suffix.lower() in (".jsonl", ".ndjson") else "text"
        return fmt

    def bind(self, testset: TestSet) -> None:
        self._ids = testset.ids

    def _check_file(self) -> None:
        """Refuse folders, FIFOs and devices before opening (reading a FIFO would block for ever)."""
        if not self.path.exists():
            raise MtEvalError(f"file:{self.path}: not found")
        if not self.path.is_file():
            raise MtEvalError(f"file:{self.path}: not a regular file")

    def _read(self) -> str:
        self._check_file()
        try:
            with open(self.path, encoding="utf-8", newline="") as handle:  # no universal-newline rewriting
                return handle.read()
        except FileNotFoundError:
            raise MtEvalError(f"file:{self.path}: not found") from None
        except UnicodeDecodeError as exc:
            raise MtEvalError(f"file:{self.path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise MtEvalError(f"file:{self.path}: cannot read ({exc.strerror or exc})") from None

    def translate(self, sources: Sequence[str]) -> list[str]:
        text = self._read()
        if self._format() == "text":
            lines = split_lines(text)
            if len(lines) != len(sources):
                raise MtEvalError(
                    f"file:{self.path}: {len(lines)} lines but the test set has {len(sources)} segments"
                )
            return lines
        by_id: dict[str, str] = {}
        for lineno, line in enumerate(split_lines(text), 1):
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
                    f"file:{self.path}:{lineno}: expected a JSON object with 'id' and one of "
                    f"{', '.join(_OUTPUT_KEYS)}"
                ) from None
            if seg_id in by_id:
                raise MtEvalError(f"file:{self.path}:{lineno}: duplicate id {seg_id!r}")
            if not isinstance(output, str):
                raise MtEvalError(f"file:{self.path}:{lineno}: the output of id {seg_id!r} is "
                                  f"{'null' if output is None else type(output).__name__}, not text")
            by_id[seg_id] = output
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
        self._check_file()
        return {"backend": "file", "path": str(self.path), "sha256": file_sha256(self.path),
                "format": self._format()}
