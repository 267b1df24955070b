"""One local Ray cluster for the whole test session (:class:`mt_eval.testing.ray_cluster.RayHead`),
started only when a Ray test asks for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mt_eval.testing.ray_cluster import RayHead

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
#: what Ray workers get (shipped through the runtime_env): one thread each, and the tests on their path
RUNTIME_ENV = {"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS / "translators"), str(TESTS)]),
                            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}}


@pytest.fixture(scope="session", autouse=True)
def _ray_without_token_auth() -> Iterator[None]:
    """Test clusters listen on loopback only and run without Ray's token authentication, whatever
    token a ``ray.init()`` elsewhere on this machine left in ``~/.ray/auth_token``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        yield


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    """The session's shared Ray cluster (2 CPUs); tests connect to ``ray_head.address``."""
    import ray

    head = RayHead(num_cpus=2, runtime_env=RUNTIME_ENV)
    try:
        head.wait_ready()
        yield head
    finally:
        if ray.is_initialized():
            ray.shutdown()
        head.stop()


@pytest.fixture(scope="module", autouse=True)
def _disconnect_after_the_module() -> Iterator[None]:
    """This process stops being a Ray driver after each module of Ray tests: the tests after them fork
    workers, and a driver's threads (and its SIGTERM handler) are inherited by every forked child."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def ray_executor(ray_head: RayHead) -> Iterator[object]:
    """A :class:`RayExecutor` connected to the shared cluster, with small chunks and shards."""
    from mt_eval.cluster.ray_executor import RayExecutor

    executor = RayExecutor(ray_head.address, chunk=4, shard=7, runtime_env=RUNTIME_ENV, stall_s=60)
    executor.connect()
    yield executor


@pytest.fixture
def ray_runtime_env() -> dict:
    """The ``runtime_env`` that lets Ray workers import the test-only backends."""
    return RUNTIME_ENV


@pytest.fixture
def slow_backend() -> Iterator[str]:
    """The test-only ``slow`` backend (logs every translated source with its pid), registered by name
    so that Ray workers register it too."""
    from mt_eval.translators.registry import register_backend, unregister_backend

    register_backend("slow", "mt_eval.testing.backends:SlowTranslator")
    yield "slow"
    unregister_backend("slow")


@pytest.fixture(scope="session")
def tiny_marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny MarianMT (:mod:`mt_eval.testing.marian`, trained in seconds), for the Ray tests."""
    from mt_eval.testing.marian import build_tiny_marian

    return build_tiny_marian(tmp_path_factory.mktemp("tiny-marian") / "model")
