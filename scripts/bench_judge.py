"""Judge cost per segment: gemba-mqm and gemba-esa with a llama.cpp judge on seed segments.

    python scripts/bench_judge.py [--judge 'llama-cpp:default?n_threads=1'] [--segments 0 2 3 6]
                                  [-o results/bench/judge_cost.json]

The references of the chosen seed segments are judged as hypotheses, each request timed on its own
(``batch_size=1``), through a fresh temporary cache (nothing is served from an earlier run). Writes per
metric the wall time, and per segment the judge's usage (prompt/completion tokens, seconds, requests),
its failures, and the load average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from mt_eval.data.build import default_testset
from mt_eval.fsio import atomic_write_text
from mt_eval.metrics.judge import JudgeMetric
from mt_eval.metrics.registry import get_metric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default="llama-cpp:default?n_threads=1")
    parser.add_argument("--segments", type=int, nargs="+", default=[0, 2, 3, 6])
    parser.add_argument("-o", "--output", type=Path, default=Path("results/bench/judge_cost.json"))
    args = parser.parse_args()
    testset = default_testset()
    sources = [testset.sources[i] for i in args.segments]
    refs = [testset.references[i] for i in args.segments]
    hyps = [r[0] for r in refs]
    report: dict[str, object] = {"judge": args.judge, "segments": args.segments,
                                 "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MT_EVAL_CACHE"] = str(Path(tmp) / "cache.sqlite")
        for name in ("gemba-mqm", "gemba-esa"):
            metric = get_metric(name, judge=args.judge, batch_size=1)
            assert isinstance(metric, JudgeMetric)
            started = time.perf_counter()
            stats = metric.segment_stats(hyps, refs, sources=sources)
            wall = time.perf_counter() - started
            details = metric.details or []
            report[name] = {"wall_s": round(wall, 2), "signature": metric.signature(),
                            "stats": stats.tolist(), "usage": [d.usage for d in details],
                            "failures": [d.failure for d in details]}
            metric.close()
    report["load_average_after"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output, json.dumps(report, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
