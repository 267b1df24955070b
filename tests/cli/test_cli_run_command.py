"""``mt-eval run``: config, --system, skipped systems, --strict and the default run (seed test set)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sacrebleu
from helpers.cli import run_cli
from helpers.corpora import GOOD, REFS, SOURCES

from mt_eval.data.testset import TestSet
from mt_eval.errors import SystemUnavailable
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.run_folder import load_run
from mt_eval.translators import runner

SOURCES, REFS, GOOD = SOURCES[:4], REFS[:4], GOOD[:4]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("MT_EVAL_CACHE", str(tmp_path / "cache.sqlite"))
    TestSet.from_pairs([(s, [r]) for s, r in zip(SOURCES, REFS, strict=True)], source_lang="ar",
                       target_lang="en", name="tiny").save(tmp_path / "ts")
    (tmp_path / "good.txt").write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    return tmp_path


def _unavailable_marian(monkeypatch: pytest.MonkeyPatch, seen: list[str] | None = None) -> None:
    """Real file/copy systems; any model backend behaves as offline and not cached."""
    real = runner.translate_testset

    def fake(testset, spec, **kwargs):  # type: ignore[no-untyped-def]
        if seen is not None:
            seen.append(spec)
        if spec.split(":")[0] in ("file", "copy"):
            return real(testset, spec, **kwargs)
        raise SystemUnavailable(f"{spec}: offline and not in the local cache (test)")

    monkeypatch.setattr(runner, "translate_testset", fake)


def test_run_with_systems_from_the_command_line(capsys, files: Path) -> None:
    code, out, err = run_cli(capsys, "run", "--testset", files / "ts", "--system", "copy",
                         "--system", f"file:{files / 'good.txt'}", "-m", "bleu", "-m", "chrf",
                         "--resamples", "100", "-o", files / "out")
    assert code == 0, err
    results = load_run(files / "out")
    assert results.testset.num_segments == len(SOURCES) and results.testset.name == "tiny"
    # no --baseline: copy is no implicit anchor; the two systems are compared as a pair and ranked
    sig = results.significance
    assert len(results.ok_systems) == 2 and sig.baseline is None
    tested = {frozenset((a, b)) for a, per_b in sig.pairs.items() for b in per_b}
    assert tested == {frozenset(results.ok_systems)}
    assert sig.method == "paired-ar" and any("segments" in w for w in sig.warnings)  # a tiny test set
    other = next(s for s in results.ok_systems if s != "copy")
    assert results.scores[other]["bleu"].score == pytest.approx(sacrebleu.corpus_bleu(GOOD, [REFS]).score)
    assert results.scores["copy"]["chrf"].score == pytest.approx(sacrebleu.corpus_chrf(SOURCES, [REFS]).score)
    assert results.flags["copy"]["copy_of_source"] == len(SOURCES)
    assert "paired comparisons" in out and f"Warning: only {len(SOURCES)} segments" in out
    assert RunLayout.of(files / "out").report_html.is_file()


def test_run_config_with_a_skipped_system_and_strict(capsys, files: Path, monkeypatch) -> None:
    _unavailable_marian(monkeypatch)
    monkeypatch.chdir(files)  # without -o/output the run goes to ./results/<name>
    (files / "run.toml").write_text(
        'name = "cfg-run"\ntestset = "ts"\nmetrics = ["bleu", "ter"]\nresamples = 100\n'
        '[[systems]]\nspec = "copy"\n[[systems]]\nspec = "file:good.txt"\nname = "good"\n'
        '[[systems]]\nspec = "marian:Helsinki-NLP/opus-mt-ar-en"\nname = "marian"\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "run", files / "run.toml")
    assert code == 0, err
    folder = files / "results" / "cfg-run"
    results = load_run(folder)
    assert results.systems["marian"].status == "skipped"
    assert "offline and not in the local cache" in results.systems["marian"].reason
    assert set(results.scores) == {"copy", "good"} and list(results.metrics) == ["bleu", "ter"]
    md = RunLayout.of(folder).table_path("md").read_text(encoding="utf-8")
    assert "| marian | — | — |" in md and "skipped: marian:Helsinki-NLP/opus-mt-ar-en: offline" in md
    assert "skipped marian: marian:Helsinki-NLP/opus-mt-ar-en: offline" in out  # said on the console too
    code, _, err = run_cli(capsys, "run", files / "run.toml", "--strict", "-o", files / "strict")
    assert code == 2 and "offline and not in the local cache" in err
    assert not (files / "strict").exists()


def test_default_run_uses_seed_testset_and_default_systems(capsys, files: Path, monkeypatch) -> None:
    from mt_eval.translators.registry import DEFAULT_SYSTEMS

    seen: list[str] = []
    _unavailable_marian(monkeypatch, seen)
    code, out, err = run_cli(capsys, "run", "-m", "bleu", "--resamples", "50", "-o", files / "default")
    assert code == 0, err
    assert seen == [s if isinstance(s, str) else s.spec for s in DEFAULT_SYSTEMS]
    results = load_run(files / "default")
    assert results.testset.num_segments == 7
    assert (results.testset.source_lang, results.testset.target_lang) == ("ar", "en")
    assert results.significance.baseline is None  # copy stays in the table as the floor, not an anchor
    assert [s["spec"] for s in results.config["systems"]] == seen
    assert results.config["testset"] == "builtin:seeds"
    skipped = results.skipped_systems
    assert skipped and all("offline" in reason for reason in skipped.values())
    assert all(name in out for name in results.systems)


def test_run_bad_input_exits_2(capsys, files: Path) -> None:
    code, _, err = run_cli(capsys, "run", files / "missing.toml")
    assert code == 2 and "config file not found" in err
    code, _, err = run_cli(capsys, "run", "--testset", files / "ts", "--system", "copy", "-m", "nosuch",
                       "-o", files / "x")
    assert code == 2 and "unknown metric 'nosuch'" in err
    (files / "short.txt").write_text("one line\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "run", "--testset", files / "ts", "--system",
                           f"file:{files / 'short.txt'}", "-m", "bleu", "-o", files / "x")
    errors = [line for line in err.splitlines() if line.startswith("mt-eval: error:")]
    assert code == 2 and len(errors) == 1
    assert "1 lines" in errors[0] and f"has {len(SOURCES)} segments" in errors[0]
