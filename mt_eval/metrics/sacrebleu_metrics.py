"""BLEU, chrF, chrF++ and TER with sacrebleu's statistics and formulas.

BLEU (tokenizers in ``fast_stats.VECTORISED_TOKENIZERS``), chrF and chrF++ statistics are computed by
``mt_eval.metrics.fast_stats`` with numpy, TER statistics by the numba kernel of
``mt_eval.metrics.fast_ter``, all bit-identical to sacrebleu's (proven by the parity tests);
other tokenizers (and TER without numba) use sacrebleu's code below: ``_preprocess_segment`` /
``_extract_reference_info`` / ``_compute_segment_statistics`` (the code its ``corpus_score`` runs),
one segment at a time with that segment's own reference list, so segments may have different numbers
of references. Corpus and sentence scores call sacrebleu's ``_compute_score_from_stats`` on the summed
statistics, so they are exactly what sacrebleu prints (chrF sentence scores: the same float operations
vectorised, ``fast_stats.chrf_f_scores``); ``score_from_stats`` is a numpy re-statement of
the same formulas, vectorised over resamples for bootstrap and paired tests.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, ClassVar, Literal

import numpy as np
import sacrebleu
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sacrebleu.metrics.base import Metric as _SbMetric

from mt_eval.errors import MtEvalError
from mt_eval.forked import fork_available, fork_map
from mt_eval.metrics import fast_stats
from mt_eval.metrics.base import Metric, summed_stats

__all__ = ["BLEU", "CHRF", "TER", "ChrFPlusPlus", "SacreBleuMetric", "arabic_normalize"]

# Arabic harakat, tanween, shadda, sukun, dagger alef, Quranic marks and tatweel: they change
# token identity in BLEU/chrF although most Arabic MT references omit them.
_AR_DIACRITICS = {chr(c) for c in [*range(0x0610, 0x061B), *range(0x064B, 0x0660), 0x0670,
                                   *range(0x06D6, 0x06DD), *range(0x06DF, 0x06E9),
                                   *range(0x06EA, 0x06EE), 0x0640]}
_AR_DIACRITICS_TABLE = {ord(c): None for c in _AR_DIACRITICS}
# Hamza/madda/wasla alef forms written inconsistently in MT output and references.
_AR_ALEF_TABLE = {ord(c): "ا" for c in "أإآٱ"}
# Alef maqsura (and Farsi yeh) written for final yaa and back; ta marbuta written as ha.
_AR_YAA_TABLE = {ord("ى"): "ي", ord("ی"): "ي"}
_AR_TA_MARBUTA_TABLE = {ord("ة"): "ه"}
# Arabic-Indic and Extended Arabic-Indic digits, the Arabic decimal/thousands separators and percent sign.
_AR_DIGITS_TABLE = {**{0x0660 + d: str(d) for d in range(10)}, **{0x06F0 + d: str(d) for d in range(10)},
                    0x066B: ".", 0x066C: ",", 0x066A: "%"}
# option name -> signature tag (the ``arnorm`` field), in the order they are applied
AR_OPTIONS = {"ar_remove_diacritics": "diac", "ar_normalize_alef": "alef", "ar_normalize_yaa": "yaa",
              "ar_normalize_ta_marbuta": "teh", "ar_normalize_digits": "digits"}


def arabic_normalize(text: str, *, remove_diacritics: bool = False, normalize_alef: bool = False,
                     normalize_yaa: bool = False, normalize_ta_marbuta: bool = False,
                     normalize_digits: bool = False) -> str:
    """Apply the en→ar normalisations that a metric's options request (recorded in its signature)."""
    if remove_diacritics:
        text = unicodedata.normalize("NFC", text).translate(_AR_DIACRITICS_TABLE)
    if normalize_alef:
        text = text.translate(_AR_ALEF_TABLE)
    if normalize_yaa:
        text = text.translate(_AR_YAA_TABLE)
    if normalize_ta_marbuta:
        text = text.translate(_AR_TA_MARBUTA_TABLE)
    if normalize_digits:
        text = text.translate(_AR_DIGITS_TABLE)
    return text


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ar_remove_diacritics: bool = Field(False, description="drop Arabic diacritics (harakat, tanween,"
                                       " shadda, tatweel, Quranic marks) from outputs and references")
    ar_normalize_alef: bool = Field(False, description="write hamza/madda/wasla alef forms (أ إ آ ٱ) as"
                                    " bare alef (ا) in outputs and references")
    ar_normalize_yaa: bool = Field(False, description="write alef maqsura (ى) and Farsi yeh (ی) as yaa (ي)"
                                   " in outputs and references")
    ar_normalize_ta_marbuta: bool = Field(False, description="write ta marbuta (ة) as ha (ه) in outputs and"
                                          " references")
    ar_normalize_digits: bool = Field(False, description="write Arabic-Indic (٠-٩) and Extended"
                                      " Arabic-Indic (۰-۹) digits, ٫ ٬ and ٪ as 0-9 . , % in outputs and"
                                      " references")


class BLEUOptions(_Options):
    tokenize: str | None = Field(None, description="sacrebleu tokenizer: 13a, intl, none, char, zh, ja-mecab,"
                                 " ko-mecab, spm, flores101, flores200 (default: 13a, or by trg_lang)")
    lowercase: bool = Field(False, description="lowercase outputs and references (case-insensitive BLEU)")
    smooth_method: Literal["none", "floor", "add-k", "exp"] = Field(
        "exp", description="smoothing of zero n-gram precisions (sacrebleu's; exp is its default)")
    smooth_value: float | None = Field(None, ge=0.0, description="value for floor (0.1) or add-k (1)"
                                       " smoothing (default: sacrebleu's)")
    max_ngram_order: int = Field(4, ge=1, le=10, description="highest n-gram order")
    effective_order: bool = Field(False, description="leave out n-gram orders with no match (for"
                                  " sentence-level BLEU)")
    trg_lang: str = Field("", description="target language code, picks the default tokenizer (zh, ja, ko)")
    force: bool = Field(True, description="accept outputs that look already tokenized without a warning")


class CHRFOptions(_Options):
    char_order: int = Field(6, ge=0, le=20, description="character n-gram order (0: word n-grams only)")
    word_order: int = Field(0, ge=0, le=10, description="word n-gram order (2: chrF++)")
    beta: int = Field(2, ge=0, le=10, description="recall weight in the F-score (2: recall twice as"
                      " important as precision)")
    lowercase: bool = Field(False, description="lowercase outputs and references")
    whitespace: bool = Field(False, description="keep whitespace in character n-grams")
    eps_smoothing: bool = Field(False, description="sacrebleu's epsilon smoothing of zero precisions"
                                " (the chrF++.py reference behaviour)")


    @model_validator(mode="after")
    def _some_order(self) -> CHRFOptions:
        if self.char_order + self.word_order < 1:
            raise ValueError("char_order + word_order must be at least 1")
        return self


class CHRFPPOptions(CHRFOptions):
    word_order: int = Field(2, ge=0, le=10, description="word n-gram order (2: chrF++)")


class TEROptions(_Options):
    normalized: bool = Field(False, description="Moses-style normalisation and tokenisation of punctuation")
    no_punct: bool = Field(False, description="remove punctuation before scoring")
    asian_support: bool = Field(False, description="split CJK characters and Japanese/Korean punctuation")
    case_sensitive: bool = Field(False, description="distinguish upper and lower case (sacrebleu: off)")


class SacreBleuMetric(Metric):
    """Common code: options validation, sacrebleu object, statistics extraction, signature."""

    options_model: ClassVar[type[BaseModel] | None] = _Options
    config: _Options
    stats_dtype: ClassVar[type[np.generic]] = np.int64

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # reference-side work of the vectorised path, reused while the references stay the same
        self._ref_cache: dict[str, Any] = {}
        try:
            self._sb = self._make_sacrebleu()
        except MtEvalError:
            raise
        except Exception as exc:  # e.g. a tokenizer whose extra package or model file is missing
            raise MtEvalError(f"metric {self.name}: sacrebleu cannot build it with {self.options}: "
                              f"{type(exc).__name__}: {exc}") from None

    # -------------------------------------------------------------- to override
    def _make_sacrebleu(self) -> _SbMetric:
        raise NotImplementedError

    def _signature_extra(self) -> dict[str, str]:
        return {}

    # -------------------------------------------------------------- statistics
    def _arabic(self) -> dict[str, bool]:
        """The ``arabic_normalize`` keywords of the ``ar_*`` options turned on (empty: none)."""
        return {name[3:]: True for name in AR_OPTIONS if getattr(self.config, name)}

    # Set to False to force sacrebleu's per-segment code (parity tests compare the two paths).
    vectorised: bool = True

    def _stats_vectorised(self, hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> np.ndarray | None:
        """Exact numpy statistics (``mt_eval.metrics.fast_stats``), or None where not covered."""
        return None

    def _normalized_inputs(self, hyps: Sequence[str], refs: Sequence[Sequence[str]]
                           ) -> tuple[Sequence[str], Sequence[Sequence[str]]]:
        arabic = self._arabic()
        if not arabic:
            return hyps, refs
        return ([arabic_normalize(h, **arabic) for h in hyps],
                [[arabic_normalize(r, **arabic) for r in rs] for rs in refs])

    def _stats_serial(self, hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> np.ndarray:
        if self.vectorised and len(hyps):
            try:
                fast = self._stats_vectorised(*self._normalized_inputs(hyps, refs))
            except OverflowError:  # keys that cannot be packed exactly: sacrebleu's own code
                fast = None
            if fast is not None:
                return fast
        return self._stats_sacrebleu(hyps, refs)

    def _stats_sacrebleu(self, hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> np.ndarray:
        """sacrebleu's per-segment code: the reference path, and the fallback for uncovered options."""
        sb = self._sb
        prep = sb._preprocess_segment
        ref_info = sb._extract_reference_info
        seg_stats = sb._compute_segment_statistics
        hyps, refs = self._normalized_inputs(hyps, refs)
        rows = [seg_stats(prep(h), ref_info([prep(r) for r in rs])) for h, rs in zip(hyps, refs, strict=True)]
        return np.array(rows, dtype=self.stats_dtype).reshape(len(rows), self.num_stats)

    @property
    def num_stats(self) -> int:
        raise NotImplementedError

    def segment_stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]], *,
                      sources: Sequence[str] | None = None, workers: int = 1) -> np.ndarray:
        """``(N, D)`` statistics; ``workers > 1`` splits the segments over forked processes."""
        hyps, refs = _check_inputs(self.name, hypotheses, references)
        if workers <= 1 or len(hyps) < 2000 or not fork_available():
            return self._stats_serial(hyps, refs)
        bounds = np.linspace(0, len(hyps), workers * 4 + 1).astype(int).tolist()

        def span_stats(span: tuple[int, int]) -> np.ndarray:
            return self._stats_serial(hyps[span[0]:span[1]], refs[span[0]:span[1]])

        return np.concatenate(fork_map(span_stats, list(pairwise(bounds)), workers), axis=0)

    # -------------------------------------------------------------- scores
    def _exact(self, row: np.ndarray) -> float:
        values = [int(v) for v in row] if self.stats_dtype is np.int64 else [float(v) for v in row]
        return float(self._sb._compute_score_from_stats(values).score)

    def corpus_score(self, stats: np.ndarray) -> float:
        """sacrebleu's own formula on the summed statistics (float columns summed in sacrebleu's order)."""
        arr = np.asarray(stats)
        if arr.ndim != 2 or arr.shape[0] == 0:
            raise MtEvalError(f"metric {self.name}: no segment statistics to score")
        return self._exact(summed_stats(arr))

    def sentence_scores(self, stats: np.ndarray) -> np.ndarray:
        """Each segment scored alone exactly as ``sacrebleu``'s ``sentence_score`` does."""
        rows = np.asarray(stats).astype(self.stats_dtype, copy=False).tolist()  # Python ints / floats
        compute = self._sb._compute_score_from_stats
        return np.array([float(compute(row).score) for row in rows], dtype=np.float64)

    def signature(self) -> dict[str, str]:
        """sacrebleu's signature fields (same order, ``version`` last), then mt-eval's own fields."""
        sb = self._sb
        sb.num_refs = 0  # nrefs is the test set's (MetricSignature fills it in)
        info = sb.get_signature().info
        fields: dict[str, str] = {}
        for key in [k for k in info if k != "version"] + ["version"]:
            value: Any = info[key]
            if value is None:
                continue
            if key == "nrefs":
                value = "?"
            fields[key] = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        fields["metric"] = self.display_name
        fields.update(self._signature_extra())
        ar = [tag for name, tag in AR_OPTIONS.items() if getattr(self.config, name)]
        if ar:
            fields["arnorm"] = "+".join(ar)
        return fields

    @property
    def display_name(self) -> str:
        return self.name


def _check_inputs(name: str, hypotheses: Sequence[str],
                  references: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    if isinstance(hypotheses, str):
        raise MtEvalError(f"metric {name}: hypotheses must be a list of strings, not one string")
    hyps = list(hypotheses)
    refs = [[references_i] if isinstance(references_i, str) else list(references_i)
            for references_i in references]
    if len(hyps) != len(refs):
        raise MtEvalError(f"metric {name}: {len(hyps)} hypotheses but {len(refs)} reference lists")
    for index, (hyp, rs) in enumerate(zip(hyps, refs, strict=True)):
        if not isinstance(hyp, str):
            raise MtEvalError(f"metric {name}: hypothesis {index + 1} is {type(hyp).__name__}, not a string")
        if not rs:
            raise MtEvalError(f"metric {name}: segment {index + 1} has no reference")
        if not all(isinstance(r, str) for r in rs):
            raise MtEvalError(f"metric {name}: segment {index + 1} has a reference that is not a string")
    return hyps, refs


# ---------------------------------------------------------------------------------------- BLEU
class BLEU(SacreBleuMetric):
    """sacrebleu BLEU; stats per segment: ``[hyp_len, ref_len, correct_1..m, total_1..m]``."""

    name = "bleu"
    options_model = BLEUOptions
    config: BLEUOptions

    def _make_sacrebleu(self) -> _SbMetric:
        c = self.config
        if c.tokenize is not None and c.tokenize not in sacrebleu.BLEU.TOKENIZERS:
            raise MtEvalError(f"metric bleu: unknown tokenize={c.tokenize!r} "
                              f"(one of {', '.join(sacrebleu.BLEU.TOKENIZERS)})")
        return sacrebleu.BLEU(lowercase=c.lowercase, force=c.force, tokenize=c.tokenize,
                              smooth_method=c.smooth_method, smooth_value=c.smooth_value,
                              max_ngram_order=c.max_ngram_order, effective_order=c.effective_order,
                              trg_lang=c.trg_lang)

    @property
    def num_stats(self) -> int:
        return 2 + 2 * self.config.max_ngram_order

    def _stats_vectorised(self, hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> np.ndarray | None:
        if not fast_stats.supports_bleu(self._sb):
            return None
        return fast_stats.bleu_stats(hyps, refs, sb=self._sb, max_order=self.config.max_ngram_order,
                                     cache=self._ref_cache)

    @property
    def display_name(self) -> str:
        return "BLEU"

    def score_from_stats(self, stats: np.ndarray) -> np.ndarray:
        """sacrebleu's ``compute_bleu`` restated with numpy over the leading axes."""
        c = self.config
        m = c.max_ngram_order
        s = np.asarray(stats)
        sys_len = s[..., 0].astype(np.float64)
        ref_len = s[..., 1].astype(np.float64)
        raw_correct = s[..., 2:2 + m]
        correct = raw_correct.astype(np.float64)
        total = s[..., 2 + m:2 + 2 * m].astype(np.float64)
        smooth_value = c.smooth_value if c.smooth_value is not None else \
            sacrebleu.BLEU.SMOOTH_DEFAULTS[c.smooth_method]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            safe_sys = np.where(sys_len > 0, sys_len, 1.0)
            bp = np.where(sys_len < ref_len, np.where(sys_len > 0, np.exp(1 - ref_len / safe_sys), 0.0), 1.0)
            if c.smooth_method == "add-k":
                correct = correct.copy()
                total = total.copy()
                correct[..., 1:] += float(smooth_value or 0.0)
                total[..., 1:] += float(smooth_value or 0.0)
            active = np.ones(sys_len.shape, dtype=bool)
            smooth_mteval = np.ones(sys_len.shape)
            eff = np.full(sys_len.shape, m)
            precisions = []
            for n in range(m):
                tot = total[..., n]
                cor = correct[..., n]
                active = active & (tot != 0)
                if c.effective_order:
                    eff = np.where(active, n + 1, eff)
                zero = cor == 0
                safe_tot = np.where(tot != 0, tot, 1.0)
                if c.smooth_method == "exp":
                    smooth_mteval = np.where(active & zero, smooth_mteval * 2, smooth_mteval)
                    p_zero = 100.0 / (smooth_mteval * safe_tot)
                elif c.smooth_method == "floor":
                    p_zero = 100.0 * float(smooth_value or 0.0) / safe_tot
                else:
                    p_zero = np.zeros(sys_len.shape)
                p = np.where(zero, p_zero, 100.0 * cor / safe_tot)
                precisions.append(np.where(active, p, 0.0))
            log_sum = np.zeros(sys_len.shape)
            for n, p in enumerate(precisions):
                logp = np.where(p == 0.0, -9999999999.0, np.log(np.where(p == 0.0, 1.0, p)))
                log_sum = log_sum + np.where(n < eff, logp, 0.0)
            score = bp * np.exp(log_sum / eff)
        return np.where((raw_correct != 0).any(axis=-1), score, 0.0)


# ---------------------------------------------------------------------------------------- chrF
class CHRF(SacreBleuMetric):
    """sacrebleu chrF; stats per segment: ``[hyp, ref, match]`` per character then word order."""

    name = "chrf"
    options_model = CHRFOptions
    config: CHRFOptions

    def _make_sacrebleu(self) -> _SbMetric:
        c = self.config
        return sacrebleu.CHRF(char_order=c.char_order, word_order=c.word_order, beta=c.beta,
                              lowercase=c.lowercase, whitespace=c.whitespace,
                              eps_smoothing=c.eps_smoothing)

    @property
    def num_stats(self) -> int:
        return 3 * (self.config.char_order + self.config.word_order)

    def sentence_scores(self, stats: np.ndarray) -> np.ndarray:
        """sacrebleu's ``_compute_f_score`` per segment, vectorised with the same float operations
        (bit-identical; the parity tests compare with ``sentence_score`` exactly)."""
        arr = np.asarray(stats)
        if arr.dtype.kind not in "iu" or arr.ndim != 2 or np.abs(arr).max(initial=0) >= 2 ** 53:
            return super().sentence_scores(stats)
        c = self.config
        return fast_stats.chrf_f_scores(arr, c.char_order + c.word_order, c.beta, c.eps_smoothing)

    def _stats_vectorised(self, hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> np.ndarray | None:
        return fast_stats.chrf_stats(hyps, refs, self.config, cache=self._ref_cache)

    @property
    def display_name(self) -> str:
        return f"chrF{self.config.beta}" + "+" * self.config.word_order

    def score_from_stats(self, stats: np.ndarray) -> np.ndarray:
        """sacrebleu's ``_compute_f_score`` restated with numpy over the leading axes."""
        c = self.config
        s = np.asarray(stats)
        factor = c.beta ** 2
        eps = 1e-16
        shape = s.shape[:-1]
        score = np.zeros(shape)
        avg_prec = np.zeros(shape)
        avg_rec = np.zeros(shape)
        effective = np.zeros(shape, dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(c.char_order + c.word_order):
                n_hyp = s[..., 3 * i].astype(np.float64)
                n_ref = s[..., 3 * i + 1].astype(np.float64)
                n_match = s[..., 3 * i + 2].astype(np.float64)
                prec = np.where(n_hyp > 0, n_match / np.where(n_hyp > 0, n_hyp, 1.0), eps)
                rec = np.where(n_ref > 0, n_match / np.where(n_ref > 0, n_ref, 1.0), eps)
                denom = factor * prec + rec
                safe_denom = np.where(denom > 0, denom, 1.0)
                score = score + np.where(denom > 0, (1 + factor) * prec * rec / safe_denom, eps)
                both = (n_hyp > 0) & (n_ref > 0)
                avg_prec = np.where(both, avg_prec + prec, avg_prec)
                avg_rec = np.where(both, avg_rec + rec, avg_rec)
                effective = effective + both
            if c.eps_smoothing:
                return np.asarray(100 * score / (c.char_order + c.word_order))
            safe_eff = np.where(effective > 0, effective, 1)
            avg_prec = np.where(effective > 0, avg_prec / safe_eff, 0.0)
            avg_rec = np.where(effective > 0, avg_rec / safe_eff, 0.0)
            nonzero = (avg_prec + avg_rec) != 0
            f = (1 + factor) * avg_prec * avg_rec
            f = f / np.where(nonzero, factor * avg_prec + avg_rec, 1.0)
        return np.where(nonzero, 100 * f, 0.0)


class ChrFPlusPlus(CHRF):
    """chrF++: chrF with word uni- and bigrams (``word_order=2``) by default."""

    name = "chrf++"
    options_model = CHRFPPOptions


# ---------------------------------------------------------------------------------------- TER
class TER(SacreBleuMetric):
    """sacrebleu TER; stats per segment (float64): ``[best_num_edits, average_reference_length]``."""

    name = "ter"
    higher_is_better = False
    options_model = TEROptions
    stats_dtype = np.float64
    config: TEROptions

    def _make_sacrebleu(self) -> _SbMetric:
        c = self.config
        return sacrebleu.TER(normalized=c.normalized, no_punct=c.no_punct,
                             asian_support=c.asian_support, case_sensitive=c.case_sensitive)

    def _stats_vectorised(self, hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> np.ndarray | None:
        """The compiled kernel of ``mt_eval.metrics.fast_ter`` (numba is imported only here)."""
        from mt_eval.metrics import fast_ter

        return fast_ter.ter_stats(self._sb, hyps, refs, self._ref_cache) if fast_ter.available() else None

    def segment_stats(self, *args: Any, **kwargs: Any) -> np.ndarray:
        if self.vectorised and int(kwargs.get("workers") or 1) > 1:
            from mt_eval.metrics import fast_ter

            fast_ter.warm_up()  # compiled (or loaded from its cache) once, before workers are forked
        return super().segment_stats(*args, **kwargs)

    @property
    def num_stats(self) -> int:
        return 2

    @property
    def display_name(self) -> str:
        return "TER"

    def score_from_stats(self, stats: np.ndarray) -> np.ndarray:
        s = np.asarray(stats, dtype=np.float64)
        edits, ref_len = s[..., 0], s[..., 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(ref_len > 0, edits / np.where(ref_len > 0, ref_len, 1.0),
                            np.where(edits > 0, 1.0, 0.0))
        return 100 * rate
