"""Translation and scoring on a Ray cluster (``--executor ray``), identical to a local run.

**Translation.** The driver (the ``mt-eval`` process) stays the only process that opens the SQLite
translation cache. For each system it looks up what is cached, claims the rest through
:class:`~mt_eval.translators.cache.ClaimQueue`, cuts the claimed sources — length-sorted exactly as a
local run sorts them — into chunks of whole batches, and hands the chunks to Ray actors: one actor per
(system, worker), which loads the model once and translates chunk after chunk in the same batches a
local run would use. Each finished chunk is committed on the driver at once, so

* a driver killed with ``kill -9`` loses only the chunks in flight; the rerun's claims take over the
  dead driver's at once and translate only what is missing;
* an actor that dies (its process, or its node) has its chunk put back in the queue and translated by
  another actor; Ray restarts the dead actor where there is room (``max_restarts``);
* the outputs are those of a local run: same batches, same model, greedy decoding.

**Scoring.** Per-segment sufficient statistics of the sacrebleu metrics (BLEU, chrF, chrF++, TER) are
row-wise: they are computed over shards of segments by Ray tasks and concatenated in segment order,
byte-identical to one local call (tested). Other metrics are computed on the driver as locally: the
``semantic`` metric embeds in token-budget micro-batches whose float32 results depend on which texts
share a batch (and reuses embeddings across systems), so sharding it would change its last digits.
Bootstrap and paired tests always run once, on the driver.

Tuning (environment variables, all optional): ``MT_EVAL_RAY_CHUNK`` segments per translation chunk
(rounded up to whole batches), ``MT_EVAL_RAY_WORKERS`` actors per system, ``MT_EVAL_RAY_SHARD``
segments per scoring shard, ``MT_EVAL_RAY_RUNTIME_ENV`` a JSON ``runtime_env`` for ``ray.init`` (to
ship the project or models to the workers), ``MT_EVAL_RAY_STALL_S`` seconds without any live worker
before a system fails.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import ray

from mt_eval.errors import MtEvalError, SystemFailed, SystemUnavailable
from mt_eval.translators.base import Translator, signature_key
from mt_eval.translators.cache import (
    CachedTranslation,
    CachingTranslator,
    ClaimQueue,
    Row,
    TranslationCache,
    describe_owner,
    storable_rows,
)

log = logging.getLogger(__name__)

CHUNK_ENV = "MT_EVAL_RAY_CHUNK"
WORKERS_ENV = "MT_EVAL_RAY_WORKERS"
SHARD_ENV = "MT_EVAL_RAY_SHARD"
RUNTIME_ENV_ENV = "MT_EVAL_RAY_RUNTIME_ENV"
STALL_ENV = "MT_EVAL_RAY_STALL_S"
#: the address this process last connected to (Ray reports the cluster's own spelling of it)
_connection: dict[str, str | None] = {}
#: chunks handed to one actor at once: the next one is queued while the current one runs
DEPTH = 2
_ERRORS: dict[str, type[MtEvalError]] = {"SystemFailed": SystemFailed, "SystemUnavailable": SystemUnavailable,
                                         "MtEvalError": MtEvalError}


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
    kind = next((name for name, cls in _ERRORS.items() if type(exc) is cls), "")
    if not kind:
        kind = "SystemUnavailable" if isinstance(exc, SystemUnavailable) else (
            "SystemFailed" if isinstance(exc, SystemFailed) else (
                "MtEvalError" if isinstance(exc, MtEvalError) else ""))
    if kind:
        return kind, str(exc)
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return "SystemFailed", f"{type(exc).__name__}{': ' + first if first else ''}"


def _check_reachable(address: str | None) -> None:
    """A ``host:port`` that refuses connections is a one-line error at once (``ray.init`` would retry
    for minutes). ``auto``, ``local``, ``ray://`` addresses and no address are left to Ray."""
    if not address or "://" in address or address in ("auto", "local"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=10).close()
    except OSError as exc:
        raise MtEvalError(f"--executor ray: cannot reach a Ray cluster at {address} ({exc.strerror or exc});"
                          " start one with `ray start --head`, or check --ray-address/RAY_ADDRESS") from None


# ---------------------------------------------------------------------------------------- the worker
class TranslationWorker:
    """A Ray actor: one system's translator, loaded once (lazily, at the first chunk), on one worker.

    Never opens the cache. Errors come back as ``("error", kind, message)`` so that the driver raises
    the same one-line error a local run would.
    """

    def __init__(self, spec: str, options: Mapping[str, Any] | None, source_lang: str, target_lang: str,
                 name: str, plugins: Mapping[str, str]) -> None:
        self.error: tuple[str, str] | None = None
        self.wrapper: CachingTranslator | None = None
        try:
            from mt_eval.translators.registry import create_translator, register_backend

            for backend, target in plugins.items():  # backends the driver registered at run time
                register_backend(backend, target)
            translator = create_translator(spec, options, source_lang=source_lang, target_lang=target_lang)
            fit_threads(translator, ray.get_runtime_context().get_assigned_resources().get("CPU", 1))
            self.wrapper = CachingTranslator(translator, None, name=name, spec=spec)
        except Exception as exc:
            self.error = _error_tuple(exc)

    def check(self) -> tuple[str, ...]:
        """``("ok", signature key, pid)``: the driver refuses a worker whose signature differs (another
        model revision or library version would put different outputs under the same cache key)."""
        if self.error is not None or self.wrapper is None:
            return ("error", *(self.error or ("SystemFailed", "worker not initialised")))
        try:
            return "ok", signature_key(self.wrapper.signature()), str(os.getpid())
        except Exception as exc:
            return ("error", *_error_tuple(exc))

    def environment(self) -> dict[str, Any]:
        return self.wrapper.environment() if self.wrapper is not None else {}

    def translate(self, chunk: list[str], batch_size: int) -> tuple[Any, ...]:
        """``("ok", rows, model loads so far)``: the chunk in ``batch_size`` batches, in order."""
        if self.error is not None or self.wrapper is None:
            return ("error", *(self.error or ("SystemFailed", "worker not initialised")))
        try:
            rows: list[Row] = []
            for start in range(0, len(chunk), batch_size):
                rows += self.wrapper.translate_rows(chunk[start:start + batch_size])
            return "ok", rows, self.wrapper.inner.model_loads
        except Exception as exc:
            return ("error", *_error_tuple(exc))

    def close(self) -> None:
        if self.wrapper is not None:
            self.wrapper.close()


def _stats_shard(spec: dict[str, Any], identity: dict[str, Any], hyps: list[str], refs: list[list[str]],
                 sources: list[str]) -> tuple[np.ndarray, Any]:
    """One shard's statistics (a Ray task): the metric rebuilt from its spec, checked to be the same."""
    from mt_eval.metrics.registry import metric_from_spec

    metric = metric_from_spec(spec)
    if metric.identity_spec() != identity:
        raise MtEvalError(f"metric {spec.get('name')}: a Ray worker rebuilt it as {metric.identity_spec()}")
    arr = metric.segment_stats(hyps, refs, sources=sources, workers=1)
    return np.asarray(arr), metric.num_refs


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


class _ActorPool:
    """The actors of one system; hands out chunks, re-queues the chunk of an actor that died."""

    def __init__(self, executor: RayExecutor, wrapper: RayCachingTranslator) -> None:
        self.executor = executor
        self.wrapper = wrapper
        self.actors: list[Any] = []
        self.pids: set[str] = set()
        self.loads: dict[int, int] = {}
        self.environment: dict[str, Any] = {}

    def _start(self, n_chunks: int) -> None:
        w = self.wrapper
        resources = worker_resources(w.inner.options)
        total = ray.cluster_resources()
        fits = []
        for key, ray_key in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
            need = resources[key]
            if need > 0:
                have = float(total.get(ray_key, 0))
                if have < need:
                    raise SystemUnavailable(f"system {w.name}: a worker needs {need:g} {ray_key} but the Ray"
                                            f" cluster has {have:g}")
                fits.append(int(have // need))
        n = self.executor.workers or max(1, min(fits) if fits else 1)
        n = max(1, min(n, n_chunks))
        from mt_eval.translators.registry import _plugins

        plugins = {k: v for k, v in _plugins.items() if isinstance(v, str)}
        actor_cls = ray.remote(TranslationWorker).options(  # type: ignore[attr-defined]
            num_cpus=resources["num_cpus"], num_gpus=resources["num_gpus"], max_restarts=-1,
            max_task_retries=0, scheduling_strategy="SPREAD")
        self.actors = [actor_cls.remote(w.spec, dict(w.options_mapping), w.source_lang, w.target_lang, w.name,
                                        plugins) for _ in range(n)]

    def run(self, items: list[str], on_rows: Callable[[list[Row]], None]) -> None:
        """Translate ``items`` (already claimed, in order) in chunks; ``on_rows`` gets each finished chunk."""
        if not items:
            return
        w = self.wrapper
        size = w.batch_size
        chunk = self.executor.chunk_size(len(items), size)
        queue: deque[list[str]] = deque(items[i:i + chunk] for i in range(0, len(items), chunk))
        if not self.actors:
            self._start(len(queue))
        expected = w.sig_key()
        probes: dict[Any, int] = {actor.check.remote(): i for i, actor in enumerate(self.actors)}
        ready: set[int] = set()
        in_flight: dict[Any, tuple[int, list[str]]] = {}
        busy: dict[int, int] = {}
        stall_s = float(self.executor.stall_s)
        last_alive = time.monotonic()

        def feed(index: int) -> None:
            while queue and busy.get(index, 0) < DEPTH:
                part = queue.popleft()
                in_flight[self.actors[index].translate.remote(part, size)] = (index, part)
                busy[index] = busy.get(index, 0) + 1

        def lost(index: int) -> None:
            """An actor died: its chunks go back to the queue; ask again when Ray has restarted it."""
            ready.discard(index)
            for ref, (i, part) in list(in_flight.items()):
                if i == index:
                    del in_flight[ref]
                    queue.appendleft(part)
            busy[index] = 0
            probes[self.actors[index].check.remote()] = index

        while queue or in_flight:
            waiting = list(in_flight) + list(probes)
            done, _ = ray.wait(waiting, num_returns=1, timeout=1.0)
            if not done:
                if in_flight or ready:
                    last_alive = time.monotonic()
                elif time.monotonic() - last_alive > stall_s:
                    raise SystemFailed(f"system {w.name}: no Ray worker has been available for {stall_s:g} s"
                                       f" (cluster resources: {ray.available_resources()})")
                continue
            ref = done[0]
            if ref in probes:
                index = probes.pop(ref)
                try:
                    answer = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
                    log.warning("%s: Ray worker %d is not available yet; retrying", w.name, index)
                    time.sleep(0.5)
                    probes[self.actors[index].check.remote()] = index
                    continue
                if answer[0] != "ok":
                    raise _ERRORS.get(answer[1], SystemFailed)(answer[2])
                if answer[1] != expected:
                    raise SystemFailed(f"system {w.name}: a Ray worker (pid {answer[2]}) computes another"
                                       " signature than this process (other model files or library versions"
                                       " on that node); its outputs would not match the cache key")
                self.pids.add(str(answer[2]))
                if not self.environment:
                    self.environment = dict(ray.get(self.actors[index].environment.remote()))
                ready.add(index)
                last_alive = time.monotonic()
                feed(index)
                continue
            index, part = in_flight.pop(ref)
            busy[index] -= 1
            try:
                result = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
                log.warning("%s: Ray worker %d lost (%s); its chunk of %d segments goes to another worker",
                            w.name, index, type(exc).__name__, len(part))
                queue.appendleft(part)
                lost(index)
                for other in sorted(ready):
                    feed(other)
                continue
            if result[0] != "ok":
                raise _ERRORS.get(result[1], SystemFailed)(result[2])
            rows, loads = result[1], int(result[2])
            self.loads[index] = max(self.loads.get(index, 0), loads)
            if len(rows) != len(part) or [r[0] for r in rows] != part:
                raise SystemFailed(f"system {w.name}: a Ray worker returned {len(rows)} rows for a chunk of"
                                   f" {len(part)} sources")
            on_rows(rows)
            last_alive = time.monotonic()
            feed(index)

    def close(self) -> None:
        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception as exc:  # already gone
                log.debug("ray.kill: %s", exc)
        self.actors = []


# ---------------------------------------------------------------------------------------- the wrapper
class RayCachingTranslator(CachingTranslator):
    """:class:`CachingTranslator` whose batches run on Ray actors; the cache stays in this process."""

    def __init__(self, inner: Translator, cache: TranslationCache | None, executor: RayExecutor, *,
                 name: str = "", spec: str = "", options: Mapping[str, Any] | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        super().__init__(inner, cache, name=name, spec=spec, progress=progress)
        self.executor = executor
        self.options_mapping: Mapping[str, Any] = dict(options or {})
        self._environment: dict[str, Any] = {}
        #: pids of the worker processes that translated (for tests and logs)
        self.worker_pids: set[str] = set()

    def environment(self) -> dict[str, Any]:
        return self._environment or super().environment()

    def translate_records(self, sources: Sequence[str]) -> dict[str, CachedTranslation]:
        done, queue, missing = self._start_records(sources)
        advance = self.progress or (lambda n: None)
        if not missing:
            if queue is not None:
                queue.close()
            return done
        pool = _ActorPool(self.executor, self)

        def on_rows(rows: list[Row]) -> None:  # one finished chunk: committed at once
            for row in rows:
                done[row[0]] = CachedTranslation(row[1], row[2], row[3], row[4])
            if queue is not None:
                queue.commit(storable_rows(rows))
            self.translated += len(rows)
            advance(len(rows))

        try:
            if queue is None:
                pool.run(missing, on_rows)
                return done
            mine, deferred = queue.claim(missing)
            taken = set(mine) | set(deferred)
            gone = [s for s in missing if s not in taken]
            if gone:  # another run finished them meanwhile
                found = queue.lookup(gone)
                done.update(found)
                advance(len(found))
            pool.run(mine, on_rows)
            self._wait_on_cluster(queue, deferred, done, pool, on_rows, advance)
            return done
        finally:
            self.worker_pids = set(pool.pids)
            self._environment = pool.environment
            self.inner.model_loads += sum(pool.loads.values())
            pool.close()
            if queue is not None:
                queue.close()

    def _wait_on_cluster(self, queue: ClaimQueue, deferred: list[str], done: dict[str, CachedTranslation],
                         pool: _ActorPool, on_rows: Callable[[list[Row]], None],
                         advance: Callable[[int], None]) -> None:
        """Segments another live run claimed: wait for them, or take them over when that run dies."""
        noticed = 0.0
        while deferred:
            found = queue.lookup(deferred)
            done.update(found)
            advance(len(found))
            deferred = [s for s in deferred if s not in done]
            if not deferred:
                return
            mine, deferred = queue.claim(deferred)
            pool.run(mine, on_rows)
            if deferred and not mine:
                now = time.monotonic()
                if now - noticed >= self.notice_every_s:
                    noticed = now
                    who = ", ".join(describe_owner(o) for o in queue.holders(deferred)) or "another run"
                    log.warning("%s: waiting for %d segments that %s is translating (cache %s)",
                                self.name, len(deferred), who, queue.cache.path)
                time.sleep(self.poll_s)


# ---------------------------------------------------------------------------------------- executor
class RayExecutor:
    """Connection to a Ray cluster plus the two hooks the library calls: :meth:`wrap` (translation,
    for :func:`mt_eval.translators.runner.translate_testset`) and :meth:`segment_stats` (scoring, the
    ``stats_fn`` of :func:`mt_eval.evaluate.evaluate`)."""

    def __init__(self, address: str | None = None, *, chunk: int | None = None, workers: int | None = None,
                 shard: int | None = None, runtime_env: dict[str, Any] | None = None,
                 stall_s: float | None = None) -> None:
        self.address = address
        self.chunk = chunk if chunk is not None else _env_int(CHUNK_ENV, None)
        self.workers = workers if workers is not None else _env_int(WORKERS_ENV, None)
        self.shard = shard if shard is not None else _env_int(SHARD_ENV, 2000)
        self.runtime_env = runtime_env if runtime_env is not None else _runtime_env()
        self.stall_s = stall_s if stall_s is not None else float(_env_int(STALL_ENV, 600) or 600)
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
        _check_reachable(self.address or os.environ.get("RAY_ADDRESS"))
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
    def wrap(self, translator: Translator, cache: TranslationCache | None, *, name: str, spec: str,
             options: Mapping[str, Any] | None,
             progress: Callable[[int], None] | None) -> RayCachingTranslator:
        self.connect()
        return RayCachingTranslator(translator, cache, self, name=name, spec=spec, options=options,
                                    progress=progress)

    def segment_stats(self, metric: Any, hyps: Sequence[str], refs: Sequence[Sequence[str]],
                      sources: Sequence[str], workers: int = 1) -> np.ndarray:
        """Statistics of a row-wise metric over shards on the cluster, concatenated in segment order;
        any other metric (or a test set of one shard) is computed here, exactly as locally."""
        from mt_eval.metrics.sacrebleu_metrics import SacreBleuMetric

        n = len(hyps)
        size = int(self.shard or 2000)
        if not isinstance(metric, SacreBleuMetric) or n <= size:
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
        counts = {p[1] for p in parts}
        metric.num_refs = counts.pop() if len(counts) == 1 else "var"
        return np.concatenate([np.asarray(p[0]) for p in parts], axis=0)
