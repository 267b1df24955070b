"""Static shards: ``--shard i/N`` evaluates one slice of a test set, ``mt-eval merge`` joins the slices.

For batch schedulers (SLURM array jobs, Kubernetes indexed jobs) that run N copies of one command and
need no engine. **The rule**: the segments of the test set, in ``testset.jsonl`` order, are cut into N
contiguous slices; shard ``i`` (0-based) holds segments ``floor(i*n/N)`` up to, not including,
``floor((i+1)*n/N)``. It depends only on ``i``, ``N`` and the number of segments ``n`` (so every job
computes the same cut without talking to the others), slice sizes differ by at most one, every shard
is non-empty (``N <= n``), and the hypothesis files of shards 0..N-1 concatenated in order are the
whole test set's.

A shard's run folder is a complete run folder *of its slice* (its ``results.json`` names the slice's
hash), plus ``config.shard``: which shard it is, the whole test set's hash, size and manifest, and the
evaluation settings as asked (baseline, method, resamples, seed, ...). :func:`merge_parts` checks that
the parts belong together and writes the run folder an unsharded run would have written:

- what is per segment is concatenated: outputs, sufficient statistics, sentence scores, check flags,
  metric details;
- what is not is recomputed from the concatenated statistics with the run's settings and seed: corpus
  scores, bootstrap CIs, paired tests, Holm, rank clusters, the small-sample method choice;
- translation throughput is summed over the shards (rates recomputed); the machine fingerprint is
  kept when every shard has the same one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from mt_eval.errors import MtEvalError, first_validation_problem
from mt_eval.evaluate import (
    Flags,
    LocalStats,
    RunRecord,
    RunResult,
    SegmentStats,
    StatsJob,
    evaluate,
    run_checks,
)
from mt_eval.metrics.signature import NREFS, MetricSignature
from mt_eval.reports.results import TestsetInfo
from mt_eval.settings import EvalSettings

if TYPE_CHECKING:
    from mt_eval.data.testset import TestSet
    from mt_eval.reports.results import Results, SystemInfo
    from mt_eval.reports.run_folder import RunFolder
    from mt_eval.translators.base import SystemRun

# settings a part records elsewhere (metrics, checks) or that are its machine's (workers)
_NOT_ASKED = frozenset({"metrics", "checks", "workers"})

_SHARD_DIGITS = 18  # below int64, and far below Python's 4,300-digit int() limit
_SHARD_TEXT = re.compile(rf"\s*([0-9]{{1,{_SHARD_DIGITS}}})\s*/\s*([0-9]{{1,{_SHARD_DIGITS}}})\s*")
RULE = "contiguous: shard i of N holds segments floor(i*n/N) .. floor((i+1)*n/N)-1"
SHARD_KEY = "shard"  # the key of results.json's ``config`` that makes a run folder a partial one
# config keys that may differ between shards (the machine's cores) and are not compared
_MACHINE_KEYS = frozenset({SHARD_KEY, "workers"})


# ---------------------------------------------------------------------------------------- the cut
@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0 <= index < count)."""

    index: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def bounds(self, n: int) -> tuple[int, int]:
        """``(start, stop)`` of this shard among ``n`` segments (see the module's rule)."""
        if self.count > n:
            raise MtEvalError(f"--shard {self.label}: {self.count} shards for a test set of {n} segments"
                              " (every shard needs at least one segment; use at most"
                              f" {n} shards)")
        return self.index * n // self.count, (self.index + 1) * n // self.count

    def take(self, items: Sequence[Any], n: int | None = None) -> list[Any]:
        """This shard's items of a list aligned with the segments."""
        start, stop = self.bounds(len(items) if n is None else n)
        return list(items[start:stop])

    def testset(self, testset: TestSet) -> TestSet:
        """The slice as a test set of its own (same name, languages and provenance; its own hash)."""
        from mt_eval.data.testset import TestSet

        start, stop = self.bounds(len(testset))
        return TestSet(segments=testset.segments[start:stop], source_lang=testset.source_lang,
                       target_lang=testset.target_lang, name=testset.name, provenance=testset.provenance)


def parse_shard(text: str, where: str = "--shard") -> Shard:
    """``"i/N"`` → :class:`Shard`; anything else is a one-line error."""
    match = _SHARD_TEXT.fullmatch(str(text).strip())
    if match is None:  # ASCII digits only: "²/³" passes str.isdigit() but not int()
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise MtEvalError(f"{where} {shown!r}: expected i/N with whole numbers 0 <= i < N (at most"
                          f" {_SHARD_DIGITS} digits), e.g. 0/4")
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise MtEvalError(f"{where} {text}: N must be at least 1")
    if index >= count:
        raise MtEvalError(f"{where} {text}: i must be below N (shards are numbered 0 to {count - 1})")
    return Shard(index, count)


def prepare(shard: Shard, testset: TestSet, settings: EvalSettings) -> tuple[TestSet, dict[str, Any]]:
    """The slice to score and the ``config.shard`` record of its run folder.

    ``settings`` are the evaluation settings *as asked*: the merge re-runs what does not decompose with
    them, e.g. the method choice that depends on the number of segments. (The metrics and checks are
    recorded elsewhere in the part; ``workers`` is the machine's.)
    """
    start, stop = shard.bounds(len(testset))
    record = {
        "index": shard.index, "count": shard.count, "start": start, "stop": stop, "rule": RULE,
        "testset": {"hash": testset.content_hash, "name": testset.name, "source_lang": testset.source_lang,
                    "target_lang": testset.target_lang, "num_segments": len(testset),
                    "manifest": testset.manifest()},
        "settings": settings.model_dump(mode="json", include=set(EvalSettings.model_fields) - _NOT_ASKED),
    }
    return shard.testset(testset), record


def testset_for_translate(shard: Shard, testset: TestSet,
                          specs: Sequence[str]) -> tuple[TestSet, dict[str, Any]]:
    """``translate --shard``: the slice to translate and the ``shard`` record of ``translations.json``.

    ``file:`` outputs are not translated; score them with ``score --shard`` (the file covers the whole
    test set) instead.
    """
    for spec in specs:
        if spec.startswith("file:"):
            raise MtEvalError(f"--shard {shard.label}: system {spec!r} is precomputed outputs, nothing to"
                              " translate; score the whole file with `mt-eval score --shard` instead")
    start, stop = shard.bounds(len(testset))
    record = {"index": shard.index, "count": shard.count, "start": start, "stop": stop, "rule": RULE,
              "testset": {"hash": testset.content_hash, "name": testset.name,
                          "num_segments": len(testset)}}
    return shard.testset(testset), {SHARD_KEY: record}


def reads_whole_testset(spec: str) -> bool:
    """``file:`` and ``copy`` (not cacheable: outputs are not a function of the source alone) read the whole
    test set: a hypothesis file keeps one line per segment of the whole test set, and its signature (a
    hash of the whole file) is then the same in every shard."""
    from mt_eval.translators.registry import load_backend, parse_spec

    try:
        return not load_backend(parse_spec(spec).backend).cacheable
    except MtEvalError:
        return False  # translate_system reports it (skipped, or the error)


def cut_run(shard: Shard, run: SystemRun, num_segments: int) -> SystemRun:
    """A run over the whole test set cut to ``shard``; its throughput scaled to the slice."""
    if run.status != "ok" or len(run.outputs) != num_segments:
        return run
    outputs = shard.take(run.outputs)
    share = len(outputs) / max(1, num_segments)
    throughput = dict(run.throughput)
    for key in ("segments", "translated_segments"):
        if isinstance(throughput.get(key), int):
            throughput[key] = len(outputs)
    if isinstance(throughput.get("output_tokens"), int):
        throughput["output_tokens"] = sum(len(o.split()) for o in outputs)
    for key in ("wall_s", "run_wall_s"):
        if isinstance(throughput.get(key), (int, float)):
            throughput[key] = round(float(throughput[key]) * share, 6)
    seconds = throughput.get("wall_s")
    for count, rate in (("segments", "segments_per_s"), ("output_tokens", "output_tokens_per_s")):
        if rate in throughput and isinstance(seconds, (int, float)):
            throughput[rate] = round(throughput[count] / seconds, 3) if seconds > 0 else None
    truncated = shard.take(run.truncated, num_segments) if run.truncated else []
    return replace(run, outputs=outputs, throughput=throughput,
                   truncated=truncated if any(truncated) else [])


# ---------------------------------------------------------------------------------------- merge
class ShardRecord(BaseModel):
    """``config.shard`` of a partial run folder."""

    model_config = ConfigDict(extra="forbid")
    index: int
    count: int
    start: int
    stop: int
    rule: str
    testset: TestsetInfo
    settings: EvalSettings


@dataclass
class _Part:
    path: Path
    folder: RunFolder
    results: Results
    shard: ShardRecord

    @property
    def label(self) -> str:
        return f"{self.path} (shard {self.shard.index}/{self.shard.count})"


def _load_part(path: Path) -> _Part:
    from mt_eval.reports.run_folder import RunFolder

    folder = RunFolder.open(path)
    results = folder.results()
    raw = results.config.get(SHARD_KEY)
    if raw is None:
        raise MtEvalError(f"{path}: not a partial run folder (no shard record; was it made with"
                          " --shard i/N?)")
    try:
        record = ShardRecord.model_validate(raw)
    except ValidationError as exc:
        loc, msg = first_validation_problem(exc)
        raise MtEvalError(f"{path}: malformed shard record (config.shard.{loc}: {msg})") from None
    if record.rule != RULE:
        raise MtEvalError(f"{path}: shard cut by another rule ({record.rule!r}); this mt-eval cuts by"
                          f" {RULE!r}")
    if not 0 <= record.index < record.count <= record.testset.num_segments:
        raise MtEvalError(f"{path}: shard {record.index}/{record.count} is not a valid shard of a test set of"
                          f" {record.testset.num_segments} segments (config.shard was edited?)")
    expected = Shard(record.index, record.count).bounds(record.testset.num_segments)
    if (record.start, record.stop) != expected or results.testset.num_segments != record.stop - record.start:
        raise MtEvalError(f"{path}: shard {record.index}/{record.count} holds {results.testset.num_segments}"
                          f" segments from {record.start}, expected segments {expected[0]}..{expected[1] - 1}"
                          f" of {record.testset.num_segments} (the folder was edited?)")
    return _Part(path=path, folder=folder, results=results, shard=record)


def _differing_field(a: Mapping[str, Any], b: Mapping[str, Any],
                     skip: frozenset[str] = frozenset()) -> str | None:
    """The first key whose value differs (or that only one side has), ``None`` when they agree."""
    for key in [*a, *[k for k in b if k not in a]]:
        if key not in skip and (key not in a or key not in b or a[key] != b[key]):
            return key
    return None


def check_parts(parts: Sequence[_Part]) -> list[_Part]:
    """The parts in shard order, or a one-line :class:`MtEvalError` naming the shard or folder at fault."""
    if not parts:
        raise MtEvalError("merge: give the partial run folders of every shard")
    first = parts[0]
    n_shards = first.shard.count
    by_index: dict[int, _Part] = {}
    for part in parts:
        if part.shard.count != n_shards:
            raise MtEvalError(f"{part.label} belongs to a {part.shard.count}-way split but {first.label} to a"
                              f" {n_shards}-way split: the shards overlap")
        if part.shard.testset.hash != first.shard.testset.hash:
            raise MtEvalError(f"{part.label} is of test set {part.shard.testset.hash[:12]}, {first.label} of"
                              f" test set {first.shard.testset.hash[:12]}: another test set")
        if part.shard.index in by_index:
            other = by_index[part.shard.index]
            raise MtEvalError(f"shard {part.shard.index}/{n_shards} given twice ({other.path} and"
                              f" {part.path}): the shards overlap")
        by_index[part.shard.index] = part
    missing = [i for i in range(n_shards) if i not in by_index]
    if missing:
        listed = ", ".join(f"{i}/{n_shards}" for i in missing)
        raise MtEvalError(f"merge: shard{'s' if len(missing) > 1 else ''} {listed} missing (have"
                          f" {', '.join(str(p.path) for p in parts)})")
    ordered = [by_index[i] for i in range(n_shards)]
    for part in ordered[1:]:
        _check_same_run(ordered[0], part)
    return ordered


def _check_same_run(first: _Part, part: _Part) -> None:
    """Same systems (spec, signature, status), metrics (spec, signature) and settings as the first shard."""
    a, b = first.results, part.results
    for name in [*a.systems, *[s for s in b.systems if s not in a.systems]]:
        if name not in b.systems or name not in a.systems:
            has, lacks = (first, part) if name in a.systems else (part, first)
            raise MtEvalError(f"{lacks.label} has no system {name!r}, {has.label} has: different systems")
        sa, sb = a.systems[name], b.systems[name]
        if sa.status != sb.status:
            ok, not_ok = (first, part) if sa.status == "ok" else (part, first)
            reason = (sb if not_ok is part else sa).reason
            raise MtEvalError(f"{not_ok.label}: system {name!r} was skipped ({reason}) but evaluated in"
                              f" {ok.label}; rerun that shard")
        field = _differing_field(sa.signature, sb.signature)
        if field is not None:
            raise MtEvalError(f"{part.label}: system {name!r} has another signature than in {first.label}"
                              f" (field {field!r}): different systems")
        if sa.spec != sb.spec:
            raise MtEvalError(f"{part.label}: system {name!r} is {sb.spec!r}, in {first.label} {sa.spec!r}:"
                              " different systems")
    for key in [*a.metrics, *[k for k in b.metrics if k not in a.metrics]]:
        if key not in a.metrics or key not in b.metrics:
            raise MtEvalError(f"{part.label}: metric {key!r} is in only one of it and {first.label}:"
                              " different metrics")
        ma, mb = a.metrics[key], b.metrics[key]
        found = MetricSignature.recorded(ma.signature).differences(MetricSignature.recorded(mb.signature),
                                                                   [NREFS])  # nrefs: of each slice
        field = "spec" if ma.spec != mb.spec else (found[0][0] if found else None)
        if field is not None:
            raise MtEvalError(f"{part.label}: metric {key!r} signature differs from {first.label}"
                              f" (field {field!r}): different metric signatures")
    if first.shard.settings != part.shard.settings:
        field = _differing_field(first.shard.settings.model_dump(), part.shard.settings.model_dump())
        raise MtEvalError(f"{part.label}: evaluation setting {field!r} differs from {first.label}")
    field = _differing_field(a.config, b.config, _MACHINE_KEYS)
    if field is not None:
        raise MtEvalError(f"{part.label}: run setting {field!r} differs from {first.label}")


def _full_testset(parts: Sequence[_Part], records: Sequence[Mapping[str, Any]]) -> TestSet:
    """The whole test set, rebuilt from the parts' segment records and checked against the recorded hash."""
    from mt_eval.data.testset import Segment, TestSet

    info = parts[0].shard.testset
    try:
        testset = TestSet(segments=tuple(Segment(id=str(r["id"]), doc_id=str(r.get("doc_id", "")),
                                                 source=r["source"], references=tuple(r["references"]))
                                         for r in records),
                          source_lang=info.source_lang, target_lang=info.target_lang, name=info.name,
                          provenance=info.manifest.get("provenance", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise MtEvalError(f"merge: the parts' segments.jsonl do not make up a test set ({exc})") from None
    if testset.content_hash != info.hash:
        raise MtEvalError(f"merge: the segments of the parts hash to {testset.short_hash}, not to the test"
                          f" set {info.hash[:12]} they name (a part's segments.jsonl was edited?)")
    return testset


def _merged_throughput(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts and seconds summed over the shards, rates recomputed from the sums."""
    merged: dict[str, Any] = {}
    for item in items:
        for key, value in item.items():
            if key.endswith("_per_s"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                previous = merged.get(key, 0)
                merged[key] = previous + value if isinstance(previous, (int, float)) else value
            elif key not in merged:
                merged[key] = value
            elif merged[key] != value:
                merged[key] = "mixed" if key == "measured" else merged[key]
    seconds = merged.get("wall_s")
    if isinstance(seconds, (int, float)) and "segments" in items[0]:
        merged["wall_s"] = round(float(seconds), 6)
        for count, rate in (("segments", "segments_per_s"), ("output_tokens", "output_tokens_per_s")):
            if isinstance(merged.get(count), (int, float)):
                merged[rate] = round(merged[count] / seconds, 3) if seconds > 0 else None
    if isinstance(merged.get("run_wall_s"), float):
        merged["run_wall_s"] = round(merged["run_wall_s"], 6)
    merged["shards"] = len(items)
    order = [*items[0], *[k for k in merged if k not in items[0]]]  # the keys in the shards' order
    return {key: merged[key] for key in order if key in merged}


def _merged_environment(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first = dict(items[0])
    if all(dict(item) == first for item in items[1:]):
        return first
    return {**first, "shards_differ": True}  # the first shard's machine; the others had another


class ShardStats(LocalStats):
    """``mt-eval merge``'s statistics source: the parts' statistics, details and check flags joined in
    shard order. A metric that is not batch-invariant (its own declaration) is recomputed over the whole
    test set from the joined outputs instead, exactly as unsharded."""

    def __init__(self, parts: Sequence[_Part], records: Sequence[Mapping[str, Any]]) -> None:
        self.parts, self.records = parts, records

    def holds(self, job: StatsJob) -> bool:
        return job.metric.batch_invariant

    def stats(self, job: StatsJob) -> SegmentStats:
        if not self.holds(job):
            return super().stats(job)
        name, key = job.system.name, job.key
        arrays = [p.folder.stats(name, key, p.results.testset.num_segments) for p in self.parts]
        if len({a.shape[1] for a in arrays}) != 1 or len({a.dtype for a in arrays}) != 1:
            raise MtEvalError(f"merge: statistics of {name!r} × {key} have different widths or types in the"
                              " parts")
        details = [p.folder.details(name, key, p.results.testset.num_segments) for p in self.parts]
        lacking = [p for p, d in zip(self.parts, details, strict=True) if d is None]
        if lacking and len(lacking) < len(self.parts):
            raise MtEvalError(f"{lacking[0].label}: no details of {name!r} × {key} (the other shards have"
                              " them); rerun that shard")
        return SegmentStats(np.concatenate(arrays, axis=0), self.parts[0].results.metrics[key].signature,
                            None if lacking else [x for d in details for x in d or []])

    def flags(self, testset: TestSet, system: SystemRun, options: Mapping[str, Any], workers: int) -> Flags:
        """The checks run again over the whole test set (the length band is calibrated on the whole test
        set, so a shard's own flags may differ); only ``truncated``, which the backend that translated the
        shard knew, comes from the parts."""
        flags, counts = run_checks(testset, system.outputs, options, workers)
        cut = ["truncated" in r["flags"].get(system.name, []) for r in self.records]
        if any("truncated" in p.results.flags.get(system.name, {}) for p in self.parts):
            counts["truncated"] = sum(cut)
            for segment_flags, was_cut in zip(flags, cut, strict=True):
                if was_cut:
                    segment_flags.append("truncated")
        return flags, counts


def merge_parts(paths: Sequence[str | Path], output: str | Path, *, run_name: str | None = None,
                progress: Callable[[str], None] | None = None) -> RunResult:
    """Check the partial run folders and write the run folder of the whole test set to ``output``.

    Nothing is written when a part is missing, duplicated, of another test set or another run.
    """
    from mt_eval.reports.run_folder import RunFolder

    say = progress or (lambda _msg: None)
    out = Path(output)
    RunFolder(out).check_writable()
    resolved_out = Path(os.path.realpath(out))  # never raises (Path.resolve does on a symlink loop)
    for path in paths:
        folder = Path(path).parent if Path(path).name == "results.json" else Path(path)
        if Path(os.path.realpath(folder)) == resolved_out:
            raise MtEvalError(f"{path}: -o must not be one of the parts (they are read while it is replaced)")
    parts = check_parts([_load_part(Path(p)) for p in paths])
    first = parts[0].results
    records: list[dict[str, Any]] = []
    for part in parts:
        records.extend(part.folder.segments(part.results))
    testset = _full_testset(parts, records)
    runs = [_merged_run(name, [p.results.systems[name] for p in parts], records) for name in first.systems]
    config = {k: v for k, v in first.config.items() if k != SHARD_KEY}
    names = {p.results.run_name for p in parts}
    name = run_name or (names.pop() if len(names) == 1 else resolved_out.name)
    say(f"merging {len(parts)} shards of {testset.name or 'test set'} {testset.short_hash}"
        f" ({len(testset)} segments)")
    settings = parts[0].shard.settings.model_copy(update={"workers": 1, "checks": config.get("checks")})
    return evaluate(testset, runs, {key: m.spec for key, m in first.metrics.items()}, settings,
                    stats=ShardStats(parts, records), sink=RunFolder(out),
                    record=RunRecord(name, config, git=_parts_git([p.results.git for p in parts])),
                    progress=say)


def _parts_git(gits: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The commit the shards were made from when they all agree (None: read the merge's own)."""
    return gits[0] if gits and all(g == gits[0] for g in gits) and gits[0] else None


def _merged_run(name: str, infos: Sequence[SystemInfo], records: Sequence[Mapping[str, Any]]) -> SystemRun:
    """One system of the whole test set: its outputs joined from the parts' segment records."""
    from mt_eval.translators.base import SystemRun

    info = infos[0]
    if info.status != "ok":
        return SystemRun(name=name, spec=info.spec, outputs=[], signature=dict(info.signature),
                         throughput=dict(info.throughput), status="skipped", reason=info.reason)
    if not all(name in r["outputs"] for r in records):
        raise MtEvalError(f"merge: a part's segments.jsonl lacks the outputs of system {name!r}")
    return SystemRun(name=name, spec=info.spec, outputs=[str(r["outputs"][name]) for r in records],
                     signature=dict(info.signature),
                     throughput=_merged_throughput([i.throughput for i in infos]),
                     environment=_merged_environment([i.environment for i in infos]))


__all__ = ["RULE", "Shard", "ShardRecord", "ShardStats", "check_parts", "cut_run", "merge_parts",
           "parse_shard", "prepare", "reads_whole_testset", "testset_for_translate"]
