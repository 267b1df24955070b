"""Fixtures of the metric tests: the tiny COMET checkpoints (built once per session, on first use)."""

from __future__ import annotations

import pytest
from comet_fixture import TinyComet, build_tiny_comet


@pytest.fixture(scope="session")
def tiny_comet(tmp_path_factory: pytest.TempPathFactory) -> TinyComet:
    return build_tiny_comet(tmp_path_factory.mktemp("tiny-comet"))
