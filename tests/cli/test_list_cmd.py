"""``mt-eval list``: every backend and metric with its options (type, default, bounds, description),
as a table or JSON, without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers.cli import run_cli

from mt_eval.catalog import describe_options, list_plugins
from mt_eval.metrics.registry import METRICS, metric_targets
from mt_eval.translators.registry import available_backends


def _json(capsys, *args: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    code, out, err = run_cli(capsys, "list", *args, "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_json_lists_every_backend_and_metric_with_typed_options(capsys) -> None:  # type: ignore[no-untyped-def]
    data = _json(capsys)
    assert [b["name"] for b in data["backends"]] == list(available_backends())
    assert [m["name"] for m in data["metrics"]] == list(metric_targets())
    metrics = {m["name"]: m for m in data["metrics"]}
    bleu = {o["name"]: o for o in metrics["bleu"]["options"]}
    assert bleu["max_ngram_order"]["type"] == "int" and bleu["max_ngram_order"]["default"] == 4
    assert bleu["max_ngram_order"]["bounds"] == {"ge": 1, "le": 10}
    assert bleu["smooth_method"]["choices"] == ["none", "floor", "add-k", "exp"]
    assert "sacrebleu" in metrics["bleu"]["aliases"]
    semantic = {o["name"]: o for o in metrics["semantic"]["options"]}
    assert semantic["threads"]["run_only"] is True and semantic["threads"]["bounds"]["ge"] == 1
    backends = {b["name"]: b for b in data["backends"]}
    openai = {o["name"]: o for o in backends["openai"]["options"]}
    assert openai["max_retries"]["bounds"].get("ge") == 0
    assert backends["copy"]["options"] == []


def test_every_option_of_the_builtin_metrics_and_backends_has_a_description(capsys) -> None:  # type: ignore[no-untyped-def]
    data = _json(capsys)
    owned = {"bleu", "chrf", "chrf++", "ter", "semantic", "human"}  # sacrebleu_metrics, semantic, humeval
    undocumented = [f"{entry['kind']} {entry['name']}: {o['name']}"
                    for kind in ("backends", "metrics") for entry in data[kind]
                    if entry["kind"] == "backend" or entry["name"] in owned
                    for o in entry["options"] if not o["description"]]
    assert not undocumented
    # numeric options of those metrics are bounded
    unbounded = [f"{e['name']}: {o['name']}" for e in data["metrics"] if e["name"] in owned
                 for o in e["options"] if o["type"] in ("int", "float") and not o["bounds"]]
    assert not unbounded


def test_table_output_and_kind_filter(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(capsys, "list", "metrics")
    assert code == 0, err
    assert "bleu" in out and "max_ngram_order" in out and "≥ 1, ≤ 10" in out
    assert "hf-seq2seq" not in out  # backends left out
    assert _json(capsys, "backends").keys() == {"backends"}
    code, _, err = run_cli(capsys, "list", "nonsense")
    assert code == 2 and "'nonsense' is not one of backends, metrics" in err


def test_a_broken_plugin_is_listed_with_its_reason_not_a_crash() -> None:
    from mt_eval.metrics.registry import register_metric, unregister_metric

    register_metric("broken-plugin", "no_such_module_for_list:Metric")
    try:
        entry = next(m for m in list_plugins(METRICS) if m.name == "broken-plugin")
    finally:
        unregister_metric("broken-plugin")
    assert not entry.available and "cannot be imported" in entry.note and entry.options == []


def test_describe_options_renders_unions_literals_and_factories() -> None:
    from typing import Literal

    from pydantic import BaseModel, Field

    class Opts(BaseModel):
        mode: Literal["a", "b"] | None = None
        items: list[str] = Field(default_factory=lambda: ["x"], description="things")
        rate: float = Field(0.5, gt=0, lt=1)

    info = {o.name: o for o in describe_options(Opts)}
    assert info["mode"].choices == ["a", "b"] and info["mode"].type == "choice | null"
    assert info["items"].default == ["x"] and info["items"].type == "list[str]"
    assert info["rate"].bounds_text() == "> 0, < 1"


def test_list_does_not_import_torch_or_model_libraries() -> None:
    code = ("import sys\n"
            "from mt_eval.cli import main\n"
            "try:\n    main(['list', '--json'])\n"
            "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
            "heavy = [m for m in ('torch', 'transformers', 'ctranslate2', 'llama_cpp', 'comet', 'bert_score')"
            " if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    assert json.loads(proc.stdout)["metrics"]
