"""Output-check flags in the gate: catastrophic outputs a corpus average hides, compared segment by segment.

A corpus score can *rise* when a handful of outputs are empty or untranslated (BLEU's precision gains
when a long segment disappears), so the gate also compares the per-segment flags of
:mod:`mt_eval.checks` that a baseline keeps:

* **catastrophic** flags (:data:`CATASTROPHIC`: ``empty``, ``copy_of_source``, ``wrong_language``, the
  backend's ``truncated``, ``number_mismatch``) fail the gate as soon as the number of flagged segments
  grows by more than the policy's ``max_flag_increase`` (per flag, default 0) — no statistical test,
  whatever the tolerances, ``primary_metric`` or ``family`` say: one empty output is one too many;
* **noisy** flags (:data:`NOISY`: ``repetition``, ``length_ratio``) fire on some good outputs too, so they
  get the exact McNemar test on the segments whose flag changed (:func:`mcnemar_exact`), reported beside
  the metrics; they fail the gate only when the policy names them in ``gate_flags`` (then in the Holm
  family with the gated metrics).

A flag is compared only where both sides computed it the same way: both ran the check, and the check
settings it depends on (:data:`FLAG_SETTINGS`) are equal. Anything else is "not compared", with the
reason; an older baseline (schema < 3) keeps no flags and compares none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mt_eval.errors import MtEvalError

if TYPE_CHECKING:
    from mt_eval.gate.policy import GatePolicy
    from mt_eval.reports.results import Results
    from mt_eval.reports.run_folder import RunFolder

#: flags that fail the gate on any increase above ``max_flag_increase`` (default 0)
CATASTROPHIC = ("empty", "copy_of_source", "wrong_language", "truncated", "number_mismatch")
#: flags that also fire on good outputs: an exact paired test, gating only when the policy names them
NOISY = ("repetition", "length_ratio")
ALL_FLAGS = CATASTROPHIC + NOISY

#: the check settings (:class:`mt_eval.checks.CheckConfig` fields) each flag depends on; ``enabled`` is
#: read from which flags a run computed. A differing setting not listed here leaves only the flags in
#: :data:`_SETTING_FREE` comparable (it may change any check).
FLAG_SETTINGS: dict[str, tuple[str, ...]] = {
    "empty": (),
    "truncated": (),
    "copy_of_source": (),
    "number_mismatch": (),
    "wrong_language": ("ignore_marks", "language_min_share"),
    "repetition": ("repeat_max_n", "repeat_min_count", "repeat_unigram_min_count"),
    "length_ratio": ("length_unit", "length_against", "ignore_marks", "length_scale", "min_length_ratio",
                     "max_length_ratio", "unfinished_min_length_ratio", "unfinished_max_share",
                     "unfinished_min_support", "min_length", "length_band", "spread_sigmas",
                     "spread_max_min_ratio", "spread_min_segments"),
}
_SETTING_FREE = frozenset({"empty", "truncated"})  # decided without any setting, by any version
FIRST_IDS = 5  # newly flagged segments named in a reason

FlagStatus = Literal["regression", "pass-within-tolerance", "no-increase", "improvement",
                     "no-significant-change", "reported", "not-compared"]


@dataclass
class FlagComparison:
    """The gate's finding for one baseline system on one output-check flag."""

    system: str
    flag: str
    kind: Literal["catastrophic", "noisy"]
    status: FlagStatus
    reason: str
    candidate_system: str = ""
    baseline_count: int | None = None
    candidate_count: int | None = None
    newly_flagged: int | None = None  # flagged in the candidate, not in the baseline
    no_longer_flagged: int | None = None  # flagged in the baseline, not in the candidate
    allowed_increase: int | None = None  # catastrophic flags: the policy's max_flag_increase
    p_value: float | None = None  # noisy flags: exact McNemar test, two-sided
    p_adjusted: float | None = None  # Holm over the gate's family when gated (= p_value otherwise)
    gated: bool = False  # whether this flag can fail the gate
    first_segments: list[str] = field(default_factory=list)  # ids of the first newly flagged segments

    @property
    def failed(self) -> bool:
        return self.status == "regression"

    @property
    def compared(self) -> bool:
        return self.status != "not-compared"


# ------------------------------------------------------------------------------------ statistics
def mcnemar_exact(newly: int, gone: int) -> float:
    """Two-sided exact McNemar p-value: ``newly`` segments gained the flag, ``gone`` lost it.

    Under "no change", each of the ``n = newly + gone`` discordant segments is equally likely to go
    either way, so ``newly ~ Binomial(n, 1/2)``; the p-value is twice the smaller tail, capped at 1
    (scipy's ``binomtest(newly, n, 0.5)``, which is symmetric here). Exact integer arithmetic.
    """
    if newly < 0 or gone < 0:
        raise ValueError("counts must be non-negative")
    n = newly + gone
    if n == 0:
        return 1.0
    k = min(newly, gone)
    if 2 * k == n:
        return 1.0
    term, tail = 1, 1  # C(n, 0); the tail P(X <= k) * 2**n, built term by term
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, 2 * tail / 2**n)


# ------------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class SystemFlags:
    """One system's flags in a run: per flag it computed, the sorted 0-based flagged segment indices."""

    flagged: dict[str, list[int]]
    ids: list[str] = field(default_factory=list)  # segment ids, for naming segments in a reason


def run_flags(folder: RunFolder, results: Results, system: str,
              records: Sequence[Mapping[str, Any]] | None = None) -> SystemFlags | None:
    """The per-segment flags of ``system`` in a run folder (``segments.jsonl``), checked against the counts
    in ``results.json``; ``None`` when the run computed none (checks off)."""
    counts = results.flags.get(system)
    if counts is None:
        return None
    if records is None:
        records = folder.segments(results)
    flagged: dict[str, list[int]] = {flag: [] for flag in counts}
    for i, record in enumerate(records):
        for flag in record.get("flags", {}).get(system, []):
            if flag in flagged:
                flagged[flag].append(i)
    for flag, count in counts.items():
        if len(flagged[flag]) != int(count):
            raise MtEvalError(f"{folder.layout.segments_jsonl}: {len(flagged[flag])} segments flagged "
                              f"{flag} for system {system!r}, but results.json counts {count} (edited or "
                              "stale run folder)")
    ids = [str(r.get("id") or r.get("index", i)) for i, r in enumerate(records)]
    return SystemFlags(flagged, ids)


def run_check_settings(results: Results) -> dict[str, Any] | None:
    """The check settings a run recorded (``results.json`` ``config.checks``), ``None`` if not recorded."""
    checks = results.config.get("checks")
    return dict(checks) if isinstance(checks, Mapping) else None


def settings_differences(baseline: Mapping[str, Any] | None,
                         candidate: Mapping[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """``{setting: (baseline value, candidate value)}`` for each check setting that differs (``enabled``
    aside); a side that recorded no settings differs in a ``*`` entry."""
    if baseline is None or candidate is None:
        return {} if baseline is candidate else {"*": ("not recorded" if baseline is None else "recorded",
                                                       "not recorded" if candidate is None else "recorded")}
    missing = "<absent>"
    return {name: (baseline.get(name, missing), candidate.get(name, missing))
            for name in dict.fromkeys([*baseline, *candidate]) if name != "enabled"
            and baseline.get(name, missing) != candidate.get(name, missing)}


def blocking_settings(flag: str, differences: Mapping[str, Any]) -> list[str]:
    """The differing settings that make ``flag`` computed differently on the two sides."""
    if flag in _SETTING_FREE:
        return []
    known = {s for names in FLAG_SETTINGS.values() for s in names}
    own = set(FLAG_SETTINGS.get(flag, ()))
    return [name for name in differences if name in own or name not in known]


# ------------------------------------------------------------------------------------ comparing
def compare_flags(system: str, cand_system: str, baseline: Mapping[str, list[int]],
                  candidate: SystemFlags, policy: GatePolicy,
                  differences: Mapping[str, tuple[Any, Any]]) -> list[FlagComparison]:
    """Every flag either side computed, compared where both computed it the same way.

    Catastrophic flags are judged here; noisy flags get their raw p-value and are judged by
    :func:`judge_noisy` once the Holm correction over the gate's family is known.
    """
    out = []
    for flag in sorted({*baseline, *candidate.flagged}, key=_flag_order):
        kind: Literal["catastrophic", "noisy"] = "catastrophic" if flag in CATASTROPHIC else "noisy"
        gated = kind == "catastrophic" or flag in policy.gate_flags
        where = f"{system}/{flag}"
        blocked = blocking_settings(flag, differences)
        why = ("not computed for the baseline" if flag not in baseline else
               "not computed for the candidate" if flag not in candidate.flagged else
               "check setting " + "; ".join(f"{name} (baseline {differences[name][0]!r}, candidate "
                                            f"{differences[name][1]!r})" for name in blocked) + " differs"
               if blocked else "")
        if why:
            out.append(FlagComparison(
                system, flag, kind, "not-compared", f"{where}: {why}; not compared",
                candidate_system=cand_system, gated=gated,
                baseline_count=len(baseline[flag]) if flag in baseline else None,
                candidate_count=len(candidate.flagged[flag]) if flag in candidate.flagged else None))
            continue
        before, after = set(baseline[flag]), set(candidate.flagged[flag])
        newly = sorted(after - before)
        facts: dict[str, Any] = dict(
            candidate_system=cand_system, baseline_count=len(before), candidate_count=len(after),
            newly_flagged=len(newly), no_longer_flagged=len(before - after), gated=gated,
            first_segments=[candidate.ids[i] if i < len(candidate.ids) else str(i)
                            for i in newly[:FIRST_IDS]])
        if kind == "noisy":
            p = mcnemar_exact(len(newly), len(before - after))
            out.append(FlagComparison(system, flag, kind, "reported", "", p_value=p, p_adjusted=p, **facts))
            continue
        allowed = policy.allowed_flag_increase(flag)
        increase = len(after) - len(before)
        counts = f"{len(before)} → {len(after)} segments"
        named = f"; first newly flagged: {', '.join(facts['first_segments'])}" if newly else ""
        if increase > allowed:
            status: FlagStatus = "regression"
            reason = (f"{where}: {counts} (+{increase} > max_flag_increase {allowed}), {len(newly)} newly "
                      f"flagged{named}")
        elif increase > 0:
            status, reason = "pass-within-tolerance", (f"{where}: {counts} (+{increase}, within "
                                                       f"max_flag_increase {allowed}){named}")
        elif increase < 0:
            status, reason = "improvement", f"{where}: {counts}"
        else:
            status, reason = "no-increase", f"{where}: {counts}{named}"
        out.append(FlagComparison(system, flag, kind, status, reason, allowed_increase=allowed, **facts))
    return out


def judge_noisy(item: FlagComparison, alpha: float) -> None:
    """The status of a noisy flag from its (Holm-adjusted, when gated) p-value, set in place."""
    if item.kind != "noisy" or item.status == "not-compared" or item.p_value is None:
        return
    p = item.p_adjusted if item.p_adjusted is not None else item.p_value
    where = f"{item.system}/{item.flag}"
    newly, gone = item.newly_flagged or 0, item.no_longer_flagged or 0
    change = (f"{item.baseline_count} → {item.candidate_count} segments ({newly} newly flagged, {gone} no "
              f"longer; exact McNemar p={item.p_value:.4f})")
    named = f"; first newly flagged: {', '.join(item.first_segments)}" if item.first_segments else ""
    if not item.gated:
        item.status, item.reason = "reported", f"{where}: {change} reported only (not in gate_flags){named}"
    elif p < alpha and newly > gone:
        item.status = "regression"
        item.reason = f"{where}: {change}, significant (p={p:.4f} < α={alpha:g}){named}"
    elif p < alpha:
        item.status, item.reason = "improvement", f"{where}: {change}, significant (p={p:.4f})"
    else:
        item.status, item.reason = "no-significant-change", f"{where}: {change}, not significant (p={p:.4f})"


def _flag_order(flag: str) -> tuple[int, str]:
    return (ALL_FLAGS.index(flag) if flag in ALL_FLAGS else len(ALL_FLAGS), flag)
