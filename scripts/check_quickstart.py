"""Run the README's first command (install + ``mt-eval run``) as a new user would, and check its output.

The command is read from the README (the first ``bash`` block of "Quick start"), so the check cannot
drift from the documentation. It runs in a new virtual environment on a temporary copy of the
repository (the files git tracks, plus untracked files it does not ignore), so the committed
``results/default/`` is never touched; the copy's ``results/default`` is removed first, so the check
sees only what this run produced. pip's cache is shared with the machine (no rebuild of llama.cpp).

    python scripts/check_quickstart.py [--keep]

Exit 0 when the run folder is complete (results.json with at least one scored system,
segments.jsonl, tables, report.html), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ("results.json", "segments.jsonl", "tables/scores.md", "tables/scores.csv", "tables/scores.tex",
            "report.html")


def readme_install_and_run_command(readme: Path) -> str:
    text = readme.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    match = re.search(r"```bash\n(.+?)\n```", section, re.S)
    if match is None:
        raise SystemExit("README: no bash block under '## Quick start'")
    command = match.group(1).strip()
    if "mt-eval run" not in command:
        raise SystemExit(f"README: the first Quick start command does not run mt-eval: {command!r}")
    return command


def copy_repository(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def check_run_folder(folder: Path) -> list[str]:
    problems = [f"missing {name}" for name in EXPECTED if not (folder / name).is_file()]
    if (folder / "results.json").is_file():
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        scored = [name for name, info in results.get("systems", {}).items() if info.get("status") == "ok"]
        if not scored:
            problems.append("results.json has no scored system")
        if not results.get("scores"):
            problems.append("results.json has no scores")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and print its path")
    args = parser.parse_args()
    command = readme_install_and_run_command(ROOT / "README.md")
    work = Path(tempfile.mkdtemp(prefix="mt-eval-quickstart-"))
    try:
        repo = work / "mt-eval"
        copy_repository(repo)
        shutil.rmtree(repo / "results" / "default", ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env["PATH"] = f"{work / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["MT_EVAL_CACHE"] = str(work / "translations.sqlite")  # a new user's empty cache
        print(f"quickstart: in {repo}\nquickstart: $ {command}", flush=True)
        start = time.monotonic()
        proc = subprocess.run(["bash", "-c", command], cwd=repo, env=env)
        seconds = time.monotonic() - start
        problems = [] if proc.returncode == 0 else [f"the command exited {proc.returncode}"]
        problems += check_run_folder(repo / "results" / "default")
        if problems:
            print("quickstart: FAILED: " + "; ".join(problems), file=sys.stderr)
            return 1
        print(f"quickstart: OK in {seconds:.0f} s: results/default has {', '.join(EXPECTED)}")
        return 0
    finally:
        if args.keep:
            print(f"quickstart: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
