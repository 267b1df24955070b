"""Numbers in text, normalised so that one quantity compares equal across scripts and conventions.

Used by the ``number_mismatch`` output check (:mod:`mt_eval.checks`); meant to be reused wherever a
number in a source must be found again in a translation.

**What counts as a number**: a run of decimal digits of any script (Western ``0-9``, Arabic-Indic
``٠-٩``, Extended Arabic-Indic ``۰-۹``, and any other Unicode ``Nd`` digit), with the separators inside it.
Common English and Arabic number words (:func:`word_numbers`: "nineteen", "twenty-first", "ألف",
"الخمسة وعشرين", "ثلاثة آلاف") are read only to pair with a number in digits on the other side; other
number words are the known limit.

**Separators**

* ``٫`` (U+066B) is always the decimal mark and ``٬`` (U+066C) always the thousands separator;
* a thin space, narrow no-break space, no-break space or apostrophe between digit groups is a thousands
  separator when exactly three digits follow (``1 000 000``); otherwise the two sides are two numbers;
  a plain space always separates two numbers (``3 500`` is 3 and 500);
* with both ``,`` and ``.`` in one number, the last one is the decimal mark (``1,234.5`` = ``1.234,5``);
* one kind repeated is grouping when every group after the first has three digits (``1,000,000``,
  ``1.000.000``); otherwise (``3.5.1``) the parts are separate numbers;
* a single ``,`` or ``.`` before exactly three digits, after one to three digits, is ambiguous: ``1,000``
  is 1000 (or 1.0), ``1.000`` is 1.0 (or 1000); the number carries both readings and either matches;
* any other single ``,`` or ``.`` is a decimal mark (``3,5`` = ``3.5``).

**Values**: compared as exact decimals, so ``007`` = ``7``, ``1.50`` = ``1.5``, ``٣٫٥`` = ``3.5``,
``١٬٠٠٠`` = ``1000``. Signs are not read (``-`` is as often a dash or a range: ``1990-1995``).

**Kinds**: a number followed by ``%``, ``٪`` or ``‰`` is a *percent*, one followed by an English ordinal
suffix (``1st``, ``22nd``, ``3rd``, ``4th``) an *ordinal*, one followed by ``s`` a *decade* (``1990s`` is
1990); the kind is not compared (``50%`` = ``50 per cent`` = ``٥٠ بالمئة``, ``the 21st`` = ``الـ21``) but
decides which numbers are *firm* (:func:`is_firm`). Years are numbers like any other; times and dates
are their parts (``12:30`` is 12 and 30, so ``12:00`` ≠ ``1200``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

AR_DECIMAL = "\u066b"  # ٫ ARABIC DECIMAL SEPARATOR
AR_THOUSANDS = "\u066c"  # ٬ ARABIC THOUSANDS SEPARATOR
_SPACES = "\u2009\u202f\u00a0'\u2019"  # thin, narrow no-break, no-break space; apostrophes (1'000)
_NUMBER = re.compile(rf"\d+(?:[,.\u060c{AR_DECIMAL}{AR_THOUSANDS}{_SPACES}]\d+)*")
_SUFFIX = re.compile(r"(\s?[%\u066a\u2030])|(st|nd|rd|th)\b|('?s)\b", re.IGNORECASE)
_KINDS = ("percent", "ordinal", "decade")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Number:
    """One number in a text: as written, where, and its value(s) (two when a separator is ambiguous)."""

    text: str
    start: int
    values: tuple[Decimal, ...]
    kind: str = "number"  # "number", "percent", "ordinal" or "decade"

    @property
    def value(self) -> Decimal:
        return self.values[0]


def ascii_digits(text: str) -> str:
    """``text`` with every Unicode decimal digit replaced by its ASCII digit (``٣٫٥`` → ``3٫5``)."""
    if text.isascii():
        return text
    return re.sub(r"\d", lambda m: str(unicodedata.decimal(m.group())), text)


def _grouped(groups: Sequence[str]) -> bool:
    """Digit groups that read as thousands: one to three digits, then groups of exactly three."""
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def _readings(groups: list[str], seps: list[str]) -> list[tuple[Decimal, ...]]:
    """The numbers one run of digits and separators stands for, each with its value reading(s)."""
    if not seps:
        return [(Decimal(groups[0]),)]
    for i, sep in enumerate(seps):  # a space-like separator groups only before exactly three digits
        if sep in _SPACES and len(groups[i + 1]) != 3:
            return _readings(groups[:i + 1], seps[:i]) + _readings(groups[i + 1:], seps[i + 1:])
    apart: list[tuple[Decimal, ...]] = [(Decimal(g),) for g in groups]
    marks = [s for s in seps if s in (",", ".", AR_DECIMAL)]
    if not marks:  # only ٬ and spaces: grouping
        return [(Decimal("".join(groups)),)]
    if AR_DECIMAL in marks:
        point = AR_DECIMAL
    elif len(set(marks)) == 2:  # "1,234.5" / "1.234,5": the last one is the decimal mark
        point = marks[-1]
    elif len(marks) > 1:  # one of , . repeated: grouping when the groups say so, else a list ("3.5.1")
        return [(Decimal("".join(groups)),)] if _grouped(groups) else apart
    else:
        point = marks[0]
    if seps.count(point) != 1:
        return apart
    i = seps.index(point)
    pointed = Decimal(f"{''.join(groups[:i + 1])}.{''.join(groups[i + 1:])}")
    if len(seps) == 1 and point != AR_DECIMAL and _grouped(groups):  # "1,000" / "1.000": both readings
        joined = Decimal("".join(groups))
        return [(joined, pointed) if point == "," else (pointed, joined)]
    return [(pointed,)]


def extract_numbers(text: str) -> list[Number]:
    """The numbers written in digits in ``text``, in order (see the module docstring for the rules)."""
    plain = ascii_digits(text)
    found: list[Number] = []
    for match in _NUMBER.finditer(plain):
        raw = match.group()
        groups = re.split(rf"[,.\u060c{AR_DECIMAL}{AR_THOUSANDS}{_SPACES}]", raw)
        seps = ["," if c == "\u060c" else c for c in raw if not c.isdigit()]
        suffix = _SUFFIX.match(plain, match.end())
        kind = "number" if suffix is None or suffix.lastindex is None else _KINDS[suffix.lastindex - 1]
        for values in _readings(groups, seps):
            found.append(Number(text=text[match.start():match.end()], start=match.start(), values=values,
                                kind=kind))
    return found


def number_values(text: str) -> list[Decimal]:
    """The value of each number in ``text`` (first reading), e.g. ``"٣٫٥ و١٬٠٠٠"`` → ``[3.5, 1000]``."""
    return [n.value for n in extract_numbers(text)]


def match_numbers(left: Sequence[Number], right: Sequence[Number]) -> tuple[list[Number], list[Number]]:
    """Pair equal numbers of two texts as multisets; return the unpaired ones of each side.

    A number pairs with one of equal value (any reading of either); first readings pair first, so an
    ambiguous ``1,000`` takes a ``1000`` before a ``1``.
    """
    left_free, right_free = list(left), list(right)
    for first_only in (True, False):
        for number in list(left_free):
            wanted = set(number.values[:1] if first_only else number.values)
            for other in right_free:
                if wanted & set(other.values[:1] if first_only else other.values):
                    left_free.remove(number)
                    right_free.remove(other)
                    break
    return left_free, right_free


# Number words, English and Arabic (bare letters: no marks, أ إ آ ٱ → ا, ى → ي): only used to excuse a
# number written in digits on the other side ("nineteen" = ١٩, "ألف" = 1,000), never to flag one.
_EN_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
             "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_EN_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
                "eleventh", "twelfth")
_AR_UNITS = {"واحد": 1, "واحده": 1, "احد": 1, "احدي": 1, "حادي": 1, "اثنان": 2, "اثنين": 2, "اثنتان": 2,
             "اثنتين": 2, "اول": 1, "اولي": 1, "ثاني": 2}
_AR_STEMS = ("ثلاث", "اربع", "خمس", "ست", "سبع", "ثماني", "تسع")  # 3-9 (+ ة feminine, + ون/ين tens)
_AR_ORDINALS = ("ثالث", "رابع", "خامس", "سادس", "سابع", "ثامن", "تاسع", "عاشر")  # 3rd-10th
_AR_BIG = {"عشر": 10, "عشره": 10, "عشرون": 20, "عشرين": 20, "ثمان": 8, "ثمانون": 80, "ثمانين": 80,
           "مائه": 100, "مئه": 100, "مائتان": 200, "مائتين": 200, "مئتان": 200, "مئتين": 200, "الف": 1000,
           "الاف": 1000, "الفان": 2000, "الفين": 2000, "مليون": 10**6, "ملايين": 10**6, "مليار": 10**9,
           "مليارات": 10**9}
_WORDS: dict[str, int] = {
    **{w: i for i, w in enumerate(_EN_UNITS)}, **{w: 10 * i for i, w in enumerate(_EN_TENS, 2)},
    **{w: i for i, w in enumerate(_EN_ORDINALS, 1)}, "hundred": 100, "thousand": 1000, "million": 10**6,
    "billion": 10**9, **_AR_UNITS, **_AR_BIG,
    **{w + end: v for v, w in enumerate(_AR_STEMS, 3) for end in ("", "ه")},
    **{w + end: 10 * v for v, w in enumerate(_AR_STEMS, 3) for end in ("ون", "ين")},
    **{w + end: 100 * v for v, w in enumerate(_AR_STEMS, 3) for end in ("مائه", "مئه")},
    **{w + end: v for v, w in enumerate(_AR_ORDINALS, 3) for end in ("", "ه")}}
_PUNCT = ".,;:!?()[]«»\"'،؛؟"
_CLITICS = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل", "ف")
_BARE = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "\u0640": None})


@lru_cache(maxsize=1 << 16)
def _word_value(token: str) -> int | None:
    word = "".join(c for c in token.casefold() if unicodedata.category(c) != "Mn").translate(_BARE)
    word = word.strip(_PUNCT)
    for clitic in ("", *_CLITICS):
        if word.startswith(clitic) and word[len(clitic):] in _WORDS:
            return _WORDS[word[len(clitic):]]
    return None


def word_numbers(text: str) -> list[Number]:
    """Numbers written as English or Arabic words ("twenty-five", "خمسة وعشرين", "ثلاثة آلاف").

    Consecutive number words make one number (tens and units add, ``hundred``/``مائة`` multiplies,
    ``thousand``/``ألف`` and larger close a group); each word alone is a further reading.
    """
    found: list[Number] = []
    run: list[int] = []
    for token in [*text.replace("-", " ").split(), ""]:
        value = _word_value(token)
        if value is not None:
            run.append(value)
        if run and ((value is None and token.casefold() not in ("and", "و")) or token[-1:] in _PUNCT):
            found.append(Number(text="", start=-1, values=tuple(map(Decimal, dict.fromkeys(
                [_combine(run), *run]))), kind="words"))
            run = []
    return found


def _combine(values: Sequence[int]) -> int:
    """One number from consecutive number words: units and tens add, 100 multiplies, 1000+ closes a group."""
    total = current = 0
    for v in values:
        if v == 100:
            current = max(current, 1) * 100
        elif v >= 1000:
            total, current = total + max(current, 1) * v, 0
        else:
            current += v
    return total + current


def is_firm(number: Number) -> bool:
    """A number a translation should keep in digits: not an ordinal or decade, and not an integer below 10.

    Ordinals ("the 21st"), decades ("the 1960s") and small counts are often written out as words in the
    other language ("الحادي والعشرين", "الستينيات", "ثلاثة"), which this module cannot read.
    """
    return number.kind not in ("ordinal", "decade") and not (
        number.value == number.value.to_integral_value() and number.value < 10)


def numbers_disagree(source: str, output: str) -> bool:
    """The ``number_mismatch`` rule: the numbers of ``source`` and ``output`` disagree.

    Numbers in digits pair as multisets (:func:`match_numbers`); one left unpaired may still pair with a
    number the other side writes in English or Arabic words (:func:`word_numbers`). The numbers
    disagree when both sides keep an unpaired number (one was changed), or when either side keeps an
    unpaired :func:`is_firm` number (one was dropped or added).
    """
    if not (_DIGIT.search(source) or _DIGIT.search(output)):
        return False
    left, right = match_numbers(extract_numbers(source), extract_numbers(output))
    if left:
        left = match_numbers(left, word_numbers(output))[0]
    if right:
        right = match_numbers(right, word_numbers(source))[0]
    return bool(left and right) or any(map(is_firm, left + right))
