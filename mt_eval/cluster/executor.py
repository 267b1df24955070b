"""Where translation and scoring run: this process (``local``, the default) or a Ray cluster (``ray``).

The choice is a plain string (``--executor``, ``executor = "ray"`` in a run config), turned into an
:class:`Executor` here. :class:`LocalExecutor` imports nothing heavy, so the default path never
imports Ray; ``ray`` imports :mod:`mt_eval.cluster.ray_executor` (and Ray) only when asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from mt_eval.errors import MtEvalError

if TYPE_CHECKING:
    from mt_eval.evaluate import StatsSource
    from mt_eval.translators.base import Translator
    from mt_eval.workcache.scheduler import BatchRunner
    from mt_eval.workcache.store import CacheKey

EXECUTORS = ("local", "ray")
INSTALL_HINT = "pip install 'mt-eval[ray]'"

_current: dict[str, Any] = {}


class Executor(Protocol):
    """How a run's work is spread: translation batches (:meth:`batches`, the batch runner of the work
    cache's scheduler loop in :func:`mt_eval.translators.runner.translate_testset`) and metric statistics
    (:meth:`stats`, the statistics source of :func:`mt_eval.evaluate.evaluate`)."""

    kind: ClassVar[str]

    def batches(self, translator: Translator, key: CacheKey, options: Mapping[str, Any] | None
                ) -> BatchRunner: ...

    def stats(self) -> StatsSource: ...


class LocalExecutor:
    """Everything in this process."""

    kind: ClassVar[str] = "local"

    def batches(self, translator: Translator, key: CacheKey, options: Mapping[str, Any] | None
                ) -> BatchRunner:
        from mt_eval.translators.runner import local_batches

        return local_batches(translator, key.name)

    def stats(self) -> StatsSource:
        from mt_eval.evaluate import LocalStats

        return LocalStats()


LOCAL = LocalExecutor()


def get_executor(kind: str | None = "local", address: str | None = None,
                 connect_timeout: float | None = None) -> Executor:
    """The :class:`LocalExecutor`, or a connected :class:`~mt_eval.cluster.ray_executor.RayExecutor`.

    One Ray executor per process and address is kept (a second ``run`` in the same process reuses the
    connection). Ray missing is a one-line :class:`MtEvalError` naming the install command.
    """
    choice = (kind or "local").strip().lower()
    if choice not in EXECUTORS:
        raise MtEvalError(f"--executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
    if choice == "local":
        if address:
            raise MtEvalError("--ray-address needs --executor ray")
        if connect_timeout is not None:
            raise MtEvalError("--ray-connect-timeout needs --executor ray")
        return LOCAL
    try:
        import ray  # noqa: F401
    except ImportError:
        raise MtEvalError(f"--executor ray needs Ray, which is not installed here: {INSTALL_HINT}") from None
    from mt_eval.cluster.ray_executor import RayExecutor

    existing = _current.get("ray")
    if isinstance(existing, RayExecutor) and existing.address == address and existing.connected():
        return existing
    executor = RayExecutor(address, connect_s=connect_timeout)
    executor.connect()
    _current["ray"] = executor
    return executor
