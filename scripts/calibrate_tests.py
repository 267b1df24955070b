"""Calibration of mt-eval's paired tests and of the gate on null and shifted data (real metric statistics).

Everything is measured with the project's own code: statistics from
``mt_eval.metrics.registry.get_metric(...).segment_stats`` (sacrebleu BLEU, chrF, TER, chrF++, semantic),
p-values from ``mt_eval.stats.significance.compare_metrics_to_baseline`` (one draw shared by the
metrics of a simulation) and whole-gate verdicts from ``mt_eval.gate.verdict.assess_all``.

The null is exchangeable by construction: a pool holds, for each of N synthetic references, K noisy
variants (word replacement / deletion / insertion at one noise level) whose statistics are computed
once per metric. In a simulation, a share of the segments "differ": there both systems draw two
distinct variants of that segment at random; elsewhere both use the same variant. Swapping the two
systems' outputs on any segment leaves the joint distribution unchanged, so every test's p-value
should be (super-)uniform and the rejection rate at most α.

Cells (written to ``results/bench/calibration.json`` and ``calibration.md``):

1. type-I error: N=1000, shares 1%/10%/50%/100%, BLEU/chrF/TER, paired-bs (default centred rule)
   and paired-AR (default rule: ties count, exact enumeration when 2^k ≤ T), Clopper–Pearson 95%;
2. power: system B drawn from a noisier pool whose expected corpus BLEU is ≈ 1 point lower, under
   three designs of how B's segments relate to A's (independent, paired degradation, a mix), with the
   power an oracle z-test would reach on the same data, and the spread of ΔBLEU between real systems
   (FLORES outputs in ``../shared``, when present) to say which design is realistic;
3. whole gate: 5 metrics, one system, tolerance 0, Holm (the default) vs no correction;
4. small N: paired-bs and paired-AR type-I at N = 10 … 200 (AR only below ``SMALL_SAMPLE``).

Usage: ``python scripts/calibrate_tests.py [--quick] [--sims 5000] [--out results/bench/calibration.json]``.
An interrupted run resumes: the output is written atomically after every cell, type-I cells grow in
rounds of ``--round`` simulations, and finished work is kept when the pool (segments, variants,
noise, seed) is unchanged. ``--parts`` splits the work over processes; ``--merge`` joins their files.
Pool statistics are cached as ``.npy`` under ``--cache``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from mt_eval.fsio import atomic_write_json, atomic_write_text  # noqa: E402
from mt_eval.gate.policy import GatePolicy  # noqa: E402
from mt_eval.gate.verdict import Prepared, assess_all  # noqa: E402
from mt_eval.metrics.base import Metric  # noqa: E402
from mt_eval.metrics.registry import get_metric  # noqa: E402
from mt_eval.settings import AR_TRIALS, SMALL_SAMPLE  # noqa: E402
from mt_eval.stats.significance import compare_metrics_to_baseline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
logging.getLogger("sacrebleu").setLevel(logging.ERROR)

ALPHA = 0.05
TYPE1_METRICS = ("bleu", "chrf", "ter")
METHODS = ("paired-bs", "paired-ar")


# ----------------------------------------------------------------------------------- statistics
def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X ≤ k) for X ~ Binomial(n, p), summed in log space (exact enough for n ≤ 10^5)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    i = np.arange(k + 1)
    logs = (math.lgamma(n + 1) - np.array([math.lgamma(x + 1) + math.lgamma(n - x + 1) for x in i])
            + i * math.log(p) + (n - i) * math.log1p(-p))
    top = logs.max()
    return float(min(1.0, math.exp(top) * np.exp(logs - top).sum()))


def _bisect(f: Callable[[float], float], target: float, increasing: bool) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if (f(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def clopper_pearson(x: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial proportion x/n, by bisection on the binomial CDF.

    Equal to the beta-quantile form (scipy's ``binomtest(...).proportion_ci("exact")``); written out
    so the script needs nothing beyond the project's dependencies.
    """
    a = 1.0 - confidence
    low = 0.0 if x == 0 else _bisect(lambda p: 1.0 - _binom_cdf(x - 1, n, p), a / 2, increasing=True)
    high = 1.0 if x == n else _bisect(lambda p: _binom_cdf(x, n, p), a / 2, increasing=False)
    return low, high


def binomial_margin(alpha: float, sims: int, z: float = 3.0) -> float:
    """A z-sigma margin above α for a rejection rate from ``sims`` simulations (used by the tests)."""
    return z * math.sqrt(alpha * (1.0 - alpha) / sims)


# ----------------------------------------------------------------------------------- the pool
_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def make_vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """Distinct pseudo-words of 2-9 letters (real chrF character n-grams, not ``w123`` tokens)."""
    words: set[str] = set()
    while len(words) < size:
        length = int(rng.integers(2, 10))
        words.add("".join(rng.choice(_LETTERS, size=length)))
    return [str(w) for w in rng.permutation(sorted(words))]  # frequency rank independent of spelling


class Pool:
    """N references, K noisy variants each, and every metric's statistics of every variant: ``(K, N, D)``."""

    def __init__(self, n_segments: int, variants: int, noise: float, seed: int,
                 vocab_size: int = 5000) -> None:
        rng = np.random.default_rng(seed)
        self.vocab = make_vocabulary(vocab_size, rng)
        probs = 1.0 / np.arange(1, vocab_size + 1) ** 1.05
        self.probs = probs / probs.sum()
        lengths = rng.integers(8, 36, size=n_segments)
        self.references = [self._sentence(rng, int(n)) for n in lengths]
        self.noise = noise
        self.n, self.k = n_segments, variants
        self.hyps = [[self.perturb(ref, noise, rng) for ref in self.references] for _ in range(variants)]
        self.stats: dict[str, np.ndarray] = {}
        self.metrics: dict[str, Metric] = {}
        self.seconds: dict[str, float] = {}

    def _sentence(self, rng: np.random.Generator, n: int) -> list[str]:
        return [self.vocab[i] for i in rng.choice(len(self.vocab), size=n, p=self.probs)]

    def perturb(self, ref: list[str], noise: float, rng: np.random.Generator) -> str:
        """Each word: replaced (noise/2), deleted (noise/4), or followed by an inserted word (noise/4)."""
        out: list[str] = []
        for word in ref:
            u = rng.random()
            if u < noise / 2:
                out.append(self.vocab[int(rng.choice(len(self.vocab), p=self.probs))])
            elif u < 3 * noise / 4:
                continue
            elif u < noise:
                out.extend([word, self.vocab[int(rng.integers(len(self.vocab)))]])
            else:
                out.append(word)
        return " ".join(out)

    def _sibling(self, hyps: list[list[str]], noise: float) -> Pool:
        other = object.__new__(Pool)
        other.vocab, other.probs, other.references = self.vocab, self.probs, self.references
        other.noise, other.n, other.k, other.hyps = noise, self.n, len(hyps), hyps
        other.stats, other.metrics, other.seconds = {}, {}, {}
        return other

    def with_noise(self, noise: float, seed: int) -> Pool:
        """The same references, fresh independent variants at another noise level."""
        rng = np.random.default_rng(seed)
        return self._sibling([[self.perturb(ref, noise, rng) for ref in self.references]
                              for _ in range(self.k)], noise)

    def degraded(self, extra: float, seed: int) -> Pool:
        """The same references; variant k of segment i is this pool's variant k of i, perturbed again."""
        rng = np.random.default_rng(seed)
        return self._sibling([[self.perturb(h.split(), extra, rng) for h in column] for column in self.hyps],
                             extra)

    def add_metric(self, key: str, metric: Metric, cache: Path | None = None) -> None:
        """Statistics of every variant; ``cache``: an ``.npy`` file read if present, else written."""
        refs = [[" ".join(r)] for r in self.references]
        start = time.perf_counter()
        if cache is not None and cache.is_file():
            self.stats[key] = np.load(cache, allow_pickle=False)
        else:
            self.stats[key] = np.stack([metric.segment_stats(h, refs) for h in self.hyps])
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
                with tmp.open("wb") as fh:
                    np.save(fh, self.stats[key], allow_pickle=False)
                os.replace(tmp, cache)
        self.metrics[key] = metric
        self.seconds[key] = time.perf_counter() - start

    def subset(self, variants: int) -> Pool:
        """The first ``variants`` variants of every segment, with their statistics."""
        other = self._sibling(self.hyps[:variants], self.noise)
        other.stats = {k: v[:variants] for k, v in self.stats.items()}
        other.metrics = dict(self.metrics)
        return other

    def take(self, key: str, variant: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Statistics of one system: segment i from variant ``variant[i]`` (rows: a subset of segments)."""
        rows = np.arange(self.n) if rows is None else rows
        return self.stats[key][variant, rows]

    def mean_corpus_score(self, key: str) -> float:
        """The corpus score averaged over the K full draws (column k of every segment)."""
        metric = self.metrics[key]
        return float(np.mean([metric.corpus_score(self.stats[key][k]) for k in range(self.k)]))


def null_draw(rng: np.random.Generator, n: int, k: int, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Variant indices of systems A and B: equal except on round(share·n) random segments, distinct there."""
    a = rng.integers(k, size=n)
    b = a.copy()
    differ = rng.choice(n, size=round(share * n), replace=False)
    b[differ] = (a[differ] + rng.integers(1, k, size=len(differ))) % k  # uniform over the other k-1
    return a, b


# ----------------------------------------------------------------------------------- cells
def _cell_record(method: str, metric: str, share: float, n: int, sims: int, rejections: int,
                 resamples: int, seconds: float, **extra: Any) -> dict[str, Any]:
    low, high = clopper_pearson(rejections, sims)
    return {"method": method, "metric": metric, "share": share, "n_segments": n, "sims": sims,
            "rejections": rejections, "rate": rejections / sims, "ci_low": low, "ci_high": high,
            "resamples": resamples, "seconds": round(seconds, 1), **extra}


def type1_cells(pool: Pool, metrics: Sequence[str], method: str, share: float, sims: int, resamples: int,
                seed: int, n_segments: int | None = None, batch: int = 50) -> list[dict[str, Any]]:
    """Null simulations, ``batch`` of them per ``compare_metrics_to_baseline`` call.

    Each simulation's metrics enter the call as separate groups (``bleu#3`` …) with their own
    baseline, so one call tests ``batch`` independent null draws on every metric. The groups of a call
    share one resample draw, as the metrics of one real comparison do; each call has its own seed, so
    a cell averages over sims/batch different draws (the gate itself always uses one fixed seed).
    """
    n = n_segments or pool.n
    rows = np.arange(n)
    rng = np.random.default_rng(seed)
    rejected = dict.fromkeys(metrics, 0)
    rules: dict[str, dict[str, int]] = {m: {} for m in metrics}
    start = time.perf_counter()
    for first in range(0, sims, batch):
        size = min(batch, sims - first)
        group_metrics: dict[str, Metric] = {}
        stats: dict[str, dict[str, np.ndarray]] = {}
        for j in range(size):
            a, b = null_draw(rng, n, pool.k, share)
            for m in metrics:
                group_metrics[f"{m}#{j}"] = pool.metrics[m]
                stats[f"{m}#{j}"] = {"A": pool.take(m, a, rows), "B": pool.take(m, b, rows)}
        out = compare_metrics_to_baseline(group_metrics, stats, "A", method=method, n_resamples=resamples,
                                          seed=seed * 100_003 + first)
        for j in range(size):
            for m in metrics:
                result = out[f"{m}#{j}"][("A", "B")]
                rejected[m] += result.p_value < ALPHA
                rules[m][result.p_value_rule] = rules[m].get(result.p_value_rule, 0) + 1
    seconds = time.perf_counter() - start
    return [_cell_record(method, m, share, n, sims, int(rejected[m]), resamples, seconds / len(metrics),
                         p_value_rules=rules[m], batch=batch) for m in metrics]


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def power_cell(pool_a: Pool, paired_b: Pool | None, independent_b: Pool | None, metrics: Sequence[str],
               method: str, sims: int, resamples: int, seed: int, mix: float,
               batch: int = 50) -> list[dict[str, Any]]:
    """System B (a noisier pool) against A on every segment; a detection is p < α with B worse.

    On a share ``mix`` of the segments (chosen afresh in each simulation) B draws its variant
    independently of A from ``independent_b`` (noisier fresh variants); on the others B is A's own
    variant degraded further (``paired_b = pool_a.degraded(...)``), as when a change makes one system
    slightly worse. Both pools are calibrated to the same expected BLEU gap, so ``mix`` sets only
    how strongly the two systems' segment scores are correlated, i.e. the SD of Δ.
    ``oracle_power`` is what a two-sided z-test with the simulated Δ's true mean and SD would reach:
    the best any test can do on these data, so the gap to it is the test's own loss. Simulations
    are batched as in :func:`type1_cells`.
    """
    rng = np.random.default_rng(seed)
    detected = dict.fromkeys(metrics, 0)
    deltas: dict[str, list[float]] = {m: [] for m in metrics}
    start = time.perf_counter()
    for first in range(0, sims, batch):
        size = min(batch, sims - first)
        group_metrics: dict[str, Metric] = {}
        stats: dict[str, dict[str, np.ndarray]] = {}
        for j in range(size):
            a = rng.integers(pool_a.k, size=pool_a.n)
            b = rng.integers(pool_a.k, size=pool_a.n) if mix > 0 else a
            fresh = rng.random(pool_a.n) < mix if 0 < mix < 1 else np.full(pool_a.n, mix >= 1)
            for m in metrics:
                group_metrics[f"{m}#{j}"] = pool_a.metrics[m]
                if paired_b is None or independent_b is None:
                    only = paired_b or independent_b
                    assert only is not None
                    stats_b = only.take(m, b)
                else:
                    stats_b = np.where(fresh[:, None], independent_b.take(m, b), paired_b.take(m, a))
                stats[f"{m}#{j}"] = {"A": pool_a.take(m, a), "B": stats_b}
        out = compare_metrics_to_baseline(group_metrics, stats, "A", method=method, n_resamples=resamples,
                                          seed=seed * 100_003 + first)
        for j in range(size):
            for m in metrics:
                result = out[f"{m}#{j}"][("A", "B")]
                worse = result.delta < 0 if pool_a.metrics[m].higher_is_better else result.delta > 0
                detected[m] += bool(result.p_value < ALPHA and worse)
                deltas[m].append(result.delta)
    seconds = time.perf_counter() - start
    cells = []
    for m in metrics:
        mean, sd = float(np.mean(deltas[m])), float(np.std(deltas[m], ddof=1))
        oracle = _normal_cdf(abs(mean) / sd - 1.959964) if sd > 0 else 1.0
        cells.append(_cell_record(method, m, 1.0, pool_a.n, sims, int(detected[m]), resamples,
                                  seconds / len(metrics), mean_delta=mean, sd_delta=sd, oracle_power=oracle,
                                  batch=batch))
    return cells


def calibrate_gap(make: Callable[[float], Pool], lo: float, hi: float, target_gap: float, base_bleu: float,
                  steps: int = 8) -> tuple[Pool, list[dict[str, float]]]:
    """Bisection on the noise of B's pool until its expected corpus BLEU is ``target_gap`` below A's."""
    bleu = get_metric("bleu")
    tries: list[dict[str, float]] = []
    pools: dict[float, Pool] = {}
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        probe = make(mid)
        probe.add_metric("bleu", bleu)
        gap = base_bleu - probe.mean_corpus_score("bleu")
        tries.append({"noise": mid, "expected_bleu_gap": gap})
        pools[mid] = probe
        lo, hi = (mid, hi) if gap < target_gap else (lo, mid)
    best = min(tries, key=lambda t: abs(t["expected_bleu_gap"] - target_gap))
    return pools[best["noise"]], tries


def gate_cell(pool: Pool, metrics: Sequence[str], share: float, sims: int, seed: int,
              check_none: int) -> dict[str, Any]:
    """Whole-gate false failures on null data through ``assess_all`` (Holm, the default policy).

    A failure is any comparison with status "regression" (significant drop, tolerance 0). The rate
    without correction comes from the same comparisons: the gate's raw p-value, significant and worse
    — exactly ``judge`` under ``correction="none"``; the first ``check_none`` simulations also run
    ``assess_all`` with ``GatePolicy(correction="none")`` and must agree.
    """
    holm_policy = GatePolicy()  # defaults: alpha 0.05, method by test-set size, holm, tolerance 0
    none_policy = GatePolicy(correction="none")
    rng = np.random.default_rng(seed)
    fail_holm = fail_none = 0
    per_metric_raw = dict.fromkeys(metrics, 0)
    start = time.perf_counter()
    for sim in range(sims):
        a, b = null_draw(rng, pool.n, pool.k, share)
        prepared = []
        for m in metrics:
            metric = pool.metrics[m]
            sa, sb = pool.take(m, a), pool.take(m, b)
            prepared.append(Prepared(metric, sa, sb, "sys", m, "sys", metric.corpus_score(sa),
                                     metric.corpus_score(sb), metric.higher_is_better, ""))
        judged = assess_all(prepared, holm_policy.model_copy(update={"seed": seed * 100_003 + sim}))
        fail_holm += any(c.status == "regression" for c in judged)
        raw = [c.p_value is not None and c.p_value < ALPHA and (c.worsening or 0) > 0 for c in judged]
        fail_none += any(raw)
        for m, r in zip(metrics, raw, strict=True):
            per_metric_raw[m] += r
        if sim < check_none:
            plain = assess_all(prepared, none_policy.model_copy(update={"seed": seed * 100_003 + sim}))
            if any(c.status == "regression" for c in plain) != any(raw):
                raise RuntimeError(f"simulation {sim}: correction='none' verdict disagrees with raw p-values")
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"metrics": list(metrics), "share": share, "n_segments": pool.n, "sims": sims,
                           "method": "paired-bs (GatePolicy default for N ≥ SMALL_SAMPLE)",
                           "resamples": holm_policy.resamples("paired-bs"), "tolerance": 0.0,
                           "seconds": round(seconds, 1), "checked_none_policy_sims": min(check_none, sims),
                           "per_metric_uncorrected_rate": {m: per_metric_raw[m] / sims for m in metrics}}
    for name, count in (("holm", fail_holm), ("none", fail_none)):
        low, high = clopper_pearson(count, sims)
        out[name] = {"failures": count, "rate": count / sims, "ci_low": low, "ci_high": high}
    return out


# ----------------------------------------------------------------------------------- driver
_POOL_FIELDS = ("segments", "variants", "noise", "seed")


def _pool_key(config: dict[str, Any]) -> str:
    """What makes two runs' pools identical; each cell records its own sims and resamples."""
    fields = {k: config[k] for k in _POOL_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


FLORES = ROOT.parent / "shared" / "external" / "flores-ara-eng"


def real_pair_spread(folder: Path = FLORES) -> dict[str, Any] | None:
    """SD of ΔBLEU between real system pairs (paired bootstrap, 1000 resamples): how far apart the
    synthetic power designs are from real data. None when the validation data are absent."""
    if not (folder / "reference.eng").is_file():
        return None
    refs = [[r] for r in (folder / "reference.eng").read_text(encoding="utf-8").splitlines()]
    bleu = get_metric("bleu")
    stats = {p.stem: bleu.segment_stats(p.read_text(encoding="utf-8").splitlines(), refs)
             for p in sorted((folder / "systems").glob("*.eng"))}
    names = list(stats)
    out = compare_metrics_to_baseline({"bleu": bleu}, {"bleu": stats}, names[0], all_pairs=True)["bleu"]
    pairs = {f"{a} vs {b}": {"delta": r.delta, "sd_delta": (r.delta_ci_high - r.delta_ci_low) / 3.919928}
             for (a, b), r in out.items() if r.delta_ci_high is not None and r.delta_ci_low is not None}
    return {"data": "FLORES-200 devtest ara→eng, OPUS-MT outputs", "n_segments": len(refs),
            "sd_from": "95% percentile interval of the paired-bootstrap Δ / 3.92", "pairs": pairs}


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cpus": os.cpu_count(), "numpy": np.__version__,
            "note": "2 CPU cores shared with other agents' jobs while measuring (run under nice -n 10); "
                    "seconds are wall time on a loaded machine"}


def _fmt_rate(cell: dict[str, Any]) -> str:
    return f"{100 * cell['rate']:.2f}% [{100 * cell['ci_low']:.2f}, {100 * cell['ci_high']:.2f}]"


def _real_sd_text(doc: dict[str, Any]) -> str:
    real = doc.get("real_pairs")
    if not real:
        return ""
    sds = sorted(p["sd_delta"] for p in real["pairs"].values())
    return (f"; real system pairs ({real['data']}, {real['n_segments']} segments) have an SD of ΔBLEU of "
            f"{sds[0]:.2f}–{sds[-1]:.2f}")


def markdown(doc: dict[str, Any]) -> str:
    """The README table: type-I rates, power, whole-gate rates and the small-N table."""
    lines = []
    cfg = doc["config"]
    lines.append(f"Type-I error at α = {ALPHA} on null data ({cfg['segments']} segments, {cfg['sims']} "
                 f"simulations per cell, 95% Clopper–Pearson interval; paired-bs: {cfg['resamples']} "
                 f"resamples, centred rule; paired-ar: {cfg['ar_trials']} trials "
                 f"({AR_TRIALS}, the default, where that enumerates all 2^k swaps exactly), ties "
                 f"counted). Goal: ≤ {100 * (ALPHA + 0.01):.0f}%.")
    lines.append("")
    type1 = doc["type1"]
    shares = sorted({c["share"] for c in type1.values()})
    lines.append("| method | metric | " + " | ".join(f"{100 * s:g}% differ" for s in shares) + " |")
    lines.append("|---|---|" + "---|" * len(shares))
    for method in METHODS:
        for metric in TYPE1_METRICS:
            row = []
            for share in shares:
                cell = type1.get(f"{method}|{metric}|{share}")
                row.append(_fmt_rate(cell) if cell else "—")
            lines.append(f"| {method} | {metric} | " + " | ".join(row) + " |")
    designs = doc.get("power", {}).get("designs", {})
    if designs:
        lines.append("")
        lines.append(f"Power: system B from a noisier pool whose expected corpus BLEU is ≈ 1 point lower "
                     f"({cfg['segments']} segments, {cfg['power_sims']} simulations per cell); detected = "
                     f"p < {ALPHA} and B worse. *independent*: B's variant of each segment is drawn "
                     "independently of A's; *paired*: B is A's own output degraded further; *mixed*: "
                     f"independent on {100 * cfg.get('mix_share', 0.3):g}% of the segments, paired on the "
                     "rest. The design sets the SD of Δ" + _real_sd_text(doc) + ". Oracle: a z-test knowing "
                     "the true SD of Δ. Goal (BLEU): ≥ 80%.")
        lines.append("")
        lines.append("| design | method | metric | mean Δ (sd) | detected | oracle |")
        lines.append("|---|---|---|---|---|---|")
        for design, entry in designs.items():
            for cell in entry["cells"].values():
                lines.append(f"| {design} | {cell['method']} | {cell['metric']} | {cell['mean_delta']:+.2f} "
                             f"({cell['sd_delta']:.2f}) | {_fmt_rate(cell)} | "
                             f"{100 * cell['oracle_power']:.1f}% |")
    if doc.get("gate"):
        lines.append("")
        lines.append("Whole-gate false failures on null data (one system, tolerance 0, any metric with a "
                     "significant drop fails the gate; through `assess_all`). Goal: ≤ 5%.")
        lines.append("")
        lines.append("| metrics | differ | sims | Holm (default) | no correction |")
        lines.append("|---|---|---|---|---|")
        for cell in doc["gate"].values():
            lines.append(f"| {', '.join(cell['metrics'])} | {100 * cell['share']:g}% | {cell['sims']} | "
                         f"{_fmt_rate(cell['holm'])} | {_fmt_rate(cell['none'])} |")
    if doc.get("small_n"):
        lines.append("")
        lines.append(f"Small test sets (100% of segments differ, {cfg['small_sims']} simulations per cell; "
                     f"paired-bs {cfg['resamples']} resamples; paired-ar {cfg['small_ar_trials']} trials, "
                     "exact when 2^N ≤ trials).")
        lines.append("")
        small = doc["small_n"]["cells"]
        ns = sorted({c["n_segments"] for c in small.values()})
        lines.append("| method | metric | " + " | ".join(f"N={n}" for n in ns) + " |")
        lines.append("|---|---|" + "---|" * len(ns))
        for method in METHODS:
            for metric in TYPE1_METRICS:
                row = []
                for n in ns:
                    cell = small.get(f"{method}|{metric}|{n}")
                    row.append(f"{100 * cell['rate']:.1f}%" if cell else "—")
                lines.append(f"| {method} | {metric} | " + " | ".join(row) + " |")
        lines.append("")
        lines.append(doc["small_n"]["conclusion"])
    return "\n".join(lines) + "\n"


def small_n_conclusion(cells: dict[str, dict[str, Any]]) -> tuple[int | None, str]:
    """The smallest N from which every paired-bs cell (at that N and above) is within α + 0.01."""
    ns = sorted({c["n_segments"] for c in cells.values() if c["method"] == "paired-bs"})
    ok_from: int | None = None
    for n in reversed(ns):
        good = all(c["rate"] <= ALPHA + 0.01 for c in cells.values()
                   if c["method"] == "paired-bs" and c["n_segments"] == n)
        if not good:
            break
        ok_from = n
    text = (f"paired-bs stays ≤ {100 * (ALPHA + 0.01):.0f}% for every metric from N = {ok_from} "
            f"(SMALL_SAMPLE in mt_eval/settings.py is {SMALL_SAMPLE})."
            if ok_from is not None else "paired-bs exceeds the goal at every N tried.")
    return ok_from, text


def merge_cells(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """One cell from two runs of it with different seeds: counts add, the interval is recomputed."""
    if old is None:
        return new
    sims, rejections = old["sims"] + new["sims"], old["rejections"] + new["rejections"]
    rules = dict(old.get("p_value_rules", {}))
    for rule, count in new.get("p_value_rules", {}).items():
        rules[rule] = rules.get(rule, 0) + count
    extra = {k: v for k, v in new.items() if k not in ("method", "metric", "share", "n_segments", "sims",
                                                       "rejections", "rate", "ci_low", "ci_high",
                                                       "resamples", "seconds", "p_value_rules")}
    return _cell_record(new["method"], new["metric"], new["share"], new["n_segments"], sims, rejections,
                        new["resamples"], old["seconds"] + new["seconds"], p_value_rules=rules, **extra)


def ar_trials(share: float, args: argparse.Namespace) -> int:
    """``--ar-trials``, except where the default trials (10000) would enumerate every swap exactly.

    With 1% of 1000 segments differing (k = 10, 2^10 = 1024), the gate's default AR is the exact
    test; measuring it with 1000 Monte Carlo trials would measure a test nobody runs.
    """
    k = round(share * args.segments)
    return AR_TRIALS if k < 62 and (1 << k) <= AR_TRIALS else args.ar_trials


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=5000, help="null simulations per type-I cell")
    parser.add_argument("--segments", type=int, default=1000, help="segments per test set")
    parser.add_argument("--resamples", type=int, default=1000, help="paired-bs resamples (the default 1000)")
    parser.add_argument("--ar-trials", type=int, default=1000, help="paired-ar trials for the N=1000 cells")
    parser.add_argument("--variants", type=int, default=10, help="noisy variants per segment in the pool")
    parser.add_argument("--noise", type=float, default=0.3, help="word noise of the null pool")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.01, 0.1, 0.5, 1.0])
    parser.add_argument("--power-sims", type=int, default=1000)
    parser.add_argument("--power-designs", nargs="+", default=["independent", "paired", "mixed"],
                        choices=["independent", "paired", "mixed"],
                        help="B independent of A per segment, A's own output degraded further, or a mix")
    parser.add_argument("--mix-share", type=float, default=0.3,
                        help="mixed design: share of segments where B is drawn independently of A")
    parser.add_argument("--power-metrics", nargs="+", default=["bleu"], choices=list(TYPE1_METRICS))
    parser.add_argument("--round", type=int, default=1000,
                        help="type-I cells grow by this many simulations per pass over all cells, so an "
                             "interrupted or time-limited run has every cell at similar precision")
    parser.add_argument("--gate-variants", type=int, default=4,
                        help="variants per segment in the gate's pool (semantic stats cost CPU time)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "mt_eval_calibration"),
                        help="folder for the pool's statistics (.npy), reused by resumed/parallel runs")
    parser.add_argument("--gate-sims", type=int, default=2000)
    parser.add_argument("--gate-shares", type=float, nargs="+", default=[1.0, 0.1])
    parser.add_argument("--gate-fifth", choices=["semantic", "bleu-intl"], default="semantic",
                        help="the gate's fifth metric (semantic runs the USE encoder on CPU)")
    parser.add_argument("--small-ns", type=int, nargs="+", default=[10, 20, 30, 50, 75, 100, 150, 200])
    parser.add_argument("--small-sims", type=int, default=5000)
    parser.add_argument("--small-ar-trials", type=int, default=2000,
                        help="paired-ar trials at small N (exact enumeration when 2^N ≤ trials)")
    parser.add_argument("--small-ar-max-n", type=int, default=SMALL_SAMPLE - 1,
                        help="AR small-N cells only up to this N (AR is the default below SMALL_SAMPLE)")
    parser.add_argument("--parts", nargs="+", default=["type1", "power", "gate", "small"],
                        choices=["type1", "power", "gate", "small"])
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--merge", nargs="*", default=[],
                        help="output files of runs with the same configuration (other --parts) to merge in")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 200 segments, 100 simulations, 200 resamples")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "calibration.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.segments, args.sims, args.resamples, args.ar_trials = 200, 100, 200, 200
        args.power_sims, args.gate_sims, args.small_sims, args.small_ar_trials = 100, 100, 100, 200
        args.variants, args.small_ns = 10, [10, 30, 100]
    out = Path(args.out)
    md_path = out.with_suffix(".md")
    key = _pool_key(vars(args))
    doc: dict[str, Any] = {}
    if out.exists():
        try:
            old = json.loads(out.read_text(encoding="utf-8"))
            if _pool_key(old.get("config", {})) == key:
                doc = old
                print(f"resuming {out}: finished cells are kept", flush=True)
        except (OSError, json.JSONDecodeError):
            doc = {}
    if not doc:
        doc = {"benchmark": "calibration of paired tests and the gate", "config_key": key,
               "config": {k: v for k, v in vars(args).items() if k not in ("out", "merge", "cache", "parts")},
               "alpha": ALPHA,
               "machine": _machine(), "type1": {}, "power": {}, "gate": {}, "small_n": {}, "elapsed_s": 0.0}
    for other in args.merge:
        part = json.loads(Path(other).read_text(encoding="utf-8"))
        if _pool_key(part.get("config", {})) != key:
            parser.error(f"{other}: made with another configuration, cannot merge")
        for section in ("type1", "gate"):
            for cell_key, cell in part.get(section, {}).items():
                doc[section].setdefault(cell_key, cell)
        for design, entry in part.get("power", {}).get("designs", {}).items():
            doc["power"].setdefault("designs", {}).setdefault(design, entry)
        for cell_key, cell in part.get("small_n", {}).get("cells", {}).items():
            doc["small_n"].setdefault("cells", {}).setdefault(cell_key, cell)
        doc["elapsed_s"] = float(doc.get("elapsed_s", 0.0)) + float(part.get("elapsed_s", 0.0))
        doc.setdefault("merged_runs", []).append(
            {"sections": [k for k in ("type1", "power", "gate", "small_n") if part.get(k)],
             "elapsed_s": part.get("elapsed_s")})
    if doc["small_n"].get("cells"):
        ok_from, text = small_n_conclusion(doc["small_n"]["cells"])
        doc["small_n"].update({"justified_threshold": ok_from, "small_sample_constant": SMALL_SAMPLE,
                               "conclusion": text})
    t0 = time.perf_counter()
    elapsed0 = float(doc.get("elapsed_s", 0.0))

    def save() -> None:
        doc["elapsed_s"] = round(elapsed0 + time.perf_counter() - t0, 1)
        atomic_write_json(out, doc)
        atomic_write_text(md_path, markdown(doc))

    print(f"building the pool: {args.segments} segments × {args.variants} variants", flush=True)
    pool = Pool(args.segments, args.variants, args.noise, args.seed)
    cache_dir = Path(args.cache) / key

    def cached(name: str) -> Path:
        return cache_dir / (name.replace(":", "_").replace("=", "-").replace("+", "p") + ".npy")

    for m in TYPE1_METRICS:
        pool.add_metric(m, get_metric(m), cached(m))
    doc["pool"] = {"segments": pool.n, "variants": pool.k, "noise": pool.noise,
                   "mean_corpus_scores": {m: pool.mean_corpus_score(m) for m in TYPE1_METRICS},
                   "stats_seconds": {m: round(s, 1) for m, s in pool.seconds.items()}}
    print(f"pool: {doc['pool']}", flush=True)

    if "real_pairs" not in doc:
        real = real_pair_spread()
        if real is not None:
            doc["real_pairs"] = real

    if "type1" in args.parts:
        # round-robin: every cell grows by --round simulations per pass (new seeds each round)
        for round_no in range(math.ceil(args.sims / args.round)):
            for share in args.shares:
                for method in METHODS:
                    trials = args.resamples if method == "paired-bs" else ar_trials(share, args)
                    keys = [f"{method}|{m}|{share}" for m in TYPE1_METRICS]
                    have = doc["type1"].get(keys[0])
                    if have and have["resamples"] != trials:
                        have = None
                        for k in keys:
                            doc["type1"].pop(k, None)
                    done = have["sims"] if have else 0
                    if done >= min(args.sims, (round_no + 1) * args.round):
                        continue
                    todo = min(args.round, args.sims - done)
                    cell_seed = (args.seed * 1_000 + round(share * 1000)) * 10 + METHODS.index(method)
                    cells = type1_cells(pool, TYPE1_METRICS, method, share, todo, trials,
                                        seed=cell_seed * 1_000 + done // args.round)
                    for cell in cells:
                        k = f"{method}|{cell['metric']}|{share}"
                        doc["type1"][k] = merge_cells(doc["type1"].get(k), cell)
                        print(f"type1 {method} {cell['metric']} share={share}: {_fmt_rate(doc['type1'][k])} "
                              f"after {doc['type1'][k]['sims']} sims", flush=True)
                    save()

    if "power" in args.parts:
        base_bleu = doc["pool"]["mean_corpus_scores"]["bleu"]
        designs = doc["power"].setdefault("designs", {})
        for design in args.power_designs:
            if designs.get(design, {}).get("sims") == args.power_sims:
                continue
            mix = {"paired": 0.0, "independent": 1.0}.get(design, args.mix_share)
            paired_b = independent_b = None
            tries: dict[str, Any] = {}
            if mix < 1:
                paired_b, tries["paired"] = calibrate_gap(lambda x: pool.degraded(x, args.seed + 2), 0.0, 0.1,
                                                          1.0, base_bleu)
            if mix > 0:
                independent_b, tries["independent"] = calibrate_gap(
                    lambda x: pool.with_noise(x, args.seed + 1), args.noise, args.noise + 0.1, 1.0, base_bleu)
            for pool_b in (paired_b, independent_b):
                for m in args.power_metrics:
                    if pool_b is not None and m not in pool_b.stats:
                        pool_b.add_metric(m, get_metric(m))
            entry = {
                "n_segments": args.segments, "sims": args.power_sims, "noise_a": args.noise,
                "mix_share_independent": mix, "bisection": tries,
                "noise_b": {k: p.noise for k, p in (("paired", paired_b), ("independent", independent_b))
                            if p is not None},
                "expected_bleu_gap": {k: base_bleu - p.mean_corpus_score("bleu")
                                      for k, p in (("paired", paired_b), ("independent", independent_b))
                                      if p is not None},
                "cells": {}}
            for method in METHODS:
                trials = args.resamples if method == "paired-bs" else args.ar_trials
                for cell in power_cell(pool, paired_b, independent_b, args.power_metrics, method,
                                       args.power_sims, trials,
                                       seed=args.seed + 31 + (7 if method == "paired-ar" else 0), mix=mix):
                    entry["cells"][f"{method}|{cell['metric']}"] = cell
                    print(f"power {design} {method} {cell['metric']}: mean Δ {cell['mean_delta']:+.2f} "
                          f"(sd {cell['sd_delta']:.2f}), detected {_fmt_rate(cell)}, oracle "
                          f"{100 * cell['oracle_power']:.1f}%", flush=True)
            designs[design] = entry
            save()

    def gate_done(share: float) -> bool:
        done = doc["gate"].get(f"{share}")
        return bool(done and done["sims"] == args.gate_sims and len(done["metrics"]) == 5
                    and (done["metrics"][-1] == "semantic") == (args.gate_fifth == "semantic"))

    if "gate" in args.parts and not all(gate_done(s) for s in args.gate_shares):
        gate_metrics = ["bleu", "chrf", "chrf++", "ter"]
        gate_pool = pool.subset(args.gate_variants)
        gate_pool.add_metric("chrf++", get_metric("chrf++"), cached(f"chrf++_k{args.gate_variants}"))
        if args.gate_fifth == "semantic":
            gate_pool.add_metric("semantic", get_metric("semantic"),
                                 cached(f"semantic_k{args.gate_variants}"))
            gate_metrics.append("semantic")
        else:
            gate_pool.add_metric("bleu:tokenize=intl", get_metric("bleu", tokenize="intl"),
                                 cached(f"bleu-intl_k{args.gate_variants}"))
            gate_metrics.append("bleu:tokenize=intl")
        doc["pool"]["gate_stats_seconds"] = {m: round(s, 1) for m, s in gate_pool.seconds.items()}
        for share in args.gate_shares:
            if gate_done(share):
                continue
            cell = gate_cell(gate_pool, gate_metrics, share, args.gate_sims, args.seed + 53, check_none=200)
            doc["gate"][f"{share}"] = cell
            print(f"gate share={share}: holm {_fmt_rate(cell['holm'])}, none {_fmt_rate(cell['none'])}",
                  flush=True)
            save()

    if "small" in args.parts:
        small = doc["small_n"].setdefault("cells", {})
        for n in args.small_ns:
            for method in METHODS:
                if method == "paired-ar" and n > args.small_ar_max_n:
                    continue
                trials = args.resamples if method == "paired-bs" else args.small_ar_trials
                done = small.get(f"{method}|{TYPE1_METRICS[0]}|{n}")
                if done and (done["sims"], done["resamples"]) == (args.small_sims, trials):
                    continue
                cells = type1_cells(pool, TYPE1_METRICS, method, 1.0, args.small_sims, trials,
                                    seed=args.seed + 5000 + n + (7 if method == "paired-ar" else 0),
                                    n_segments=n)
                for cell in cells:
                    small[f"{method}|{cell['metric']}|{n}"] = cell
                    print(f"small {method} {cell['metric']} N={n}: {_fmt_rate(cell)}", flush=True)
                ok_from, text = small_n_conclusion(small)
                doc["small_n"].update({"justified_threshold": ok_from, "small_sample_constant": SMALL_SAMPLE,
                                       "conclusion": text})
                save()
    save()
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
