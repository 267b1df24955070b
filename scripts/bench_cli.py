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

``--with-ter`` adds TER to both tools (``-m ter`` / ``ter``) and writes under ``with_ter``.

``--flores``: FLORES devtest ar→en (1,012 segments, the 3 OPUS-MT systems of
``../shared/external/flores-ara-eng``, read in place; skipped with a message where absent), best of 3
interleaved runs of ``mt-eval score -m bleu -m chrf -m ter`` vs ``sacrebleu -m bleu chrf ter --paired-bs``,
``-m ter`` vs ``-m ter --paired-bs``, the default metrics, and ``-m bleu`` alone (the start-up floor); before
them, one ``-m ter`` run after clearing numba's cache of ``fast_ter`` (the first run on a machine). Both
tools run
with Python's bytecode cache, as installed packages do (``PYTHONDONTWRITEBYTECODE`` is dropped for them: it
would recompile mt_eval's modules, ≈ 0.15 s, on every run). Scores are compared with sacrebleu's JSON
output. Written under ``flores``.

Writes ``results/bench/cli.json`` (each mode replaces only its own part). Usage::

    python scripts/bench_cli.py                       # 10k, 30k, 100k segments, 2 repeats (minutes)
    python scripts/bench_cli.py --sizes 2000 --repeats 1 -o /tmp/cli.json   # a quick look
    python scripts/bench_cli.py --flores              # FLORES, 3 repeats (about 2 minutes)
    python scripts/bench_cli.py --with-ter --sizes 10000 --repeats 1

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
from _bench import (
    FLORES_DIR,
    ROOT,
    clear_numba_cache,
    cli_corpus,
    flores_files,
    machine,
    mt_eval_command,
    run_command,
    score_command,
    write_corpus,
)

from mt_eval.fsio import atomic_write_json
from mt_eval.settings import DEFAULT_METRICS

_SACREBLEU_KEYS = {"BLEU": "bleu", "chrF2": "chrf", "chrF2++": "chrf++", "TER": "ter"}


def _sacrebleu_scores(text: str) -> dict[str, dict[str, str]]:
    """``{system: {"bleu": "12.345678", "chrf": ..., "ter": ...}}`` from sacrebleu's paired text table
    (columns named by its header row)."""
    scores: dict[str, dict[str, str]] = {}
    keys: list[str | None] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 4 and cells[1] == "System":
            keys = [_SACREBLEU_KEYS.get(c.split(" (")[0]) for c in cells[2:-1]]
            continue
        if len(cells) < 4 or not re.match(r"^-?\d+\.\d+ \(", cells[2] or ""):
            continue
        name = cells[1].removeprefix("Baseline: ")
        scores[Path(name).stem] = {key: cell.split()[0] for key, cell in zip(keys, cells[2:-1], strict=False)
                                   if key is not None}
    return scores


def _sacrebleu_json_scores(text: str) -> dict[str, dict[str, str]]:
    """The same from ``sacrebleu -f json`` (one entry per system, scores as printed with ``-w``)."""
    return {Path(entry["system"]).stem: {key: entry[name] for name, key in _SACREBLEU_KEYS.items()
                                         if name in entry}
            for entry in json.loads(text)}


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


def _machine_record() -> dict[str, Any]:
    return {**machine(), "cpu_count": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "load_average_at_start": list(os.getloadavg())}


def _synthetic(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """The 10k/30k/100k mode: 2 synthetic systems, BLEU+chrF (+TER with ``--with-ter``)."""
    ter = ["ter"] if args.with_ter else []
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": _machine_record(),
        "workload": f"2 systems, BLEU+chrF{'+TER' if ter else ''}, 1000-resample paired bootstrap against A, "
                    "95% CIs",
        "sizes": {},
    }
    best_times: dict[str, list[float]] = {"sacrebleu": [], "mt_eval": []}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        for n in args.sizes:
            folder = Path(tmp) / str(n)
            corpus = cli_corpus(n, seed=n)
            files = write_corpus(folder, corpus, f"bench{n}")
            sacrebleu_cmd = [sys.executable, "-m", "sacrebleu", str(files["refs"]), "-i", str(files["A"]),
                             str(files["B"]), "-m", "bleu", "chrf", *ter, "--paired-bs", "-f", "text",
                             "-w", "6"]
            runs: dict[str, list[dict[str, Any]]] = {"sacrebleu": [], "mt_eval": []}
            for repeat in range(args.repeats):
                order = ["sacrebleu", "mt_eval"] if repeat % 2 == 0 else ["mt_eval", "sacrebleu"]
                for tool in order:
                    if tool == "sacrebleu":
                        result = run_command(sacrebleu_cmd, env)
                        result["scores"] = _sacrebleu_scores(result["stdout"])
                    else:
                        out_dir = folder / f"run{repeat}"
                        extra = ["--workers", args.workers, *(["-m", "ter"] if ter else [])]
                        result = run_command(score_command(files, out_dir, extra), env)
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
                              "cpu_s": [r["cpu_s"] for r in runs["sacrebleu"]],
                              "best_wall_s": best["sacrebleu"]["wall_s"],
                              "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["sacrebleu"])},
                "mt_eval": {"wall_s": [r["wall_s"] for r in runs["mt_eval"]], "best_wall_s": mt_best,
                            "cpu_s": [r["cpu_s"] for r in runs["mt_eval"]],
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
    print(json.dumps({n: {k: v[k] for k in ("time_ratio_mt_eval_over_sacrebleu",
                                              "memory_ratio_mt_eval_over_sacrebleu", "scores_identical")}
                      for n, v in report["sizes"].items()}, indent=2))
    return report


def _subset(scores: dict[str, dict[str, str]], keys: set[str]) -> dict[str, dict[str, str]]:
    return {system: {k: v for k, v in per.items() if k in keys} for system, per in scores.items()}


# the FLORES commands: (mt-eval metrics or None for the defaults, sacrebleu metrics or None for no peer)
_FLORES_CASES: dict[str, tuple[list[str] | None, list[str] | None]] = {
    "bleu_chrf_ter": (["bleu", "chrf", "ter"], ["bleu", "chrf", "ter"]),
    "ter": (["ter"], ["ter"]),
    "defaults": (None, None),
    "bleu_floor": (["bleu"], None),
}


def _flores(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any] | None:
    """FLORES devtest ar→en, 1,012 segments, 3 systems, read in place: ``mt-eval score`` vs the sacrebleu
    CLI (paired bootstrap against the first system in both), best of ``--repeats`` interleaved runs."""
    files = flores_files(args.flores_dir)
    if files is None:
        print(f"FLORES mode skipped: {args.flores_dir} (source.ara, reference.eng, systems/*.eng) not found "
              "(it is not part of the repository)", file=sys.stderr)
        return None
    from mt_eval.data.testset import TestSet
    from mt_eval.metrics import fast_ter

    systems: dict[str, Path] = files["systems"]
    baseline = next(iter(systems))
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": _machine_record(),
        "data": f"FLORES-200 devtest ar->en read in place from {args.flores_dir}",
        "systems": list(systems),
        "baseline": baseline,
        "numba_available": fast_ter.available(),
        "repeats": args.repeats,
        "workload": "3 systems, 1000-resample paired bootstrap against the first system in both tools, "
                    "95% CIs; each mt-eval run: a fresh run folder and translation cache ($MT_EVAL_CACHE)",
        "commands": {},
    }
    # both tools run with Python's bytecode cache, as installed packages do (sacrebleu's is already there;
    # PYTHONDONTWRITEBYTECODE, set in some workspaces, would recompile mt_eval's modules on every run)
    env = dict(env)
    unset = env.pop("PYTHONDONTWRITEBYTECODE", None) is not None
    report["bytecode"] = "written and read" + (" (PYTHONDONTWRITEBYTECODE unset)" if unset else "")
    with tempfile.TemporaryDirectory(prefix="bench-flores-") as tmp:
        source = files["source"].read_text(encoding="utf-8").splitlines()
        refs = files["reference"].read_text(encoding="utf-8").splitlines()
        report["segments"] = len(refs)
        ts = Path(tmp) / "ts"
        TestSet.from_pairs([(s, [r]) for s, r in zip(source, refs, strict=True)], source_lang="ar",
                           target_lang="en", name="flores-devtest-ara-eng").save(ts)
        counter = iter(range(10**6))

        def mt_eval(metrics: list[str] | None) -> dict[str, Any]:
            k = next(counter)
            out = Path(tmp) / f"run{k}"
            cmd = [mt_eval_command(), "score", "--testset", str(ts),
                   *[a for name, path in systems.items() for a in ("--hyp", f"{name}={path}")],
                   *[a for m in metrics or [] for a in ("-m", m)], "--baseline", baseline, "-o", str(out)]
            load = os.getloadavg()[0]
            result = run_command(cmd, {**env, "MT_EVAL_CACHE": str(Path(tmp) / f"cache{k}" / "t.sqlite")})
            result["scores"] = _mt_eval_scores(out, 6)
            result["load_1min_before"] = load
            return result

        sacrebleu_cmd = [sys.executable, "-m", "sacrebleu", str(files["reference"]), "-i",
                         *[str(p) for p in systems.values()]]

        def sacrebleu(metrics: list[str]) -> dict[str, Any]:
            cmd = [*sacrebleu_cmd, "-m", *metrics, "--paired-bs", "-f", "text", "-w", "6"]
            load = os.getloadavg()[0]
            result = run_command(cmd, env)
            result["scores"] = _sacrebleu_scores(result["stdout"])
            result["load_1min_before"] = load
            return result

        # sacrebleu's own JSON (no --paired-bs: with it, 2.x fails to serialise TER's float32) as the truth
        truth = _sacrebleu_json_scores(run_command(
            [*sacrebleu_cmd, "-m", "bleu", "chrf", "ter", "-f", "json", "-w", "6"], env)["stdout"])
        report["sacrebleu_scores"] = truth
        removed = clear_numba_cache(Path(fast_ter.__file__))
        first = mt_eval(["ter"])
        report["first_run_ter"] = {"wall_s": first["wall_s"], "cpu_s": first["cpu_s"],
                                   "load_1min_before": first["load_1min_before"],
                                   "numba_cache_files_removed": len(removed),
                                   "note": "numba's cache of fast_ter cleared just before: it compiles"}
        print(f"FLORES first -m ter (compiles) {first['wall_s']:7.2f} s  cpu {first['cpu_s']:6.2f} s",
              flush=True)
        jobs = [(case, tool) for case, (_, peer) in _FLORES_CASES.items()
                for tool in ("mt_eval", "sacrebleu") if tool == "mt_eval" or peer]
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {job: [] for job in jobs}
        for repeat in range(args.repeats):
            for case, tool in jobs if repeat % 2 == 0 else jobs[::-1]:
                ours, peer = _FLORES_CASES[case]
                result = mt_eval(ours) if tool == "mt_eval" else sacrebleu(peer or [])
                runs[(case, tool)].append(result)
                print(f"FLORES {case:<14} {tool:<9} {result['wall_s']:7.2f} s  cpu {result['cpu_s']:6.2f} s"
                      f"  load {result['load_1min_before']:.1f}", flush=True)
    floor = min(r["wall_s"] for r in runs[("bleu_floor", "mt_eval")])
    for case, (ours, peer) in _FLORES_CASES.items():
        mine = runs[(case, "mt_eval")]
        entry: dict[str, Any] = {
            "mt_eval_metrics": ours or "defaults",
            "mt_eval": {"wall_s": [r["wall_s"] for r in mine], "best_wall_s": min(r["wall_s"] for r in mine),
                        "cpu_s": [r["cpu_s"] for r in mine],
                        "load_1min_before": [r["load_1min_before"] for r in mine],
                        "peak_rss_mb": max(r["peak_rss_mb"] for r in mine)}}
        # every mt-eval run of this case against sacrebleu's JSON, for the metrics both compute
        shared = set(ours or DEFAULT_METRICS) & {"bleu", "chrf", "ter"}
        entry["scores_compared"] = sorted(shared)
        entry["scores_identical_to_sacrebleu_json"] = all(
            _subset(r["scores"], shared) == _subset(truth, shared) for r in mine)
        if peer:
            theirs = runs[(case, "sacrebleu")]
            entry["sacrebleu_metrics"] = peer
            entry["sacrebleu"] = {"wall_s": [r["wall_s"] for r in theirs],
                                  "best_wall_s": min(r["wall_s"] for r in theirs),
                                  "cpu_s": [r["cpu_s"] for r in theirs],
                                  "load_1min_before": [r["load_1min_before"] for r in theirs],
                                  "peak_rss_mb": max(r["peak_rss_mb"] for r in theirs)}
            entry["time_ratio_mt_eval_over_sacrebleu"] = \
                entry["mt_eval"]["best_wall_s"] / entry["sacrebleu"]["best_wall_s"]
            # CPU seconds (least of the runs): less moved by other work than wall time, not the goal
            entry["cpu_ratio_mt_eval_over_sacrebleu"] = \
                min(entry["mt_eval"]["cpu_s"]) / min(entry["sacrebleu"]["cpu_s"])
            # the timed text tables too: every run of both tools prints the same numbers
            entry["scores_identical_timed_tables"] = bool(theirs[0]["scores"]) and all(
                _subset(r["scores"], shared) == _subset(theirs[0]["scores"], shared) for r in mine + theirs)
        report["commands"][case] = entry
    report["startup_floor_s"] = floor
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    print(json.dumps({case: {k: v for k, v in e.items() if k.startswith(("time_ratio", "scores"))}
                      | {"mt_eval_best_s": e["mt_eval"]["best_wall_s"]}
                      for case, e in report["commands"].items()}, indent=2))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per tool and size (best is kept; default 2, 3 with --flores)")
    parser.add_argument("--output", "-o", type=Path, default=ROOT / "results" / "bench" / "cli.json")
    parser.add_argument("--workers", default="auto", help="mt-eval --workers (default auto)")
    parser.add_argument("--with-ter", action="store_true",
                        help="synthetic mode: add TER to both tools (written under 'with_ter')")
    parser.add_argument("--flores", action="store_true",
                        help="FLORES devtest ar->en instead of the synthetic sizes (written under 'flores')")
    parser.add_argument("--flores-dir", type=Path, default=FLORES_DIR)
    args = parser.parse_args()
    if args.repeats is None:
        args.repeats = 3 if args.flores else 2

    env = dict(os.environ)
    env.setdefault("COLUMNS", "200")
    # each mode replaces only its own part of an existing file
    report: dict[str, Any] = \
        json.loads(args.output.read_text(encoding="utf-8")) if args.output.is_file() else {}
    if args.flores:
        flores = _flores(args, env)
        if flores is None:
            return
        report["flores"] = flores
    elif args.with_ter:
        report["with_ter"] = _synthetic(args, env)
    else:
        report = {**_synthetic(args, env), **{k: report[k] for k in ("flores", "with_ter") if k in report}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.output, report)
    print(f"wrote {args.output}")

if __name__ == "__main__":
    main()
