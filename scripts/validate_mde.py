"""Validate the minimum detectable difference (``mt_eval.stats.power``) against simulated power.

For each test set (FLORES-200 ara→eng with an OPUS-MT system as the baseline, when ``../shared`` is
present, and the synthetic pool of ``scripts/calibrate_tests.py`` always), each metric and each design —
independent changes of 5% to 100% of the segments, and the mixed and paired designs of
``scripts/calibrate_tests.py`` with every segment changed — the MDE is predicted from the baseline's
statistics alone (``mde_table``), then candidates worse by 0.7×, 1× and 1.3× that MDE are simulated from
the baseline's real per-segment statistics (``simulated_power``: tilted draws of other segments'
statistics; the paired design mixes each segment's own statistics with a draw so its correlation is ρ)
and tested by the project's paired bootstrap (``compare_metrics_to_baseline``), at the Holm-adjusted α
of a family of ``--family`` comparisons. Goals: the simulated power at the predicted MDE is 80% ± 20% of
80% (64–96%), and the simulated MDE (power curve interpolated at 80%) is within 20% of the prediction,
wherever at least ``MIN_CHANGED`` (30) segments change (fewer: the normal approximation is rough;
reported, not judged).

Also recorded: the correlation ρ of the segment contributions of real system pairs (FLORES OPUS-MT
outputs), i.e. where real pairs sit between the independent (ρ = 0) and paired (ρ = 0.9) designs.

Usage: ``python scripts/validate_mde.py [--sims 200] [--resamples 1000] [--out results/bench/mde.json]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from mt_eval.fsio import atomic_write_json, atomic_write_text  # noqa: E402
from mt_eval.metrics.registry import get_metric  # noqa: E402
from mt_eval.settings import ALPHA  # noqa: E402
from mt_eval.stats.power import (  # noqa: E402
    MIN_CHANGED,
    POWER,
    Simulation,
    contributions,
    mde_table,
    simulated_power,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate_tests import Pool  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FLORES = ROOT.parent / "shared" / "external" / "flores-ara-eng"
METRICS = ("bleu", "chrf", "chrf++", "ter")
SHARES = (0.05, 0.1, 0.25, 0.5, 1.0)
FACTORS = (0.7, 1.0, 1.3)


def datasets() -> dict[str, tuple[list[str], list[list[str]], dict[str, list[str]]]]:
    """name -> (baseline outputs, references, other systems' outputs)."""
    pool = Pool(500, 3, 0.3, seed=2024)  # calibrate_tests.py's synthetic pool: variants of one reference
    refs = [[" ".join(r)] for r in pool.references]
    out = {"synthetic (calibrate_tests pool: 500 segments, noise 0.3)": (
        pool.hyps[0], refs, {"variant 2": pool.hyps[1], "variant 3": pool.hyps[2]})}
    if (FLORES / "reference.eng").is_file():
        refs = [[r] for r in (FLORES / "reference.eng").read_text(encoding="utf-8").splitlines()]
        systems = {p.stem: p.read_text(encoding="utf-8").splitlines()
                   for p in sorted((FLORES / "systems").glob("*.eng"))}
        base = systems.pop("opus-mt-ar-en")
        out["FLORES-200 devtest ara→eng (1012 segments, opus-mt-ar-en)"] = (base, refs, systems)
    return out


def interpolate_mde(points: Sequence[tuple[float, float]]) -> float | None:
    """The Δ at which the simulated power crosses 80% (linear between the simulated points)."""
    pts = sorted(points)
    for (d0, p0), (d1, p1) in itertools.pairwise(pts):
        if p0 <= POWER <= p1 and p1 > p0:
            return d0 + (POWER - p0) * (d1 - d0) / (p1 - p0)
    return None


def validate_metric(key: str, stats: np.ndarray, args: argparse.Namespace) -> list[dict[str, Any]]:
    metric = get_metric(key)
    table = {(r.design, r.share): r for r in mde_table(metric, stats, args.alpha, family_size=args.family,
                                                        shares=SHARES)}
    cells = []
    for (design, share), row in table.items():
        if row.mde is None:
            continue
        start = time.perf_counter()
        curve = []
        for k, factor in enumerate(FACTORS):
            sim = Simulation(design=design, share=share, sims=args.sims, resamples=args.resamples,
                             alpha=row.alpha, seed=args.seed + 7 * k + int(1000 * share))
            result = simulated_power(metric, stats, factor * row.mde, sim)
            curve.append((abs(result["mean_delta"]), result["power"]))
        at_mde = curve[FACTORS.index(1.0)][1]
        simulated = interpolate_mde(curve)
        cell = {"metric": key, "design": design, "share": share, "changed_segments": row.changed_segments,
                "rho": round(row.rho, 4), "sigma": round(row.sigma, 3), "alpha": row.alpha,
                "predicted_mde": round(row.mde, 4), "simulated_power_at_mde": at_mde,
                "power_curve": [{"delta": round(d, 4), "power": p} for d, p in curve],
                "simulated_mde": None if simulated is None else round(simulated, 4),
                "mde_ratio": None if simulated is None else round(simulated / row.mde, 3),
                "judged": row.changed_segments >= MIN_CHANGED,
                "power_ok": abs(at_mde - POWER) <= 0.2 * POWER,
                "mde_ok": simulated is not None and abs(simulated / row.mde - 1.0) <= 0.2,
                "seconds": round(time.perf_counter() - start, 1)}
        cells.append(cell)
        print(f"{key} {design} share={share}: MDE {row.mde:.3f}, simulated power at it {100 * at_mde:.0f}%,"
              f" simulated MDE {cell['simulated_mde']}", flush=True)
    return cells


def real_pairs(key: str, base: list[str], refs: list[list[str]],
               others: dict[str, list[str]]) -> dict[str, Any]:
    """ρ of segment contributions between the baseline and each other system (real pairs)."""
    metric = get_metric(key)
    u = contributions(metric, metric.segment_stats(base, refs))
    out = {}
    for name, outputs in others.items():
        v = contributions(metric, metric.segment_stats(outputs, refs))
        out[name] = {"rho": round(float(np.corrcoef(u, v)[0, 1]), 3),
                     "sd_difference": round(float(np.std(v - u, ddof=1)), 3)}
    return out


def markdown(doc: dict[str, Any]) -> str:
    lines = [f"MDE at {100 * POWER:.0f}% power, two-sided α = {doc['alpha']} / {doc['family']}"
             f" (Holm's first step for a family of {doc['family']}); simulated power from {doc['sims']}"
             f" candidates per point, paired bootstrap with {doc['resamples']} resamples. Goal: power at the"
             " predicted MDE within 64–96% and the simulated MDE within 20% of the prediction.", ""]
    for name, data in doc["datasets"].items():
        lines += [f"**{name}**", "", "| metric | design | changed | σ | predicted MDE | power at MDE |"
                  " simulated MDE | ratio |", "|---|---|---|---|---|---|---|---|"]
        for c in data["cells"]:
            design = c["design"] + (f" {100 * c['share']:g}%" if c["design"] == "independent" else
                                    f" (ρ = {c['rho']:.2f})")
            changed = str(c["changed_segments"]) + ("" if c["judged"] else " (rough)")
            lines.append(f"| {c['metric']} | {design} | {changed} | {c['sigma']:.1f} |"
                         f" {c['predicted_mde']:.2f} | {100 * c['simulated_power_at_mde']:.0f}% |"
                         f" {c['simulated_mde'] if c['simulated_mde'] is not None else '—'} |"
                         f" {c['mde_ratio'] if c['mde_ratio'] is not None else '—'} |")
        if data.get("real_pairs"):
            listed = "; ".join(f"{m}: " + ", ".join(f"{s} ρ = {v['rho']}" for s, v in pairs.items())
                               for m, pairs in data["real_pairs"].items())
            lines += ["", "Real system pairs, correlation of segment contributions with the baseline:"
                      f" {listed}.", ""]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=ALPHA)
    parser.add_argument("--family", type=int, default=4, help="comparisons in the Holm family")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--metrics", nargs="+", default=list(METRICS))
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "mde.json"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    doc: dict[str, Any] = {"benchmark": "minimum detectable difference vs simulated power",
                           "alpha": args.alpha, "family": args.family, "power": POWER, "sims": args.sims,
                           "resamples": args.resamples, "factors": list(FACTORS), "datasets": {}}
    start = time.perf_counter()
    for name, (base, refs, others) in datasets().items():
        print(f"== {name}", flush=True)
        entry: dict[str, Any] = {"n_segments": len(refs), "cells": [], "real_pairs": {}}
        for key in args.metrics:
            stats = get_metric(key).segment_stats(base, refs)
            entry["cells"] += validate_metric(key, stats, args)
            entry["real_pairs"][key] = real_pairs(key, base, refs, others)
        doc["datasets"][name] = entry
        cells = [c for d in doc["datasets"].values() for c in d["cells"]]
        doc["all_power_ok"] = all(c["power_ok"] for c in cells if c["judged"])
        doc["all_mde_ok"] = all(c["mde_ok"] for c in cells if c["judged"])
        doc["elapsed_s"] = round(time.perf_counter() - start, 1)
        atomic_write_json(out, doc)
        atomic_write_text(out.with_suffix(".md"), markdown(doc))
    print(markdown(doc))
    return 0 if doc["all_power_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
