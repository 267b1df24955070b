"""One local Ray cluster for the whole test session, started only when a Ray test asks for it.

It is started with ``ray start --head --block`` in a new session (so that a driver killed with
``kill -9`` cannot take it down, and nothing is left behind: the fixture stops the cluster's own
process group by its id, never ``ray stop``, which would stop every Ray cluster on the machine).
Addresses are loopback only; the object store is kept small for a 2-core CI machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
PLUGINS = TESTS / "translators"  # plugin_backends.py: the test-only ``slow`` backend that logs its calls
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))

OBJECT_STORE_BYTES = 200_000_000
#: what Ray workers need to import the test-only backends (shipped through the runtime_env)
RUNTIME_ENV = {"env_vars": {"PYTHONPATH": os.pathsep.join([str(PLUGINS), str(TESTS)]),
                            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RayHead:
    """A ``ray start --head`` cluster in its own process group."""

    def __init__(self, num_cpus: int = 2) -> None:
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp_dir = tempfile.mkdtemp(prefix="mte-ray-", dir="/tmp")  # short: socket paths ≤ 107 bytes
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
               **RUNTIME_ENV["env_vars"]}
        env.pop("RAY_ADDRESS", None)
        ray_cli = Path(sys.executable).with_name("ray")
        self.proc = subprocess.Popen(
            [str(ray_cli), "start", "--head", "--block", f"--num-cpus={num_cpus}", "--num-gpus=0",
             "--include-dashboard=false", f"--port={self.port}", "--node-ip-address=127.0.0.1",
             f"--object-store-memory={OBJECT_STORE_BYTES}", f"--temp-dir={self.temp_dir}",
             "--disable-usage-stats"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self.pgid = self.proc.pid

    def wait_ready(self, timeout: float = 120.0) -> None:
        import ray

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"ray start exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                ray.init(address=self.address, log_to_driver=False, runtime_env=RUNTIME_ENV)
                ok = ray.cluster_resources().get("CPU", 0) >= 1
                ray.shutdown()
                if ok:
                    return
            except (ConnectionError, RuntimeError) as exc:
                last = exc
                with contextlib.suppress(Exception):
                    ray.shutdown()
            time.sleep(0.5)
        raise RuntimeError(f"the Ray head at {self.address} did not come up in {timeout:g} s ({last})")

    def stop(self) -> None:
        """SIGTERM to the cluster's process group, SIGKILL to what is left after 2 s."""
        for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            if not _group_alive(self.pgid):
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=wait)  # reap the group leader: a zombie still counts as alive
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(self.pgid):
                time.sleep(0.1)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


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

    head = RayHead(num_cpus=2)
    try:
        head.wait_ready()
        yield head
    finally:
        if ray.is_initialized():
            ray.shutdown()
        head.stop()


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

    register_backend("slow", "plugin_backends:SlowTranslator")
    yield "slow"
    unregister_backend("slow")


@pytest.fixture(scope="session")
def tiny_marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny MarianMT of ``tests/translators/conftest.py`` (trained in seconds), for the Ray tests."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_translators_conftest", PLUGINS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_tiny_marian(tmp_path_factory.mktemp("tiny-marian") / "model")  # type: ignore[no-any-return]
