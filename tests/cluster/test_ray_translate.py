"""Translation on a real Ray cluster: same outputs as locally, the cache only on the driver."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from plugin_backends import make_testset

from mt_eval.translators.cache import TranslationCache
from mt_eval.translators.runner import translate_testset


def _log(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [tuple(line.split("\t", 1)) for line in path.read_text(encoding="utf-8").splitlines()]  # type: ignore[misc]


@pytest.mark.slow
def test_ray_translation_equals_local_each_segment_once(tmp_path: Path, ray_executor, slow_backend) -> None:
    ts = make_testset(23, repeat=True)
    local_log, ray_log = tmp_path / "local.log", tmp_path / "ray.log"
    local = translate_testset(ts, "slow", options={"log": str(local_log)}, cache=tmp_path / "local.sqlite",
                              progress=False)
    with TranslationCache(tmp_path / "ray.sqlite") as cache:
        run = translate_testset(ts, "slow", options={"log": str(ray_log)}, cache=cache, progress=False,
                                executor=ray_executor)
        assert cache.count() == 22  # unique sources, committed by the driver
    assert run.outputs == local.outputs
    assert run.signature == local.signature
    calls = _log(ray_log)
    assert sorted(src for _, src in calls) == sorted(set(ts.sources))  # each unique source exactly once
    assert os.getpid() not in {int(pid) for pid, _ in calls}  # translated by Ray workers, not here
    assert run.throughput["translated_segments"] == 22 and run.throughput["model_loads"] >= 1
    # a rerun is served from the cache: no worker is asked for anything
    again = translate_testset(ts, "slow", options={"log": str(ray_log)}, cache=tmp_path / "ray.sqlite",
                              progress=False, executor=ray_executor)
    assert again.outputs == local.outputs
    assert len(_log(ray_log)) == len(calls)
    assert again.throughput["cached_segments"] == 22 and again.throughput["model_loads"] == 0
