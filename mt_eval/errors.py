"""Errors a user can cause and fix. The CLI turns them into one line on stderr and exit code 2."""

from __future__ import annotations

from pydantic import ValidationError


class MtEvalError(Exception):
    """Bad input or an impossible request: the message says what and where, in one line."""

    exit_code = 2


class SystemUnavailable(MtEvalError):
    """A translation system cannot be loaded here (offline and not cached, missing extra, ...).

    ``mt-eval run`` reports such a system as skipped with this reason instead of failing,
    unless ``--strict`` is given.
    """


class SystemFailed(MtEvalError):
    """A translation system failed while running (server errors after all retries, a crashed backend).

    Unlike :class:`SystemUnavailable` this is never skipped silently: ``translate`` and ``run`` exit 2
    naming the system and the server's last message, unless ``--allow-skip`` is given. Outputs of a
    failed request are never cached.
    """


class IncompatibleError(MtEvalError):
    """Two things cannot be compared: a test-set hash or a metric signature field differs."""


def first_validation_problem(exc: ValidationError, *, root: str = "(root)") -> tuple[str, str]:
    """``(dotted field path, message)`` of a pydantic error's first problem, for a one-line error."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first.get("loc", ())) or root
    return loc, str(first.get("msg", "invalid value"))
