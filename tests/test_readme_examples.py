"""The README's commands and Python example are the ones that work (CI runs exactly what it says)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command_verbatim_and_returns_its_status():
    command = re.search(r"```bash\n(pip install torch==2\.13\.0 && pip install -e \"\.\[test\]\"[^\n]*)\n```",
                        README)
    assert command is not None, "the README's test command is missing"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command.group(1) + " || status=$?" in ci  # `set -e` does not stop inside an && list
    assert 'exit "$status"' in ci and "python3 -m venv" in ci


def test_the_quickstart_check_reads_the_first_readme_command():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from check_quickstart import readme_install_and_run_command
    finally:
        sys.path.pop(0)
    command = readme_install_and_run_command(ROOT / "README.md")
    assert command.startswith("pip install torch==2.13.0 && pip install -e \".[all]\"")
    assert command.endswith("mt-eval run")


def test_the_python_api_example_runs(tmp_path):
    block = README.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.+?)\n```", block, re.S).group(1)
    env = {**os.environ, "MT_EVAL_CACHE": str(tmp_path / "cache.sqlite")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "results" / "api-run" / "results.json").is_file()
    # the gate example names a baseline file the reader has not made yet: exit 2, never a traceback
    assert proc.stdout.strip().splitlines()[-1].startswith("2 [")
