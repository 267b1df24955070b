"""Scoring benchmark: mt-eval's statistics/score/paired-bootstrap path against sacrebleu itself.

Measures (nothing is estimated; every ratio compares two runs made by this script on this machine):

1. corpus BLEU and chrF on synthetic corpora of 10k and 100k segments: mt-eval (statistics
   extraction + score, ``workers=1`` and ``workers=2``) time / ``sacrebleu.BLEU().corpus_score`` time,
   both in this process, best of ``--repeats``;
2. a 1000-resample paired bootstrap, 2 systems × BLEU+chrF on 10k segments (p-values and CIs for
   both systems, as sacrebleu's table gives):
   * the test alone, both tools in this process on statistics extracted beforehand (sacrebleu's
     ``PairedTest`` with its extraction step answered from a cache of its own statistics), best of N;
   * ``python -m sacrebleu --paired-bs`` on the same files in a subprocess against mt-eval in a
     subprocess — on cached statistics (how mt-eval runs: statistics are computed once per system and
     metric and saved) and end to end (reading the files and extracting statistics too);
   * peak memory: each child's own VmHWM, and tracemalloc peaks of the two tests in this process.

Writes ``results/bench/scoring.json``. Usage: ``python scripts/bench_scoring.py [--quick]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import sacrebleu
from _bench import ROOT, best_time, machine, run_command, write_lines, zipf_corpus
from sacrebleu.significance import PairedTest

from mt_eval.fsio import atomic_write_json
from mt_eval.metrics.registry import get_metric
from mt_eval.stats.significance import compare_metrics_to_baseline

logging.getLogger("sacrebleu").setLevel(logging.ERROR)


def bench_corpus(n: int, repeats: int) -> dict:
    refs, hyps, _ = zipf_corpus(n, seed=n)
    per_segment = [[r] for r in refs]
    out: dict = {"segments": n}
    for key, make in (("bleu", sacrebleu.BLEU), ("chrf", sacrebleu.CHRF)):
        # a fresh object per call on both sides: sacrebleu's tokenizers memoise lines per instance
        load = os.getloadavg()[0]
        t_sb, c_sb, sb_score = best_time(lambda make=make: make().corpus_score(hyps, [refs]).score, repeats)

        def ours(key: str = key, workers: int = 1) -> float:
            metric = get_metric(key)
            return metric.corpus_score(metric.segment_stats(hyps, per_segment, workers=workers))

        t_1, c_1, score_1 = best_time(ours, repeats)
        t_2, c_2, score_2 = best_time(lambda key=key: ours(key, workers=2), repeats)
        if not (score_1 == score_2 == sb_score):
            raise SystemExit(f"{key} n={n}: scores differ: {score_1} {score_2} {sb_score}")
        out[key] = {
            "score": score_1,
            "sacrebleu_s": round(t_sb, 4),
            "mteval_workers1_s": round(t_1, 4),
            "mteval_workers2_s": round(t_2, 4),
            "ratio_workers1": round(t_1 / t_sb, 3),
            "ratio_workers2": round(t_2 / t_sb, 3),
            "cpu_s": {"sacrebleu": round(c_sb, 3), "mteval_workers1": round(c_1, 3),
                      "mteval_workers2": round(c_2, 3)},
            "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
        }
        print(
            f"corpus {key:5s} n={n:6d}: sacrebleu {t_sb:.3f}s  mt-eval {t_1:.3f}s ({t_1 / t_sb:.2f}x)"
            f"  workers=2 {t_2:.3f}s ({t_2 / t_sb:.2f}x, cpu {c_2:.2f}s)  load {load:.1f}",
            flush=True,
        )
    return out


_PEAK = """
def _peak_kib():
    # VmHWM belongs to this exec'd image; ru_maxrss would inherit the parent's high-water mark
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

_OURS_TEST = _PEAK + """
import resource, sys, time
import numpy as np
t0 = time.perf_counter()
from mt_eval.metrics.registry import get_metric
from mt_eval.stats.significance import compare_metrics_to_baseline
folder, mode = sys.argv[1], sys.argv[2]
metrics = {"bleu": get_metric("bleu"), "chrf": get_metric("chrf")}
if mode == "cached":
    stats = {k: {s: np.load(f"{folder}/{s}.{k}.npy", allow_pickle=False) for s in "AB"} for k in metrics}
else:
    refs = [[r] for r in open(f"{folder}/ref.txt", encoding="utf-8").read().splitlines()]
    hyps = {s: open(f"{folder}/{s}.txt", encoding="utf-8").read().splitlines() for s in ("A", "B")}
    workers = int(sys.argv[3])
    stats = {k: {s: m.segment_stats(hyps[s], refs, workers=workers) for s in hyps}
             for k, m in metrics.items()}
t1 = time.perf_counter()
res = compare_metrics_to_baseline(metrics, stats, "A", method="paired-bs", n_resamples=1000,
                                  p_value_rule="sacrebleu")
p = {k: res[k][("A", "B")].p_value for k in metrics}
t2 = time.perf_counter()
print(t2 - t0, t2 - t1, p["bleu"], p["chrf"], _peak_kib())
"""

_IDLE = _PEAK + """
import resource, numpy, sacrebleu, mt_eval.stats.significance, mt_eval.metrics.registry
print(_peak_kib())
"""

_SACREBLEU_CLI = _PEAK + """
import resource, runpy, sys
sys.argv = ["sacrebleu", *sys.argv[1:]]
try:
    runpy.run_module("sacrebleu", run_name="__main__")
finally:
    print("MAXRSS", _peak_kib(), file=sys.stderr)
"""


def _cached_stats(cache: dict, cls: type, hyps: list[str], _refs: object) -> list:
    return cache[(cls, id(hyps))]


def bench_paired(n: int) -> dict:
    refs, sys_a, sys_b = zipf_corpus(n, seed=7)
    out: dict = {"segments": n, "systems": 2, "metrics": ["bleu", "chrf"], "resamples": 1000}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, lines in (("ref", refs), ("A", sys_a), ("B", sys_b)):
            write_lines(folder / f"{name}.txt", lines)
        metrics = {"bleu": get_metric("bleu"), "chrf": get_metric("chrf")}
        stats = {
            k: {s: m.segment_stats(h, [[r] for r in refs]) for s, h in (("A", sys_a), ("B", sys_b))}
            for k, m in metrics.items()
        }
        for k in stats:
            for s in stats[k]:
                np.save(folder / f"{s}.{k}.npy", stats[k][s], allow_pickle=False)

        # --- sacrebleu CLI, the reference point
        sb_args = [sys.executable, "-c", _SACREBLEU_CLI, str(folder / "ref.txt"), "-i", str(folder / "A.txt"),
                   str(folder / "B.txt"), "-m", "bleu", "chrf", "--paired-bs", "--paired-bs-n", "1000",
                   "-f", "text", "-q"]
        # best of two on both sides: the machine is shared, the least disturbed run is the measurement
        sb_load = os.getloadavg()[0]
        sb = min((run_command(sb_args) for _ in range(2)), key=lambda run: run["wall_s"])
        sb_wall, sb_out, sb_err = sb["wall_s"], sb["stdout"], sb["stderr"]
        sb_p = [float(x.split("=")[1].split(")")[0]) for x in sb_out.split("(p")[1:]]
        sb_rss = int(sb_err.split("MAXRSS")[-1].split()[0])
        # --- the statistical test alone, both tools in this process on statistics extracted beforehand:
        # sacrebleu's PairedTest with its extraction step answered from a cache (its own statistics)
        sb_cache = {(cls, id(h)): cls()._extract_corpus_statistics(h, [refs])
                    for cls in (sacrebleu.BLEU, sacrebleu.CHRF) for h in (sys_a, sys_b)}

        def sacrebleu_test() -> None:
            sb_metrics = {}
            for name, cls in (("BLEU", sacrebleu.BLEU), ("chrF2", sacrebleu.CHRF)):
                metric = cls()
                metric.num_refs = 1  # what its skipped reference pass would have set
                cached = functools.partial(_cached_stats, sb_cache, cls)
                metric._extract_corpus_statistics = cached  # type: ignore[method-assign]
                sb_metrics[name] = metric
            PairedTest([("A", sys_a), ("B", sys_b)], sb_metrics, [refs], test_type="bs", n_samples=1000)()

        def ours_test() -> None:
            compare_metrics_to_baseline(metrics, stats, "A", method="paired-bs", n_resamples=1000)

        t_sb_test, cpu_sb_test, _ = best_time(sacrebleu_test, 2)
        t_ours_test, cpu_ours_test, _ = best_time(ours_test, 3)

        results = {}
        for mode, extra in (("cached", []), ("end_to_end", ["1"]), ("end_to_end_workers2", ["2"])):
            source = "cached" if mode == "cached" else "files"
            args = [sys.executable, "-c", _OURS_TEST, str(folder), source, *extra]
            run = min((run_command(args) for _ in range(2)), key=lambda run: run["wall_s"])
            wall = run["wall_s"]
            total, test_only, p_bleu, p_chrf, rss = run["stdout"].split()
            results[mode] = {
                "process_wall_s": round(wall, 3),
                "in_process_s": round(float(total), 3),
                "test_only_s": round(float(test_only), 4),
                "p_bleu": float(p_bleu),
                "p_chrf": float(p_chrf),
                "peak_rss_mib": round(int(rss) / 1024, 1),
            }
        idle_rss = int(run_command([sys.executable, "-c", _IDLE])["stdout"].strip()) / 1024

        # --- tracemalloc peaks of the test itself, both tools, in this process
        tracemalloc.start()
        sacrebleu_test()
        _, sb_traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        ours_test()
        _, ours_traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    cached = results["cached"]
    out.update(
        {
            "sacrebleu_cli": {"wall_s": round(sb_wall, 3), "p_values": sb_p,
                              "peak_rss_mib": round(sb_rss / 1024, 1)},
            "test_only_in_process": {
                "sacrebleu_s": round(t_sb_test, 4), "mteval_s": round(t_ours_test, 4),
                "cpu_s": {"sacrebleu": round(cpu_sb_test, 3), "mteval": round(cpu_ours_test, 3)},
            },
            "mteval": results,
            "idle_interpreter_rss_mib": round(idle_rss, 1),
            "load_average_1min_at_start": round(sb_load, 2),
            "speedup_cli_vs_process_on_cached_stats": round(sb_wall / cached["process_wall_s"], 1),
            "speedup_test_only": round(t_sb_test / t_ours_test, 1),
            "speedup_end_to_end": round(sb_wall / results["end_to_end"]["process_wall_s"], 2),
            "speedup_end_to_end_workers2": round(
                sb_wall / results["end_to_end_workers2"]["process_wall_s"], 2
            ),
            "memory_ratio_rss_cached": round(cached["peak_rss_mib"] / (sb_rss / 1024), 3),
            "memory_ratio_rss_above_idle": round(
                (cached["peak_rss_mib"] - idle_rss) / (sb_rss / 1024 - idle_rss), 3
            ),
            "memory_ratio_tracemalloc": round(ours_traced / sb_traced, 4),
            "tracemalloc_peak_mib": {
                "sacrebleu": round(sb_traced / 2**20, 1),
                "mteval": round(ours_traced / 2**20, 2),
            },
            "p_values_equal_sacrebleu_cli": bool(
                np.allclose([cached["p_bleu"], cached["p_chrf"]], sb_p, atol=1e-4)
            ),
        }
    )
    print(
        json.dumps({k: v for k, v in out.items() if k.startswith(("speedup", "memory"))}, indent=1),
        flush=True,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k/10k corpora, one repeat (smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "results" / "bench" / "scoring.json"))
    args = parser.parse_args()
    sizes = [1000, 10000] if args.quick else [10000, 100000]
    repeats = 1 if args.quick else args.repeats
    started = time.time()
    corpus = [bench_corpus(n, repeats if n <= 10000 else 1) for n in sizes]
    paired = bench_paired(2000 if args.quick else 10000)
    report = {
        "benchmark": "scoring",
        "quick": args.quick,
        "machine": {
            **machine(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
            "sacrebleu": sacrebleu.__version__,
        },
        "goals": {
            "corpus_ratio_workers1": "<= 1.0",
            "corpus_ratio_workers2": "<= 0.6",
            "paired_bs_speedup": ">= 20",
            "paired_bs_memory_ratio": "<= 0.1",
        },
        "corpus": corpus,
        "paired_bootstrap": paired,
        "elapsed_s": round(time.time() - started, 1),
    }
    atomic_write_json(args.output, report)
    print(f"wrote {args.output} in {report['elapsed_s']} s")


if __name__ == "__main__":
    main()
