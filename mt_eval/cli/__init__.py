"""The ``mt-eval`` command line. Each area registers its commands from its own module.

User errors (:class:`mt_eval.errors.MtEvalError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, NoReturn

import typer

from mt_eval.errors import MtEvalError

app = typer.Typer(
    name="mt-eval",
    help="Evaluate machine translation: test sets, translators, scores, significance, reports, CI gate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Evaluate machine translation: test sets, translators, scores, significance, reports, CI gate."""


@app.command("version")
def version() -> None:
    """Print the mt-eval version and the versions of the libraries that change scores."""
    import sacrebleu

    from mt_eval import __version__

    typer.echo(f"mt-eval {__version__} (sacrebleu {sacrebleu.__version__})")


def _register_all() -> None:
    # Imported here so that each module stays light; none imports torch at import time.
    from mt_eval.cli import cache_cmd, gate_cmd, humeval_cmd, meta_cmd, run_cmd, testset_cmd, translate_cmd

    for module in (testset_cmd, translate_cmd, cache_cmd, run_cmd, gate_cmd, humeval_cmd, meta_cmd):
        module.register(app)
    __import__("mt_eval.cli.merge_cmd", fromlist=["register"]).register(app)  # mt-eval merge (--shard parts)
    __import__("mt_eval.cli.list_cmd", fromlist=["register"]).register(app)  # mt-eval list (plugins, options)
    __import__("mt_eval.cli.canary_cmd", fromlist=["register"]).register(app)  # mt-eval canary
    __import__("mt_eval.cli.history_cmd", fromlist=["register"]).register(app)  # mt-eval history


_register_all()


def _error(message: str, code: int = 2) -> NoReturn:
    print(f"mt-eval: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(code)


class _ReaderGoneStdout:
    """``sys.stdout`` that survives its reader going away (``mt-eval gate … | head -1``).

    A closed pipe must never turn into exit 1, the gate's "regression": the first ``BrokenPipeError``
    points file descriptor 1 at the null device, so the rest of the output is dropped while the command
    goes on writing the files its options name and exits with the code its outcome gives.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def _reader_gone(self) -> None:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, self._inner.fileno())
        finally:
            os.close(null)

    def write(self, text: str) -> int:
        try:
            return int(self._inner.write(text))
        except BrokenPipeError:
            self._reader_gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            self._reader_gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _guard_stdout() -> Any:
    """Install the guard; returns the stdout to restore afterwards."""
    stdout = sys.stdout
    if stdout is None or isinstance(stdout, _ReaderGoneStdout):
        return stdout
    try:
        stdout.fileno()
    except (AttributeError, OSError, ValueError):  # captured in tests: nothing to redirect
        return stdout
    sys.stdout = _ReaderGoneStdout(stdout)  # type: ignore[assignment]
    return stdout


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    Every failure is one line on stderr: a user error or a bad option exits 2, Ctrl-C 130. An
    unexpected exception (a bug) also exits 2, never 1, which the CI gate reserves for a regression;
    ``MT_EVAL_DEBUG=1`` prints its traceback. A reader of stdout that goes away changes nothing but the
    printing (:class:`_ReaderGoneStdout`).
    """
    original = _guard_stdout()
    try:
        _run(argv)
    finally:  # what is still buffered goes out now, through the guard, not at interpreter exit
        if sys.stdout is not None:
            sys.stdout.flush()
        sys.stdout = original


def _run(argv: list[str] | None) -> NoReturn:
    from typer.exceptions import Abort, TyperException

    try:
        code = app(args=argv, standalone_mode=False)
    except MtEvalError as exc:
        _error(str(exc), exc.exit_code)
    except Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, EOFError):
            _error("unexpected end of input")
        _interrupted()
    except KeyboardInterrupt:
        _interrupted()
    except TyperException as exc:  # bad options and arguments (typer's own click)
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `mt-eval` or `mt-eval testset`: the help
            exc.show()  # type: ignore[attr-defined]
            raise SystemExit(2) from None
        where = f"{ctx.command_path}: " if ctx is not None else ""
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        _error(f"{where}{exc.format_message()}{hint}", 2)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
    except Exception as exc:  # a bug: still one line and never exit 1 (a gate's "regression")
        if os.environ.get("MT_EVAL_DEBUG"):
            traceback.print_exc()
        _error(f"internal error ({type(exc).__name__}: {exc}); this is a bug in mt-eval, please report"
               " it (MT_EVAL_DEBUG=1 shows the traceback)")
    if code == 130:  # typer turns Ctrl-C into exit code 130
        _interrupted()
    raise SystemExit(code if isinstance(code, int) else 0)  # like click: the process ends here


def _interrupted() -> NoReturn:
    print("mt-eval: interrupted; completed work is kept and a rerun resumes from it", file=sys.stderr)
    raise SystemExit(130)
