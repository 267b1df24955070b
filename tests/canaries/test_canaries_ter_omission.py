"""Why TER misses omission canaries on FLORES ar→en (README, "Metric canaries"): sentence TER counts edits
from the output to the reference, so dropping a clause whose words were all substituted turns each
substitution into an insertion and leaves TER unchanged, while chrF and BLEU see the lost content. The
canary counts such a tie as *not* caught: a metric that did not move did not catch the omission."""

from __future__ import annotations

import numpy as np

from mt_eval.canaries.perturbations import BY_NAME, Perturbation
from mt_eval.canaries.runner import CanarySettings, _Scored, judge_row
from mt_eval.evaluate import resolve_metrics

REF = "The landings and the battles that followed had freed the north, but the south still was not free."
GOOD = ("The landings and the battles that followed had freed the north, yet southern areas remained occupied"
        " until later.")
OMITTED = "The landings and the battles that followed had freed the north,"  # the paraphrased clause dropped


def test_dropping_a_paraphrased_clause_leaves_sentence_ter_unchanged() -> None:
    scores = {}
    for key, metric in resolve_metrics(["ter", "chrf", "bleu"]).items():
        stats = np.asarray(metric.segment_stats([GOOD, OMITTED], [[REF], [REF]]))
        scores[key] = metric.sentence_scores(stats).tolist()
    assert scores["ter"][0] == scores["ter"][1]  # 7 substitutions became 7 insertions
    assert scores["chrf"][1] < scores["chrf"][0] and scores["bleu"][1] < scores["bleu"][0]


def test_a_tie_is_not_a_caught_canary() -> None:
    metric = resolve_metrics(["ter"])["ter"]
    stats = np.asarray(metric.segment_stats([GOOD] * 10 + [OMITTED] * 10, [[REF]] * 20))
    scored = _Scored(metric, stats, metric.sentence_scores(stats).astype(float),
                     {"__good__": list(range(10)), "omission": list(range(10, 20))}, 0.0)
    omission: Perturbation = BY_NAME["omission"]

    row = judge_row(omission, scored, CanarySettings(resamples=20), tolerance=0.0)
    assert (row["worse"], row["unchanged"], row["better"], row["share_pct"]) == (0, 10, 0, 0.0)
    assert row["status"] == "fail"
