"""Metrics have a lifecycle: ``Metric.close()`` releases what a metric holds, and a run calls it.

A judge metric holds a :class:`~mt_eval.judges.client.JudgeClient` (HTTP connections, or a loaded
llama.cpp model); after ``mt-eval run`` has scored every system, none of the clients it opened is left
open.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_judge import FakeJudge
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval.data.testset import TestSet
from mt_eval.judges.client import JudgeClient
from mt_eval.metrics.registry import get_metric


@pytest.fixture
def server() -> Iterator[FakeJudge]:
    judge = FakeJudge(model="judge-x")
    yield judge
    judge.close()


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[JudgeClient]]:
    """Every JudgeClient made, and every one closed, while the test runs."""
    seen: dict[str, list[JudgeClient]] = {"opened": [], "closed": []}
    real_init, real_close = JudgeClient.__init__, JudgeClient.close

    def init(self: JudgeClient, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        seen["opened"].append(self)

    def close(self: JudgeClient) -> None:
        seen["closed"].append(self)
        real_close(self)

    monkeypatch.setattr(JudgeClient, "__init__", init)
    monkeypatch.setattr(JudgeClient, "close", close)
    return seen


def test_every_metric_can_be_closed_and_used_again() -> None:
    bleu = get_metric("bleu")
    bleu.close()  # the base class's no-op: nothing held
    assert bleu.corpus_score(bleu.segment_stats(GOOD, [[r] for r in REFS])) > 0


def test_a_judge_metric_closes_its_client_and_reopens_one(server: FakeJudge,
                                                          clients: dict[str, list[JudgeClient]]) -> None:
    metric = get_metric("gemba-esa", judge=server.spec(max_retries="0"))
    first = metric.client()
    metric.close()
    assert clients["closed"] == [first]
    assert metric.client() is not first  # usable again after close


def test_a_run_closes_the_judge_clients_it_opened(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, server: FakeJudge,
                                                  clients: dict[str, list[JudgeClient]]) -> None:
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES[:3], REFS[:3], strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(tmp_path / "ts")
    (tmp_path / "good.txt").write_text("\n".join(GOOD[:3]) + "\n", encoding="utf-8")
    system, judge = f"file:{tmp_path / 'good.txt'}", f"gemba-esa:judge={server.spec(max_retries='0')}"
    code, _, err = run_cli(capsys, "run", "--testset", tmp_path / "ts", "--system", system, "-m", judge,
                           "--resamples", "20", "-o", tmp_path / "out")
    assert code == 0, err
    assert server.posts, "the judge was never asked"
    assert clients["opened"], "no judge client was made"
    still_open = [c for c in clients["opened"] if c not in clients["closed"]]
    assert not still_open, f"{len(still_open)} of {len(clients['opened'])} judge clients open after the run"
