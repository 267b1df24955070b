"""Is a change slower? ``mt-eval score`` of one checkout against another's, best of N interleaved.

Issue 19 asks that the redesign keep ``scripts/bench_cli.py --sizes 100000``'s ``mt-eval score`` within
5% of the code before it. This runs exactly that command (BLEU + chrF, 2 systems, paired test, the
same synthetic corpus as ``bench_cli``) with ``python -m mt_eval`` from each checkout (``PYTHONPATH``
puts the checkout's package first), alternating the order on every repeat so that a quiet or busy
moment favours neither, and writes the best wall time of each with their ratio.

Usage: python scripts/bench_revisions.py --before /path/to/old/checkout [--after .] [--size 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from _bench import ROOT, cli_corpus, machine, run_command, score_command, write_corpus

from mt_eval.fsio import atomic_write_json


def _command(checkout: Path, files: dict[str, Path], out: Path) -> tuple[list[str], dict[str, str]]:
    cmd = [sys.executable, "-m", "mt_eval", *score_command(files, out)[1:]]
    return cmd, {**os.environ, "PYTHONPATH": str(checkout.resolve())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the code before the change")
    parser.add_argument("--after", type=Path, default=ROOT, help="checkout of the changed code (default: .)")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", "-o", type=Path, default=ROOT / "results" / "bench" / "revisions.json")
    args = parser.parse_args()
    checkouts = {"before": args.before, "after": args.after}
    walls: dict[str, list[float]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory() as tmp:
        files = write_corpus(Path(tmp) / "corpus", cli_corpus(args.size), f"bench{args.size}")
        scores: dict[str, Any] = {}
        for repeat in range(args.repeats):
            order = list(checkouts) if repeat % 2 == 0 else list(reversed(checkouts))
            for name in order:
                out = Path(tmp) / f"{name}{repeat}"
                cmd, env = _command(checkouts[name], files, out)
                walls[name].append(run_command(cmd, env=env)["wall_s"])
                results = json.loads((out / "results.json").read_text(encoding="utf-8"))
                scores[name] = results["scores"]
    best = {name: min(times) for name, times in walls.items()}
    record = {"machine": machine(), "size": args.size, "repeats": args.repeats,
              "command": "mt-eval score --hyp A --hyp B -m bleu -m chrf --baseline A",
              "wall_s": walls, "best_wall_s": best, "ratio_after_over_before": best["after"] / best["before"],
              "scores_identical": scores["before"] == scores["after"]}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.output, record)
    sys.stdout.write(json.dumps({k: record[k] for k in ("best_wall_s", "ratio_after_over_before",
                                                        "scores_identical")}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
