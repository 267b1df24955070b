"""Five small run folders for ``mt-eval history``: a nightly series with a change of test set.

Built in about a second from :func:`mt_eval.testing.corpora.synthetic_corpus` (no model), shared by
``tests/reports/test_history.py`` and ``scripts/check_history_page.py``. Two systems per run:
``candidate`` changes from night to night, ``reference`` never does. In time order:

1. ``e-night-1`` test set A, candidate = the middle system; its run is the gate's baseline;
2. ``d-night-2`` test set A, the same outputs (a step that cannot be significant);
3. ``c-night-3`` test set A, candidate = the best system (a significant improvement); no ``git``
   recorded, so it is placed by its creation time;
4. ``b-night-4`` test set B (another test set: a new line, gate "cannot compare");
5. ``a-night-5`` test set A, candidate = the worst system (a significant drop; gate "regression").

Names run backwards so that neither name order nor creation order gives the time order.
"""

from __future__ import annotations

from pathlib import Path

#: (run name, test set, candidate system of synthetic_corpus, commit date or None: placed by ``created``)
NIGHTS = (("e-night-1", "A", "B", "2026-11-01T02:00:00+00:00"),
          ("d-night-2", "A", "B", "2026-11-02T02:00:00+00:00"),
          ("c-night-3", "A", "C", None),
          ("b-night-4", "B", "C", "2026-11-04T02:00:00+00:00"),
          ("a-night-5", "A", "A", "2026-11-05T02:00:00+00:00"))
CREATED_NIGHT_3 = "2026-11-03T02:00:00+00:00"
SEGMENTS = 120
TESTSET_SEEDS = {"A": 20240601, "B": 20251111}


def _testset(root: Path, which: str) -> tuple[Path, dict[str, list[str]]]:
    from mt_eval.data.testset import TestSet
    from mt_eval.testing.corpora import synthetic_corpus

    corpus = synthetic_corpus(SEGMENTS, seed=TESTSET_SEEDS[which])
    folder = root / f"testset-{which}"
    # sources: the references' words reversed (a system output is never a copy of its source)
    TestSet.from_pairs([(" ".join(reversed(r.split())), [r]) for r in corpus["refs"]], source_lang="en",
                       target_lang="en", name=f"synthetic-{which}").save(folder)
    return folder, corpus


def _hyp(root: Path, name: str, lines: list[str]) -> Path:
    path = root / f"{name}.txt"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def five_runs(root: str | Path, resamples: int = 200) -> list[Path]:
    """Write the five run folders (and the gate baseline ``baseline.json``) under ``root/runs`` and
    return them in time order."""
    from mt_eval import pipeline
    from mt_eval.config import run_config
    from mt_eval.gate.baseline import save_baseline
    from mt_eval.gate.run import gate_after_run
    from mt_eval.reports.run_folder import RunFolder

    base = Path(root)
    inputs = base / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    testsets = {which: _testset(inputs, which) for which in TESTSET_SEEDS}
    config = run_config(None, {"metrics": ["bleu", "chrf"], "resamples": resamples})
    folders: list[Path] = []
    for name, which, system, date in NIGHTS:
        folder, corpus = testsets[which]
        hyps = [f"candidate={_hyp(inputs, f'{name}-candidate', corpus[system])}",
                f"reference={_hyp(inputs, f'{which}-reference', corpus['A'])}"]
        out = base / "runs" / name
        pipeline.score(pipeline.ScoreRequest(folder, hyps, out, config, name=name))
        run = RunFolder(out)
        results = run.results()
        changed = {"git": {"commit": f"{len(folders) + 1:02d}" * 20, "commit_date": date}} if date else {
            "git": {}, "created": CREATED_NIGHT_3}
        run.update(results=results.model_copy(update=changed))
        folders.append(out)
    baseline = base / "baseline.json"
    save_baseline(folders[0], baseline)
    for out in folders[1:]:
        gate_after_run(out, baseline)
    return folders
