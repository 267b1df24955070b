"""Metrics are entry-point plugins, like translators: built-ins are declared in the same group a
third-party package uses, a plugin's module is imported only when the metric is built, and
``register_metric`` adds metrics at run time."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from mt_eval.errors import MtEvalError
from mt_eval.metrics import registry
from mt_eval.metrics.base import MeanOfSegmentsMetric
from mt_eval.plugins import BUILTINS
from mt_eval.settings import EvalSettings
from mt_eval.translators.registry import BACKENDS

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = textwrap.dedent('''
    """A third-party metric: share of hypotheses at least as long as their shortest reference."""
    import numpy as np
    from pydantic import BaseModel, ConfigDict, Field

    from mt_eval.metrics.base import MeanOfSegmentsMetric


    class LongEnoughOptions(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        min_ratio: float = Field(1.0, gt=0.0, le=10.0, description="length ratio that counts as long enough")


    class LongEnough(MeanOfSegmentsMetric):
        """Share of outputs at least min_ratio times as long as the shortest reference."""

        name = "long-enough"
        options_model = LongEnoughOptions

        def segment_stats(self, hypotheses, references, *, sources=None, workers=1):
            refs = [[r] if isinstance(r, str) else list(r) for r in references]
            ratio = self.config.min_ratio
            ok = [len(h) >= ratio * min(len(r) for r in rs) for h, rs in zip(hypotheses, refs)]
            return np.stack([np.asarray(ok, dtype=np.float64), np.ones(len(ok))], axis=1)

        def signature(self):
            return {"nrefs": "1", "ratio": str(self.config.min_ratio), "metric": "long-enough"}
''')


BACKEND = textwrap.dedent('''
    """A third-party backend: each source with a suffix."""
    from pydantic import Field

    from mt_eval.translators.base import Translator, TranslatorOptions


    class SuffixOptions(TranslatorOptions):
        suffix: str = Field("", description="text appended to each output")


    class Suffix(Translator):
        """Each source followed by a suffix."""

        backend = "suffix"
        Options = SuffixOptions
        cacheable = False

        def translate(self, sources):
            return [s + self.options.suffix for s in sources]

        def signature(self):
            return {"backend": "suffix", "suffix": self.options.suffix}
''')


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A package with an ``mt_eval.metrics`` and an ``mt_eval.translators`` entry point, installed the way
    pip would (a dist-info)."""
    (tmp_path / "long_enough_metric.py").write_text(PLUGIN, encoding="utf-8")
    (tmp_path / "suffix_backend.py").write_text(BACKEND, encoding="utf-8")
    dist = tmp_path / "long_enough_metric-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: long-enough-metric\nVersion: 1.0\n",
                                   encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[mt_eval.metrics]\nlong-enough = long_enough_metric:LongEnough\n\n"
        "[mt_eval.translators]\nsuffix = suffix_backend:Suffix\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.METRICS.refresh()
    BACKENDS.refresh()
    yield "long-enough"
    sys.modules.pop("long_enough_metric", None)
    sys.modules.pop("suffix_backend", None)
    monkeypatch.undo()
    registry.METRICS.refresh()
    BACKENDS.refresh()


@pytest.mark.parametrize("group", ["mt_eval.metrics", "mt_eval.translators"])
def test_builtins_are_declared_as_entry_points_exactly_like_the_builtin_table(group: str) -> None:
    table = BUILTINS[group]
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    missing = {k: v for k, v in table.items() if declared[group].get(k) != v}
    assert not missing, (f"add these lines to [project.entry-points.\"{group}\"] in pyproject.toml"
                         f" (then pip install -e . --no-deps): {missing}")
    assert {k: v for k, v in declared[group].items() if v.startswith("mt_eval.")} == table
    installed = {ep.name: ep.value for ep in entry_points(group=group)}
    assert {k: installed.get(k) for k in declared[group]} == declared[group], \
        "reinstall: pip install -e '.[test]' --no-deps"


def test_third_party_entry_point_is_found_lazily_and_scores(installed_plugin: str) -> None:
    assert installed_plugin in registry.metric_targets()
    assert "long_enough_metric" not in sys.modules  # listed without importing the plugin
    assert registry.available_metrics()[installed_plugin] is True
    metric = registry.metric_from_spec("long-enough:min_ratio=0.5")
    assert "long_enough_metric" in sys.modules
    stats = metric.segment_stats(["a", "abcdef", "abc"], [["abcd"], ["abc"], ["abcdefgh"]])
    assert stats.tolist() == [[0.0, 1.0], [1.0, 1.0], [0.0, 1.0]]
    assert metric.corpus_score(stats) == pytest.approx(100 / 3)
    assert metric.spec() == {"name": "long-enough", "options": {"min_ratio": 0.5}}
    with pytest.raises(MtEvalError, match=r"metric long-enough: bad option min_ratio"):
        registry.get_metric("long-enough", min_ratio=0)
    from mt_eval.catalog import list_plugins  # `mt-eval list` shows it with its typed options

    listed = next(m for m in list_plugins(registry.METRICS) if m.name == installed_plugin)
    assert listed.target == "long_enough_metric:LongEnough" and listed.available
    [option] = listed.options
    assert (option.name, option.type, option.default, option.bounds_text()) == ("min_ratio", "float", 1.0,
                                                                                "> 0.0, ≤ 10.0")
    assert option.description == "length ratio that counts as long enough"


def test_plugin_metric_goes_through_evaluate(installed_plugin: str) -> None:
    from helpers.corpora import GOOD, REFS, SOURCES

    from mt_eval.data.testset import TestSet
    from mt_eval.evaluate import evaluate
    from mt_eval.translators.base import SystemRun

    ts = TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                            target_lang="en", name="tiny")
    runs = [SystemRun(name="good", spec="x", outputs=list(GOOD), signature={}),
            SystemRun(name="copy", spec="copy", outputs=list(SOURCES), signature={})]
    result = evaluate(ts, runs, ["bleu", "long-enough"], EvalSettings(resamples=50))
    expected = 100 * np.mean([len(h) >= len(r) for h, r in zip(GOOD, REFS, strict=True)])
    assert result.results.scores["good"]["long-enough"].score == pytest.approx(expected)
    assert result.results.significance is not None and "long-enough" in result.results.significance.clusters


class _Constant(MeanOfSegmentsMetric):
    name = "constant-test"

    def segment_stats(self, hypotheses, references, *, sources=None, workers=1):  # type: ignore[no-untyped-def]
        return np.tile([0.5, 1.0], (len(hypotheses), 1))

    def signature(self) -> dict[str, str]:
        return {"metric": "constant"}


def test_register_metric_at_run_time_with_a_class_or_a_lazy_string() -> None:
    registry.register_metric("constant-test", _Constant)
    try:
        metric = registry.get_metric("Constant-Test")
        assert isinstance(metric, _Constant)
        assert registry.metric_targets()["constant-test"].endswith(":_Constant")
        assert registry.parse_metric_spec("constant-test") == ("constant-test", {})
    finally:
        registry.unregister_metric("constant-test")
    with pytest.raises(MtEvalError, match="unknown metric 'constant-test'"):
        registry.get_metric("constant-test")
    registry.register_metric("lazy-bleu", "mt_eval.metrics.sacrebleu_metrics:BLEU")
    try:
        assert registry.get_metric("lazy-bleu").name == "bleu"
    finally:
        registry.unregister_metric("lazy-bleu")


def test_bad_registrations_and_broken_plugins_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        registry.register_metric("Bad Name", _Constant)
    with pytest.raises(ValueError, match="is not 'module:Class'"):
        registry.register_metric("x-metric", "no_colon")
    registry.register_metric("missing-module", "no_such_module_here:Metric")
    registry.register_metric("not-a-metric", "mt_eval.errors:MtEvalError")
    try:
        with pytest.raises(MtEvalError, match="metric 'missing-module' cannot be imported"):
            registry.get_metric("missing-module")
        with pytest.raises(MtEvalError, match="is not a Metric class"):
            registry.get_metric("not-a-metric")
    finally:
        registry.unregister_metric("missing-module")
        registry.unregister_metric("not-a-metric")


def test_a_plugin_module_that_raises_on_import_is_a_one_line_error(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "exploding_metric_plugin.py").write_text("raise RuntimeError('boom at import')\n",
                                                         encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.register_metric("exploding", "exploding_metric_plugin:Metric")
    try:
        with pytest.raises(MtEvalError, match=r"metric 'exploding': importing exploding_metric_plugin failed"
                                              r" \(RuntimeError: boom at import\)"):
            registry.get_metric("exploding")
    finally:
        registry.unregister_metric("exploding")


def test_a_line_added_to_the_builtin_table_registers_without_an_entry_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Helpers adding a built-in to ``_METRICS`` get a working metric even before pyproject is updated."""
    monkeypatch.setitem(registry.METRICS.builtins, "bleu-copy", "mt_eval.metrics.sacrebleu_metrics:BLEU")
    assert registry.get_metric("bleu-copy").name == "bleu"
    assert "bleu-copy" in registry.available_metrics()


@pytest.fixture(params=["entry-point", "register"])
def one_plugin(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[Callable[[], None]]:
    """The metric ``long-enough`` and the backend ``suffix``, registered once: by the entry points of an
    installed dist-info, or by ``register_metric``/``register_backend``. Yields a function removing both."""
    plug = tmp_path / "plug"
    plug.mkdir()
    (plug / "long_enough_metric.py").write_text(PLUGIN, encoding="utf-8")
    (plug / "suffix_backend.py").write_text(BACKEND, encoding="utf-8")
    monkeypatch.syspath_prepend(str(plug))
    dist = plug / "long_enough_metric-1.0.dist-info"

    def remove() -> None:
        registry.unregister_metric("long-enough")
        BACKENDS.unregister("suffix")
        shutil.rmtree(dist, ignore_errors=True)
        registry.METRICS.refresh()
        BACKENDS.refresh()

    if request.param == "entry-point":
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: long-enough-metric\nVersion: 1.0\n",
                                       encoding="utf-8")
        (dist / "entry_points.txt").write_text(
            "[mt_eval.metrics]\nlong-enough = long_enough_metric:LongEnough\n\n"
            "[mt_eval.translators]\nsuffix = suffix_backend:Suffix\n", encoding="utf-8")
        registry.METRICS.refresh()
        BACKENDS.refresh()
    else:
        registry.register_metric("long-enough", "long_enough_metric:LongEnough")
        BACKENDS.register("suffix", "suffix_backend:Suffix")
    yield remove
    remove()
    for module in ("long_enough_metric", "suffix_backend"):
        sys.modules.pop(module, None)


def test_a_plugin_registered_once_is_found_by_list_run_gate_and_ray(
        one_plugin: Callable[[], None], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers.cli import run_cli
    from helpers.corpora import REFS, SOURCES

    from mt_eval.data.testset import TestSet
    from mt_eval.reports.run_folder import load_run
    from mt_eval.translators.registry import create_translator

    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)

    def listed() -> dict[str, list[str]]:
        code, out, err = run_cli(capsys, "list", "--json")
        assert code == 0, err
        return {kind: [e["name"] for e in entries] for kind, entries in json.loads(out).items()}

    # list
    assert "long-enough" in listed()["metrics"] and "suffix" in listed()["backends"]
    # run: the backend translates (any case; "1234" stays text for a text option), the metric scores
    assert create_translator("Suffix?suffix=1234").translate(["a"]) == ["a1234"]
    ts = TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                            target_lang="en", name="tiny").save(tmp_path / "ts")
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "--testset", ts, "--system", "Suffix?suffix=1234", "-m", "bleu",
                           "-m", "long-enough:min_ratio=2", "--resamples", "20", "-o", run)
    assert code == 0, err
    results = load_run(run)
    [system] = results.ok_systems
    expected = 100 * np.mean([len(s + "1234") >= 2 * len(r) for s, r in zip(SOURCES, REFS, strict=True)])
    assert results.scores[system]["long-enough:min_ratio=2"].score == pytest.approx(expected)
    # the gate rebuilds the metric from the baseline's spec
    code, _, err = run_cli(capsys, "baseline", "save", run, "-o", tmp_path / "b.json", "--all-metrics")
    assert code == 0, err
    code, out, err = run_cli(capsys, "gate", "-b", tmp_path / "b.json", "-c", run)
    assert code == 0, out + err
    assert "cannot rebuild" not in out + err
    # the Ray statistics task rebuilds the metric from its spec (called here, no cluster)
    pytest.importorskip("ray")
    from mt_eval.cluster.ray_executor import _stats_shard

    metric = registry.metric_from_spec("long-enough:min_ratio=2")
    refs = [[r] for r in REFS]
    hyps = [s + "1234" for s in SOURCES]
    stats, _ = _stats_shard(metric.spec(), metric.identity_spec(), hyps, refs, list(SOURCES))
    assert stats.tolist() == metric.segment_stats(hyps, refs).tolist()

    one_plugin()  # registered nowhere any more: each of them now fails to find it
    assert "long-enough" not in listed()["metrics"] and "suffix" not in listed()["backends"]
    with pytest.raises(MtEvalError, match="unknown translator backend 'Suffix'"):
        create_translator("Suffix?suffix=1234")
    code, out, err = run_cli(capsys, "gate", "-b", tmp_path / "b.json", "-c", run)
    assert code != 0 and "cannot rebuild the metric here (unknown metric 'long-enough'" in out + err
    with pytest.raises(MtEvalError, match="unknown metric 'long-enough'"):
        _stats_shard(metric.spec(), metric.identity_spec(), hyps, refs, list(SOURCES))
