"""Metrics are entry-point plugins, like translators: built-ins are declared in the same group a
third-party package uses, a plugin's module is imported only when the metric is built, and
``register_metric`` adds metrics at run time."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
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


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A package with an ``mt_eval.metrics`` entry point, installed the way pip would (a dist-info)."""
    (tmp_path / "long_enough_metric.py").write_text(PLUGIN, encoding="utf-8")
    dist = tmp_path / "long_enough_metric-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: long-enough-metric\nVersion: 1.0\n",
                                   encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[mt_eval.metrics]\nlong-enough = long_enough_metric:LongEnough\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._entry_point_metrics.cache_clear()
    yield "long-enough"
    sys.modules.pop("long_enough_metric", None)
    monkeypatch.undo()
    registry._entry_point_metrics.cache_clear()


def test_builtins_are_declared_as_entry_points_exactly_like_the_builtin_table() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    group = declared["project"]["entry-points"]["mt_eval.metrics"]
    missing = {k: v for k, v in registry._METRICS.items() if group.get(k) != v}
    assert not missing, ("add these lines to [project.entry-points.\"mt_eval.metrics\"] in pyproject.toml"
                         f" (then pip install -e . --no-deps): {missing}")
    assert {k: v for k, v in group.items() if v.startswith("mt_eval.")} == registry._METRICS
    installed = {ep.name: ep.value for ep in entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert {k: installed.get(k) for k in group} == group, "reinstall: pip install -e '.[test]' --no-deps"


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
    from mt_eval.catalog import list_metrics  # `mt-eval list` shows it with its typed options

    listed = next(m for m in list_metrics() if m.name == installed_plugin)
    assert listed.target == "long_enough_metric:LongEnough" and listed.available
    [option] = listed.options
    assert (option.name, option.type, option.default, option.bounds_text()) == ("min_ratio", "float", 1.0,
                                                                                "> 0.0, ≤ 10.0")
    assert option.description == "length ratio that counts as long enough"


def test_plugin_metric_goes_through_evaluate(installed_plugin: str) -> None:
    from mini_corpus import GOOD, REFS, SOURCES

    from mt_eval.data.testset import TestSet
    from mt_eval.evaluate import evaluate
    from mt_eval.translators.base import SystemRun

    ts = TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                            target_lang="en", name="tiny")
    runs = [SystemRun(name="good", spec="x", outputs=list(GOOD), signature={}),
            SystemRun(name="copy", spec="copy", outputs=list(SOURCES), signature={})]
    result = evaluate(ts, runs, ["bleu", "long-enough"], n_resamples=50)
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
    monkeypatch.setitem(registry._METRICS, "bleu-copy", "mt_eval.metrics.sacrebleu_metrics:BLEU")
    assert registry.get_metric("bleu-copy").name == "bleu"
    assert "bleu-copy" in registry.available_metrics()
