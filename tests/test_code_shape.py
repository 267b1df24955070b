"""The library's functions stay small enough to read: at most 8 parameters and 80 lines each.

Counted for every function and method in ``mt_eval/`` (nested ones included) except the command line,
where typer maps each option to one parameter of the command function. ``self``/``cls`` are not
counted; ``*args`` and ``**kwargs`` count one each. Lines run from ``def`` to the last line of the body
(decorators excluded, docstring included). More inputs than that belong in a settings or request object,
a longer body in named steps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mt_eval

PACKAGE = Path(mt_eval.__file__).parent
MAX_PARAMETERS = 8
MAX_LINES = 80
EXEMPT = (PACKAGE / "cli",)


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names) + (args.vararg is not None) + (args.kwarg is not None)


def lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


def oversized(source: str, where: str) -> list[str]:
    """``where:line name (N parameters / N lines)`` for each function over a limit."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n_params, n_lines = parameters(node), lines(node)
            if n_params > MAX_PARAMETERS or n_lines > MAX_LINES:
                found.append(f"{where}:{node.lineno} {node.name} ({n_params} parameters, {n_lines} lines)")
    return found


def library_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if not any(p.is_relative_to(e) for e in EXEMPT)]


def test_no_library_function_takes_more_than_8_parameters_or_spans_more_than_80_lines() -> None:
    found = [problem for path in library_files() for problem in
             oversized(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))]
    assert not found, "over the limits:\n" + "\n".join(found)


def test_the_checker_counts_parameters_and_lines() -> None:
    nine = "def f(a, b, c, d, e, f, g, h, i):\n    return 1\n"
    eight_and_self = "class C:\n    def m(self, a, b, c, d, e, f, *args, **kwargs):\n        return 1\n"
    long_body = "def g():\n" + "    x = 1\n" * 80
    assert oversized(nine, "x.py") == ["x.py:1 f (9 parameters, 2 lines)"]
    assert oversized(eight_and_self, "x.py") == []
    assert oversized(long_body, "x.py") == ["x.py:1 g (0 parameters, 81 lines)"]
    assert oversized("def h(*, a, b, c, d, e, f, g, h, i):\n    pass\n", "x.py")  # keyword-only count too
    assert library_files() and not any(p.is_relative_to(PACKAGE / "cli") for p in library_files())
