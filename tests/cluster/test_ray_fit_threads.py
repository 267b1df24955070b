"""An actor's translator uses the CPUs Ray reserved for it, not every core of the node."""

from __future__ import annotations

import pytest

from mt_eval.cluster import ray_executor
from mt_eval.translators.registry import create_translator


@pytest.mark.parametrize(("spec", "options", "cpus", "expected"), [
    ("marian:/models/opus", None, 1, 1),            # torch would take every core: now the actor's 1
    ("marian:/models/opus", None, 3, 3),
    ("marian:/models/opus", {"threads": 4}, 1, 4),  # a value the user chose is kept
    ("ct2:/models/ct2", None, 2, 2),                # CTranslate2's 0 = "its own default" (all cores)
])
def test_unset_threads_become_the_actors_cpus(spec: str, options: dict[str, int] | None, cpus: int,
                                              expected: int) -> None:
    translator = create_translator(spec, options)
    ray_executor.fit_threads(translator, cpus)
    assert translator.options.threads == expected


def test_backends_without_threads_are_left_alone() -> None:
    translator = create_translator("copy")
    before = translator.options
    ray_executor.fit_threads(translator, 2)
    assert translator.options is before
