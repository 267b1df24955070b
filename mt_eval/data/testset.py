"""The versioned test set every other part of mt-eval evaluates against.

A :class:`TestSet` is an immutable, ordered list of :class:`Segment` s. Each segment carries its own
list of references, so references can never be transposed the way parallel reference streams can.
The content hash (sha256 over a canonical JSON of the content) identifies the test set in every
score signature, baseline file and cache key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mt_eval.errors import MtEvalError
from mt_eval.fsio import (
    atomic_directory,
    check_input_folder,
    check_output_folder,
    dumps_json,
    read_input_text,
    split_text_lines,
    write_lines,
)

TESTSET_FILE = "testset.jsonl"
MANIFEST_FILE = "manifest.json"
SCHEMA_VERSION = 1


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Segment:
    """One test item: a source text and one or more references in the target language."""

    id: str
    source: str
    references: tuple[str, ...]
    doc_id: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.references, str):
            raise TypeError("Segment.references must be a sequence of strings, not a string")
        object.__setattr__(self, "references", tuple(self.references))
        object.__setattr__(self, "meta", _freeze(self.meta))
        if not self.references:
            raise ValueError(f"segment {self.id!r} has no reference")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc_id": self.doc_id,
            "source": self.source,
            "references": list(self.references),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Segment:
        if not isinstance(obj, Mapping):
            raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
        refs = obj["references"]
        if not isinstance(obj["source"], str):
            raise TypeError("field 'source' is not a string")
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise TypeError("field 'references' is not a list of strings")
        if not isinstance(obj.get("doc_id", ""), str) or not isinstance(obj.get("meta", {}), Mapping):
            raise TypeError("field 'doc_id' or 'meta' has the wrong type")
        return cls(
            id=str(obj["id"]),
            source=obj["source"],
            references=tuple(obj["references"]),
            doc_id=obj.get("doc_id", ""),
            meta=obj.get("meta", {}),
        )


@dataclass(frozen=True)
class TestSet:
    """An immutable, ordered, hashed collection of segments in one language direction."""

    __test__ = False  # not a pytest test class

    segments: tuple[Segment, ...]
    source_lang: str
    target_lang: str
    name: str = ""
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.segments))
        object.__setattr__(self, "provenance", _freeze(self.provenance))
        seen: set[str] = set()
        for segment in self.segments:
            if segment.id in seen:
                raise MtEvalError(f"test set {self.name or '<unnamed>'}: duplicate segment id {segment.id!r}")
            seen.add(segment.id)

    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.segments)

    @property
    def sources(self) -> list[str]:
        return [s.source for s in self.segments]

    @property
    def references(self) -> list[list[str]]:
        """Per-segment reference lists (``references[i]`` belongs to ``segments[i]``)."""
        return [list(s.references) for s in self.segments]

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.segments]

    @property
    def num_refs(self) -> int:
        return max((len(s.references) for s in self.segments), default=0)

    def reference_streams(self) -> list[list[str]]:
        """sacrebleu's layout (one list per reference position); missing references are ``""``."""
        return [[s.references[k] if k < len(s.references) else "" for s in self.segments]
                for k in range(self.num_refs)]

    @cached_property
    def content_hash(self) -> str:
        """sha256 over a canonical JSON of the languages and every segment's id, doc, source, references."""
        canonical = {
            "source_lang": self.source_lang,
            "target_lang": self.target_lang,
            "segments": [[s.id, s.doc_id, s.source, list(s.references)] for s in self.segments],
        }
        blob = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]

    # ------------------------------------------------------------------ persistence
    def manifest(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        manifest: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "hash": self.content_hash,
            "source_lang": self.source_lang,
            "target_lang": self.target_lang,
            "counts": {
                "segments": len(self.segments),
                "documents": len({s.doc_id for s in self.segments}),
                "references_per_segment": self.num_refs,
            },
            "provenance": dict(self.provenance),
        }
        if extra:
            manifest.update(extra)
        return manifest

    def save(self, directory: str | Path, *, manifest_extra: Mapping[str, Any] | None = None,
             force: bool = False) -> Path:
        """Write ``testset.jsonl``, ``source.<src>``, ``reference[-k].<tgt>`` and ``manifest.json``.

        The folder is replaced atomically. A folder that already holds a *different* test set is
        refused unless ``force``; rewriting the same test set is allowed.
        """
        target = check_output_folder(directory, "-o folder")
        if target.exists() and any(target.iterdir()):
            existing = target / MANIFEST_FILE
            try:
                old = json.loads(read_input_text(existing, "manifest")) if existing.exists() else None
            except (MtEvalError, ValueError):
                old = {}
            if old is None:
                raise MtEvalError(f"{directory}: exists, is not empty and is not a test set folder;"
                                  " choose another -o")
            old_hash = old.get("hash") if isinstance(old, dict) else None
            if old_hash != self.content_hash and not force:
                raise MtEvalError(
                    f"{directory}: already holds a different test set"
                    f" (hash {str(old_hash)[:12]} != {self.short_hash}); use --force to replace it"
                )
        with atomic_directory(target) as staging:
            lines = [json.dumps(s.to_json(), ensure_ascii=False) for s in self.segments]
            (staging / TESTSET_FILE).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
            write_lines(staging / f"source.{self.source_lang}", [one_line(s) for s in self.sources])
            for k, stream in enumerate(self.reference_streams()):
                name = f"reference.{self.target_lang}" if k == 0 else f"reference-{k + 1}.{self.target_lang}"
                write_lines(staging / name, [one_line(r) for r in stream])
            (staging / MANIFEST_FILE).write_text(dumps_json(self.manifest(manifest_extra)), encoding="utf-8")
        return target

    @classmethod
    def load(cls, directory: str | Path) -> TestSet:
        """Read a folder written by :meth:`save` and check its content against the manifest hash."""
        folder = check_input_folder(directory, "test set folder")
        manifest_path = folder / MANIFEST_FILE
        data_path = folder / TESTSET_FILE
        if not manifest_path.exists() or not data_path.exists():
            raise MtEvalError(f"{folder}: not a test set folder (needs {MANIFEST_FILE} and {TESTSET_FILE})")
        manifest = TestSet.read_manifest(folder)
        segments = []
        for lineno, line in enumerate(split_text_lines(read_input_text(data_path, "test set file")), 1):
            if not line.strip():
                continue
            try:
                segments.append(Segment.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise MtEvalError(f"{data_path}:{lineno}: malformed segment ({type(exc).__name__}: {exc})"
                                  ) from None
        if not segments:
            raise MtEvalError(f"{data_path}: no segments")
        testset = cls(
            segments=tuple(segments),
            source_lang=manifest["source_lang"],
            target_lang=manifest["target_lang"],
            name=manifest.get("name", ""),
            provenance=manifest.get("provenance", {}),
        )
        if manifest.get("hash") and manifest["hash"] != testset.content_hash:
            raise MtEvalError(
                f"{folder}: content hash {testset.short_hash} does not match manifest"
                f" {manifest['hash'][:12]} (the files were edited by hand?)"
            )
        return testset

    @staticmethod
    def read_manifest(directory: str | Path) -> dict[str, Any]:
        """``manifest.json``, checked to be an object with the fields a test set needs."""
        path = Path(directory) / MANIFEST_FILE
        if not path.exists() and not path.is_symlink():
            raise MtEvalError(f"{path}: not found")
        text = read_input_text(path, "manifest")
        try:
            manifest = json.loads(text)
        except ValueError as exc:
            raise MtEvalError(f"{path}: malformed JSON ({exc})") from None
        if not isinstance(manifest, dict):
            raise MtEvalError(f"{path}: malformed manifest (not a JSON object)")
        for key in ("source_lang", "target_lang"):
            if not isinstance(manifest.get(key), str) or not manifest[key]:
                raise MtEvalError(f"{path}: malformed manifest (field {key!r} missing or not a string)")
        for key, kind in (("name", str), ("hash", str), ("provenance", dict), ("counts", dict),
                          ("rejects", list), ("normalisation", dict)):
            if key in manifest and not isinstance(manifest[key], kind):
                expected = "an object" if kind is dict else f"a {kind.__name__}"
                raise MtEvalError(f"{path}: malformed manifest (field {key!r} is not {expected})")
        return manifest  # type: ignore[no-any-return]

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, Sequence[str]]], *, source_lang: str, target_lang: str,
                   name: str = "", doc_id: str = "", provenance: Mapping[str, Any] | None = None) -> TestSet:
        """Convenience constructor: ids are 1-based line numbers."""
        segments = [Segment(id=str(i), source=src, references=tuple(refs), doc_id=doc_id)
                    for i, (src, refs) in enumerate(pairs, 1)]
        return cls(segments=tuple(segments), source_lang=source_lang, target_lang=target_lang,
                   name=name, provenance=provenance or {})


def one_line(text: str) -> str:
    """Plain-text files hold one segment per line; an internal line break becomes a space."""
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text
