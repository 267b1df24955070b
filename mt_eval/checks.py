"""Per-segment output checks: the failure modes a corpus score hides.

Flags (stable names used in ``segments.jsonl``, tables and the gate):

* ``empty`` — the output is empty or whitespace only;
* ``copy_of_source`` — the output is the source, up to case and whitespace (untranslated);
* ``wrong_language`` — the output is not in the target language (``mt_eval.data.langid.is_language``);
* ``length_ratio`` — the output is too short or too long for its source (the rule below);
* ``repetition`` — a word n-gram repeats back to back (a decoding loop: "the the the the",
  "I am here. I am here. I am here.");
* ``number_mismatch`` — the numbers in the source and the output disagree
  (:func:`mt_eval.numbers.numbers_disagree`: digits of any script and the ``٫ ٬ , .`` and thin-space
  separators normalised; a number in digits on one side may pair with English or Arabic number words on
  the other; other number words are not read).

**Length.** A text's length counts neither whitespace nor combining marks (Unicode ``Mn``: Arabic
harakat, shadda, sukun, Quranic annotation marks), format characters (``Cf``: ZWJ, ZWNJ, bidi
controls) or tatweel (U+0640), so a fully vocalised or elongated Arabic text is as long as its bare
letters (``ignore_marks=false`` counts every non-whitespace code point, as before). A *word* is a
whitespace-separated token with at least one letter or digit. ``length_unit`` is ``chars``, ``words``
or ``chars+words`` (default: the geometric mean of the character ratio and the word ratio, less noisy
than either). The basis is the source (``length_against="source"``, default) or the mean of the
references. Language identification reads the text without marks too: fastText takes 8% of fully
vocalised Quran verses for Mazanderani or Pashto, and their bare letters for Arabic (or Egyptian
Arabic, which ``langid`` counts as Arabic).

**Band relative to the test set.** With ``length_scale="testset"`` (default) the ratio output/source is
divided by the test set's *median* reference/source ratio over the judged segments (what this test set
says is normal for its language pair: ≈1.16 for Arabic→English FLORES characters, ≈0.86 English→Arabic,
≈2.1 vocalised Quran→English); with the references as basis the median is 1 by construction. Without
references the scale is 1 (the band is absolute). The normalised ratio must lie in
``[min_length_ratio, max_length_ratio]``; segments whose basis has fewer than ``min_length`` units
(characters, or words for ``words``) are not judged.

**Spread** (``length_band="spread"``, default). Length ratios of correct translations scatter less
the longer the segment (Gale & Church 1993 model the variance of a length difference as proportional
to the length): on FLORES and the Quran the standard deviation of log(reference/source ratio) falls
from 0.16–0.23 for the shortest sixth of segments to 0.10–0.12 for the longest. One fixed lower bound
is too loose for long segments (half of a long verse passes 0.6) and too strict for short ones. So the
calibration also fits, on the judged segments with a reference, the variance of the log normalised
ratio as ``a + b / L`` (``L`` the basis length in ``min_length``'s units; :func:`fit_spread`), and the
lower bound of a segment becomes ``exp(-spread_sigmas · sqrt(a + b / L))`` (3 standard deviations),
never above ``spread_max_min_ratio`` (0.7, so a test set whose references all have one ratio does not
flag every slightly short output). The upper bound stays ``max_length_ratio``. With fewer than
``spread_min_segments`` (300) judged segments, without references, with the references as basis or with
``length_scale="none"``, or with ``length_band="fixed"``, the bound is ``min_length_ratio``.

**Unfinished outputs.** An output cut in the middle of a sentence is short *and* ends where a sentence
does not. Each text's ending is classed as ``term`` (. ! ? … ؟ ۔), ``pause`` (, ، ; ؛ : dashes), ``open``
(a letter, digit or mark) or ``other`` (closing quotes and brackets are looked through). From the test
set the check learns, for each class of source ending, how the references end. An output whose ending
class is rare there (at most ``unfinished_max_share`` of the references, among at least
``unfinished_min_support`` segments with that source ending) must reach ``unfinished_min_length_ratio``
where its lower bound is lower. FLORES references end like their sources, so a half-cut English or
Arabic output is caught; unpunctuated targets (Quranic Arabic) give no such evidence and rely on the band.

The test-set statistics (:class:`LengthCalibration`) come from the sources and references given to
:func:`check_outputs`, or are passed in (a shard of a test set must use the whole test set's).
``scripts/measure_checks.py`` measures false alarms and recall of every flag (README, "Output checks").

:func:`check_outputs` computes the flags of a whole system at once (language ID, lengths and repetition
loops vectorised, fastText in one batch); :func:`check_segment` is the same rule for one segment.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, count, pairwise
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from mt_eval.data.langid import is_language_many
from mt_eval.errors import MtEvalError, first_validation_problem
from mt_eval.forked import fork_available, fork_map
from mt_eval.numbers import numbers_disagree

FLAGS = ("empty", "copy_of_source", "wrong_language", "length_ratio", "repetition", "number_mismatch")


class CheckConfig(BaseModel):
    """Which checks run and their thresholds (recorded in ``results.json``; see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: tuple[str, ...] = FLAGS
    length_unit: Literal["chars", "words", "chars+words"] = "chars+words"
    length_against: Literal["source", "reference"] = "source"
    ignore_marks: bool = True  # no Mn, Cf or tatweel in lengths and language identification
    length_scale: Literal["testset", "none"] = "testset"  # divide by the test set's median ref/basis ratio
    min_length_ratio: float = 0.6
    max_length_ratio: float = 2.5
    # "spread": the lower bound depends on the basis length, from the test set's spread of ratios
    length_band: Literal["spread", "fixed"] = "spread"
    spread_sigmas: float = 3.0  # the lower bound is this many standard deviations below the median
    spread_max_min_ratio: float = 0.7  # the spread-based lower bound never asks for more than this
    spread_min_segments: int = 300  # fewer judged segments with a reference: the fixed band
    # an output ending where the test set's references rarely end must reach this ratio instead
    unfinished_min_length_ratio: float = 0.7
    unfinished_max_share: float = 0.1
    unfinished_min_support: int = 10
    # below this many units in the basis the ratio is too noisy to judge
    min_length: int = 10
    repeat_max_n: int = 8
    repeat_min_count: int = 3  # consecutive copies of an n-gram with n >= 2
    repeat_unigram_min_count: int = 4  # consecutive copies of one word ("very very very" is legal)
    language_min_share: float = 0.5

    @model_validator(mode="after")
    def _check(self) -> CheckConfig:
        unknown = [f for f in self.enabled if f not in FLAGS]
        if unknown:
            raise ValueError(f"unknown check(s) {unknown}; known: {', '.join(FLAGS)}")
        if not 0 <= self.min_length_ratio < self.max_length_ratio:
            raise ValueError("need 0 <= min_length_ratio < max_length_ratio")
        if not 0 <= self.unfinished_min_length_ratio < self.max_length_ratio:
            raise ValueError("need 0 <= unfinished_min_length_ratio < max_length_ratio")
        if self.spread_sigmas <= 0 or not 0 < self.spread_max_min_ratio < self.max_length_ratio:
            raise ValueError("need spread_sigmas > 0 and 0 < spread_max_min_ratio < max_length_ratio")
        if self.spread_min_segments < 300:
            raise ValueError("spread_min_segments must be >= 300 (three bins of 100 segments)")
        if not 0 <= self.unfinished_max_share <= 1:
            raise ValueError("need 0 <= unfinished_max_share <= 1")
        if self.repeat_min_count < 2 or self.repeat_unigram_min_count < 2 or self.repeat_max_n < 1:
            raise ValueError("repeat counts must be >= 2 and repeat_max_n >= 1")
        return self


@dataclass(frozen=True)
class LengthCalibration:
    """What a test set says is normal: its median reference/basis length ratio and how references end.

    ``endings[source_class][output_class]`` is the share of references ending in ``output_class`` among
    judged segments whose source ends in ``source_class`` (classes with too little support are absent).
    """

    scale: float = 1.0
    endings: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # (a, b): the variance of log(reference/basis ratio) at basis length L is a + b / L; None: fixed band
    spread: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "endings": {k: dict(v) for k, v in self.endings.items()},
                "spread": None if self.spread is None else list(self.spread)}

    def lower_bounds(self, basis_units: np.ndarray, cfg: CheckConfig) -> np.ndarray:
        """The band's lower bound for each segment, from its basis length (see "Spread" above)."""
        if self.spread is None or cfg.length_band != "spread":
            return np.full(len(basis_units), cfg.min_length_ratio)
        a, b = self.spread
        sigma = np.sqrt(a + b / np.maximum(basis_units, 1.0))
        return np.minimum(cfg.spread_max_min_ratio, np.exp(-cfg.spread_sigmas * sigma))


@dataclass(frozen=True)
class CheckResult:
    """``flags[i]`` lists the flags of segment ``i``; ``counts`` has every enabled flag (0 included)."""

    flags: list[list[str]]
    counts: dict[str, int] = field(default_factory=dict)
    calibration: LengthCalibration = field(default_factory=LengthCalibration)

    @property
    def flagged(self) -> int:
        return sum(1 for f in self.flags if f)

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "flagged_segments": self.flagged,
                "calibration": self.calibration.to_dict()}


def make_config(config: CheckConfig | dict[str, Any] | None) -> CheckConfig:
    if config is None:
        return CheckConfig()
    if isinstance(config, CheckConfig):
        return config
    try:
        return CheckConfig(**config)
    except ValidationError as exc:
        loc, msg = first_validation_problem(exc, root="checks")
        raise MtEvalError(f"checks config: {loc}: {msg}") from None


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


# ---------------------------------------------------------------------------------------- lengths
_COUNTED, _SPACE, _ALNUM = 1, 2, 4  # bits of _CLASS: counted in a length, whitespace, letter or digit
_UNSEEN = -1
_CLASS = np.full(0x110000, _UNSEEN, dtype=np.int8)  # per code point, filled the first time it is seen
_BLOCK = 10_000  # texts measured at once (a 100k-segment test set took 600 MB in one pass)


def _classes(codes: np.ndarray) -> np.ndarray:
    classes = _CLASS[codes]
    unseen = classes == _UNSEEN
    if unseen.any():
        for code in np.unique(codes[unseen]).tolist():
            char = chr(code)
            space = char.isspace()
            counted = not space and unicodedata.category(char) not in ("Mn", "Cf") and char != "\u0640"
            _CLASS[code] = counted * _COUNTED | space * _SPACE | (char.isalnum() and counted) * _ALNUM
        classes = _CLASS[codes]
    return classes


def text_lengths(texts: Sequence[str], ignore_marks: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Characters and words of each text, in one numpy pass (see "Length" in the module docstring).

    ``ignore_marks``: characters are those that are not whitespace, ``Mn``, ``Cf`` or tatweel, and a word
    is a whitespace-separated token holding a letter or digit; else every non-whitespace code point and
    every token count.
    """
    if not texts:
        return np.zeros(0), np.zeros(0)
    if len(texts) > _BLOCK:  # its arrays take ~40 bytes per code point: a long test set goes in blocks
        parts = [text_lengths(texts[i:i + _BLOCK], ignore_marks) for i in range(0, len(texts), _BLOCK)]
        return np.concatenate([c for c, _ in parts]), np.concatenate([w for _, w in parts])
    texts = [t + " " for t in texts]  # a trailing space ends every text's last token
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = _classes(codes)
    text_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    space = (classes & _SPACE) > 0
    if not ignore_marks:
        counted, wordy = ~space, ~space
    else:
        counted, wordy = (classes & _COUNTED) > 0, (classes & _ALNUM) > 0
    chars = np.bincount(text_of[counted], minlength=len(texts))
    token = np.cumsum(np.concatenate(([True], space[:-1])) & ~space)  # token number of each code point
    in_word = np.flatnonzero(wordy & ~space)
    first = np.concatenate(([True], token[in_word[1:]] != token[in_word[:-1]]))  # tokens never interleave
    words = np.bincount(text_of[in_word[first]], minlength=len(texts))
    return chars.astype(float), words.astype(float)


_MARKS: dict[int, None] = {}  # the Mn, Cf and tatweel code points seen so far (str.translate deletes)


def without_marks(texts: Sequence[str]) -> list[str]:
    """The texts without combining marks, format characters and tatweel (what a length counts)."""
    codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = _classes(codes)
    _MARKS.update(dict.fromkeys(np.unique(codes[(classes & (_COUNTED | _SPACE)) == 0]).tolist()))
    return [t if t.isascii() else t.translate(_MARKS) for t in texts]


def _ratios(out: tuple[np.ndarray, np.ndarray], basis: tuple[np.ndarray, np.ndarray],
            unit: str) -> np.ndarray:
    """Output/basis length ratio per segment in ``unit`` (0 where the basis is empty)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        chars = np.where(basis[0] > 0, out[0] / basis[0], 0.0)
        words = np.where(basis[1] > 0, out[1] / basis[1], chars)
    return chars if unit == "chars" else words if unit == "words" else np.sqrt(chars * words)


_TERM, _PAUSE = set(".!?…؟۔‼⁇。"), set(",،;؛:-–—")


def ending(text: str) -> str:
    """How a text ends: ``term``, ``pause``, ``open`` (letter, digit, mark), ``other`` or ``none``."""
    text = text.rstrip()
    while text and (unicodedata.category(text[-1]) in ("Pe", "Pf") or text[-1] in "\"'"):
        text = text[:-1].rstrip()  # look through closing quotes and brackets
    if not text:
        return "none"
    last = text[-1]
    if last in _TERM or last in _PAUSE:
        return "term" if last in _TERM else "pause"
    return "open" if unicodedata.category(last)[0] in "LNM" else "other"


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
                  config: CheckConfig | None = None,
                  calibration: LengthCalibration | None = None) -> list[str]:
    """The flags of one segment, in :data:`FLAGS` order.

    One segment says nothing about its test set: pass the test set's ``calibration``
    (:func:`calibrate`), else the length band is absolute and the unfinished-ending rule is off.
    """
    return _check_all([source], [output], target_lang, [list(references)],
                      config or CheckConfig(), calibration or LengthCalibration()).flags[0]


def repetition_loops(texts: Sequence[str], *, max_n: int = 8, min_count: int = 3,
                     unigram_min_count: int = 4) -> np.ndarray:
    """:func:`has_repetition_loop` of every text, computed with numpy over the whole list.

    Words become integer ids (exact string identity); for each ``n`` a position matches when its word
    equals the word ``n`` before it in the same text, and a text loops when a run of consecutive
    matches reaches ``n * (need - 1)``. A text stops being checked at the first ``n`` it is too short
    for, as in the per-text loop.
    """
    words = [t.casefold().split() for t in texts]
    vocab: defaultdict[str, int] = defaultdict(count().__next__)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    flat = list(chain.from_iterable(words))
    ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat))
    text_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    position = np.arange(len(ids), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    found = np.zeros(len(texts), dtype=bool)
    eligible = np.ones(len(texts), dtype=bool)
    for n in range(1, max_n + 1):
        need = unigram_min_count if n == 1 else min_count
        eligible &= lengths >= n * need
        if not eligible.any():
            break
        match = np.zeros(len(ids) + 1, dtype=np.int8)  # one trailing 0 closes the last run
        if len(ids) > n:
            match[n:len(ids)] = (ids[n:] == ids[:-n]) & (position[n:] >= n)
        edges = np.diff(np.concatenate(([0], match)))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        long_runs = starts[(ends - starts) >= n * (need - 1)]
        hit = np.zeros(len(texts), dtype=bool)
        hit[text_of[long_runs]] = True
        found |= hit & eligible
    return found


# Below this many segments forking workers for the checks costs more than it saves.
PARALLEL_MIN_SEGMENTS = 4000


def _basis(sources: Sequence[str], references: Sequence[Sequence[str]],
           cfg: CheckConfig) -> tuple[np.ndarray, np.ndarray]:
    """Characters and words of each segment's basis: its source, or the mean over its references."""
    if cfg.length_against == "source":
        return text_lengths(sources, cfg.ignore_marks)
    flat = [r for refs in references for r in refs]
    n = np.fromiter(map(len, references), dtype=np.int64, count=len(references))
    chars, words = text_lengths(flat, cfg.ignore_marks)
    at = np.repeat(np.arange(len(references)), n)
    with np.errstate(invalid="ignore"):
        return (np.nan_to_num(np.bincount(at, chars, len(references)) / n),
                np.nan_to_num(np.bincount(at, words, len(references)) / n))


def _units(basis: tuple[np.ndarray, np.ndarray], cfg: CheckConfig) -> np.ndarray:
    """A basis length in the units ``min_length`` counts: words for ``words``, else characters."""
    return basis[1] if cfg.length_unit == "words" else basis[0]


def _judged(basis: tuple[np.ndarray, np.ndarray], cfg: CheckConfig) -> np.ndarray:
    """Segments whose basis is long enough to judge a length ratio."""
    return _units(basis, cfg) >= cfg.min_length


def fit_spread(log_ratios: np.ndarray, units: np.ndarray) -> tuple[float, float]:
    """``(a, b)``: the variance of ``log_ratios`` at basis length ``L`` modelled as ``a + b / L``.

    The segments are cut into up to 10 bins of equal count by basis length (at least 100 segments
    each); each bin's variance is robust (1.4826 × its median absolute deviation, squared), and a line
    in ``1 / L`` is fitted through the bins by least squares, with ``a, b >= 0``.
    """
    order = np.argsort(units, kind="stable")
    parts = np.array_split(order, int(min(10, len(order) // 100)))
    var = np.array([(1.4826 * np.median(np.abs(log_ratios[p] - np.median(log_ratios[p])))) ** 2
                    for p in parts])
    inv = np.array([np.mean(1.0 / np.maximum(units[p], 1.0)) for p in parts])
    b, a = np.polyfit(inv, var, 1)
    if b < 0:  # no length dependence in this test set: a constant spread
        a, b = float(np.mean(var)), 0.0
    if a < 0:  # a spread that vanishes with length
        a, b = 0.0, float(np.sum(var * inv) / np.sum(inv * inv))
    return float(a), float(b)


def calibrate(sources: Sequence[str], references: Sequence[Sequence[str]] | None,
              config: CheckConfig | dict[str, Any] | None = None) -> LengthCalibration:
    """The test set's :class:`LengthCalibration`: median reference/basis length ratio, reference endings.

    Computed over the segments with a reference whose basis is long enough to judge. Without
    references (or with ``length_scale="none"``) the scale is 1 and no ending is learnt.
    """
    cfg = make_config(config)
    if references is None or not any(references):
        return LengthCalibration()
    basis = _basis(sources, references, cfg)
    has_ref = np.array([bool(refs) and bool(refs[0].strip()) for refs in references], dtype=bool)
    judged = np.flatnonzero(_judged(basis, cfg) & has_ref)
    scale, spread = 1.0, None
    if cfg.length_scale == "testset" and cfg.length_against == "source" and len(judged):
        ref = text_lengths([references[i][0] for i in judged.tolist()], cfg.ignore_marks)
        ratios = _ratios(ref, (basis[0][judged], basis[1][judged]), cfg.length_unit)
        scale = float(np.median(ratios)) if np.median(ratios) > 0 else 1.0
        if cfg.length_band == "spread" and len(judged) >= cfg.spread_min_segments:
            spread = fit_spread(np.log(np.maximum(ratios, 1e-9) / scale), _units(basis, cfg)[judged])
    pairs = Counter((ending(sources[i]), ending(r)) for i in judged.tolist() for r in references[i])
    support = Counter[str]()
    for (src_end, _), n in pairs.items():
        support[src_end] += n
    endings = {src_end: {ref_end: n / support[src_end] for (s, ref_end), n in pairs.items() if s == src_end}
               for src_end in support if support[src_end] >= cfg.unfinished_min_support}
    return LengthCalibration(scale=scale, endings=endings, spread=spread)


def check_outputs(sources: Sequence[str], outputs: Sequence[str], *, target_lang: str,
                  references: Sequence[Sequence[str]] | None = None,
                  config: CheckConfig | dict[str, Any] | None = None, workers: int = 1,
                  calibration: LengthCalibration | None = None) -> CheckResult:
    """Flag every segment of one system's outputs; counts per flag for the tables.

    The length rule is relative to the test set: ``calibration`` (default: :func:`calibrate` on these
    sources and references; a shard passes its whole test set's). Every flag then depends on its own
    segment only, so ``workers > 1`` splits large lists into contiguous chunks over forked processes
    (language ID is most of the time) and concatenates the flags in order.
    """
    cfg = make_config(config)
    if len(sources) != len(outputs):
        raise MtEvalError(f"checks: {len(outputs)} outputs for {len(sources)} source segments")
    if references is not None and len(references) != len(outputs):
        raise MtEvalError(f"checks: {len(references)} reference lists for {len(outputs)} outputs")
    if cfg.length_against == "reference" and references is None:
        raise MtEvalError("checks: length_against='reference' needs the references")
    if calibration is None:
        calibration = calibrate(sources, references, cfg)
    refs: Sequence[Sequence[str]] = references if references is not None else [[] for _ in outputs]
    if workers <= 1 or len(outputs) < PARALLEL_MIN_SEGMENTS or not fork_available():
        return _check_all(sources, outputs, target_lang, refs, cfg, calibration)
    bounds = np.linspace(0, len(outputs), workers + 1).astype(int).tolist()

    def span_flags(span: tuple[int, int]) -> list[list[str]]:
        start, end = span
        return _check_all(sources[start:end], outputs[start:end], target_lang, refs[start:end], cfg,
                          calibration).flags

    parts = fork_map(span_flags, list(pairwise(bounds)), workers)
    flags = [f for part in parts for f in part]
    order = [name for name in FLAGS if name in set(cfg.enabled)]
    counts = {name: sum(1 for f in flags if name in f) for name in order}
    return CheckResult(flags=flags, counts=counts, calibration=calibration)


def _length_flags(sources: Sequence[str], outputs: Sequence[str], references: Sequence[Sequence[str]],
                  live: Sequence[int], cfg: CheckConfig, calibration: LengthCalibration) -> set[int]:
    """The ``length_ratio`` rule (module docstring) for the ``live`` segments."""
    basis = _basis([sources[i] for i in live], [references[i] for i in live], cfg)
    ratio = _ratios(text_lengths([outputs[i] for i in live], cfg.ignore_marks), basis,
                    cfg.length_unit) / calibration.scale
    judged = _judged(basis, cfg)
    out_of_band = (ratio < calibration.lower_bounds(_units(basis, cfg), cfg)) | (ratio > cfg.max_length_ratio)
    unusual = np.zeros(len(live), dtype=bool)
    if calibration.endings:
        for j in np.flatnonzero(judged & ~out_of_band & (ratio < cfg.unfinished_min_length_ratio)).tolist():
            seen = calibration.endings.get(ending(sources[live[j]]))
            share = seen.get(ending(outputs[live[j]]), 0.0) if seen is not None else 1.0
            unusual[j] = share <= cfg.unfinished_max_share
    return {live[j] for j in np.flatnonzero(judged & (out_of_band | unusual)).tolist()}


def _check_all(sources: Sequence[str], outputs: Sequence[str], target_lang: str,
               references: Sequence[Sequence[str]], cfg: CheckConfig,
               calibration: LengthCalibration) -> CheckResult:
    """:func:`check_outputs` in this process (inputs already validated)."""
    on = set(cfg.enabled)
    outputs = list(outputs)
    empty = [not out.strip() for out in outputs]
    live = [i for i, e in enumerate(empty) if not e]  # the other checks only look at non-empty outputs
    live_outputs = [outputs[i] for i in live]
    per_flag: dict[str, set[int]] = {name: set() for name in FLAGS}
    per_flag["empty"] = {i for i, e in enumerate(empty) if e}
    if "copy_of_source" in on:
        per_flag["copy_of_source"] = {i for i in live if sources[i].strip()
                                      and _norm(outputs[i]) == _norm(sources[i])}
    if "wrong_language" in on and target_lang:
        texts = without_marks(live_outputs) if cfg.ignore_marks else live_outputs
        ok = is_language_many(texts, target_lang, min_share=cfg.language_min_share)
        per_flag["wrong_language"] = {i for i, good in zip(live, ok, strict=True) if not good}
    if "length_ratio" in on and live:
        per_flag["length_ratio"] = _length_flags(sources, outputs, references, live, cfg, calibration)
    if "repetition" in on:
        loops = repetition_loops(live_outputs, max_n=cfg.repeat_max_n, min_count=cfg.repeat_min_count,
                                 unigram_min_count=cfg.repeat_unigram_min_count)
        per_flag["repetition"] = {i for i, loop in zip(live, loops.tolist(), strict=True) if loop}
    if "number_mismatch" in on:
        per_flag["number_mismatch"] = {i for i in live if numbers_disagree(sources[i], outputs[i])}
    order = [name for name in FLAGS if name in on]
    flags = [[name for name in order if i in per_flag[name]] for i in range(len(outputs))]
    counts = {name: len(per_flag[name]) for name in order}
    return CheckResult(flags=flags, counts=counts, calibration=calibration)
