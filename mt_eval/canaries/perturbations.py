"""Deterministic, seeded perturbations of a good translation: changes a metric should punish, and changes
it should ignore.

Each :class:`Perturbation` turns segment ``i`` of the good outputs into a perturbed output, or ``None``
when it does not apply there (no number to change, nothing to negate, a text the change leaves as it
is); "not applicable" segments are counted apart and never scored. A perturbation draws its randomness
from ``numpy.random.default_rng([seed, crc32(name), i])``, so a segment's perturbation is the same
whatever the sample, the other perturbations or the order they run in.

*Sensitivity* (the score should get worse; the four ``critical`` ones decide whether a metric may gate):
``empty``, ``omission`` (a clause, else a contiguous third of the words), ``addition`` (a third as many
words from another segment's output, inserted), ``number`` (one digit of one number changed, in its own
script, found with :mod:`mt_eval.numbers`), ``swap_word`` (a content word or name replaced by one from
elsewhere in the test set that this segment's output and references lack), ``negation`` (English
not/no/never/n't, Arabic لا/لم/لن/ليس/ما removed, else added: after an English auxiliary, before an
Arabic word with an imperfect-verb prefix — a heuristic, Arabic verbs are not tagged), ``copy`` (the
untranslated source), ``hallucination`` (another segment's output), ``repetition`` (the last three words
looped until the output is three times as long), ``truncation`` (the first half of the words),
``shuffle`` (the words in a random order).

*Invariance* (the score should stay): ``whitespace`` (doubled spaces, a leading and a trailing space),
``punct_spacing`` (a space before each sentence punctuation mark), ``unicode_nfd`` (NFD instead of the
usual NFC), ``quotes`` (straight quotes made curly, or curly straight); for Arabic targets
``ar_diacritics`` (harakat added to a third of the bare letters; removed from a vocalised output),
``ar_tatweel``, ``ar_alef`` (hamza/madda alef forms written bare, or bare initial alef with hamza),
``ar_yaa`` (final yaa and alef maqsura exchanged), ``ar_ta_marbuta`` (final ة as ه), ``ar_digits``
(Western and Arabic-Indic digits exchanged, with the Arabic decimal and thousands separators). Each
Arabic one names the sacrebleu-metric option that makes the metric blind to it (``fixed_by``).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mt_eval.numbers import extract_numbers

SENSITIVITY = "sensitivity"
INVARIANCE = "invariance"

_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~،؛؟«»“”‘’—–…"
_CLAUSE_END = (",", ";", ":", "،", "؛")
_SENTENCE_MARKS = ".,;:!?،؛؟"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_EN_STOP = _words("""the a an of to and in is was for on that with as by at from it be this which are has
have had were will would not no but or its their his her they he she we you our can could may might must
should been being than then there these those also into over about after before more most other some such
only said says when where while what who whom whose how all any each both very just than""")
_AR_STOP = _words("في من على إلى الى عن مع أن ان إن هذا هذه ذلك تلك التي الذي الذين و ثم أو او كان"
                 " كانت قد لا لم لن ما ليس كما بين عند حتى كل بعد قبل")
_EN_AUX = _words("is are was were will would can could should may might must has have had does do did")
_EN_CONTRACTIONS = {"can't": "can", "won't": "will", "cannot": "can", "shan't": "shall"}
_AR_NEGATIONS = _words("لا لم لن ليس ليست لست ما")
_AR_LETTERS = re.compile("[\u0621-\u064a]")
_AR_HARAKAT = "\u064e\u064f\u0650\u0652\u0651"  # fatha, damma, kasra, sukun, shadda
_AR_MARKS = re.compile("[\u064b-\u065f\u0670]")
_AR_NON_JOINING = set("اأإآٱدذرزوؤةىء")  # letters that never join the next one: no tatweel after them
_AR_ALEF_FORMS = "أإآٱ"
_TO_ARABIC_DIGITS = {ord(str(d)): chr(0x0660 + d) for d in range(10)}
_TO_WESTERN_DIGITS = {**{0x0660 + d: str(d) for d in range(10)}, **{0x06F0 + d: str(d) for d in range(10)},
                      0x066B: ".", 0x066C: ","}


@dataclass(frozen=True)
class Segments:
    """What a perturbation may read: the test set's sources and references and the good outputs."""

    sources: Sequence[str]
    references: Sequence[Sequence[str]]
    good: Sequence[str]
    target_lang: str

    @property
    def family(self) -> str:
        """``en``, ``ar`` or ``other``: the languages whose negation and orthography rules exist here."""
        code = self.target_lang.lower()
        return "en" if code.startswith("en") else "ar" if code.startswith("ar") else "other"


Perturb = Callable[[Segments, int, np.random.Generator], "str | None"]


@dataclass(frozen=True)
class Perturbation:
    """One kind of change: its name, whether the score should move (sensitivity) or stay (invariance)."""

    name: str
    kind: str
    description: str
    perturb: Perturb
    critical: bool = False
    languages: tuple[str, ...] = ()  # target-language families it applies to; () = every language
    fixed_by: str | None = None  # the sacrebleu-metric option that makes a metric ignore it

    def applies_to(self, segments: Segments) -> bool:
        return not self.languages or segments.family in self.languages

    def rng(self, seed: int, index: int) -> np.random.Generator:
        return np.random.default_rng([seed, zlib.crc32(self.name.encode()), index])

    def apply(self, segments: Segments, index: int, seed: int) -> str | None:
        """The perturbed output of segment ``index``; None where not applicable (or nothing changes)."""
        if not self.applies_to(segments) or not segments.good[index].strip():
            return None
        out = self.perturb(segments, index, self.rng(seed, index))
        return None if out is None or out == segments.good[index] else out


# ------------------------------------------------------------------------------------------ helpers
def _split(token: str) -> tuple[str, str, str]:
    """(leading punctuation, core, trailing punctuation) of a whitespace token."""
    core = token.strip(_PUNCT)
    if not core:
        return token, "", ""
    start = token.index(core)
    return token[:start], core, token[start + len(core):]


def _is_content(core: str, family: str) -> bool:
    if not core.isalpha():
        return False
    if family == "ar" or _AR_LETTERS.match(core):
        return len(core) >= 3 and core not in _AR_STOP
    return len(core) >= 4 and core.lower() not in _EN_STOP


def _other(segments: Segments, index: int, rng: np.random.Generator) -> int | None:
    """Another segment (drawn at random), with a non-empty output different from this one's."""
    good = segments.good
    for _ in range(100):
        j = int(rng.integers(len(good)))
        if j != index and good[j].strip() and good[j] != good[index]:
            return j
    return None


# ------------------------------------------------------------------------------------- sensitivity
def _empty(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    return ""


def _omission(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    words = segments.good[index].split()
    n = len(words)
    if n < 2:
        return None
    clauses, start = [], 0
    for i, word in enumerate(words):
        if word.endswith(_CLAUSE_END) or i == n - 1:
            clauses.append((start, i + 1))
            start = i + 1
    fitting = [(a, b) for a, b in clauses if n / 5 <= b - a <= n / 2] if len(clauses) > 1 else []
    if fitting:
        a, b = fitting[int(rng.integers(len(fitting)))]
    else:
        k = max(1, round(n / 3))
        a = int(rng.integers(0, n - k + 1))
        b = a + k
    return " ".join(words[:a] + words[b:])


def _addition(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    j = _other(segments, index, rng)
    if j is None:
        return None
    words, extra = segments.good[index].split(), segments.good[j].split()
    k = min(len(extra), max(2, round(len(words) / 3)))
    a = int(rng.integers(0, len(extra) - k + 1))
    at = int(rng.integers(0, len(words) + 1))
    return " ".join(words[:at] + extra[a:a + k] + words[at:])


def _number(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    text = segments.good[index]
    numbers = list({(n.start, n.text): n for n in extract_numbers(text)}.values())
    if not numbers:
        return None
    number = numbers[int(rng.integers(len(numbers)))]
    positions = [number.start + k for k, c in enumerate(number.text) if c.isdigit()]
    pos = positions[int(rng.integers(len(positions)))]
    old = unicodedata.decimal(text[pos])
    banned = {old} | ({0} if pos == positions[0] and len(positions) > 1 else set())
    new = [d for d in range(10) if d not in banned][int(rng.integers(10 - len(banned)))]
    return text[:pos] + chr(ord(text[pos]) - old + new) + text[pos + 1:]


def _swap_word(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    family = segments.family
    words = segments.good[index].split()
    here = {_split(w)[1].lower() for w in words}
    for ref in segments.references[index]:
        here.update(_split(w)[1].lower() for w in ref.split())
    spots = [i for i, w in enumerate(words) if _is_content(_split(w)[1], family)]
    if not spots:
        return None
    spot = spots[int(rng.integers(len(spots)))]
    lead, core, trail = _split(words[spot])
    name = spot > 0 and core[:1].isupper()
    pools: dict[bool, set[str]] = {True: set(), False: set()}  # capitalised (names) or not
    for _ in range(50):  # content words of up to 50 other segments, drawn with this segment's rng
        j = _other(segments, index, rng)
        if j is None:
            return None
        for w in segments.good[j].split():
            c = _split(w)[1]
            if _is_content(c, family) and c.lower() not in here:
                pools[c[:1].isupper()].add(c)
        if len(pools[name]) >= 20:
            break
    pool = pools[name] or pools[not name]  # a name for a name where the test set has one
    if not pool:
        return None
    candidates = sorted(pool)
    words[spot] = lead + candidates[int(rng.integers(len(candidates)))] + trail
    return " ".join(words)


def _negation_en(words: list[str]) -> list[str] | None:
    for i, word in enumerate(words):
        lead, core, trail = _split(word)
        low = core.lower()
        if low in ("not", "never", "no"):
            return words[:i] + words[i + 1:]
        if low in _EN_CONTRACTIONS:
            return [*words[:i], lead + _EN_CONTRACTIONS[low] + trail, *words[i + 1:]]
        if low.endswith(("n't", "n’t")):
            return [*words[:i], lead + core[:-3] + trail, *words[i + 1:]]
    for i, word in enumerate(words):
        if _split(word)[1].lower() in _EN_AUX and not _split(word)[2]:
            return [*words[:i + 1], "not", *words[i + 1:]]
    return None


def _negation_ar(words: list[str]) -> list[str] | None:
    for i, word in enumerate(words):
        if _split(word)[1] in _AR_NEGATIONS:
            return words[:i] + words[i + 1:]
    for i, word in enumerate(words):
        core = _split(word)[1]
        if len(core) >= 4 and core[0] in "يت" and not core.startswith("ال") and core not in _AR_STOP:
            return [*words[:i], "لا", *words[i:]]
    return None


def _negation(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    words = segments.good[index].split()
    out = _negation_en(words) if segments.family == "en" else _negation_ar(words)
    return None if out is None else " ".join(out)


def _copy(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    source = segments.sources[index]
    return source if source.strip() != segments.good[index].strip() else None


def _hallucination(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    j = _other(segments, index, rng)
    return None if j is None else segments.good[j]


def _repetition(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    words = segments.good[index].split()
    loop = words[-3:]
    times = -(-2 * len(words) // len(loop))
    return " ".join(words + loop * times)


def _truncation(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    words = segments.good[index].split()
    return " ".join(words[:len(words) // 2]) if len(words) >= 2 else None


def _shuffle(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    words = segments.good[index].split()
    if len(set(words)) < 2:
        return None
    for _ in range(20):
        order = rng.permutation(len(words))
        shuffled = [words[k] for k in order]
        if shuffled != words:
            return " ".join(shuffled)
    return None  # pragma: no cover - 20 identity draws of >= 2 distinct words


# -------------------------------------------------------------------------------------- invariance
def _whitespace(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    words = segments.good[index].split(" ")
    return " " + "  ".join(words) + " "


def _punct_spacing(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    return re.sub(rf"(?<=\w)([{re.escape(_SENTENCE_MARKS)}])(?=\s|$)", r" \1", segments.good[index])


def _unicode_nfd(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    return unicodedata.normalize("NFD", segments.good[index])


def _quotes(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    text = segments.good[index]
    if '"' in text or "'" in text:
        parts = text.split('"')
        text = "".join(part + ("“" if k % 2 == 0 else "”") for k, part in enumerate(parts[:-1])) + parts[-1]
        return text.replace("'", "’")
    return text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")


def _ar_diacritics(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    text = unicodedata.normalize("NFC", segments.good[index])
    letters = len(_AR_LETTERS.findall(text))
    if len(_AR_MARKS.findall(text)) > letters / 5:  # vocalised: the variant is the bare text
        return _AR_MARKS.sub("", text)
    out = []
    for k, ch in enumerate(text):
        out.append(ch)
        bare = k + 1 == len(text) or not _AR_MARKS.match(text[k + 1])
        if _AR_LETTERS.match(ch) and bare and rng.random() < 1 / 3:
            out.append(_AR_HARAKAT[int(rng.integers(len(_AR_HARAKAT)))])
    return "".join(out)


def _ar_tatweel(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    out = []
    for word in segments.good[index].split(" "):
        spots = [k for k in range(len(word) - 1) if _AR_LETTERS.match(word[k]) and word[k] not in
                 _AR_NON_JOINING and _AR_LETTERS.match(word[k + 1])]
        if spots and rng.random() < 0.5:
            k = spots[int(rng.integers(len(spots)))] + 1
            word = word[:k] + "\u0640" + word[k:]
        out.append(word)
    return " ".join(out)


def _ar_alef(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    text = segments.good[index]
    if any(c in text for c in _AR_ALEF_FORMS):
        return text.translate({ord(c): "ا" for c in _AR_ALEF_FORMS})
    return re.sub(r"(^|\s|ال)ا", lambda m: m.group(1) + "أ", text)


def _ar_yaa(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    return re.sub(r"[يى](?=[^\w\u064b-\u065f]|$)", lambda m: "ى" if m.group() == "ي" else "ي",
                  segments.good[index])


def _ar_ta_marbuta(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    return re.sub(r"ة(?=[^\w\u064b-\u065f]|$)", "ه", segments.good[index])


def _ar_digits(segments: Segments, index: int, rng: np.random.Generator) -> str | None:
    text = segments.good[index]
    if re.search("[0-9]", text):
        text = re.sub(r"(?<=[0-9])\.(?=[0-9])", "\u066b", text)
        text = re.sub(r"(?<=[0-9]),(?=[0-9]{3})", "\u066c", text)
        return text.translate(_TO_ARABIC_DIGITS)
    return text.translate(_TO_WESTERN_DIGITS)


# ---------------------------------------------------------------------------------------- the set
_p, S, INV = Perturbation, SENSITIVITY, INVARIANCE
PERTURBATIONS: tuple[Perturbation, ...] = (
    _p("empty", S, "empty output", _empty, critical=True),
    _p("omission", S, "a clause or a third of the words left out", _omission, critical=True),
    _p("copy", S, "the untranslated source", _copy, critical=True),
    _p("hallucination", S, "another segment's output", _hallucination, critical=True),
    _p("addition", S, "unrelated words from another segment inserted", _addition),
    _p("number", S, "one digit of a number changed", _number),
    _p("swap_word", S, "a content word or name replaced by one from elsewhere", _swap_word),
    _p("negation", S, "negation added or removed", _negation, languages=("en", "ar")),
    _p("repetition", S, "the last words repeated in a loop", _repetition),
    _p("truncation", S, "cut at half", _truncation),
    _p("shuffle", S, "words in a random order", _shuffle),
    _p("whitespace", INV, "doubled, leading and trailing spaces", _whitespace),
    _p("punct_spacing", INV, "a space before punctuation", _punct_spacing),
    _p("unicode_nfd", INV, "Unicode NFD instead of NFC", _unicode_nfd),
    _p("quotes", INV, "straight quotes made curly (or curly straight)", _quotes),
    _p("ar_diacritics", INV, "harakat added (or removed)", _ar_diacritics, languages=("ar",),
       fixed_by="ar_remove_diacritics"),
    _p("ar_tatweel", INV, "tatweel (ـ) inside words", _ar_tatweel, languages=("ar",),
       fixed_by="ar_remove_diacritics"),
    _p("ar_alef", INV, "hamza/madda alef forms written bare (or bare alef with hamza)", _ar_alef,
       languages=("ar",), fixed_by="ar_normalize_alef"),
    _p("ar_yaa", INV, "final yaa and alef maqsura exchanged", _ar_yaa, languages=("ar",),
       fixed_by="ar_normalize_yaa"),
    _p("ar_ta_marbuta", INV, "final ta marbuta written as ha", _ar_ta_marbuta, languages=("ar",),
       fixed_by="ar_normalize_ta_marbuta"),
    _p("ar_digits", INV, "Western and Arabic-Indic digits exchanged", _ar_digits, languages=("ar",),
       fixed_by="ar_normalize_digits"),
)
BY_NAME = {p.name: p for p in PERTURBATIONS}
CRITICAL = tuple(p.name for p in PERTURBATIONS if p.critical)


def select(names: Sequence[str] | None) -> list[Perturbation]:
    """The perturbations named (all when ``names`` is empty), in the canonical order."""
    from mt_eval.errors import MtEvalError

    if not names:
        return list(PERTURBATIONS)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise MtEvalError(f"unknown perturbation(s) {', '.join(unknown)} (known: {', '.join(BY_NAME)})")
    return [p for p in PERTURBATIONS if p.name in set(names)]
