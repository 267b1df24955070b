"""``mt-eval baseline save`` keeps only the gate's default family unless other metrics are asked for.

Judges, human scores and COMET declare ``gate_family_default = False``: a baseline holding them would
make every later gate run the judge (or expect human scores that are not re-collected). A test-only
metric with that flag stands in for them (registered at run time, no model needed).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from gate_helpers import cli, corrupt

from mt_eval.errors import MtEvalError
from mt_eval.gate.baseline import load_baseline, save_baseline
from mt_eval.metrics.base import MeanOfSegmentsMetric


class Outsider(MeanOfSegmentsMetric):
    """Share of hypothesis words longer than 4 letters: a metric outside the gate's default family."""

    name = "outsider"
    gate_family_default = False

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        rows = [[sum(len(w) > 4 for w in h.split()) / max(len(h.split()), 1), 1.0] for h in hypotheses]
        return np.asarray(rows, dtype=np.float64)

    def signature(self) -> dict[str, str]:
        return {"nrefs": "1", "metric": "outsider", "version": "1"}


@pytest.fixture
def run(synthetic_testset, make_run) -> Iterator[Path]:
    from mt_eval.metrics.registry import register_metric, unregister_metric

    register_metric("outsider", Outsider)  # a plugin registered at run time
    ts_dir, refs = synthetic_testset
    yield make_run("base", ts_dir, {"mt": corrupt(refs, 0.3, seed=1)}, metrics=("bleu", "outsider", "chrf"))
    unregister_metric("outsider")


def _save(capsys, run: Path, out: Path, *extra: object) -> tuple[set[str], str]:
    capsys.readouterr()
    code = cli("baseline", "save", run, "-o", out, *extra)
    stdout, err = capsys.readouterr()
    assert code == 0, err
    return set(load_baseline(out).systems["mt"].metrics), stdout


def test_baseline_save_leaves_out_metrics_outside_the_default_family(run: Path, tmp_path: Path,
                                                                    capsys) -> None:
    kept, stdout = _save(capsys, run, tmp_path / "b.json")
    assert kept == {"bleu", "chrf"}
    assert "left out outsider: not in the gate's default family" in stdout
    assert "--metric" in stdout  # the note says how to keep it
    # asked for by name, by a policy family, or all of them: kept
    kept, stdout = _save(capsys, run, tmp_path / "named.json", "--metric", "outsider", "--metric", "bleu")
    assert kept == {"outsider", "bleu"} and "left out" not in stdout
    (tmp_path / "policy.toml").write_text('family = ["bleu", "outsider"]\n', encoding="utf-8")
    kept, _ = _save(capsys, run, tmp_path / "policy.json", "--policy", tmp_path / "policy.toml")
    assert kept == {"bleu", "chrf", "outsider"}
    (tmp_path / "primary.toml").write_text('primary_metric = "outsider"\n', encoding="utf-8")
    kept, _ = _save(capsys, run, tmp_path / "primary.json", "--policy", tmp_path / "primary.toml")
    assert kept == {"bleu", "chrf", "outsider"}
    kept, _ = _save(capsys, run, tmp_path / "all.json", "--all-metrics")
    assert kept == {"bleu", "chrf", "outsider"}


def test_the_gate_passes_with_a_baseline_without_the_left_out_metric(run: Path, tmp_path: Path,
                                                                     capsys) -> None:
    _save(capsys, run, tmp_path / "b.json")
    code = cli("gate", "-b", tmp_path / "b.json", "-c", run, "--junit", tmp_path / "j.xml")
    assert code == 0, capsys.readouterr().err
    junit = (tmp_path / "j.xml").read_text(encoding="utf-8")
    assert "bleu" in junit and "chrf" in junit


def test_save_baseline_api_reports_what_it_left_out(run: Path, tmp_path: Path) -> None:
    from mt_eval.gate.baseline import baseline_metrics
    from mt_eval.reports.results import write_results
    from mt_eval.reports.run_folder import load_run

    baseline = save_baseline(run, tmp_path / "b.json")
    assert baseline.left_out == {"outsider": "not in the gate's default family"}
    assert load_baseline(tmp_path / "b.json").left_out == {}  # not part of the file
    assert "left_out" not in (tmp_path / "b.json").read_text(encoding="utf-8")
    results = load_run(run)
    only = results.model_copy(update={"metrics": {"outsider": results.metrics["outsider"]}})
    assert baseline_metrics(only) == ([], {"outsider": "not in the gate's default family"})
    write_results(only, run / "results.json")
    with pytest.raises(MtEvalError, match="outside the gate's default family; name the ones to keep"):
        save_baseline(run, tmp_path / "none.json")
    assert not (tmp_path / "none.json").exists()
