"""Every third-party package the tests (and the package) import is declared in pyproject.toml.

CI installs the README's test command into a new virtual environment, so an undeclared test import
fails there at collection; this test names the culprit directly, and also fails on a machine where
the package happens to be installed by hand. It also checks that every declared test dependency is
installed, so that no ``importorskip`` can quietly turn a broken install into skipped tests.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PROJECT = canonicalize_name("mt-eval")
# Imported lazily by mt_eval only when a user asks for them; the README says what to install.
OPTIONAL_UNDECLARED = {
    "comet": "unbabel-comet: optional COMET metric, installed by the user",
    "bert_score": "bert-score: optional BERTScore metric, installed by the user",
}
# Installed by the README's test command after the test extra, with --no-deps: unbabel-comet pins
# numpy<2, transformers<5 and huggingface-hub<1, so pip cannot resolve it in an extra without downgrading
# the stack; its real run-time dependencies are the `comet` extra (in `test`).
NO_DEPS_STEP = {"unbabel-comet": "pip install unbabel-comet==2.2.7 --no-deps"}


@cache
def _pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def declared(extras: frozenset[str], *, this_environment: bool = False) -> set[str]:
    """Canonical names of the core dependencies plus ``extras``, following ``mt-eval[...]`` references.

    ``this_environment`` keeps only requirements whose markers hold here (``tomli`` only below 3.11).
    """
    project = _pyproject()["project"]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    names: set[str] = set()
    todo, seen = [None, *extras], set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in project["dependencies"] if extra is None else optional[extra]:
            req = Requirement(line)
            if this_environment and req.marker is not None and not req.marker.evaluate():
                continue
            if canonicalize_name(req.name) == PROJECT:
                todo.extend(req.extras)
            else:
                names.add(canonicalize_name(req.name))
    return names


def _local_modules(folder: Path) -> set[str]:
    """Helper modules that live in the folder itself (``mini_corpus``, ``conftest``, …)."""
    return {p.stem for p in folder.rglob("*.py")} | {p.name for p in folder.rglob("*") if p.is_dir()}


def _imported_modules(tree: ast.AST) -> list[str]:
    """Absolute imports, plus ``pytest.importorskip("x")`` calls (an import that may skip)."""
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "importorskip" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append(node.args[0].value)
    return out


def third_party_imports(folder: Path) -> dict[str, set[str]]:
    """Top-level module → files importing it, for every absolute import that is not stdlib or local."""
    local = _local_modules(folder) | _local_modules(ROOT / "scripts") | {"mt_eval"}
    out: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for module in _imported_modules(tree):
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names and top not in local and top != "__future__":
                out.setdefault(top, set()).add(str(path.relative_to(folder.parent)))
    return out


def _distributions(module: str) -> set[str]:
    return {canonicalize_name(d) for d in importlib.metadata.packages_distributions().get(module, [])}


def _undeclared(folder: Path, allowed: set[str], skip: dict[str, str]) -> list[str]:
    problems = []
    for module, files in sorted(third_party_imports(folder).items()):
        if module in skip:
            continue
        dists = _distributions(module)
        if not dists and canonicalize_name(module) in allowed:
            continue  # declared for another environment (``tomli`` below Python 3.11), not installed here
        if not dists:
            problems.append(f"{module} (imported by {', '.join(sorted(files))}) is not installed by any "
                            "declared dependency")
        elif not dists & allowed:
            problems.append(f"{module} (imported by {', '.join(sorted(files))}) comes from "
                            f"{', '.join(sorted(dists))}, which pyproject.toml does not declare")
    return problems


def test_every_test_import_is_in_the_test_extra():
    problems = _undeclared(ROOT / "tests", declared(frozenset({"test"})) | set(NO_DEPS_STEP), {})
    assert not problems, "\n".join(problems)


def test_every_package_import_is_in_core_or_an_extra():
    extras = frozenset(_pyproject()["project"].get("optional-dependencies", {}))
    problems = _undeclared(ROOT / "mt_eval", declared(extras), OPTIONAL_UNDECLARED)
    assert not problems, "\n".join(problems)


def test_every_declared_test_dependency_is_installed():
    """A skipped test must never hide a failed install: the README's test command installs all of these."""
    missing = []
    for name in sorted(declared(frozenset({"test"}), this_environment=True) | set(NO_DEPS_STEP)):
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    assert not missing, f"declared in the test extra but not installed: {', '.join(missing)}"


def test_the_check_catches_an_undeclared_import(tmp_path):
    """The scanner sees function-level imports and importorskip, and ignores stdlib, local helpers and
    comments."""
    (tmp_path / "helper_mod.py").write_text("X = 1\n", encoding="utf-8")
    (tmp_path / "test_scratch.py").write_text(
        "import json\nimport helper_mod\nfrom numpy import array\n\n"
        "# import yaml\ndef test_x():\n    import hypothesis.strategies\n"
        "    pytest.importorskip('sacrebleu')\n",
        encoding="utf-8")
    found = third_party_imports(tmp_path)
    assert set(found) == {"numpy", "hypothesis", "sacrebleu"}
    problems = _undeclared(tmp_path, {"numpy", "sacrebleu"}, {})
    assert len(problems) == 1 and problems[0].startswith("hypothesis ("), problems


@pytest.mark.parametrize("extra", ["test", "all"])
def test_extras_resolve(extra):
    assert "sacrebleu" in declared(frozenset({extra}))
