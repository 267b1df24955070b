"""Compare a candidate run with a baseline: one status per system × metric and an exit code.

A metric regresses only when its drop exceeds the policy's tolerance AND the paired test against
the baseline's own segments is significant at α: a tolerance alone fails on noise, a test alone
fails on drops too small to matter. Catastrophic output flags (empty, untranslated, wrong-language,
truncated outputs, changed numbers) fail on any increase beyond the policy's allowance, without a test
(:mod:`mt_eval.gate.flags`). Anything that makes the comparison meaningless (another test set, another
tokenizer, a missing file) is "cannot compare" (exit 2), never a pass.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mt_eval.errors import MtEvalError
from mt_eval.gate.baseline import Baseline, BaselineEntry, family_default
from mt_eval.gate.flags import (
    CATASTROPHIC,
    FlagComparison,
    compare_flags,
    judge_noisy,
    run_check_settings,
    run_flags,
    settings_differences,
)
from mt_eval.gate.policy import GatePolicy, MetricPolicy
from mt_eval.metrics.signature import MetricSignature
from mt_eval.reports.results import Results
from mt_eval.reports.run_folder import RunFolder
from mt_eval.settings import VerdictSettings

Status = Literal["regression", "below-min-score", "above-max-score", "improvement",
                 "no-significant-change", "pass-within-tolerance", "not-noticeable", "reported",
                 "cannot-compare"]
FAILING: frozenset[str] = frozenset({"regression", "below-min-score", "above-max-score"})
EXIT_PASS, EXIT_REGRESSION, EXIT_CANNOT_COMPARE = 0, 1, 2
_SCORE_RTOL = 1e-6


@dataclass
class Comparison:
    """The gate's finding for one baseline system on one metric."""

    system: str
    metric: str
    status: Status
    reason: str
    candidate_system: str = ""
    higher_is_better: bool = True
    baseline_score: float | None = None
    candidate_score: float | None = None
    delta: float | None = None  # candidate - baseline
    worsening: float | None = None  # > 0 means worse, whatever the metric's direction
    allowed_drop: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None  # Holm-adjusted over the gate's family (= p_value outside it)
    significant: bool | None = None
    human_agreement: float | None = None  # % (Kocmi et al. 2024); None: no curve for this metric
    in_family: bool = True  # False: reported only, cannot fail the gate (policy primary_metric/family)
    min_score: float | None = None
    max_score: float | None = None
    signature: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILING


@dataclass
class Verdict:
    """Every comparison plus the problems that stopped a comparison from happening at all."""

    baseline: str
    candidate: str
    comparisons: list[Comparison] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    testset: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    flags: list[FlagComparison] = field(default_factory=list)  # per system × output-check flag
    # the smallest drop each family comparison can show (mt_eval.gate.baseline.metric_mde)
    mde: list[dict[str, Any]] = field(default_factory=list)
    # metric key -> why its canaries let it decide the build (policy require_canaries)
    canaries: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.errors or not self.comparisons or any(c.status == "cannot-compare" for c in self.comparisons):
            return EXIT_CANNOT_COMPARE
        failed = any(c.failed for c in self.comparisons) or any(f.failed for f in self.flags)
        return EXIT_REGRESSION if failed else EXIT_PASS

    @property
    def outcome(self) -> Literal["pass", "regression", "cannot-compare"]:
        return {EXIT_PASS: "pass", EXIT_REGRESSION: "regression"}.get(  # type: ignore[return-value]
            self.exit_code, "cannot-compare")

    def counts(self) -> dict[str, int]:
        return dict(Counter(c.status for c in self.comparisons))

    def flag_counts(self) -> dict[str, int]:
        return dict(Counter(f.status for f in self.flags))

    def to_dict(self) -> dict[str, Any]:
        # 2: flags (one entry per system × output-check flag) and flag_counts
        # (still 2 with mde, the smallest visible drop per family comparison, and canaries, the
        # require_canaries reasons: fields added, none changed, so a reader of 2 reads them unchanged)
        return {
            "schema_version": 2,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "testset": self.testset,
            "policy": self.policy,
            "counts": self.counts(),
            "errors": list(self.errors),
            "notes": list(self.notes),
            "comparisons": [asdict(c) for c in self.comparisons],
            "flag_counts": self.flag_counts(),
            "flags": [asdict(f) for f in self.flags],
            "mde": list(self.mde),
            "canaries": dict(self.canaries),
        }


# ----------------------------------------------------------------------------------- helpers
def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_SCORE_RTOL, abs_tol=_SCORE_RTOL)


def signature_differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any],
                          ignore: frozenset[str] = frozenset()) -> list[str]:
    """``["tok (baseline '13a', candidate 'intl')", ...]`` for every field that differs or is missing
    (:meth:`MetricSignature.differences`, worded for the gate)."""
    found = MetricSignature.recorded(baseline).differences(MetricSignature.recorded(candidate), ignore)
    return [f"{name} (baseline {b!r}, candidate {c!r})" for name, b, c in found]


def _option_defaults(metric: Any) -> dict[str, Any]:
    """The defaults of a metric's options model (fields without one are left out)."""
    model = getattr(metric, "options_model", None)
    fields = getattr(model, "model_fields", {}) if model is not None else {}
    return {name: f.get_default(call_default_factory=True) for name, f in fields.items()
            if not f.is_required()}


def _testset_differences(baseline: Baseline, results: Results) -> list[str]:
    b, c = baseline.testset, results.testset
    out = []
    for name in ("hash", "num_segments", "source_lang", "target_lang"):
        bv, cv = getattr(b, name), getattr(c, name)
        if bv != cv:
            shown = (str(bv)[:12], str(cv)[:12]) if name == "hash" else (bv, cv)
            out.append(f"testset.{name} (baseline {shown[0]!r}, candidate {shown[1]!r})")
    return out


def _pair_systems(baseline: Baseline, results: Results, policy: GatePolicy,
                  system_map: Mapping[str, str], notes: list[str]) -> list[tuple[str, str]]:
    wanted = list(policy.systems) if policy.systems else list(baseline.systems)
    pairs = []
    for name in wanted:
        if name not in baseline.systems:
            raise MtEvalError(f"system {name!r} is not in the baseline (has: {', '.join(baseline.systems)})")
        pairs.append((name, system_map.get(name, name)))
    # The common CI case: one system in the baseline, one (renamed) system in the candidate.
    if (len(pairs) == 1 and not system_map and pairs[0][1] not in results.systems
            and len(results.systems) == 1):
        only = next(iter(results.systems))
        notes.append(f"baseline system {pairs[0][0]!r} compared with the candidate's only system {only!r}")
        pairs = [(pairs[0][0], only)]
    return pairs


def _metric_keys(baseline: Baseline, system: str, policy: GatePolicy) -> list[str]:
    return list(policy.metrics or baseline.systems[system].metrics)


def _candidate_metric_key(entry: BaselineEntry, key: str, results: Results) -> str | None:
    """The same key, else the candidate's only metric of the same name (``bleu`` vs ``bleu:tok=intl``).

    Matching by name lets the gate say *which signature field* changed instead of "metric missing".
    """
    if key in results.metrics:
        return key
    name = entry.metric_spec.get("name")
    same = [k for k, info in results.metrics.items() if info.spec.get("name") == name]
    return same[0] if len(same) == 1 else None


# ----------------------------------------------------------------------------------- judging
@dataclass
class Prepared:
    """One system × metric whose files were checked and whose statistics are ready to test."""

    metric: Any
    baseline_stats: np.ndarray
    candidate_stats: np.ndarray
    system: str
    key: str
    candidate_system: str
    baseline_score: float
    candidate_score: float
    higher_is_better: bool
    signature: str


def judge(p: Prepared, p_value: float, rules: MetricPolicy, policy: VerdictSettings, *,
          human_agreement: float | None = None, in_family: bool = True) -> tuple[Status, str, dict[str, Any]]:
    """The status of one comparison from its scores and (adjusted) p-value (pure: no statistics here)."""
    baseline_score, candidate_score = p.baseline_score, p.candidate_score
    higher_is_better = p.higher_is_better
    alpha, min_human_agreement = policy.alpha, policy.min_human_agreement
    delta = candidate_score - baseline_score
    worsening = -delta if higher_is_better else delta
    allowed = rules.allowed_drop(baseline_score)
    significant = p_value < alpha
    facts = {"delta": delta, "worsening": worsening, "allowed_drop": allowed, "significant": significant}
    where = f"{p.system}/{p.key}"
    if rules.min_score is not None and candidate_score < rules.min_score:
        return ("below-min-score", f"{where}: {candidate_score:.2f} is below the floor {rules.min_score:g}",
                facts)
    if rules.max_score is not None and candidate_score > rules.max_score:
        return ("above-max-score",
                f"{where}: {candidate_score:.2f} is above the ceiling {rules.max_score:g}", facts)
    if not in_family:
        return ("reported", f"{where}: change {delta:+.2f} (p={p_value:.4f}) reported only: not in the "
                "gate's family of metrics", facts)
    if not significant:
        return ("no-significant-change",
                f"{where}: change {delta:+.2f} is not significant (p={p_value:.4f} >= α={alpha:g})", facts)
    if worsening > allowed and min_human_agreement is not None and (
            human_agreement is None or human_agreement < min_human_agreement):
        shown = "no human-agreement curve exists for this metric" if human_agreement is None else \
            f"humans would agree with it {human_agreement:.0f}% of the time"
        return ("not-noticeable", f"{where}: worse by {worsening:.2f}, significant (p={p_value:.4f}), but "
                f"{shown}, below min_human_agreement {min_human_agreement:g}%", facts)
    if worsening > allowed:
        return ("regression", f"{where}: worse by {worsening:.2f} > tolerance {allowed:.2f} and significant "
                f"(p={p_value:.4f} < α={alpha:g})", facts)
    if worsening > 0:
        return ("pass-within-tolerance", f"{where}: worse by {worsening:.2f}, significant "
                f"(p={p_value:.4f}) but within tolerance {allowed:.2f}", facts)
    return ("improvement", f"{where}: better by {-worsening:.2f}, significant (p={p_value:.4f})", facts)


def _in_family(entry: BaselineEntry, key: str, policy: GatePolicy) -> bool:
    """Family membership of a baseline metric (a metric that cannot be rebuilt here counts as a member)."""
    return policy.in_family(key, str(entry.metric_spec.get("name", key)), family_default(entry.metric_spec))


def _prepare_one(baseline: Baseline, results: Results, run_dir: Path, system: str, cand_system: str,
                 key: str, policy: GatePolicy) -> Comparison | Prepared:
    def cannot(reason: str, **extra: Any) -> Comparison:
        return Comparison(system, key, "cannot-compare", reason, candidate_system=cand_system, **extra)

    entry: BaselineEntry | None = baseline.systems[system].metrics.get(key)
    if entry is None:
        return cannot(f"{system}/{key}: the baseline has no {key} score for this system")
    if cand_system not in results.systems:
        return cannot(f"{system}/{key}: the candidate run has no system {cand_system!r} "
                      f"(has: {', '.join(results.systems) or 'none'})")
    info = results.systems[cand_system]
    if info.status != "ok":
        return cannot(f"{system}/{key}: candidate system {cand_system!r} was skipped ({info.reason})")
    cand_key = _candidate_metric_key(entry, key, results)
    if cand_key is None and not _in_family(entry, key, policy):
        return Comparison(system, key, "reported", f"{system}/{key}: not in the candidate run; not in the "
                          "gate's family of metrics, so nothing to compare", candidate_system=cand_system,
                          in_family=False, baseline_score=entry.score, signature=entry.signature_string)
    if cand_key is None:
        return cannot(f"{system}/{key}: the candidate run did not compute metric {key!r} "
                      f"(has: {', '.join(results.metrics)})")
    cinfo = results.metrics[cand_key]
    base = dict(baseline_score=entry.score, signature=entry.signature_string,
                higher_is_better=entry.higher_is_better)
    diffs = signature_differences(entry.signature, cinfo.signature, frozenset(policy.ignore_signature_fields))
    if diffs:
        return cannot(f"{system}/{key}: metric signature field {'; '.join(diffs)} differs", **base)
    try:
        from mt_eval.metrics.registry import metric_from_spec

        metric = metric_from_spec(entry.metric_spec)
    except MtEvalError as exc:
        return cannot(f"{system}/{key}: cannot rebuild the metric here ({exc})", **base)
    run_only = frozenset(getattr(metric, "run_only_options", frozenset()))
    # an option the baseline's version did not have yet compares at its default (new ar_* options)
    defaults = _option_defaults(metric)
    spec_diffs = signature_differences({**defaults, **entry.metric_spec.get("options", {})},
                                       {**defaults, **cinfo.spec.get("options", {})}, run_only)
    if entry.metric_spec.get("name") != cinfo.spec.get("name"):
        spec_diffs.insert(0, f"name (baseline {entry.metric_spec.get('name')!r}, "
                             f"candidate {cinfo.spec.get('name')!r})")
    if spec_diffs:
        return cannot(f"{system}/{key}: metric option {'; '.join(spec_diffs)} differs", **base)
    score = results.scores.get(cand_system, {}).get(cand_key)
    if score is None:
        return cannot(f"{system}/{key}: the candidate's results.json has no {key} score", **base)
    try:
        cand_stats = RunFolder(run_dir).stats(cand_system, cand_key)
    except MtEvalError as exc:
        return cannot(f"{system}/{key}: {exc}", **base)
    base_stats = entry.stats_array()
    if cand_stats.shape != base_stats.shape:
        return cannot(f"{system}/{key}: candidate statistics have shape {cand_stats.shape}, the "
                      f"baseline's {base_stats.shape}", **base)
    try:
        stored_base = metric.corpus_score(base_stats)
        stored_cand = metric.corpus_score(cand_stats)
    except MtEvalError as exc:
        return cannot(f"{system}/{key}: cannot rebuild the metric here ({exc})", **base)
    if not _close(stored_base, entry.score):
        return cannot(f"{system}/{key}: the baseline's statistics give {stored_base:.4f}, not its stored "
                      f"score {entry.score:.4f} (baseline edited?)", **base)
    if not _close(stored_cand, score.score):
        return cannot(f"{system}/{key}: the candidate's statistics give {stored_cand:.4f}, not the "
                      f"{score.score:.4f} in results.json (stale stats?)", **base)
    return Prepared(metric, base_stats, cand_stats, system, key, cand_system, entry.score, score.score,
                    entry.higher_is_better, entry.signature_string)


def assess_all(prepared: list[Prepared], policy: GatePolicy,
               flags: list[FlagComparison] | None = None) -> list[Comparison]:
    """Paired tests for every prepared comparison, Holm-adjusted over the family, then judged.

    Only family members (policy ``primary_metric``/``family``, by default the metrics that declare
    themselves gate metrics) can fail the gate, and only they share the Holm correction, so the
    probability that the whole verdict fails on noise is at most α. Noisy ``flags`` the policy gates
    (``gate_flags``) join that family with their exact McNemar p-values; every noisy flag is judged here
    (in place).
    """
    from mt_eval.evaluate import PairTest, paired_tests
    from mt_eval.stats.human_agreement import human_agreement
    from mt_eval.stats.multiple_testing import holm
    from mt_eval.stats.significance import choose_method

    noisy = [f for f in flags or [] if f.kind == "noisy" and f.p_value is not None and f.compared]
    gated = [f for f in noisy if f.gated]
    members = [policy.in_family(p.key, str(getattr(p.metric, "name", p.key)),
                                bool(getattr(p.metric, "gate_family_default", True))) for p in prepared]
    tests: list[tuple[Any, float]] = []
    if prepared:
        method, _ = choose_method(prepared[0].baseline_stats.shape[0], policy.method)
        tests = paired_tests([PairTest(p.metric, p.baseline_stats, p.candidate_stats) for p in prepared],
                             method, policy.resamples(method), policy.seed)
    adjusted = [float(test.p_value) for test, _ in tests]
    if policy.correction == "holm":  # one Holm family: the gate's metric members and gated flags
        at = [i for i, member in enumerate(members) if member]
        family = holm([adjusted[i] for i in at] + [float(f.p_value or 1.0) for f in gated])
        for i, p_adj in zip(at, family, strict=False):
            adjusted[i] = p_adj
        for f, p_adj in zip(gated, family[len(at):], strict=True):
            f.p_adjusted = p_adj
    for f in noisy:
        judge_noisy(f, policy.alpha)
    out = []
    for p, (test, _), p_adj, member in zip(prepared, tests, adjusted, members, strict=True):
        # a key such as "bleu:tokenize=intl" takes the policy of its own key, else of its metric ("bleu")
        rules = policy.for_metric(p.key if p.key in policy.metric else getattr(p.metric, "name", p.key))
        agreement = human_agreement(p.metric.spec(), p.candidate_score - p.baseline_score)
        status, reason, facts = judge(p, p_adj, rules, policy, human_agreement=agreement, in_family=member)
        out.append(Comparison(p.system, p.key, status, reason, candidate_system=p.candidate_system,
                              higher_is_better=p.higher_is_better, baseline_score=p.baseline_score,
                              candidate_score=p.candidate_score, p_value=float(test.p_value),
                              p_adjusted=p_adj, human_agreement=agreement, in_family=member,
                              min_score=rules.min_score, max_score=rules.max_score, signature=p.signature,
                              **facts))
    return out


def assess(metric: Any, baseline_stats: np.ndarray, candidate_stats: np.ndarray, *, system: str, key: str,
           policy: GatePolicy) -> Comparison:
    """Paired test + policy for one system × metric on already-checked statistics (a family of one)."""
    prepared = Prepared(metric, baseline_stats, candidate_stats, system, key, system,
                        metric.corpus_score(baseline_stats), metric.corpus_score(candidate_stats),
                        metric.higher_is_better, "")
    return assess_all([prepared], policy)[0]


def _check_environment(verdict: Verdict, baseline: Baseline, results: Results, run_dir: Path, system: str,
                       cand_system: str, policy: GatePolicy) -> None:
    """Outputs that changed under an unchanged translator signature: say whether the machine changed.

    Greedy decoding is reproducible on one machine, not across CPU types (llama.cpp, CTranslate2 and
    torch choose kernels by SIMD features): without this note a team would read a hardware
    difference as a regression of their change.
    """
    from mt_eval.environment import fingerprint_differences
    from mt_eval.gate.baseline import output_hashes

    base = baseline.systems[system]
    cand = results.systems.get(cand_system)
    if not base.output_hashes or cand is None or cand.status != "ok" or base.signature != cand.signature:
        return
    try:
        hashes = output_hashes(RunFolder(run_dir).outputs(cand_system, results.testset.num_segments))
    except MtEvalError as exc:
        verdict.notes.append(f"{system}: outputs not compared ({exc})")
        return
    changed = sum(a != b for a, b in zip(base.output_hashes, hashes, strict=False))
    if not changed:
        return
    what = (f"{system}: {changed} of {len(hashes)} segment outputs differ although the translator "
            "signature is unchanged")
    diffs = fingerprint_differences(base.environment, cand.environment)
    if not diffs:
        known = "the same machine fingerprint" if base.environment and cand.environment else \
            "no recorded fingerprint to compare"
        verdict.notes.append(f"{what}, with {known} (non-deterministic decoding?)")
        return
    message = (f"{what}, and the machine fingerprint differs: {'; '.join(diffs)}. The score change may "
               "come from the hardware or libraries, not from the change under test: make the baseline "
               "on the CI runner type and keep the translation cache between runs")
    if policy.require_same_environment:
        verdict.errors.append(message + " (require_same_environment)")
    else:
        verdict.notes.append(message + "; scores were compared as usual")


def compare(baseline: Baseline, results: Results, run_dir: str | Path, policy: GatePolicy, *,
            baseline_path: str = "", candidate_path: str = "",
            system_map: Mapping[str, str] | None = None) -> Verdict:
    """Test every (selected) baseline system × metric against the candidate run folder."""
    from mt_eval.stats.significance import choose_method

    method, warnings = choose_method(baseline.testset.num_segments, policy.method)
    verdict = Verdict(baseline=baseline_path, candidate=candidate_path,
                      testset={"hash": baseline.testset.hash, "name": baseline.testset.name,
                               "num_segments": baseline.testset.num_segments},
                      policy={**policy.model_dump(mode="json"), "method": method,
                              "n_resamples": policy.resamples(method)})
    diffs = _testset_differences(baseline, results)
    if diffs:
        verdict.errors.append("the candidate was run on another test set: " + "; ".join(diffs) + " differs")
        return verdict
    verdict.notes.extend(f"warning: {w}" for w in warnings)
    if baseline.testset.name != results.testset.name:
        verdict.notes.append(f"same test-set content ({baseline.testset.hash[:12]}) under another name: "
                             f"baseline {baseline.testset.name!r}, candidate {results.testset.name!r}")
    known = {k for s in baseline.systems.values() for k in s.metrics}
    known |= {str(e.metric_spec.get("name")) for s in baseline.systems.values() for e in s.metrics.values()}
    for key in policy.metric:
        if key not in known:
            verdict.notes.append(f"the policy names metric {key!r}, which the baseline does not hold")
    # a misspelt primary metric or family member would silently leave nothing that can fail
    named = ([policy.primary_metric] if policy.primary_metric else []) + list(policy.family or [])
    unknown = [m for m in named if m not in known]
    if unknown:
        verdict.errors.append(f"the policy's primary_metric/family names {', '.join(map(repr, unknown))}, "
                              f"which the baseline does not hold (has: {', '.join(sorted(known))})")
        return verdict
    try:
        pairs = _pair_systems(baseline, results, policy, system_map or {}, verdict.notes)
    except MtEvalError as exc:
        verdict.errors.append(str(exc))
        return verdict
    prepared: list[Prepared] = []
    order: list[Comparison | Prepared] = []
    for system, cand_system in pairs:
        _check_environment(verdict, baseline, results, Path(run_dir), system, cand_system, policy)
        for key in _metric_keys(baseline, system, policy):
            item = _prepare_one(baseline, results, Path(run_dir), system, cand_system, key, policy)
            order.append(item)
            if isinstance(item, Prepared):
                prepared.append(item)
    try:
        verdict.flags = _flag_comparisons(verdict, baseline, results, Path(run_dir), pairs, policy)
    except MtEvalError as exc:
        verdict.errors.append(str(exc))
    judged = iter(assess_all(prepared, policy, verdict.flags))
    verdict.comparisons = [item if isinstance(item, Comparison) else next(judged) for item in order]
    verdict.mde = _mde(prepared, verdict, policy)
    if policy.require_canaries:
        _check_canaries(verdict, baseline, results, Path(run_dir))
    return verdict


def _mde(prepared: list[Prepared], verdict: Verdict, policy: GatePolicy) -> list[dict[str, Any]]:
    """The smallest drop each family comparison can show, at the policy's α Holm-adjusted over the family
    the verdict tested (metric comparisons and gated noisy flags)."""
    from mt_eval.gate.baseline import metric_mde

    judged = {(c.system, c.metric): c for c in verdict.comparisons}
    members = [p for p in prepared if judged[(p.system, p.key)].in_family]
    gated = [f for f in verdict.flags
             if f.kind == "noisy" and f.gated and f.p_value is not None and f.compared]
    size = len(members) + len(gated) if policy.correction == "holm" else 1
    out = []
    for p in members:
        try:
            out.append(metric_mde(p.metric, p.baseline_stats, alpha=policy.alpha, family_size=max(size, 1),
                                  tolerance=judged[(p.system, p.key)].allowed_drop,
                                  where=f"{p.system}/{p.key}"))
        except MtEvalError as exc:
            verdict.notes.append(f"{p.system}/{p.key}: smallest detectable drop not computed ({exc})")
    return out


def _check_canaries(verdict: Verdict, baseline: Baseline, results: Results, run_dir: Path) -> None:
    """``require_canaries``: every family metric that was compared must pass its critical canaries in the
    candidate's ``canaries.json`` (same test set, same signature); else one error line (exit 2) naming
    each metric and why."""
    from mt_eval.canaries.report import FILE_NAME, load_canaries
    from mt_eval.canaries.verdict import canary_verdict

    keys: dict[str, str] = {}  # baseline metric key -> candidate metric key
    for c in verdict.comparisons:
        entry = baseline.systems[c.system].metrics.get(c.metric)
        if c.in_family and c.status != "cannot-compare" and entry is not None:
            cand = _candidate_metric_key(entry, c.metric, results)
            if cand is not None:
                keys.setdefault(c.metric, cand)
    if not keys:
        return
    path = run_dir / FILE_NAME
    if not path.is_file():
        verdict.errors.append(f"canaries missing: {path} not found, and require_canaries lets no metric"
                              f" ({', '.join(keys)}) decide the build without them (mt-eval run --canaries,"
                              " or mt-eval canary -o RUN)")
        return
    try:
        document = load_canaries(path)
    except MtEvalError as exc:
        verdict.errors.append(f"canaries unreadable (require_canaries): {exc}")
        return
    refused = []
    for key, cand in keys.items():
        ok, reason = canary_verdict(document, results.testset.hash, results.metrics[cand].signature_string)
        verdict.canaries[key] = reason
        if not ok:
            refused.append(f"{key}: {reason}")
    if refused:
        verdict.errors.append("require_canaries: metric(s) not allowed to decide the build: "
                              + "; ".join(refused))


def _flag_comparisons(verdict: Verdict, baseline: Baseline, results: Results, run_dir: Path,
                      pairs: list[tuple[str, str]], policy: GatePolicy) -> list[FlagComparison]:
    """Every paired system's output-check flags against the baseline's (:mod:`mt_eval.gate.flags`)."""
    old = baseline.schema_version < 3
    differences = {} if old else settings_differences(baseline.checks, run_check_settings(results))
    if old:
        verdict.notes.append(f"the baseline (schema {baseline.schema_version}) keeps no per-segment output "
                             "flags: flags not compared; re-save it with `mt-eval baseline save` to gate on "
                             "empty, untranslated and wrong-language outputs")
    elif differences:
        shown = "; ".join(f"{k} (baseline {b!r}, candidate {c!r})" for k, (b, c) in differences.items())
        verdict.notes.append(f"the output-check settings differ: {shown}; only the flags both sides computed"
                             " the same way are compared")
    folder = RunFolder(run_dir)
    records: list[dict[str, Any]] | None = None
    out: list[FlagComparison] = []
    for system, cand_system in pairs:
        info = results.systems.get(cand_system)
        if info is None or info.status != "ok":
            continue  # the metric comparisons say why
        base_flags = baseline.systems[system].flags
        cand_counts = results.flags.get(cand_system)
        if old or base_flags is None:
            why = ("the baseline keeps no flags (schema < 3)" if old else
                   "the baseline run had no output checks")
            out += [FlagComparison(system, flag, "catastrophic" if flag in CATASTROPHIC else "noisy",
                                   "not-compared", f"{system}/{flag}: {why}; not compared",
                                   candidate_system=cand_system, candidate_count=int(count))
                    for flag, count in (cand_counts or {}).items()]
            if not old:
                verdict.notes.append(f"{system}: the baseline run had no output checks; flags not compared")
            continue
        if cand_counts is None:
            verdict.notes.append(f"{system}: the candidate run had no output checks (checks off); flags not "
                                 "compared")
            continue
        if records is None:
            records = folder.segments(results)
        cand_flags = run_flags(folder, results, cand_system, records)
        assert cand_flags is not None  # cand_counts is not None
        out += compare_flags(system, cand_system, base_flags, cand_flags, policy, differences)
    return out
