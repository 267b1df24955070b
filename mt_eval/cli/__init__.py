"""The ``mt-eval`` command line. Each area registers its commands from its own module.

User errors (:class:`mt_eval.errors.MtEvalError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

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
    from mt_eval.cli import cache_cmd, gate_cmd, run_cmd, testset_cmd, translate_cmd

    for module in (testset_cmd, translate_cmd, cache_cmd, run_cmd, gate_cmd):
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        app(args=argv)
    except MtEvalError as exc:
        print(f"mt-eval: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("mt-eval: interrupted; completed work is kept and a rerun resumes from it", file=sys.stderr)
        raise SystemExit(130) from None
