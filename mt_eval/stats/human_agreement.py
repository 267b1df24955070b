"""How often humans would agree with a metric's ranking of two systems, given the score difference.

Kocmi, Zouhar, Federmann and Post, "Navigating the Metrics Maze: Reconciling Score Magnitudes and
Accuracies", ACL 2024 (https://aclanthology.org/2024.acl-long.110), fitted, per metric, the accuracy
with which a system-level delta agrees with human pairwise judgements (e.g. BLEU Δ 1.39, chrF Δ 1.00
and COMET-22 Δ 0.35 points each ≈ 70%). The fitted curves ship in their ``mt-thresholds`` package;
this module maps mt-eval metrics onto those curves and returns a percentage, or ``None`` where no
curve applies (TER, chrF++, the semantic metric, non-default BLEU/chrF settings, …): never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Settings under which the paper's curves were fitted: sacreBLEU's defaults.
_DEFAULT_BLEU = {"tokenize": "13a", "lowercase": False, "smooth_method": "exp", "max_ngram_order": 4,
                 "effective_order": False}
_DEFAULT_CHRF = {"char_order": 6, "word_order": 0, "beta": 2, "lowercase": False, "whitespace": False,
                 "eps_smoothing": False}


def _matches(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool:
    for key, expected in defaults.items():
        if key in options and options[key] is not None and options[key] != expected:
            return False
    if str(options.get("trg_lang", "")) in ("zh", "ja", "ko"):
        return False  # another default tokenizer
    return not any(k.startswith("ar_") and v for k, v in options.items())


def curve_for(spec: Mapping[str, Any]) -> tuple[str, float] | None:
    """``(mt-thresholds curve name, factor from mt-eval's units to the curve's)`` or ``None``."""
    name = str(spec.get("name", ""))
    options = dict(spec.get("options") or {})
    if name == "bleu" and _matches(options, _DEFAULT_BLEU):
        return "bleu", 1.0
    if name == "chrf" and _matches(options, _DEFAULT_CHRF):
        return "chrf", 1.0
    if name == "comet":
        model = str(options.get("model", "")).lower()
        if "wmt22-comet-da" in model:
            return "comet22", 100.0  # mt-eval reports COMET on 0-1; the curve takes points x 100
    return None


def human_agreement(spec: Mapping[str, Any], delta: float) -> float | None:
    """Estimated % of human judgements agreeing with the ranking implied by ``|delta|``; ``None`` = n/a."""
    found = curve_for(spec)
    if found is None:
        return None
    import mt_thresholds

    curve, factor = found
    try:
        return float(mt_thresholds.accuracy(abs(float(delta)) * factor, curve))
    except Exception:  # the package raises a bare Exception for a metric it lacks
        return None
