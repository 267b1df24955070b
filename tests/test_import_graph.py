"""The import graph of ``mt_eval`` has no cycles and no import that runs upward between layers, the
command line holds no library logic, and the architecture document names only modules that exist.

Every ``import`` of every module counts — at module level and inside functions (a deferred import
only hides a cycle until the function runs) — except those under ``if TYPE_CHECKING:``, which never
run. Importing ``mt_eval.a.b`` also runs the package ``mt_eval.a``'s ``__init__``, so an import of a
module in another package is an edge to that package's ``__init__`` too (its re-exports count).
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import mt_eval

PACKAGE = Path(mt_eval.__file__).parent
ROOT_NAME = "mt_eval"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str) -> Iterator[tuple[str, int]]:
    """``(imported module, line)`` for every import outside ``if TYPE_CHECKING:`` blocks."""
    is_package = module in PACKAGES

    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in MODULES else target), node.lineno
        pending.extend(ast.iter_child_nodes(node))
    # ``__import__("mt_eval.x", ...)`` with a literal name is an import too
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__"
                and node.args and isinstance(node.args[0], ast.Constant)):
            name = node.args[0].value
            if isinstance(name, str):
                yield name, node.lineno


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported mt_eval module: first line}; ancestor packages of a target included
    unless they are the importer's own ancestors (already being imported when it runs)."""
    graph: dict[str, dict[str, int]] = {name: {} for name in MODULES}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        own = set(_ancestors(name)) | {name}
        for target, line in _imports(tree, name):
            if not (target == ROOT_NAME or target.startswith(ROOT_NAME + ".")):
                continue
            while target not in MODULES and "." in target:  # "from mt_eval.x import name"
                target = target.rsplit(".", 1)[0]
            # an ancestor package imported implicitly is already running when ``name`` runs; one named
            # explicitly (``from mt_eval import TestSet``) must have finished its own imports: an edge
            deps = [d for d in _ancestors(target) if d not in own] + ([target] if target != name else [])
            for dep in deps:
                if dep in MODULES:
                    graph[name].setdefault(dep, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def _describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    members = set(component)
    edges = [f"  {a} -> {b} (line {graph[a][b]})"
             for a in component for b in sorted(graph[a]) if b in members]
    return "cycle between " + ", ".join(component) + ":\n" + "\n".join(edges)


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert len(graph) == len(MODULES) > 50
    assert "mt_eval.settings" in graph["mt_eval.config"]  # module level
    assert "mt_eval.pipeline" in graph["mt_eval.cli.run_cmd"]  # inside a function
    assert "mt_eval.cli.list_cmd" in graph["mt_eval.cli"]  # __import__ with a literal name
    assert "mt_eval.gate.run" in graph["mt_eval.cli.gate_cmd"]
    # an import of mt_eval.gate.x from outside the package runs mt_eval/gate/__init__.py
    outside = [m for m, deps in graph.items() if not m.startswith("mt_eval.gate")
               and any(d.startswith("mt_eval.gate.") for d in deps)]
    assert outside and all("mt_eval.gate" in graph[m] for m in outside)


def test_no_import_cycles_between_mt_eval_modules() -> None:
    graph = import_graph()
    cycles = _cycles(graph)
    assert not cycles, "\n\n".join(_describe(c, graph) for c in cycles)


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b": 1}, "b": {}}) == []


def test_library_modules_never_import_the_command_line() -> None:
    """``mt_eval.cli`` sits on top: the library (evaluate, gate, reports, …) never imports it."""
    graph = import_graph()
    offenders = [f"{m} -> {d} (line {line})" for m, deps in graph.items()
                 if not m.startswith("mt_eval.cli") and m != "mt_eval.__main__"
                 for d, line in deps.items() if d.startswith("mt_eval.cli")]
    assert not offenders, offenders


def test_evaluate_holds_only_scoring() -> None:
    """``evaluate.py`` neither translates nor renders: no translator, CLI, table or HTML import."""
    graph = import_graph()
    forbidden = ("mt_eval.translators.runner", "mt_eval.translators.registry", "mt_eval.cli",
                 "mt_eval.reports.html", "mt_eval.reports.tables", "mt_eval.gate")
    bad = [d for d in graph["mt_eval.evaluate"] if d.startswith(forbidden)]
    assert not bad, bad


def test_cli_modules_define_only_commands_and_printing() -> None:
    """A CLI module's public functions are commands (registered with typer) or ``register``; library
    logic — translating, choosing systems, reading files, statistics — lives in the library."""
    library_calls = {"translate_testset", "evaluate", "significance", "bootstrap_ci", "paired_bootstrap",
                     "read_hypotheses", "read_input_text"}
    offenders = []
    for name, path in MODULES.items():
        if not name.startswith("mt_eval.cli."):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in library_calls:
                offenders.append(f"{name}.{node.name}: library function defined in the CLI")
    assert not offenders, offenders


# ------------------------------------------------------------------------------------------ layers
#: Bottom to top. A module may import its own layer and those below, never one above. A top-level
#: module or package (``mt_eval.fsio``, ``mt_eval.metrics``) sits in one layer with all its submodules;
#: ``mt_eval`` itself (``TestSet`` and the errors) sits with the data.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundations", {"errors", "settings", "processes", "forked", "environment", "schema", "plugins",
                     "fsio"}),
    ("data in", {"mt_eval", "data", "spans", "numbers", "checks"}),
    ("outputs: translators, the work cache, judges' text completion", {"translators", "workcache", "judges"}),
    ("scoring: metrics and statistics", {"metrics", "stats", "meta", "canaries", "analysis"}),
    ("run folders", {"reports"}),
    ("operations on runs", {"evaluate", "gate", "humeval", "config", "catalog", "history", "trackers"}),
    ("orchestration: a whole run, shards, executors", {"pipeline", "cluster"}),
    ("command line", {"cli", "__main__"}),
    ("test and benchmark fixtures", {"testing"}),
]


def layer_of(module: str) -> int:
    """The index of ``module``'s layer in :data:`LAYERS` (KeyError names a module that has none)."""
    parts = module.split(".")
    unit = parts[1] if len(parts) > 1 else "mt_eval"
    for index, (_, units) in enumerate(LAYERS):
        if unit in units:
            return index
    raise KeyError(f"{module}: {unit!r} is in no layer of tests/test_import_graph.py; add it where it"
                   " belongs")


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    return [f"{m} ({LAYERS[layer_of(m)][0]}) -> {d} ({LAYERS[layer_of(d)][0]}), line {line}"
            for m, deps in sorted(graph.items()) for d, line in sorted(deps.items())
            if layer_of(d) > layer_of(m)]


def test_every_module_has_a_layer() -> None:
    missing = []
    for module in MODULES:
        try:
            layer_of(module)
        except KeyError as exc:
            missing.append(str(exc))
    assert not missing, "\n".join(missing)


def test_no_import_runs_upward() -> None:
    """Lower layers never import higher ones (``translators.outputs`` once imported ``reports.layout``
    for ``slug``; it now comes from ``fsio``)."""
    bad = upward_imports(import_graph())
    assert not bad, "imports that run upward:\n" + "\n".join(bad)


def test_the_layer_check_sees_an_upward_import() -> None:
    graph = {"mt_eval.fsio": {"mt_eval.reports.layout": 3}, "mt_eval.reports.layout": {"mt_eval.fsio": 1}}
    assert upward_imports(graph) == [
        "mt_eval.fsio (foundations) -> mt_eval.reports.layout (run folders), line 3"]


# ------------------------------------------------------------------------------- the architecture doc
ARCHITECTURE = PACKAGE.parent / "docs" / "ARCHITECTURE.md"
_PATH = re.compile(r"`((?:mt_eval|tests|scripts|docs)/[\w./-]*)`")
_DOTTED = re.compile(r"`(mt_eval(?:\.\w+)+)")
_ROW_FILE = re.compile(r"`(\w+\.py)`")


def named_in_architecture(text: str) -> tuple[set[str], set[str]]:
    """Paths (``mt_eval/fsio.py``, ``mt_eval/gate/``; a bare ``x.py`` in a table row resolved against the
    row's folders) and dotted names (``mt_eval.gate.run.gate_after_run``) the document names."""
    paths = set(_PATH.findall(text))
    for line in text.splitlines():
        if line.startswith("|"):
            folders = [p for p in _PATH.findall(line.split("|")[1]) if p.endswith("/")]
            paths |= {folder + name for folder in folders[:1] for name in _ROW_FILE.findall(line)}
    return paths, set(_DOTTED.findall(text))


def missing_from_tree(paths: set[str], dotted: set[str]) -> list[str]:
    root = PACKAGE.parent
    missing = [f"{p}: no such file or folder" for p in sorted(paths) if not (root / p).exists()]
    for name in sorted(dotted):
        parts = name.split(".")
        module = next((".".join(parts[:k]) for k in range(len(parts), 0, -1)
                       if ".".join(parts[:k]) in MODULES), None)
        rest = parts[len(module.split(".")):] if module else parts
        if module is None:
            missing.append(f"{name}: no such module")
        elif rest:
            obj: object = importlib.import_module(module)
            for attr in rest:
                if not hasattr(obj, attr):
                    missing.append(f"{name}: {module} has no {'.'.join(rest)}")
                    break
                obj = getattr(obj, attr)
    return missing


def test_every_module_the_architecture_document_names_exists() -> None:
    paths, dotted = named_in_architecture(ARCHITECTURE.read_text(encoding="utf-8"))
    assert len(paths) > 20 and any(p.startswith("mt_eval/") for p in paths)
    missing = missing_from_tree(paths, dotted)
    assert not missing, "docs/ARCHITECTURE.md names what is not there:\n" + "\n".join(missing)


def test_the_architecture_check_sees_a_missing_module() -> None:
    text = ("| `mt_eval/data/` | data (`testset.py`, `gone.py`) |\n"
            "`mt_eval/fsio.py`, `mt_eval.fsio.slug`, `mt_eval.fsio.nothing`, `mt_eval.nowhere.x`\n")
    paths, dotted = named_in_architecture(text)
    assert {"mt_eval/data/testset.py", "mt_eval/data/gone.py", "mt_eval/fsio.py"} <= paths
    assert missing_from_tree(paths, dotted) == ["mt_eval/data/gone.py: no such file or folder",
                                                "mt_eval.fsio.nothing: mt_eval.fsio has no nothing",
                                                "mt_eval.nowhere.x: mt_eval has no nowhere.x"]
