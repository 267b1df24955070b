"""Translation and scoring on a Ray cluster (``--executor ray``), identical to a local run.

**Translation.** The driver (the ``mt-eval`` process) stays the only process that opens the SQLite
work cache, and runs the cache's one scheduler loop (:func:`mt_eval.workcache.scheduler.fetch`) as a
local run does: it looks up what is cached and claims the rest. Only the batches run elsewhere
(:class:`RayBatches`): the claimed sources — length-sorted exactly as a local run sorts them — are cut
into chunks of whole batches and handed to Ray actors: one actor per (system, worker), which loads the
model once and translates chunk after chunk in the same batches a local run would use. Each finished
chunk is committed on the driver at once, so

* a driver killed with ``kill -9`` loses only the chunks in flight; the rerun's claims take over the
  dead driver's at once and translate only what is missing;
* an actor that dies (its process, or its node) has its chunk put back in the queue and translated by
  another actor; Ray restarts the dead actor where there is room (``max_restarts``);
* the outputs are those of a local run: same batches, same model, greedy decoding.

**Scoring.** Per-segment sufficient statistics of a metric that declares itself batch-invariant
(``Metric.batch_invariant``: BLEU, chrF, chrF++, TER, the judges) are row-wise: they are computed over
shards of segments by Ray tasks and concatenated in segment order, byte-identical to one local call
(tested). Other metrics are computed on the driver as locally: the ``semantic`` metric embeds in
token-budget micro-batches whose float32 results depend on which texts share a batch, so sharding it
would change its last digits. Bootstrap and paired tests always run once, on the driver.

Tuning (environment variables, all optional): ``MT_EVAL_RAY_CHUNK`` segments per translation chunk
(rounded up to whole batches), ``MT_EVAL_RAY_WORKERS`` actors per system, ``MT_EVAL_RAY_SHARD``
segments per scoring shard, ``MT_EVAL_RAY_RUNTIME_ENV`` a JSON ``runtime_env`` for ``ray.init`` (to
ship the project or models to the workers), ``MT_EVAL_RAY_STALL_S`` seconds without any live worker
before a system fails, ``MT_EVAL_RAY_CONNECT_S`` seconds an address may take to answer as a Ray head
(default 10: an address that is another service fails then, in one line, instead of ``ray.init``
retrying for many minutes).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import ray

from mt_eval.cluster.probe import probe_ray_head
from mt_eval.errors import MtEvalError, SystemFailed, SystemUnavailable
from mt_eval.evaluate import LocalStats
from mt_eval.metrics.base import Metric
from mt_eval.translators.base import Translator, signature_key
from mt_eval.translators.runner import translate_rows
from mt_eval.workcache.scheduler import RowSink, one_line
from mt_eval.workcache.store import CacheKey, Row

log = logging.getLogger(__name__)

CHUNK_ENV = "MT_EVAL_RAY_CHUNK"
WORKERS_ENV = "MT_EVAL_RAY_WORKERS"
SHARD_ENV = "MT_EVAL_RAY_SHARD"
RUNTIME_ENV_ENV = "MT_EVAL_RAY_RUNTIME_ENV"
STALL_ENV = "MT_EVAL_RAY_STALL_S"
CONNECT_ENV = "MT_EVAL_RAY_CONNECT_S"
#: seconds an address may take to answer as a Ray head (:func:`_check_reachable`)
CONNECT_S = 10
#: the address this process last connected to (Ray reports the cluster's own spelling of it)
_connection: dict[str, str | None] = {}
#: chunks handed to one actor at once: the next one is queued while the current one runs
DEPTH = 2
_ERRORS: dict[str, type[MtEvalError]] = {"SystemFailed": SystemFailed, "SystemUnavailable": SystemUnavailable,
                                         "MtEvalError": MtEvalError}
#: what a lost actor (its process or its node) raises on the driver
_LOST = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)


def _env_int(name: str, default: int | None) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise MtEvalError(f"${name}: expected a positive integer, got {text!r}")
    return int(text)


def _runtime_env() -> dict[str, Any] | None:
    text = os.environ.get(RUNTIME_ENV_ENV, "").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise MtEvalError(f"${RUNTIME_ENV_ENV}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise MtEvalError(f"${RUNTIME_ENV_ENV}: expected a JSON object (a Ray runtime_env)")
    return value


def _error_tuple(exc: BaseException) -> tuple[str, str]:
    """An exception as (kind, one line) to send back to the driver instead of a remote traceback."""
    kind = next((name for name, cls in _ERRORS.items() if isinstance(exc, cls)), "")
    return (kind, str(exc)) if kind else ("SystemFailed", one_line(exc))


def _auth_headers() -> dict[str, str]:
    """Ray's ``authorization`` header where this process has a cluster token (token authentication)."""
    try:
        from ray._raylet import AuthenticationTokenLoader  # type: ignore[attr-defined]

        return dict(AuthenticationTokenLoader.instance().get_token_for_http_header())
    except Exception:  # no token, or a Ray without token authentication
        return {}


def _check_reachable(address: str | None, seconds: float) -> None:
    """A ``host:port`` that is not a Ray head is a one-line error within ``seconds``: ``ray.init`` would
    retry for many minutes on a port that accepts TCP but is another service (:mod:`.probe`), and for
    minutes on one that refuses. ``auto``, ``local``, ``ray://`` addresses and no address are left to Ray."""
    if not address or "://" in address or address in ("auto", "local"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return
    why = probe_ray_head(host.strip("[]") or "127.0.0.1", int(port), seconds, _auth_headers())
    if why is not None:
        wait = f"; ${CONNECT_ENV} sets how many seconds to wait" if why.startswith("no answer") else ""
        raise MtEvalError(f"--executor ray: cannot reach a Ray cluster at {address} ({why}); start one with"
                          " `ray start --head`, or check --ray-address/RAY_ADDRESS (the head's GCS address,"
                          f" port 6379 by default){wait}")


# ---------------------------------------------------------------------------------------- the worker
class TranslationWorker:
    """A Ray actor: one system's translator, loaded once (lazily, at the first chunk), on one worker.

    Never opens the cache. Errors come back as ``("error", kind, message)`` so that the driver raises
    the same one-line error a local run would.
    """

    def __init__(self, spec: str, options: Mapping[str, Any] | None, source_lang: str, target_lang: str,
                 name: str, plugins: Mapping[str, str]) -> None:
        self.error: tuple[str, str] | None = None
        self.translator: Translator | None = None
        self.name = name
        try:
            from mt_eval.translators.registry import create_translator, register_backend

            for backend, target in plugins.items():  # backends the driver registered at run time
                register_backend(backend, target)
            translator = create_translator(spec, options, source_lang=source_lang, target_lang=target_lang)
            fit_threads(translator, ray.get_runtime_context().get_assigned_resources().get("CPU", 1))
            self.translator = translator
        except Exception as exc:
            self.error = _error_tuple(exc)

    def check(self) -> tuple[Any, ...]:
        """``("ok", signature key, pid, environment)``: the driver refuses a worker whose signature differs
        (another model revision or library version would put different outputs under the same key)."""
        if self.error is not None or self.translator is None:
            return ("error", *(self.error or ("SystemFailed", "worker not initialised")))
        try:
            t = self.translator
            return "ok", signature_key(t.signature()), str(os.getpid()), t.environment()
        except Exception as exc:
            return ("error", *_error_tuple(exc))

    def translate(self, chunk: list[str], batch_size: int) -> tuple[Any, ...]:
        """``("ok", rows, model loads so far)``: the chunk in ``batch_size`` batches, in order."""
        if self.error is not None or self.translator is None:
            return ("error", *(self.error or ("SystemFailed", "worker not initialised")))
        try:
            rows: list[Row] = []
            for start in range(0, len(chunk), batch_size):
                rows += translate_rows(self.translator, chunk[start:start + batch_size], name=self.name)
            return "ok", rows, self.translator.model_loads
        except Exception as exc:
            return ("error", *_error_tuple(exc))

    def close(self) -> None:
        if self.translator is not None:
            self.translator.close()


def _stats_shard(spec: dict[str, Any], identity: dict[str, Any], hyps: list[str], refs: list[list[str]],
                 sources: list[str]) -> tuple[np.ndarray, Any]:
    """One shard's statistics and details (a Ray task): the metric rebuilt from its spec, checked to be
    the same."""
    from mt_eval.metrics.registry import metric_from_spec

    metric = metric_from_spec(spec)
    if metric.identity_spec() != identity:
        raise MtEvalError(f"metric {spec.get('name')}: a Ray worker rebuilt it as {metric.identity_spec()}")
    try:
        arr = metric.segment_stats(hyps, refs, sources=sources, workers=1)
    finally:
        metric.close()
    return np.asarray(arr), metric.details


# ---------------------------------------------------------------------------------------- resources
def fit_threads(translator: Any, cpus: float) -> None:
    """An unset ``threads`` option becomes the actor's CPUs. Torch (Marian/HF) defaults to every core
    of the node, so two 1-CPU actors on 2 cores each ran 2 threads: 5,040 segments took over 90 s
    instead of 23 s (scripts/bench_scale.py). ``threads`` is a run-only option: the signature, and so
    the cache key, do not change."""
    options = getattr(translator, "options", None)
    fields = getattr(type(options), "model_fields", {})
    if options is None or "threads" not in fields or getattr(options, "threads", None):
        return
    translator.options = options.model_copy(update={"threads": max(1, int(cpus))})


def worker_resources(options: Any) -> dict[str, float]:
    """Ray resources of one translation actor, from the backend's options: CPU threads
    (``threads``/``n_threads``, default 1) and one GPU where the backend runs on one (``device=cuda``,
    ``device=auto`` on a cluster with GPUs, or llama.cpp's ``n_gpu_layers``)."""
    threads = getattr(options, "threads", None) or getattr(options, "n_threads", None) or 1
    device = str(getattr(options, "device", "cpu") or "cpu")
    gpu_layers = int(getattr(options, "n_gpu_layers", 0) or 0)
    gpus = 1.0 if device.startswith("cuda") or gpu_layers != 0 else 0.0
    if device == "auto" and ray.cluster_resources().get("GPU", 0) >= 1:
        gpus = 1.0
    return {"num_cpus": float(threads), "num_gpus": gpus}


class RayBatches:
    """How a system's batches run on Ray: a :class:`~mt_eval.workcache.scheduler.BatchRunner` for the
    cache's one scheduler loop. One actor per (system, worker), started at the first chunk; chunks of
    whole batches, ``DEPTH`` per actor at once; the chunk of an actor that died goes back in the queue.
    Every claimed source is handed out at once (all actors busy) and each finished chunk is committed at
    once (a driver killed loses only the chunks in flight)."""

    commit_interval = 0.0

    def __init__(self, executor: RayExecutor, translator: Translator, key: CacheKey,
                 options: Mapping[str, Any] | None) -> None:
        self.executor = executor
        self.translator = translator
        self.name = key.name
        self.spec = key.spec
        self.options = dict(options or {})
        #: the driver's signature key: a worker that computes another is refused
        self.expected = key.sig_key
        self.batch_size = max(1, translator.batch_size)
        self.actors: list[Any] = []
        self.loads: dict[int, int] = {}
        self._environment: dict[str, Any] = {}

    def window(self) -> tuple[int, int]:
        return sys.maxsize, sys.maxsize

    def environment(self) -> dict[str, Any]:
        return self._environment

    def _start(self, n_chunks: int) -> None:
        resources = worker_resources(self.translator.options)
        total = ray.cluster_resources()
        fits = []
        for key, ray_key in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
            need = resources[key]
            if need > 0:
                have = float(total.get(ray_key, 0))
                if have < need:
                    raise SystemUnavailable(f"system {self.name}: a worker needs {need:g} {ray_key} but the"
                                            f" Ray cluster has {have:g}")
                fits.append(int(have // need))
        n = self.executor.workers or max(1, min(fits) if fits else 1)
        n = max(1, min(n, n_chunks))
        from mt_eval.translators.registry import BACKENDS

        plugins = {k: v for k, v in BACKENDS.registered.items() if isinstance(v, str)}
        actor_cls = ray.remote(TranslationWorker).options(  # type: ignore[attr-defined]
            num_cpus=resources["num_cpus"], num_gpus=resources["num_gpus"], max_restarts=-1,
            max_task_retries=0, scheduling_strategy="SPREAD")
        t = self.translator
        self.actors = [actor_cls.remote(self.spec, self.options, t.source_lang, t.target_lang, self.name,
                                        plugins) for _ in range(n)]

    def run(self, items: list[str], on_rows: RowSink) -> None:
        """Translate ``items`` (already claimed, in order) in chunks; ``on_rows`` gets each finished chunk."""
        if not items:
            return
        chunk = self.executor.chunk_size(len(items), self.batch_size)
        flight = _Flight(self, deque(items[i:i + chunk] for i in range(0, len(items), chunk)), on_rows)
        if not self.actors:
            self._start(len(flight.queue))
        flight.fly()

    def finish(self) -> None:
        """The actors' model loads are the system's; the actors stop."""
        self.translator.model_loads += sum(self.loads.values())
        self.loads = {}
        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception as exc:  # already gone
                log.debug("ray.kill: %s", exc)
        self.actors = []


class _Flight:
    """One :meth:`RayBatches.run`: the chunks queued, the actors probed and ready, the chunks in flight."""

    def __init__(self, pool: RayBatches, queue: deque[list[str]], on_rows: RowSink) -> None:
        self.pool = pool
        self.queue = queue
        self.on_rows = on_rows
        self.probes: dict[Any, int] = {}
        self.ready: set[int] = set()
        self.in_flight: dict[Any, tuple[int, list[str]]] = {}
        self.busy: dict[int, int] = {}
        self.last_alive = time.monotonic()

    def fly(self) -> None:
        for index in range(len(self.pool.actors)):
            self.probe(index)
        stall_s = float(self.pool.executor.stall_s)
        while self.queue or self.in_flight:
            done, _ = ray.wait(list(self.in_flight) + list(self.probes), num_returns=1, timeout=1.0)
            if done:
                (self.on_probe if done[0] in self.probes else self.on_chunk)(done[0])
            elif self.in_flight or self.ready:
                self.last_alive = time.monotonic()
            elif time.monotonic() - self.last_alive > stall_s:
                raise SystemFailed(f"system {self.pool.name}: no Ray worker has been available for"
                                   f" {stall_s:g} s (cluster resources: {ray.available_resources()})")

    def probe(self, index: int) -> None:
        self.probes[self.pool.actors[index].check.remote()] = index

    def feed(self, index: int) -> None:
        while self.queue and self.busy.get(index, 0) < DEPTH:
            part = self.queue.popleft()
            ref = self.pool.actors[index].translate.remote(part, self.pool.batch_size)
            self.in_flight[ref] = (index, part)
            self.busy[index] = self.busy.get(index, 0) + 1

    def on_probe(self, ref: Any) -> None:
        """An actor answered its check: refused, or ready for chunks (not up yet: asked again)."""
        pool, index = self.pool, self.probes.pop(ref)
        try:
            answer = ray.get(ref)
        except _LOST:
            log.warning("%s: Ray worker %d is not available yet; retrying", pool.name, index)
            time.sleep(0.5)
            self.probe(index)
            return
        if answer[0] != "ok":
            raise _ERRORS.get(answer[1], SystemFailed)(answer[2])
        if answer[1] != pool.expected:
            raise SystemFailed(f"system {pool.name}: a Ray worker (pid {answer[2]}) computes another"
                               " signature than this process (other model files or library versions"
                               " on that node); its outputs would not match the cache key")
        pool._environment = pool._environment or dict(answer[3])
        self.ready.add(index)
        self.last_alive = time.monotonic()
        self.feed(index)

    def on_chunk(self, ref: Any) -> None:
        """A chunk came back: its rows go to ``on_rows``; a lost actor's chunks go back in the queue."""
        index, part = self.in_flight.pop(ref)
        self.busy[index] -= 1
        try:
            result = ray.get(ref)
        except _LOST as exc:
            log.warning("%s: Ray worker %d lost (%s); its chunk of %d segments goes to another worker",
                        self.pool.name, index, type(exc).__name__, len(part))
            self.queue.appendleft(part)
            self.lost(index)
            for other in sorted(self.ready):
                self.feed(other)
            return
        if result[0] != "ok":
            raise _ERRORS.get(result[1], SystemFailed)(result[2])
        rows, loads = result[1], int(result[2])
        self.pool.loads[index] = max(self.pool.loads.get(index, 0), loads)
        if len(rows) != len(part) or [r[0] for r in rows] != part:
            raise SystemFailed(f"system {self.pool.name}: a Ray worker returned {len(rows)} rows for a chunk"
                               f" of {len(part)} sources")
        self.on_rows(rows)
        self.last_alive = time.monotonic()
        self.feed(index)

    def lost(self, index: int) -> None:
        """An actor died: its chunks go back to the queue; ask again when Ray has restarted it."""
        self.ready.discard(index)
        for ref, (i, part) in list(self.in_flight.items()):
            if i == index:
                del self.in_flight[ref]
                self.queue.appendleft(part)
        self.busy[index] = 0
        self.probe(index)


# ---------------------------------------------------------------------------------------- executor
class RayStats(LocalStats):
    """The statistics source of a Ray run: batch-invariant metrics sharded over the cluster."""

    def __init__(self, executor: RayExecutor) -> None:
        self.executor = executor

    def segment_stats(self, metric: Metric, hyps: Sequence[str], refs: Sequence[Sequence[str]],
                      sources: Sequence[str], workers: int) -> np.ndarray:
        return self.executor.segment_stats(metric, hyps, refs, sources, workers)


class RayExecutor:
    """The :class:`~mt_eval.cluster.executor.Executor` on a Ray cluster: a connection plus the two hooks
    the library calls, :meth:`batches` (translation, for
    :func:`mt_eval.translators.runner.translate_testset`) and :meth:`stats` (scoring, the statistics
    source of :func:`mt_eval.evaluate.evaluate`)."""

    kind: ClassVar[str] = "ray"

    def __init__(self, address: str | None = None, *, chunk: int | None = None, workers: int | None = None,
                 shard: int | None = None, runtime_env: dict[str, Any] | None = None,
                 stall_s: float | None = None, connect_s: float | None = None) -> None:
        self.address = address
        self.chunk = chunk if chunk is not None else _env_int(CHUNK_ENV, None)
        self.workers = workers if workers is not None else _env_int(WORKERS_ENV, None)
        self.shard = shard if shard is not None else _env_int(SHARD_ENV, 2000)
        self.runtime_env = runtime_env if runtime_env is not None else _runtime_env()
        self.stall_s = stall_s if stall_s is not None else float(_env_int(STALL_ENV, 600) or 600)
        self.connect_s = connect_s if connect_s is not None else float(_env_int(CONNECT_ENV, CONNECT_S)
                                                                       or CONNECT_S)
        self._session: str | None = None

    # ------------------------------------------------------------------ connection
    def connect(self) -> None:
        """``ray.init`` at ``address`` (None: ``RAY_ADDRESS``, else a cluster started on this machine
        with ``ray start``, else a new local one). Reconnects if this process is on another cluster."""
        if self.connected():
            return
        if ray.is_initialized():
            if self.address is None or self.address == _connection.get("address"):  # already on it
                self._session = ray.get_runtime_context().gcs_address
                return
            ray.shutdown()
        _check_reachable(self.address or os.environ.get("RAY_ADDRESS"), self.connect_s)
        kwargs: dict[str, Any] = {"address": self.address, "namespace": "mt-eval", "log_to_driver": False,
                                  "logging_level": logging.WARNING, "configure_logging": True}
        if self.runtime_env:
            kwargs["runtime_env"] = self.runtime_env
        try:
            context = ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.address or os.environ.get("RAY_ADDRESS") or "a local cluster"
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise MtEvalError(f"--executor ray: cannot connect to {where}: {first}") from None
        self._session = str(getattr(context, "address_info", {}).get("session_dir", "")) or "connected"
        _connection["address"] = self.address

    def connected(self) -> bool:
        return self._session is not None and ray.is_initialized()

    def close(self) -> None:
        if ray.is_initialized():
            ray.shutdown()
        self._session = None

    def chunk_size(self, n_items: int, batch_size: int) -> int:
        """Segments per chunk, whole batches: as asked, else about four chunks per CPU of the cluster
        (between 1 and 16 batches) so that a lost chunk costs little and actors stay busy."""
        if self.chunk is not None:
            return max(1, math.ceil(self.chunk / batch_size)) * batch_size
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        batches = math.ceil(n_items / batch_size)
        return max(1, min(16, math.ceil(batches / (4 * cpus)))) * batch_size

    # ------------------------------------------------------------------ hooks
    def batches(self, translator: Translator, key: CacheKey, options: Mapping[str, Any] | None
                ) -> RayBatches:
        """How ``translate_testset(executor=)`` runs a system's batches: on Ray actors; the cache's
        scheduler loop stays on this process."""
        self.connect()
        return RayBatches(self, translator, key, options)

    def stats(self) -> RayStats:
        return RayStats(self)

    def segment_stats(self, metric: Metric, hyps: Sequence[str], refs: Sequence[Sequence[str]],
                      sources: Sequence[str], workers: int = 1) -> np.ndarray:
        """Statistics of a batch-invariant metric (its own declaration) over shards on the cluster,
        concatenated in segment order, with its details; any other metric (or a test set of one shard)
        is computed here, exactly as locally."""
        n = len(hyps)
        size = int(self.shard or 2000)
        if not metric.batch_invariant or n <= size:
            return np.asarray(metric.segment_stats(hyps, refs, sources=sources, workers=workers))
        self.connect()
        spec, identity = metric.spec(), metric.identity_spec()
        task = ray.remote(num_cpus=1, max_retries=3)(_stats_shard)
        bounds = [*range(0, n, size), n]
        futures = [task.remote(spec, identity, list(hyps[a:b]), [list(r) for r in refs[a:b]],
                               list(sources[a:b]) if sources is not None else [])
                   for a, b in itertools.pairwise(bounds)]
        try:
            parts = ray.get(futures)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, MtEvalError):
                raise type(cause)(str(cause)) from None
            raise MtEvalError(f"metric {metric.name}: a Ray task failed: {cause or exc}") from None
        if metric.reports_details:  # as a local call leaves them
            metric.details = [d for p in parts for d in p[1] or []]
        return np.concatenate([np.asarray(p[0]) for p in parts], axis=0)
