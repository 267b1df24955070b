"""Baseline files: what a later run is gated against, small enough to commit.

A baseline keeps, per system and metric, the score, the metric's spec and signature, the test-set
hash and the per-segment sufficient statistics. The statistics (a few integers per segment) are what
make the paired test against a candidate possible without keeping the baseline's outputs or
re-running its metrics. Per system it also keeps the segments each output check flagged, and once the
check settings they were computed with, so the gate can see catastrophic outputs a corpus score hides
(:mod:`mt_eval.gate.flags`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from mt_eval.errors import MtEvalError
from mt_eval.fsio import atomic_write_text, check_output_file, read_input_text
from mt_eval.metrics.signature import MetricSignature
from mt_eval.reports.results import Results
from mt_eval.schema import parse_versioned

if TYPE_CHECKING:
    from mt_eval.gate.policy import GatePolicy

# 2: each system gains its environment fingerprint and per-segment output hashes (version 1 still reads)
# 3: each system gains its flagged segments per output check (``flags``) and the baseline the check
#    settings (``checks``); versions 1 and 2 still read, with flags "not compared"
BASELINE_SCHEMA_VERSION = 3
BASELINE_KIND = "mt-eval-baseline"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaselineTestset(_Model):
    hash: str
    name: str = ""
    source_lang: str
    target_lang: str
    num_segments: int


class BaselineEntry(_Model):
    """One system on one metric: everything the gate needs to test a candidate against it."""

    score: float
    metric_spec: dict[str, Any]
    signature: dict[str, str]
    signature_string: str
    higher_is_better: bool = True
    testset_hash: str
    stats_dtype: Literal["int64", "float64"]
    stats: list[list[float]] | list[list[int]]

    @model_validator(mode="after")
    def _rectangular(self) -> BaselineEntry:
        widths = {len(row) for row in self.stats}
        if not self.stats or len(widths) != 1 or 0 in widths:
            raise ValueError("stats must be a non-empty rectangular list of rows")
        values = [v for row in self.stats for v in row]
        if self.stats_dtype == "int64":
            if not all(isinstance(v, int) for v in values):
                raise ValueError("stats_dtype is int64 but stats hold non-integers")
            if any(v < 0 for v in values):
                raise ValueError("stats hold a negative count")
        elif not all(math.isfinite(v) for v in values):
            raise ValueError("stats hold NaN or infinity")
        return self

    def stats_array(self) -> np.ndarray:
        return np.asarray(self.stats, dtype=np.int64 if self.stats_dtype == "int64" else np.float64)


class BaselineSystem(_Model):
    spec: str = ""
    signature: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, BaselineEntry]
    # what made the outputs (CPU, SIMD flags, libraries, threads: mt_eval.environment) and a short
    # hash of each output, so a gate can tell "outputs changed on other hardware" from "you changed it"
    environment: dict[str, Any] = Field(default_factory=dict)
    output_hashes: list[str] = Field(default_factory=list)
    # per output check the run computed: the 0-based indices of the flagged segments, ascending;
    # None: not recorded (checks off, or a baseline from before schema 3)
    flags: dict[str, list[int]] | None = None


class Baseline(_Model):
    """The baseline file (``baseline.json``), versioned by ``schema_version``."""

    schema_version: int = BASELINE_SCHEMA_VERSION
    kind: Literal["mt-eval-baseline"] = "mt-eval-baseline"
    created: str
    source_run: str = ""
    testset: BaselineTestset
    systems: dict[str, BaselineSystem]
    # the output-check settings the flags were computed with (results.json ``config.checks``)
    checks: dict[str, Any] | None = None
    # not written: metrics of the run that `baseline save` left out, with the reason (for its note)
    _left_out: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def left_out(self) -> dict[str, str]:
        """Metric key -> why the run's metric is not in this baseline (empty when read from a file)."""
        return self._left_out

    @model_validator(mode="after")
    def _consistent(self) -> Baseline:
        if not self.systems:
            raise ValueError("no systems")
        for name, system in self.systems.items():
            if not system.metrics:
                raise ValueError(f"system {name!r} has no metrics")
            for key, entry in system.metrics.items():
                if entry.testset_hash != self.testset.hash:
                    raise ValueError(f"{name}/{key}: testset_hash differs from testset.hash")
                if len(entry.stats) != self.testset.num_segments:
                    raise ValueError(f"{name}/{key}: {len(entry.stats)} statistics rows for "
                                     f"{self.testset.num_segments} segments")
                if not math.isfinite(entry.score):
                    raise ValueError(f"{name}/{key}: score is not finite")
            for flag, indices in (system.flags or {}).items():
                if any(b <= a for a, b in itertools.pairwise(indices)) or any(
                        not 0 <= i < self.testset.num_segments for i in indices[:1] + indices[-1:]):
                    raise ValueError(f"{name}: flags.{flag} must be ascending segment indices from 0 to "
                                     f"{self.testset.num_segments - 1}")
        return self


# ------------------------------------------------------------------------------------- reading
def parse_baseline(obj: Any, *, where: str = "baseline") -> Baseline:
    """Validate a decoded baseline; a one-line :class:`MtEvalError` on anything wrong."""
    if not isinstance(obj, dict):
        raise MtEvalError(f"{where}: malformed baseline (not a JSON object)")
    if obj.get("kind") != BASELINE_KIND:
        raise MtEvalError(f"{where}: malformed baseline (kind is {obj.get('kind')!r}, "
                          f"expected {BASELINE_KIND!r}; write one with `mt-eval baseline save`)")
    return parse_versioned(Baseline, obj, where=where, what="baseline",
                           current_version=BASELINE_SCHEMA_VERSION)


def load_baseline(path: str | Path) -> Baseline:
    """Read and validate a baseline file (a regular UTF-8 JSON file; one-line errors)."""
    file = Path(path)
    if not file.exists() and not file.is_symlink():
        raise MtEvalError(f"{file}: baseline file not found")
    text = read_input_text(file, "baseline file")
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise MtEvalError(f"{file}: malformed baseline (not JSON: {exc})") from None
    return parse_baseline(obj, where=str(file))


# ------------------------------------------------------------------------------------- writing
def _stats_rows(arr: np.ndarray) -> tuple[Literal["int64", "float64"], list[list[Any]]]:
    if arr.dtype.kind in "iub":
        return "int64", arr.astype(np.int64).tolist()
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise MtEvalError("statistics hold NaN or infinity; a baseline must be plain JSON numbers")
        return "float64", arr.astype(np.float64).tolist()
    raise MtEvalError(f"statistics of dtype {arr.dtype} cannot be stored in a baseline")


def family_default(spec: dict[str, Any]) -> bool:
    """A metric's ``gate_family_default`` (a metric that cannot be rebuilt here counts as a member, as in
    the gate's verdict)."""
    from mt_eval.metrics.registry import metric_from_spec

    try:
        return bool(getattr(metric_from_spec(spec), "gate_family_default", True))
    except MtEvalError:
        return True


def baseline_metrics(results: Results, *, metrics: Sequence[str] | None = None,
                     policy: GatePolicy | None = None, all_metrics: bool = False
                     ) -> tuple[list[str], dict[str, str]]:
    """The metric keys a baseline keeps, and the ones left out with the reason.

    Named ``metrics`` are kept as asked. Otherwise every metric of the run is kept except those not in
    the gate's family by default (``gate_family_default = False``: LLM judges, human scores, COMET),
    unless ``all_metrics`` or the policy's ``primary_metric``/``family`` names them: a baseline of
    judge scores would make every later gate call the judge, and human scores are not re-collected.
    """
    if metrics and all_metrics:
        raise MtEvalError("--all-metrics keeps every metric of the run; do not combine it with --metric")
    if metrics:
        return list(metrics), {}
    named: set[str] = set()
    if policy is not None:
        named.update(policy.family or [])
        if policy.primary_metric:
            named.add(policy.primary_metric)
    known = {*results.metrics, *(str(info.spec.get("name", key)) for key, info in results.metrics.items())}
    unknown = sorted(named - known)
    if unknown:  # the gate would later say "cannot compare": say it now, before a baseline is written
        raise MtEvalError(f"--policy names metric {unknown[0]!r} (primary_metric/family), which the run does"
                          f" not have (have: {', '.join(results.metrics)})")
    keys, left_out = [], {}
    for key, info in results.metrics.items():
        name = str(info.spec.get("name", key))
        if all_metrics or key in named or name in named or family_default(info.spec):
            keys.append(key)
        else:
            left_out[key] = "not in the gate's default family"
    return keys, left_out


def baseline_from_run(run: str | Path, *, systems: Sequence[str] | None = None,
                      metrics: Sequence[str] | None = None, policy: GatePolicy | None = None,
                      all_metrics: bool = False) -> Baseline:
    """Build a baseline from a run folder: every ok system × metric, or the ones named.

    Metrics outside the gate's default family are left out unless named (:func:`baseline_metrics`);
    ``Baseline.left_out`` says which.
    """
    from mt_eval.reports.run_folder import RunFolder

    folder = RunFolder.open(run)
    run_dir, results = folder.root, folder.results()
    names = list(systems) if systems else results.ok_systems
    for name in names:
        if name not in results.systems:
            raise MtEvalError(f"{run_dir}: no system {name!r} in this run "
                              f"(has: {', '.join(results.systems)})")
        if results.systems[name].status != "ok":
            raise MtEvalError(f"{run_dir}: system {name!r} was skipped in this run "
                              f"({results.systems[name].reason}); it has no scores to save")
    if not names:
        raise MtEvalError(f"{run_dir}: no system with scores in this run; nothing to save")
    keys, left_out = baseline_metrics(results, metrics=metrics, policy=policy, all_metrics=all_metrics)
    if not keys:
        raise MtEvalError(f"{run_dir}: every metric of this run ({', '.join(left_out)}) is outside the gate's"
                          " default family; name the ones to keep with --metric (or --all-metrics)")
    for key in keys:
        if key not in results.metrics:
            raise MtEvalError(f"{run_dir}: no metric {key!r} in this run (has: {', '.join(results.metrics)})")
    from mt_eval.gate.flags import run_check_settings, run_flags

    records = folder.segments(results) if any(results.flags.get(n) is not None for n in names) else []
    out: dict[str, BaselineSystem] = {}
    for name in names:
        entries: dict[str, BaselineEntry] = {}
        for key in keys:
            score = results.scores.get(name, {}).get(key)
            if score is None:
                raise MtEvalError(f"{run_dir}: results.json has no {key} score for system {name!r}")
            arr = folder.stats(name, key, results.testset.num_segments)
            info = results.metrics[key]
            _check_score_matches_stats(run_dir, name, key, info.spec, arr, score.score)
            dtype, rows = _stats_rows(arr)
            entries[key] = BaselineEntry(
                score=score.score, metric_spec=dict(info.spec),
                signature=MetricSignature.recorded(info.signature).as_dict(),
                signature_string=info.signature_string, higher_is_better=info.higher_is_better,
                testset_hash=results.testset.hash, stats_dtype=dtype, stats=rows)
        sysinfo = results.systems[name]
        outputs = folder.outputs(name, results.testset.num_segments)
        flags = run_flags(folder, results, name, records)
        out[name] = BaselineSystem(spec=sysinfo.spec, signature=dict(sysinfo.signature), metrics=entries,
                                   environment=dict(sysinfo.environment),
                                   output_hashes=output_hashes(outputs),
                                   flags=None if flags is None else flags.flagged)
    ts = results.testset
    baseline = Baseline(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        source_run=results.run_name,
        testset=BaselineTestset(hash=ts.hash, name=ts.name, source_lang=ts.source_lang,
                                target_lang=ts.target_lang, num_segments=ts.num_segments),
        systems=out, checks=run_check_settings(results))
    baseline._left_out = left_out
    return baseline


def output_hashes(outputs: Sequence[str]) -> list[str]:
    """A short sha256 per output: enough to count changed segments, without storing the text."""
    return [hashlib.sha256(text.encode("utf-8")).hexdigest()[:12] for text in outputs]


def _check_score_matches_stats(run_dir: Path, system: str, key: str, spec: dict[str, Any], arr: np.ndarray,
                               score: float) -> None:
    """A baseline must not contradict itself: its score is what its statistics give (else the run
    folder was edited or its statistics are stale). Metrics not installed here are not re-checked."""
    from mt_eval.metrics.registry import metric_from_spec

    try:
        recomputed = float(metric_from_spec(spec).corpus_score(arr))
    except MtEvalError:
        return
    if not math.isclose(recomputed, score, rel_tol=1e-6, abs_tol=1e-6):
        raise MtEvalError(f"{run_dir}: system {system!r} metric {key}: results.json says {score:.4f} but its"
                          f" statistics give {recomputed:.4f} (edited or stale run folder); re-run it")


# ------------------------------------------------------------------------ the smallest visible change
def metric_mde(metric: Any, stats: np.ndarray, *, alpha: float, family_size: int,
               tolerance: float | None = None, where: str = "") -> dict[str, Any]:
    """The minimum detectable drop of one system × metric (:mod:`mt_eval.stats.power`) at the family's α,
    Holm-adjusted for ``family_size`` comparisons (Holm's first step: α / k), with 80% power.

    ``independent``: every segment changes to an unrelated output (the worst case); ``mixed`` and
    ``paired``: the designs of ``scripts/calibrate_tests.py``; ``by_share``: the independent MDE when only
    that share of the segments changes. ``warnings``: the tolerance is below the MDE, or the test set is
    too small to see a difference humans notice (:func:`mt_eval.stats.power.mde_warnings`)."""
    from mt_eval.stats.power import POWER, mde_table, mde_warnings

    rows = mde_table(metric, stats, alpha, family_size=family_size)
    full = {r.design: r.mde for r in rows if r.share == 1.0}
    named = where or metric.name
    return {"where": named, "alpha": alpha, "family_size": family_size, "alpha_holm": rows[0].alpha,
            "power": POWER, "n_segments": rows[0].n_segments, "sigma": rows[0].sigma,
            "independent": full["independent"], "mixed": full["mixed"], "paired": full["paired"],
            "by_share": {f"{r.share:g}": r.mde for r in rows if r.design == "independent"},
            "tolerance": tolerance,
            "warnings": [w.replace(f"{metric.name}:", f"{named}:", 1)
                         for w in mde_warnings(rows, metric.spec(), tolerance)]}


def baseline_mde(baseline: Baseline, policy: GatePolicy) -> list[dict[str, Any]]:
    """:func:`metric_mde` of every system × metric of the gate's family in ``baseline`` (the family under
    ``policy``: its size is the Holm family of a gate that compares them all). Metrics that cannot be
    rebuilt here are left out."""
    from mt_eval.metrics.registry import metric_from_spec

    family = [(name, key, entry) for name, system in baseline.systems.items()
              for key, entry in system.metrics.items()
              if policy.in_family(key, str(entry.metric_spec.get("name", key)),
                                  family_default(entry.metric_spec))]
    size = len(family) if policy.correction == "holm" else 1
    out = []
    for name, key, entry in family:
        try:
            metric = metric_from_spec(entry.metric_spec)
        except MtEvalError:
            continue
        rules = policy.for_metric(key if key in policy.metric else str(entry.metric_spec.get("name", key)))
        out.append(metric_mde(metric, entry.stats_array(), alpha=policy.alpha, family_size=max(size, 1),
                              tolerance=rules.allowed_drop(entry.score), where=f"{name}/{key}"))
    return out


def _points(value: float | None) -> str:
    return "none detectable" if value is None else f"{value:.2f}"


def mde_lines(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Plain-text lines of :func:`metric_mde` results (``baseline save`` and the gate's verdict)."""
    if not entries:
        return []
    first = entries[0]
    lines = [f"smallest drop the gate can see (MDE, {first['power']:.0%} power, α={first['alpha']:g}"
             f" Holm-adjusted over {first['family_size']} comparison(s) → {first['alpha_holm']:.4g},"
             f" {first['n_segments']} segments; score points):"]
    for e in entries:
        quarter = e["by_share"].get("0.25")
        tolerance = "" if e["tolerance"] is None else f"; tolerance {e['tolerance']:g}"
        lines.append(f"  {e['where']}: {_points(e['independent'])} if every segment changes (unrelated"
                     f" outputs) · {_points(e['mixed'])} mixed · {_points(e['paired'])} paired (light edits)"
                     f" · {_points(quarter)} if 25% of segments change{tolerance}")
    lines += [f"  warning: {w}" for e in entries for w in e["warnings"]]
    return lines


def dumps_baseline(baseline: Baseline) -> str:
    """Indented JSON with one statistics row per line: readable, diffable and compact."""
    obj = baseline.model_dump(mode="json")
    rows: dict[str, list[list[Any]]] = {}
    inline: dict[str, list[int]] = {}
    for system in obj["systems"].values():
        for entry in system["metrics"].values():
            marker = f"@@stats:{len(rows) + len(inline)}@@"
            rows[marker] = entry["stats"]
            entry["stats"] = marker
        # output hashes: 16 per line rather than one per line
        hashes = system.get("output_hashes", [])
        if hashes:
            marker = f"@@stats:{len(rows) + len(inline)}@@"
            rows[marker] = [hashes[i:i + 16] for i in range(0, len(hashes), 16)]
            system["output_hashes"] = marker
        for flag, indices in (system.get("flags") or {}).items():  # one line per flag
            marker = f"@@stats:{len(rows) + len(inline)}@@"
            inline[marker] = indices
            system["flags"][flag] = marker
    lines = []
    for line in (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").split("\n"):
        match = _MARKER.search(line)
        if match is None:
            lines.append(line)
            continue
        if match.group(1) in inline:
            compact = json.dumps(inline[match.group(1)], separators=(",", ":"))
            lines.append(f"{line[:match.start()]}{compact}{line[match.end():]}")
            continue
        indent = " " * (len(line) - len(line.lstrip()))
        if line.lstrip().startswith('"output_hashes"'):  # chunks of a flat list, not rows
            body = ",\n".join(f"{indent}  {json.dumps(chunk, separators=(',', ':'))[1:-1]}"
                              for chunk in rows[match.group(1)])
        else:
            body = ",\n".join(f"{indent}  {json.dumps(row, separators=(',', ':'))}"
                              for row in rows[match.group(1)])
        lines.append(f"{line[:match.start()]}[\n{body}\n{indent}]{line[match.end():]}")
    return "\n".join(lines)


_MARKER = re.compile(r'"(@@stats:\d+@@)"')


def save_baseline(run_dir: str | Path, out: str | Path, systems: Sequence[str] | None = None,
                  metrics: Sequence[str] | None = None, *, policy: GatePolicy | None = None,
                  all_metrics: bool = False) -> Baseline:
    """Write ``out`` (atomically) from a run folder; returns the baseline written (``left_out``: the
    run's metrics it does not keep, see :func:`baseline_metrics`)."""
    check_output_file(out, "baseline file")
    baseline = baseline_from_run(run_dir, systems=systems, metrics=metrics, policy=policy,
                                 all_metrics=all_metrics)
    text = dumps_baseline(baseline)
    parse_baseline(json.loads(text), where=str(out))  # the file we write must read back
    atomic_write_text(out, text)
    return baseline
