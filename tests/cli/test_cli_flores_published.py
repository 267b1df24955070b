"""Real data: ``mt-eval score`` on FLORES-200 ar→en system outputs reproduces the published scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mt_eval.cli import main
from mt_eval.reports.layout import RunLayout
from mt_eval.reports.run_folder import load_run

FLORES = Path(__file__).resolve().parents[2] / ".." / "shared" / "external" / "flores-ara-eng"


@pytest.mark.skipif(not (FLORES / "published.json").is_file(),
                    reason=f"real FLORES data not present at {FLORES} (only on the project's machines)")
def test_score_reproduces_published_bleu_and_chrf(tmp_path, capsys) -> None:
    published = json.loads((FLORES / "published.json").read_text(encoding="utf-8"))["systems"]
    hyps = sorted((FLORES / "systems").glob("*.eng"))
    assert {p.stem for p in hyps} == set(published)
    args = ["score", "--testset", str(FLORES), "-m", "bleu", "-m", "chrf", "-m", "chrf++",
            "--resamples", "200", "-o", str(tmp_path / "run")]
    for path in hyps:
        args += ["--hyp", str(path)]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0, capsys.readouterr().err
    results = load_run(tmp_path / "run")
    assert results.testset.num_segments == 1012
    assert (results.testset.source_lang, results.testset.target_lang) == ("ar", "en")
    for name, expected in published.items():
        got = results.scores[name]
        assert round(got["bleu"].score, 1) == expected["bleu"], name
        assert round(got["chrf"].score / 100, 5) == expected["chrf"], name  # leaderboard: 0-1 scale
        if "chrf++" in expected:
            assert round(got["chrf++"].score / 100, 5) == expected["chrf++"], name
        # the signature fields the publisher printed (all but the sacrebleu version) agree
        signatures = (("bleu", expected["bleu_signature"]), ("chrf", expected.get("chrf_signature")))
        for key, signature in signatures:
            for field in (signature or "").split("|"):
                if field and not field.startswith("version:"):
                    assert field in got[key].signature.split("|"), (name, field)
        # hypothesis and reference lengths in the saved BLEU statistics match the published detail
        stats = np.load(RunLayout.of(tmp_path / "run").stats_path(name, "bleu"), allow_pickle=False)
        hyp_len, ref_len = (int(v) for v in stats[:, :2].sum(axis=0))
        assert f"hyp_len = {hyp_len} ref_len = {ref_len}" in expected["bleu_detail"], name

    # no --baseline: every pair is compared; tc-big (BLEU 42.8) stands alone in the top cluster
    sig = results.significance
    assert sig.baseline is None and sig.method == "paired-bs" and sig.correction == "holm"
    best = "opus-mt-tc-big-ar-en"
    for key in ("bleu", "chrf", "chrf++"):
        assert sig.clusters[key][0] == [best], (key, sig.clusters[key])
        assert sig.rank_bands[key][best] == [1, 1]
        for other in set(published) - {best}:  # consistent with the corrected pairwise p-values
            entry, _ = sig.pair(best, other, key)
            assert entry.p_adjusted is not None and entry.p_adjusted < sig.alpha, (key, other)
    report = RunLayout.of(tmp_path / "run").report_html.read_text(encoding="utf-8")
    assert "Rank clusters" in report and f"<b>#1</b> {best}" in report
