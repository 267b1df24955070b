"""Error spans: one model for every judge and annotator, and an MQM-style score from spans.

A span marks an error in a *hypothesis* (a system's output for one segment):

- ``segment_id``, ``system``: which output; inside ``segments.jsonl`` they are implied by the record
  and the key of ``record["spans"]`` (``system -> [span dict, ...]``), so the dict leaves them out;
- ``start``, ``end``: offsets in **Unicode code points** (Python ``str`` indices), ``0 <= start <=
  end <= len(hypothesis)``; ``hypothesis[start:end]`` is the marked text. Both are ``None`` for an
  *unlocated* span: a judge quoted text that cannot be found in the hypothesis, or that occurs more
  than once (ambiguous). Such a span still counts in the MQM score and keeps its quote in ``text``;
- ``severity``: ``minor``, ``major`` or ``critical``; ``category`` (optional, free text such as
  ``accuracy/mistranslation``); ``source``: the judge or annotator that reported it;
- ``text``: the marked text (located spans) or the quote (unlocated spans).

Browsers index strings in UTF-16 code units, where a character outside the Basic Multilingual Plane
(most emoji) takes two units. :func:`utf16_offsets` converts code-point offsets for JavaScript;
Arabic letters and combining marks are one code point and one UTF-16 unit each, so only astral
characters shift offsets. Offsets may fall inside a grapheme cluster (an emoji ZWJ sequence, a letter
and its diacritics); they are never inside a code point.

MQM-style score (:func:`mqm_penalty`): the weighted count of errors, ``sum(weights[severity])``.
Weights are a parameter; two conventions are provided:

- :data:`WMT_WEIGHTS` (the default): minor 1, major 5, critical 10. Minor 1 / major 5 are the MQM
  weights of Freitag et al., 2021, "Experts, Errors, and Context: A Large-Scale Study of Human
  Evaluation for Machine Translation" (TACL), used for the WMT MQM annotations (their scheme also
  gives 25 to a *non-translation* and 0.1 to a minor punctuation error; mt-eval has no such
  categories and does not special-case them). Critical 10 is the weight of xCOMET (Guerreiro et
  al., 2024, TACL), which added the critical severity to that scheme.
- :data:`GEMBA_WEIGHTS`: minor 1, major 5, critical 25, as in GEMBA-MQM (Kocmi & Federmann, 2023,
  "GEMBA-MQM: Detecting Translation Quality Error Spans with GPT-4"; their reference code also counts
  at most 5 errors and caps the penalty at 25, which ``max_errors``/``cap`` reproduce).

:func:`mqm_score` is the negated penalty (0 = no error, higher is better), as WMT reports MQM.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from mt_eval.errors import MtEvalError, first_validation_problem

Severity = Literal["minor", "major", "critical"]
SEVERITIES: tuple[str, ...] = ("minor", "major", "critical")

WMT_WEIGHTS: Mapping[str, float] = {"minor": 1.0, "major": 5.0, "critical": 10.0}
GEMBA_WEIGHTS: Mapping[str, float] = {"minor": 1.0, "major": 5.0, "critical": 25.0}
WEIGHT_PRESETS: Mapping[str, Mapping[str, float]] = {"wmt": WMT_WEIGHTS, "gemba": GEMBA_WEIGHTS}


class Span(BaseModel):
    """One error span; see the module docstring for the meaning of each field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment_id: str
    system: str
    start: int | None = None
    end: int | None = None
    severity: Severity
    category: str | None = None
    source: str
    text: str | None = None

    @model_validator(mode="after")
    def _offsets(self) -> Span:
        if (self.start is None) != (self.end is None):
            raise ValueError("start and end must both be set or both be null (unlocated span)")
        if self.start is not None and self.end is not None and not 0 <= self.start <= self.end:
            raise ValueError(f"offsets {self.start}..{self.end}: need 0 <= start <= end")
        if self.start is None and not self.text:
            raise ValueError("an unlocated span needs its quoted text")
        return self

    @property
    def located(self) -> bool:
        return self.start is not None

    def check(self, hypothesis: str) -> Span:
        """This span, validated against its hypothesis (offsets inside it, ``text`` filled in).

        A located span whose ``text`` disagrees with ``hypothesis[start:end]`` is an error: the
        offsets were computed for another string (another output, or UTF-16/byte offsets).
        """
        if self.start is None or self.end is None:
            return self
        if self.end > len(hypothesis):
            raise MtEvalError(f"span {self.start}..{self.end} of segment {self.segment_id!r}, system"
                              f" {self.system!r} ends after the hypothesis ({len(hypothesis)} code points)")
        marked = hypothesis[self.start:self.end]
        if self.text is not None and self.text != marked:
            raise MtEvalError(f"span {self.start}..{self.end} of segment {self.segment_id!r}, system"
                              f" {self.system!r}: text {self.text!r} is not the hypothesis there"
                              f" ({marked!r}); offsets must count Unicode code points")
        return self if self.text == marked else self.model_copy(update={"text": marked})

    def to_dict(self) -> dict[str, Any]:
        """The form stored in ``segments.jsonl`` (segment and system are implied by the record)."""
        return {"start": self.start, "end": self.end, "severity": self.severity, "category": self.category,
                "source": self.source, "text": self.text}

    @classmethod
    def from_dict(cls, data: Any, *, segment_id: str, system: str, where: str = "span") -> Span:
        """Parse a stored span dict; a bad one is a one-line :class:`MtEvalError` naming ``where``."""
        if not isinstance(data, Mapping):
            raise MtEvalError(f"{where}: a span must be an object, got {type(data).__name__}")
        return make_span({**data, "segment_id": segment_id, "system": system}, where=where)


def make_span(fields: Mapping[str, Any], *, where: str = "span") -> Span:
    """Build a :class:`Span` from plain fields; bad fields are a one-line error naming ``where``."""
    data = dict(fields)
    severity = data.get("severity")
    if isinstance(severity, str):
        data["severity"] = severity.strip().lower()
    for key in ("start", "end"):
        if isinstance(data.get(key), bool):
            raise MtEvalError(f"{where}: {key} must be an integer or null")
    try:
        return Span.model_validate(data, strict=False)
    except ValidationError as exc:
        loc, msg = first_validation_problem(exc, root="span")
        raise MtEvalError(f"{where}: bad span field {loc}: {msg}") from None


def locate(quote: str, hypothesis: str) -> tuple[int, int] | None:
    """Code-point offsets of ``quote`` in ``hypothesis``, or ``None`` if absent or ambiguous.

    Surrounding whitespace of the quote is ignored. An exact match is tried first, then a
    case-insensitive one (Python's simple case folding, one code point for one, so offsets refer to
    the hypothesis itself). More than one occurrence (overlapping ones included) is ambiguous: a
    judge's quote alone cannot say which one it meant.
    """
    needle = quote.strip()
    if not needle:
        return None
    for flags in (0, re.IGNORECASE):
        pattern = re.compile(f"(?=({re.escape(needle)}))", flags)
        found = [(m.start(1), m.end(1)) for m in pattern.finditer(hypothesis)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            return None
    return None


def span_from_quote(quote: str, hypothesis: str, *, segment_id: str, system: str, severity: str,
                    source: str, category: str | None = None) -> Span:
    """A span for a quoted error: located when the quote is found exactly once, else unlocated."""
    found = locate(quote, hypothesis)
    fields: dict[str, Any] = {"segment_id": segment_id, "system": system, "severity": severity,
                              "category": category, "source": source}
    if found is None:
        return make_span({**fields, "text": quote})
    start, end = found
    return make_span({**fields, "start": start, "end": end, "text": hypothesis[start:end]})


def utf16_offsets(hypothesis: str, start: int, end: int) -> tuple[int, int]:
    """Code-point offsets → UTF-16 code-unit offsets (JavaScript ``String`` indices, DOM ranges)."""
    if not 0 <= start <= end <= len(hypothesis):
        raise MtEvalError(f"span {start}..{end} is outside a hypothesis of {len(hypothesis)} code points")
    before = _utf16_len(hypothesis[:start])
    return before, before + _utf16_len(hypothesis[start:end])


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Severity weights, validated: every severity present, finite and non-negative."""
    unknown = sorted(set(weights) - set(SEVERITIES))
    if unknown:
        raise MtEvalError(f"MQM weights: unknown severity {unknown[0]!r} (known: {', '.join(SEVERITIES)})")
    out = {}
    for severity in SEVERITIES:
        if severity not in weights:
            raise MtEvalError(f"MQM weights: no weight for {severity}")
        value = float(weights[severity])
        if not value >= 0.0 or value == float("inf"):
            raise MtEvalError(f"MQM weights: {severity} weight {weights[severity]!r} must be finite and >= 0")
        out[severity] = value
    return out


def mqm_penalty(spans: Iterable[Span | Mapping[str, Any]], weights: Mapping[str, float] = WMT_WEIGHTS, *,
                max_errors: int | None = None, cap: float | None = None) -> float:
    """Weighted error count of one segment's spans (unlocated ones included): 0 means no error.

    ``max_errors`` counts only the first N spans (GEMBA-MQM counts 5, most severe first), ``cap``
    bounds the result (GEMBA-MQM: 25).
    """
    table = check_weights(weights)
    severities = [s.severity if isinstance(s, Span) else str(s.get("severity", "")) for s in spans]
    for severity in severities:
        if severity not in table:
            raise MtEvalError(f"span severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    if max_errors is not None:
        severities = sorted(severities, key=lambda s: -table[s])[:max_errors]
    total = float(sum(table[s] for s in severities))
    return min(total, cap) if cap is not None else total


def mqm_score(spans: Iterable[Span | Mapping[str, Any]], weights: Mapping[str, float] = WMT_WEIGHTS, *,
              max_errors: int | None = None, cap: float | None = None) -> float:
    """``-mqm_penalty(...)``: higher is better, 0 for an error-free segment (WMT's sign)."""
    return -mqm_penalty(spans, weights, max_errors=max_errors, cap=cap)


def severity_counts(spans: Iterable[Span | Mapping[str, Any]]) -> dict[str, int]:
    """Spans per severity (every severity listed, zeros included)."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for span in spans:
        severity = span.severity if isinstance(span, Span) else str(span.get("severity", ""))
        if severity in counts:
            counts[severity] += 1
    return counts


# ------------------------------------------------------------------------------ segments.jsonl
def record_spans(record: Mapping[str, Any], system: str) -> list[Span]:
    """The spans of one system in a ``segments.jsonl`` record (``[]`` when it has none)."""
    stored = record.get("spans", {})
    where = f"segment {record.get('id')!r}, system {system!r}"
    if not isinstance(stored, Mapping):
        raise MtEvalError(f"{where}: field 'spans' is not an object")
    items = stored.get(system, [])
    if not isinstance(items, list):
        raise MtEvalError(f"{where}: spans must be a list")
    return [Span.from_dict(item, segment_id=str(record.get("id")), system=system, where=where)
            for item in items]


def set_record_spans(record: dict[str, Any], system: str, spans: Sequence[Span], *,
                     replace_sources: Iterable[str] = ()) -> None:
    """Add ``spans`` to a record (``record["spans"][system]``), checked against the system's output.

    Spans that ``replace_sources`` reported earlier are dropped first, so importing the same
    annotations twice does not double them.
    """
    dropped = set(replace_sources)
    hypothesis = record.get("outputs", {}).get(system)
    if not isinstance(hypothesis, str):
        raise MtEvalError(f"segment {record.get('id')!r}: no output of system {system!r} to attach spans to")
    kept = [s for s in record_spans(record, system) if s.source not in dropped]
    checked = [span.check(hypothesis) for span in spans]
    record.setdefault("spans", {})[system] = [s.to_dict() for s in (*kept, *checked)]
