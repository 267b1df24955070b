"""End-to-end benchmark of what a user types first: ``mt-eval score`` against the sacrebleu CLI.

For each corpus size (synthetic English, 20–30-word references, two noisy systems A and B) the script
alternates, in subprocesses, on the same files:

* ``python -m sacrebleu REF -i A B -m bleu chrf --paired-bs -f text -w 6``
* ``mt-eval score --testset TS --hyp A=A --hyp B=B -m bleu -m chrf --baseline A -o OUT``

(both: 1000 resamples, paired bootstrap against A, 95% CIs), measuring each run's wall time and peak
resident memory (``ru_maxrss`` of that child from ``os.wait4``: the largest single process, forked
workers included only through their own peaks). The order alternates between repeats (ABBA), the best
run per tool and size is reported, and the scores both tools print are compared to sacrebleu's
printed precision (they must be identical). Then:

* the marginal cost per segment of each tool: slopes between consecutive sizes and a least-squares line
  over all sizes (a constant slope means no superlinear term hides behind start-up costs);
* the share of ``mt-eval score``'s time spent in the output checks and in BLEU+chrF statistics,
  measured in this process on the same data (``check_outputs`` / ``segment_stats`` for A and B).

Writes ``results/bench/cli.json``. Usage::

    python scripts/bench_cli.py                       # 10k, 30k, 100k segments, 2 repeats (minutes)
    python scripts/bench_cli.py --sizes 2000 --repeats 1 -o /tmp/cli.json   # a quick look

Run it on a quiet machine: other work inflates the per-segment Python of both tools unevenly.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _bench import ROOT, cli_corpus, machine, run_command, score_command, write_corpus

from mt_eval.fsio import atomic_write_json


def _sacrebleu_scores(text: str) -> dict[str, dict[str, str]]:
    """``{system: {"bleu": "12.345678", "chrf": ...}}`` from sacrebleu's paired text table."""
    scores: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) < 4 or not re.match(r"^-?\d+\.\d+ \(", cells[2] or ""):
            continue
        name = cells[1].removeprefix("Baseline: ")
        scores[Path(name).stem] = {"bleu": cells[2].split()[0], "chrf": cells[3].split()[0]}
    return scores


def _mt_eval_scores(run_dir: Path, decimals: int) -> dict[str, dict[str, str]]:
    data = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    return {system: {key: f"{entry['score']:.{decimals}f}" for key, entry in per.items()}
            for system, per in data["scores"].items()}


def _in_process_breakdown(corpus: dict[str, list[str]], workers: str) -> dict[str, float]:
    """Output checks and BLEU+chrF statistics for A and B, timed in this process (seconds), with the
    worker count ``mt-eval score --workers`` resolves to for this size (as the command runs them)."""
    from mt_eval.checks import check_outputs
    from mt_eval.metrics.parallel import resolve_workers
    from mt_eval.metrics.registry import get_metric

    refs = [[r] for r in corpus["refs"]]
    n = resolve_workers(workers, len(refs)).workers
    start = time.perf_counter()
    for name in ("A", "B"):
        check_outputs(corpus["sources"], corpus[name], target_lang="en", references=refs, workers=n)
    checks = time.perf_counter() - start
    start = time.perf_counter()
    for key in ("bleu", "chrf"):
        metric = get_metric(key)
        for name in ("A", "B"):
            metric.segment_stats(corpus[name], refs, workers=n)
    stats = time.perf_counter() - start
    return {"checks_s": checks, "stats_s": stats, "workers": n}


def _slopes(sizes: list[int], times: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"between_sizes_us_per_segment": [
        {"from": a, "to": b, "us_per_segment": 1e6 * (tb - ta) / (b - a)}
        for (a, ta), (b, tb) in zip(zip(sizes, times, strict=True), list(zip(sizes, times, strict=True))[1:],
                                    strict=False)]}
    if len(sizes) >= 2:
        slope, intercept = np.polyfit(np.array(sizes, dtype=float), np.array(times), 1)
        out["fit"] = {"us_per_segment": 1e6 * slope, "intercept_s": intercept}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--repeats", type=int, default=2, help="runs per tool and size (best is kept)")
    parser.add_argument("--output", "-o", type=Path, default=ROOT / "results" / "bench" / "cli.json")
    parser.add_argument("--workers", default="auto", help="mt-eval --workers (default auto)")
    args = parser.parse_args()

    env = dict(os.environ)
    env.setdefault("COLUMNS", "200")
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {**machine(), "cpu_count": os.cpu_count(),
                    "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else None, "load_average_at_start": list(os.getloadavg())},
        "workload": "2 systems, BLEU+chrF, 1000-resample paired bootstrap against A, 95% CIs",
        "sizes": {},
    }
    best_times: dict[str, list[float]] = {"sacrebleu": [], "mt_eval": []}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        for n in args.sizes:
            folder = Path(tmp) / str(n)
            corpus = cli_corpus(n, seed=n)
            files = write_corpus(folder, corpus, f"bench{n}")
            sacrebleu_cmd = [sys.executable, "-m", "sacrebleu", str(files["refs"]), "-i", str(files["A"]),
                             str(files["B"]), "-m", "bleu", "chrf", "--paired-bs", "-f", "text", "-w", "6"]
            runs: dict[str, list[dict[str, Any]]] = {"sacrebleu": [], "mt_eval": []}
            for repeat in range(args.repeats):
                order = ["sacrebleu", "mt_eval"] if repeat % 2 == 0 else ["mt_eval", "sacrebleu"]
                for tool in order:
                    if tool == "sacrebleu":
                        result = run_command(sacrebleu_cmd, env)
                        result["scores"] = _sacrebleu_scores(result["stdout"])
                    else:
                        out_dir = folder / f"run{repeat}"
                        result = run_command(score_command(files, out_dir, ["--workers", args.workers]), env)
                        result["scores"] = _mt_eval_scores(out_dir, 6)
                        found = re.search(r"workers: (\d+) \(([^)]*)\)", result["stderr"])
                        result["workers"] = found.group(0) if found else None
                    runs[tool].append(result)
                    print(f"{n:>7} segments  {tool:<9} {result['wall_s']:7.2f} s"
                          f"  {result['peak_rss_mb']:7.0f} MB", flush=True)
            best = {tool: min(rs, key=lambda r: r["wall_s"]) for tool, rs in runs.items()}
            identical = all(r["scores"] == best["sacrebleu"]["scores"] for r in runs["mt_eval"]) and \
                bool(best["sacrebleu"]["scores"])
            breakdown = _in_process_breakdown(corpus, args.workers)
            mt_best = best["mt_eval"]["wall_s"]
            report["sizes"][str(n)] = {
                "segments": n,
                "sacrebleu": {"wall_s": [r["wall_s"] for r in runs["sacrebleu"]],
                              "best_wall_s": best["sacrebleu"]["wall_s"],
                              "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["sacrebleu"])},
                "mt_eval": {"wall_s": [r["wall_s"] for r in runs["mt_eval"]], "best_wall_s": mt_best,
                            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["mt_eval"]),
                            "workers": best["mt_eval"].get("workers")},
                "time_ratio_mt_eval_over_sacrebleu": mt_best / best["sacrebleu"]["wall_s"],
                "memory_ratio_mt_eval_over_sacrebleu":
                    max(r["peak_rss_mb"] for r in runs["mt_eval"])
                    / max(r["peak_rss_mb"] for r in runs["sacrebleu"]),
                "scores_identical": identical,
                "scores": best["sacrebleu"]["scores"],
                "in_process": {**breakdown, "checks_share_of_mt_eval_wall": breakdown["checks_s"] / mt_best,
                               "stats_share_of_mt_eval_wall": breakdown["stats_s"] / mt_best},
            }
            for tool in best_times:
                best_times[tool].append(best[tool]["wall_s"])
    report["marginal_cost"] = {tool: _slopes(list(args.sizes), times) for tool, times in best_times.items()}
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.output, report)
    print(json.dumps({n: {k: v[k] for k in ("time_ratio_mt_eval_over_sacrebleu",
                                              "memory_ratio_mt_eval_over_sacrebleu", "scores_identical")}
                      for n, v in report["sizes"].items()}, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
