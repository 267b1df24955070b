"""Count a package's logical lines: Python lines that are not blank, comments or docstrings.

Issue 19 measures the redesign by this number (12,547 for `mt_eval/` before it). A line counts when a
token other than a comment, a newline, an indent/dedent or a docstring starts or continues on it.
Usage: python scripts/count_logical_lines.py [PACKAGE_DIR ...]  (default: mt_eval)
"""
from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENDMARKER, tokenize.ENCODING}


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                lines.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return lines


def logical_lines(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    docstrings = _docstring_lines(ast.parse(text))
    counted: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in _SKIP:
            continue
        for line in range(token.start[0], token.end[0] + 1):
            if line not in docstrings:
                counted.add(line)
    return len(counted)


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("mt_eval")]
    total = 0
    for root in roots:
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        total += sum(logical_lines(f) for f in files)
    sys.stdout.write(f"{total}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
