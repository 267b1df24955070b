"""What the compare-mt-style analysis (mt_eval/analysis/) adds to ``mt-eval score``.

For each size, the synthetic corpus of ``bench_cli.py`` (two systems A and B, 20–30-word references) is
scored as a user does it (``mt-eval score --testset TS --hyp A=A --hyp B=B -m bleu -m chrf --baseline A``),
alternating runs with and without ``--no-analysis`` (ABBA), best of ``--repeats`` per mode. Reported:
both wall times, their difference, and the analysis's own time (:func:`mt_eval.analysis.core.analyse_run`
on the run folder's outputs and statistics, each time in a fresh process so that its imports count), each as
a share of the run without analysis. ``--flores`` adds FLORES devtest ar→en (3 systems, BLEU,
chrF, TER) where ``../shared/external/flores-ara-eng`` exists.

Writes ``results/bench/analysis.json``. Usage::

    python scripts/bench_analysis.py --sizes 1000 10000 100000 --repeats 2
    python scripts/bench_analysis.py --sizes 1000 --repeats 1 -o /tmp/analysis.json   # a quick look

Run it on a quiet machine: with other work on the cores, BLAS threads and Python slow down unevenly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from _bench import ROOT, cli_corpus, flores_files, machine, mt_eval_command, run_command, write_corpus

from mt_eval.fsio import atomic_write_json


def _in_process(folder: Path, testset: Path, repeats: int) -> list[float]:
    """Seconds of :func:`mt_eval.analysis.core.analyse_run` on a finished run folder's outputs and
    statistics, in a fresh process each time (so the first call's imports, numba's included, count)."""
    code = (
        "import sys, time\n"
        "from mt_eval.analysis.core import analyse_run\n"
        "from mt_eval.data.readers import load_testset\n"
        "from mt_eval.evaluate import rebuild_metrics\n"
        "from mt_eval.fsio import slug\n"
        "from mt_eval.reports.run_folder import RunFolder\n"
        "from mt_eval.settings import EvalSettings\n"
        "folder = RunFolder.open(sys.argv[1]); results = folder.results(); ts = load_testset(sys.argv[2])\n"
        "metrics = rebuild_metrics(results)\n"
        "stats = {s: {k: folder.stats(s, k) for k in metrics} for s in results.ok_systems}\n"
        "outputs = {s: (folder.root / 'outputs' / (slug(s) + '.txt')).read_text('utf-8')"
        ".split('\\n')[:len(ts)] for s in results.ok_systems}\n"
        "start = time.perf_counter()\n"
        "analyse_run(ts, outputs, stats, metrics, results.significance, EvalSettings())\n"
        "print(time.perf_counter() - start)\n")
    return [float(run_command([sys.executable, "-c", code, str(folder), str(testset)])["stdout"].split()[-1])
            for _ in range(repeats)]


def _runs(cmd: list[str], out: Path, testset: Path, repeats: int) -> dict[str, Any]:
    """Best wall time with and without the analysis (alternating), and the analysis's own time."""
    walls: dict[str, list[float]] = {"with": [], "without": []}
    for r in range(repeats):
        for mode in (("with", "without") if r % 2 == 0 else ("without", "with")):
            extra = ["--no-analysis"] if mode == "without" else []
            walls[mode].append(run_command([*cmd, "-o", str(out / f"{mode}{r}"), *extra])["wall_s"])
    best_with, best_without = min(walls["with"]), min(walls["without"])
    own = _in_process(out / "with0", testset, repeats)
    return {"wall_s_with_analysis": walls["with"], "wall_s_without_analysis": walls["without"],
            "best_with_s": best_with, "best_without_s": best_without,
            "difference_share": (best_with - best_without) / best_without,
            "analysis_s_in_process": own, "analysis_share": min(own) / best_without}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--flores", action="store_true")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "results" / "bench" / "analysis.json")
    args = parser.parse_args()
    report: dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                              "machine": machine(), "load_average_before": list(os.getloadavg()),
                              "workload": "mt-eval score, systems A and B, -m bleu -m chrf, --baseline A, "
                                          "1000 resamples; with vs --no-analysis", "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        for n in args.sizes:
            files = write_corpus(Path(tmp) / f"c{n}", cli_corpus(n), f"bench{n}")
            cmd = [mt_eval_command(), "score", "--testset", str(files["ts"]), "--hyp", f"A={files['A']}",
                   "--hyp", f"B={files['B']}", "-m", "bleu", "-m", "chrf", "--baseline", "A"]
            report["sizes"][str(n)] = _runs(cmd, Path(tmp) / f"r{n}", files["ts"], args.repeats)
            print(n, json.dumps(report["sizes"][str(n)]), flush=True)
        found = flores_files() if args.flores else None
        if found is not None:
            from mt_eval.data.testset import TestSet

            source = found["source"].read_text(encoding="utf-8").splitlines()
            refs = found["reference"].read_text(encoding="utf-8").splitlines()
            ts = Path(tmp) / "flores"
            TestSet.from_pairs([(s, [r]) for s, r in zip(source, refs, strict=True)], source_lang="ar",
                               target_lang="en", name="flores-devtest-ara-eng").save(ts)
            cmd = [mt_eval_command(), "score", "--testset", str(ts), "-m", "bleu", "-m", "chrf", "-m", "ter",
                   *[a for name, path in found["systems"].items() for a in ("--hyp", f"{name}={path}")]]
            report["flores"] = _runs(cmd, Path(tmp) / "flores-runs", ts, args.repeats)
            print("flores", json.dumps(report["flores"]), flush=True)
    report["load_average_after"] = list(os.getloadavg())  # 1, 5, 15 minutes: the machine is shared
    atomic_write_json(args.output, report)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
