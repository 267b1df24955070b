"""A local Ray cluster for tests and benchmarks, started with ``ray start --head --block`` in a new session.

Its own session means a driver killed with ``kill -9`` cannot take it down, and nothing is left behind:
:meth:`RayHead.stop` stops the cluster's own process group by its id, never ``ray stop``, which would
stop every Ray cluster on the machine. Addresses are loopback only; the object store is kept small for
a 2-core CI machine.
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
from pathlib import Path
from typing import Any

OBJECT_STORE_BYTES = 200_000_000


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
    """A ``ray start --head`` cluster in its own process group (``runtime_env``: what its workers and the
    drivers connecting through :meth:`wait_ready` get: environment variables, ``PYTHONPATH``)."""

    def __init__(self, num_cpus: int = 2, runtime_env: dict[str, Any] | None = None) -> None:
        self.runtime_env = runtime_env or {}
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp_dir = tempfile.mkdtemp(prefix="mte-ray-", dir="/tmp")  # short: socket paths ≤ 107 bytes
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
               **self.runtime_env.get("env_vars", {})}
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
                ray.init(address=self.address, log_to_driver=False, runtime_env=self.runtime_env)
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
