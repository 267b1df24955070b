"""Where translation and scoring run: this process (``local``, the default) or a Ray cluster (``ray``).

The choice is a plain string (``--executor``, ``executor = "ray"`` in a run config), turned into an
executor object here. ``local`` is ``None`` everywhere, so the default path has no indirection and
never imports Ray; ``ray`` imports :mod:`mt_eval.cluster.ray_executor` (and Ray) only when asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mt_eval.errors import MtEvalError

if TYPE_CHECKING:
    from mt_eval.cluster.ray_executor import RayExecutor

EXECUTORS = ("local", "ray")
INSTALL_HINT = "pip install 'mt-eval[ray]'"

_current: dict[str, Any] = {}


def get_executor(kind: str | None = "local", address: str | None = None) -> RayExecutor | None:
    """``None`` for ``local``; a connected :class:`~mt_eval.cluster.ray_executor.RayExecutor` for ``ray``.

    One executor per process and address is kept (a second ``run`` in the same process reuses the
    connection). Ray missing is a one-line :class:`MtEvalError` naming the install command.
    """
    choice = (kind or "local").strip().lower()
    if choice not in EXECUTORS:
        raise MtEvalError(f"--executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
    if choice == "local":
        if address:
            raise MtEvalError("--ray-address needs --executor ray")
        return None
    try:
        import ray  # noqa: F401
    except ImportError:
        raise MtEvalError(f"--executor ray needs Ray, which is not installed here: {INSTALL_HINT}") from None
    from mt_eval.cluster.ray_executor import RayExecutor

    existing = _current.get("ray")
    if isinstance(existing, RayExecutor) and existing.address == address and existing.connected():
        return existing
    executor = RayExecutor(address)
    executor.connect()
    _current["ray"] = executor
    return executor


def stats_fn(executor: Any) -> Any:
    """The ``stats_fn`` hook of :func:`mt_eval.evaluate.evaluate` for an executor (None: local)."""
    return None if executor is None else executor.segment_stats
