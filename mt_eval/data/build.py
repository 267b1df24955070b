"""Build a test set from bilingual documents: each file holds a source block and its translation.

A document is a block of source-language lines followed (or preceded) by the same paragraphs in the
target language. The builder finds the blocks by language ID, aligns them with the Gale–Church aligner
(:mod:`mt_eval.data.align`), and keeps every pair that can be a test item. Pairs that cannot —
a reference in the wrong language, an empty side, a copy, an implausible length ratio, a duplicate —
are rejected with a reason and recorded in the manifest, so nothing is dropped silently.

Documents: blank-line separated chunks that each hold both languages are documents of their own;
otherwise runs of one language are paired in order (source/target or target/source), after short
stray runs — an untranslated caption inside the English block — are absorbed by the block around them.

Ids are ``<file-stem>:<doc>:<pair>[.<sentence>]`` (file stem relative to the folder given; 1-based
counters; ``pair`` counts aligned pairs, rejected ones included, so it equals the paragraph number
unless a paragraph was dropped or merged), so they depend only on the input files, never on the
machine or absolute paths.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mt_eval.data.align import Alignment, align, text_length
from mt_eval.data.langid import identify, is_language, language_name, script_of_language
from mt_eval.data.normalize import read_lines_and_bytes
from mt_eval.data.testset import Segment, TestSet
from mt_eval.errors import MtEvalError
from mt_eval.fsio import check_input_file

GRANULARITIES = ("paragraph", "sentence")
MIN_LENGTH_FOR_RATIO = 20  # characters: below this a ratio says little ("Yes." vs "نعم.")
MAX_LENGTH_RATIO = 3.0  # reference/source length, after scaling by the document's own ratio

# Reject codes, in the order they are checked.
EMPTY_SIDE = "empty_side"
REFERENCE_NOT_TARGET = "reference_not_target_language"
SOURCE_NOT_SOURCE = "source_not_source_language"
SOURCE_EQUALS_REFERENCE = "source_equals_reference"
LENGTH_RATIO = "implausible_length_ratio"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Reject:
    """A pair that was aligned but cannot be a test item, with the reason."""

    id: str
    doc_id: str
    code: str
    reason: str
    source: str
    reference: str
    file: str
    source_lines: tuple[int, ...]
    reference_lines: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "doc_id": self.doc_id, "code": self.code, "reason": self.reason,
                "source": self.source, "reference": self.reference, "file": self.file,
                "source_lines": list(self.source_lines), "reference_lines": list(self.reference_lines)}


@dataclass
class BuildResult:
    """The built test set plus what the manifest records beside it (rejects, normalisation, blocks)."""

    testset: TestSet
    rejects: list[Reject]
    documents: list[dict[str, Any]]
    normalisation: dict[str, dict[str, int]]
    granularity: str = "paragraph"
    extra: dict[str, Any] = field(default_factory=dict)

    def manifest_extra(self) -> dict[str, Any]:
        counts = dict(self.testset.manifest()["counts"])
        counts["documents"] = len(self.documents)
        counts["rejected"] = len(self.rejects)
        by_code = Counter(r.code for r in self.rejects)
        counts["rejected_by_reason"] = {code: by_code[code] for code in sorted(by_code)}
        total: Counter[str] = Counter()
        for per_file in self.normalisation.values():
            total.update(per_file)
        return {
            "counts": counts,
            "granularity": self.granularity,
            "rejects": [r.to_json() for r in self.rejects],
            "normalisation": {"applied": True, "total": dict(sorted(total.items())),
                              "files": self.normalisation},
            "documents": self.documents,
            **self.extra,
        }

    def save(self, directory: str | Path, *, force: bool = False) -> Path:
        return self.testset.save(directory, manifest_extra=self.manifest_extra(), force=force)


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based line number in the file
    text: str
    label: str  # "S" source language, "T" target language


@dataclass(frozen=True)
class _InputFile:
    path: Path
    display: str  # e.g. "seeds/000_x.txt": relative, machine-independent
    stem: str  # id prefix


# ------------------------------------------------------------------------------------ discovery
def _discover(paths: Sequence[str | Path], pattern: str) -> list[_InputFile]:
    files: list[_InputFile] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob(pattern) if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise MtEvalError(f"{raw}: no {pattern} files in this folder")
            base = path.resolve().name or "."
            for found_path in found:
                rel = found_path.relative_to(path)
                files.append(_InputFile(found_path, f"{base}/{rel.as_posix()}",
                                        rel.with_suffix("").as_posix()))
        elif path.is_file():
            files.append(_InputFile(path, path.name, path.stem))
        elif path.exists():  # a FIFO or a device: reading it could block forever
            check_input_file(path, "document file")
        else:
            raise MtEvalError(f"{raw}: no such file or folder")
    seen: dict[str, str] = {}
    for file in files:
        if file.stem in seen:
            raise MtEvalError(f"{file.display}: same id prefix {file.stem!r} as {seen[file.stem]};"
                              " rename one")
        seen[file.stem] = file.display
    return files


# ------------------------------------------------------------------------------ block detection
def _label(text: str, source_lang: str, target_lang: str) -> str:
    """"S", "T" or "?" (no letters, or a language that is neither side)."""
    guess = identify(text)
    if guess.lang == source_lang:
        return "S"
    if guess.lang == target_lang:
        return "T"
    src_script, tgt_script = script_of_language(source_lang), script_of_language(target_lang)
    if src_script != tgt_script:
        if guess.script == src_script:
            return "S"
        if guess.script == tgt_script:
            return "T"
    return "?"


def _imbalance(sizes: list[int]) -> int:
    """How badly consecutive blocks pair up: count differences, plus any block left without a partner."""
    cost = sum(abs(sizes[k] - sizes[k + 1]) for k in range(0, len(sizes) - 1, 2))
    return cost + (sizes[-1] if len(sizes) % 2 else 0)


def _blocks(lines: list[_Line]) -> list[tuple[str, list[_Line]]]:
    """(label, lines) runs of one language, with short stray runs (an untranslated caption) absorbed.

    A run is absorbed only when it is shorter than the block(s) of the other language around it
    (between two, or at either end of the file) and absorbing it makes the blocks pair up better
    (counts closer) — so two genuine short documents stay apart.
    """
    # Lines of neither language (numbers, names) belong to the block around them.
    labels = [line.label for line in lines]
    for k, lab in enumerate(labels):
        if lab == "?":
            labels[k] = next((labels[p] for p in range(k - 1, -1, -1) if labels[p] != "?"),
                             next((x for x in labels[k + 1:] if x != "?"), "?"))
    runs_idx: list[list[int]] = []
    for k, lab in enumerate(labels):
        if runs_idx and labels[runs_idx[-1][0]] == lab:
            runs_idx[-1].append(k)
        else:
            runs_idx.append([k])
    while True:
        sizes = [len(r) for r in runs_idx]
        base = _imbalance(sizes)
        best: tuple[int, int, int, int] | None = None  # (gain, first, last, k): runs first..last become one
        for k in range(len(runs_idx)):
            if 0 < k < len(runs_idx) - 1:
                if sizes[k] >= min(sizes[k - 1], sizes[k + 1]):
                    continue
                first, last = k - 1, k + 1
            elif len(runs_idx) > 1:  # a stray line before the first block or after the last one
                first, last = (k, k + 1) if k == 0 else (k - 1, k)
                if sizes[k] >= sizes[k + 1 if k == 0 else k - 1]:
                    continue
            else:
                continue
            merged = [*sizes[:first], sum(sizes[first:last + 1]), *sizes[last + 1:]]
            gain = base - _imbalance(merged)
            if gain > 0 and (best is None or gain > best[0]):
                best = (gain, first, last, k)
        if best is None:
            break
        _, first, last, k = best
        keep = first if first != k else last  # the absorbing block keeps its language
        label_index = runs_idx[keep][0]
        merged_run = sorted(i for run in runs_idx[first:last + 1] for i in run)
        for i in merged_run:
            labels[i] = labels[label_index]
        runs_idx[first:last + 1] = [merged_run]
    return [(labels[run[0]], [lines[k] for k in run]) for run in runs_idx]


def _lines_span(lines: list[_Line]) -> str:
    return f"{lines[0].number}-{lines[-1].number}" if len(lines) > 1 else f"{lines[0].number}"


def _documents(file: _InputFile, lines: list[_Line], source_lang: str,
               target_lang: str) -> list[tuple[list[_Line], list[_Line], str]]:
    """Split a file's lines into (source block, target block, order) documents."""
    src_name, tgt_name = language_name(source_lang), language_name(target_lang)
    present = [line for line in lines if line.text]
    labels = {line.label for line in present}
    if "T" not in labels:
        raise MtEvalError(f"{file.display}: no {tgt_name} ({target_lang}) block found"
                          f" ({len(present)} lines, none in the target language)")
    if "S" not in labels:
        raise MtEvalError(f"{file.display}: no {src_name} ({source_lang}) block found"
                          f" ({len(present)} lines, none in the source language)")
    # Blank-line separated chunks that each hold both languages are documents of their own.
    chunks: list[list[_Line]] = [[]]
    for line in lines:
        if line.text:
            chunks[-1].append(line)
        elif chunks[-1]:
            chunks.append([])
    chunks = [c for c in chunks if c]
    if len(chunks) > 1 and all({"S", "T"} <= {x.label for x in c} for c in chunks):
        groups = chunks
    else:
        groups = [present]
    docs: list[tuple[list[_Line], list[_Line], str]] = []
    for group in groups:
        blocks = _blocks(group)
        if len(blocks) % 2:
            last_label, last = blocks[-1]
            have, lack = (src_name, tgt_name) if last_label == "S" else (tgt_name, src_name)
            raise MtEvalError(f"{file.display}: lines {_lines_span(last)}: {have} block has no matching"
                              f" {lack} block")
        for k in range(0, len(blocks), 2):
            (first_label, first), (_, second) = blocks[k], blocks[k + 1]
            if first_label == "S":
                docs.append((first, second, "source_first"))
            else:
                docs.append((second, first, "target_first"))
    return docs


# -------------------------------------------------------------------------------------- checks
def check_pair(source: str, reference: str, ratio: float, source_lang: str, target_lang: str,
               accepted_sources: Mapping[str, str]) -> tuple[str, str] | None:
    """The first reason this pair cannot be a test item, as (code, reason), or None.

    ``ratio`` is the document's expected target/source length ratio; ``accepted_sources`` maps the
    sources already accepted to their ids (for duplicates).
    """
    if not source.strip() or not reference.strip():
        side = "source" if not source.strip() else "reference"
        return EMPTY_SIDE, f"{side} side is empty (no counterpart in the other block)"
    if not is_language(reference, target_lang):
        return REFERENCE_NOT_TARGET, (f"reference not {language_name(target_lang)}"
                                      f" (looks {language_name(identify(reference).lang)})")
    if not is_language(source, source_lang):
        return SOURCE_NOT_SOURCE, (f"source not {language_name(source_lang)}"
                                   f" (looks {language_name(identify(source).lang)})")
    if source.strip() == reference.strip():
        return SOURCE_EQUALS_REFERENCE, "source equals reference (untranslated)"
    ls, lt = text_length(source), text_length(reference)
    if max(ls, lt) >= MIN_LENGTH_FOR_RATIO:
        scaled = lt / (ratio * ls) if ls else float("inf")
        if scaled > MAX_LENGTH_RATIO or scaled < 1 / MAX_LENGTH_RATIO:
            return LENGTH_RATIO, (f"implausible length ratio {scaled:.2f} (reference {lt} vs source {ls}"
                                  f" characters; expected ratio {ratio:.2f})")
    if source in accepted_sources:
        return DUPLICATE, f"duplicate of {accepted_sources[source]}"
    return None


def split_sentences(text: str, lang: str) -> list[str]:
    """Sentences of one paragraph (sentencex: rule-based, ~300 languages, Arabic punctuation included)."""
    from sentencex import segment

    return [s.strip() for s in segment(lang, text) if s.strip()]


# -------------------------------------------------------------------------------------- builder
def build_testset(paths: Sequence[str | Path], *, source_lang: str = "ar", target_lang: str = "en",
                  granularity: str = "paragraph", name: str | None = None,
                  pattern: str = "*.txt") -> BuildResult:
    """Build a test set from bilingual documents (files, or folders searched for ``pattern``)."""
    if granularity not in GRANULARITIES:
        raise MtEvalError(f"granularity {granularity!r}: expected one of {', '.join(GRANULARITIES)}")
    if source_lang == target_lang:
        raise MtEvalError(f"source and target language are both {source_lang!r}")
    if not paths:
        raise MtEvalError("no input files or folders given")
    builder = _Builder(source_lang, target_lang, granularity)
    inputs = [builder.add_file(file) for file in _discover(paths, pattern)]
    if not builder.segments:
        rejects = builder.rejects
        raise MtEvalError(f"{', '.join(str(p) for p in paths)}: no usable pairs"
                          f" ({len(rejects)} rejected, first: {rejects[0].reason if rejects else 'none'})")
    default_name = "+".join(Path(p).resolve().name if Path(p).is_dir() else Path(p).stem for p in paths)
    from mt_eval import __version__

    testset = TestSet(
        segments=tuple(builder.segments), source_lang=source_lang, target_lang=target_lang,
        name=name or default_name,
        provenance={"kind": "bilingual_documents", "builder": f"mt-eval {__version__} testset build",
                    "granularity": granularity, "inputs": inputs},
    )
    return BuildResult(testset, builder.rejects, builder.documents, builder.normalisation, granularity)


_Where = tuple[tuple[int, ...], tuple[int, ...]]  # source and reference line numbers of a pair


@dataclass
class _Builder:
    """Accepted segments, rejects and per-document records, file after file."""

    source_lang: str
    target_lang: str
    granularity: str
    segments: list[Segment] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    normalisation: dict[str, dict[str, int]] = field(default_factory=dict)
    accepted_sources: dict[str, str] = field(default_factory=dict)  # source text -> id (duplicates)

    def add_file(self, file: _InputFile) -> dict[str, Any]:
        """Every document of one file; returns the file's provenance record."""
        texts, report, data = read_lines_and_bytes(file.path, display_name=file.display)
        self.normalisation[file.display] = report.as_dict()
        lines = [_Line(k, text, _label(text, self.source_lang, self.target_lang) if text else "")
                 for k, text in enumerate(texts, 1)]
        for doc_no, (src_block, tgt_block, order) in enumerate(
                _documents(file, lines, self.source_lang, self.target_lang), 1):
            self._add_document(file, f"{file.stem}:{doc_no}", src_block, tgt_block, order)
        return {"file": file.display, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    def _add_document(self, file: _InputFile, doc_id: str, src_block: list[_Line], tgt_block: list[_Line],
                      order: str) -> None:
        alignment = align([x.text for x in src_block], [x.text for x in tgt_block])
        # A ratio fitted on one or two pairs is those pairs' own ratio and would excuse them.
        ratio = alignment.ratio if min(len(src_block), len(tgt_block)) >= 3 else 1.0
        accepted_before, rejected_before = len(self.segments), len(self.rejects)
        for pair_no, bead in enumerate(alignment.beads, 1):
            src_lines = [src_block[k] for k in bead.source]
            tgt_lines = [tgt_block[k] for k in bead.target]
            seg_id = f"{doc_id}:{pair_no}"
            source = " ".join(x.text for x in src_lines)
            reference = " ".join(x.text for x in tgt_lines)
            where = (tuple(x.number for x in src_lines), tuple(x.number for x in tgt_lines))
            meta = {"file": file.display, "source_lines": list(where[0]), "reference_lines": list(where[1]),
                    "alignment": bead.kind, "confidence": bead.confidence}
            if self._rejected(seg_id, doc_id, source, reference, ratio, meta, where):
                continue
            if self.granularity == "paragraph":
                self._add(Segment(seg_id, source, (reference,), doc_id, meta))
            else:
                self._sentences(seg_id, doc_id, source, reference, ratio, meta, where)
        self.documents.append({
            "doc_id": doc_id, "file": file.display, "order": order,
            "source_lines": [src_block[0].number, src_block[-1].number],
            "target_lines": [tgt_block[0].number, tgt_block[-1].number],
            "alignment_method": alignment.method, "length_ratio": alignment.ratio,
            "beads": alignment.kinds(), "accepted": len(self.segments) - accepted_before,
            "rejected": len(self.rejects) - rejected_before,
        })

    def _rejected(self, seg_id: str, doc_id: str, source: str, reference: str, ratio: float,
                  meta: dict[str, Any], where: _Where) -> bool:
        """Whether the pair cannot be a test item (recorded with the reason)."""
        problem = check_pair(source, reference, ratio, self.source_lang, self.target_lang,
                             self.accepted_sources)
        if problem is not None:
            self.rejects.append(Reject(seg_id, doc_id, problem[0], problem[1], source, reference,
                                       meta["file"], *where))
        return problem is not None

    def _add(self, segment: Segment) -> None:
        self.accepted_sources[segment.source] = segment.id
        self.segments.append(segment)

    def _sentences(self, para_id: str, doc_id: str, source: str, reference: str, ratio: float,
                   meta: dict[str, Any], where: _Where) -> None:
        """Split one accepted paragraph pair into sentence pairs aligned with the same aligner.

        Length checks use the document's ratio: a paragraph's own ratio would excuse its sentences.
        """
        src_sents = split_sentences(source, self.source_lang)
        tgt_sents = split_sentences(reference, self.target_lang)
        alignment: Alignment = align(src_sents, tgt_sents)
        for k, bead in enumerate(alignment.beads, 1):
            seg_id = f"{para_id}.{k}"
            src = " ".join(src_sents[i] for i in bead.source)
            ref = " ".join(tgt_sents[j] for j in bead.target)
            if not self._rejected(seg_id, doc_id, src, ref, ratio, meta, where):
                self._add(Segment(seg_id, src, (ref,), doc_id, {
                    **meta, "paragraph": para_id, "sentence_alignment": bead.kind,
                    "sentence_confidence": bead.confidence}))


# ------------------------------------------------------------------------------------ defaults
def seeds_dir() -> Path:
    """The seed documents: the repository's ``seeds/`` beside the package, else the copy shipped inside it."""
    import mt_eval

    repo_seeds = Path(mt_eval.__file__).resolve().parents[1] / "seeds"
    if repo_seeds.is_dir() and any(repo_seeds.glob("*.txt")):
        return repo_seeds
    return Path(__file__).resolve().parent / "seeds"


def default_build() -> BuildResult:
    """The seed build (test set plus rejects and manifest extras)."""
    return build_testset([seeds_dir()], source_lang="ar", target_lang="en", name="seeds")


def default_testset() -> TestSet:
    """The built-in test set (`mt-eval run` with no arguments): the seed documents, paragraph level."""
    return default_build().testset


__all__ = ["BuildResult", "Reject", "build_testset", "check_pair", "default_build", "default_testset",
           "seeds_dir", "split_sentences"]
