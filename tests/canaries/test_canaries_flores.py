"""Canaries on FLORES-200 devtest (read in place from ``../shared``; skipped on a plain clone, where the
synthetic tests check the same properties).

ar→en, the good translation an OPUS-MT system's outputs: BLEU, chrF and chrF++ get worse on ≥ 90% of
segments for every critical canary, TER for empty, copy and hallucination (TER's omission share is
lower — it can improve when an output loses words the reference lacks — and is reported in the README).
en→ar (FLORES swapped; the good translation is the Arabic reference itself, so only the invariance rows
say anything): each Arabic orthographic variation moves the plain metrics and none of their ``ar_*``
variants.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mt_eval.canaries.perturbations import CRITICAL
from mt_eval.canaries.runner import CanarySettings, plan_canaries, run_canaries
from mt_eval.data.readers import load_testset, read_hypotheses
from mt_eval.data.testset import TestSet
from mt_eval.evaluate import resolve_metrics

FLORES = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "flores-ara-eng"
pytestmark = pytest.mark.skipif(not (FLORES / "reference.eng").is_file(), reason="../shared FLORES absent")
LEXICAL = ["bleu", "chrf", "chrf++", "ter"]
ARABIC = ("ar_diacritics", "ar_tatweel", "ar_alef", "ar_yaa", "ar_ta_marbuta", "ar_digits")


def _rows(testset: TestSet, good: list[str], specs: list[str], canaries: tuple[str, ...]) -> dict:
    settings = CanarySettings(max_segments=200, resamples=200, perturbations=canaries)
    plan = plan_canaries(testset, good, settings)
    return {key: entry["rows"] for key, entry in run_canaries(plan, resolve_metrics(specs), settings).items()}


def test_flores_ar_en_lexical_metrics_catch_the_critical_canaries() -> None:
    testset = load_testset(FLORES)
    good = read_hypotheses(FLORES / "systems" / "opus-mt-ar-en.eng")
    rows = _rows(testset, good, LEXICAL, CRITICAL)
    for metric in ("bleu", "chrf", "chrf++"):
        for canary in CRITICAL:
            assert rows[metric][canary]["share_pct"] >= 90, (metric, canary, rows[metric][canary])
    for canary in ("empty", "copy", "hallucination"):
        assert rows["ter"][canary]["share_pct"] >= 90, canary
    assert rows["ter"]["omission"]["share_pct"] >= 60 and rows["ter"]["omission"]["mean_delta"] > 0


def test_flores_en_ar_orthography_hurts_plain_metrics_and_ar_options_fix_it() -> None:
    swapped = TestSet.from_pairs([(ref[0], [src]) for src, ref in zip(load_testset(FLORES).sources,
                                                                     load_testset(FLORES).references,
                                                                     strict=True)],
                                 source_lang="eng", target_lang="ara", name="flores-eng-ara")
    good = [r[0] for r in swapped.references]
    options = ",".join(f"{o}=true" for o in ("ar_remove_diacritics", "ar_normalize_alef", "ar_normalize_yaa",
                                             "ar_normalize_ta_marbuta", "ar_normalize_digits"))
    rows = _rows(swapped, good, [*LEXICAL, *(f"{m}:{options}" for m in LEXICAL)], ARABIC)
    for canary in ARABIC:
        for metric in LEXICAL:
            assert rows[metric][canary]["share_pct"] < 10, (metric, canary)
            assert rows[f"{metric}:{options}"][canary]["share_pct"] == 100, (metric, canary)
