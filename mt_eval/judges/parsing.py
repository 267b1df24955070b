"""Parse judge answers: GEMBA error lists and ESA scores. A bad answer raises :class:`JudgeParseError`.

Error lists follow GEMBA-MQM's reference parser (Kocmi & Federmann 2023, ``parse_mqm_answer``): lines are
read under the last severity heading seen (``Critical:``, ``Major:``, ``Minor:``; case, Markdown bold and
``#`` ignored; a heading may carry its first error on the same line); ``no-error`` lines and blank lines are
skipped; every other line under a heading is one error; a ``non-translation`` error is critical (major for
ESA, which has no critical severity, and so is an error under a ``Critical:`` heading). Unlike GEMBA's
parser, an answer with no severity heading at all, or with an error line (``… - "quote"``) before the first
heading, is a parse *failure*, not "no errors": a judge that did not answer in the format must not be read
as a perfect score. Other lines before the first heading (a preamble such as "Here are the errors:") are
skipped.

From an error line ``category/subcategory - "quoted text"`` the category is the text before `` - ``
and the quote the text between the first and last double quote (straight or curly); without quotes,
the text after `` - `` (or the whole line) is the quote. Locating quotes in the hypothesis is
:func:`mt_eval.spans.span_from_quote`'s job.

ESA scores follow GEMBA's ``validate_number``: the answer must hold exactly one number (``85/100`` is
read as 85), between 0 and 100; a negative answer (``-40``) is out of range, a failure, never 40.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(critical|major|minor)\s*(?:errors?)?\s*:\s*(.*)$", re.IGNORECASE)
_NO_ERROR = re.compile(r"^(?:no[- ]?errors?|none|n/a)\.?$")
_BULLET = re.compile(r"^(?:[-*•]+|\d+[.)])\s+")
_QUOTED = re.compile(r"[\"“”„]([^\n]*)[\"“”]")
_ITEM_LIKE = re.compile(r"\s[-–]\s*[\"“„]")
# a sign counts only where it starts the number ("-40"), not in a range ("0-100")
_NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?")
_OVER_100 = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*100\s*\.?\s*$")


class JudgeParseError(ValueError):
    """The judge's answer is not in the expected format; the message says why (one line)."""


@dataclass(frozen=True)
class ErrorItem:
    severity: str
    category: str | None
    quote: str


def _clean(line: str) -> str:
    line = line.strip().replace("**", "").replace("__", "")
    return line.lstrip("#").strip()


def parse_error_list(text: str, *,
                     severities: tuple[str, ...] = ("critical", "major", "minor")) -> list[ErrorItem]:
    """The errors of a GEMBA-style answer; raises :class:`JudgeParseError` when it has no such list."""
    if not text.strip():
        raise JudgeParseError("empty answer")
    items: list[ErrorItem] = []
    level: str | None = None
    headings = 0
    for raw_line in text.splitlines():
        line = _clean(raw_line)
        if not line:
            continue
        heading = _HEADING.match(line)
        if heading:
            name = heading.group(1).lower()
            # ESA has no "critical": such an error is at least major (the most severe level allowed)
            level, headings = (name if name in severities else severities[0]), headings + 1
            line = heading.group(2).strip()
            if not line:
                continue
        if _NO_ERROR.match(line.lower()) or line.lower().startswith(("no-error", "no error")):
            continue
        if level is None:
            if _ITEM_LIKE.search(line):
                raise JudgeParseError(f"error line before any severity heading: {line[:80]!r}")
            continue  # a preamble such as "Here are the errors:"
        items.append(_item(line, level, severities))
    if headings == 0:
        raise JudgeParseError("no severity heading (Critical:/Major:/Minor:) in the answer")
    return items


def _item(line: str, level: str, severities: tuple[str, ...]) -> ErrorItem:
    body = _BULLET.sub("", line).strip()
    category: str | None = None
    quote = body
    head, sep, tail = body.partition(" - ")
    if sep and not _QUOTED.search(head):
        category, quote = head.strip() or None, tail.strip()
    found = _QUOTED.search(quote)
    if found:
        start = found.start(1)
        end = max(quote.rfind('"'), quote.rfind("”"), quote.rfind("“"))
        quote = quote[start:end] if end > start else found.group(1)
    quote = quote.strip() or body
    severity = level
    if category is not None and "non-translation" in category.lower():
        severity = "critical" if "critical" in severities else "major"
    return ErrorItem(severity=severity, category=category.lower() if category else None, quote=quote)


def parse_score(text: str, *, low: float = 0.0, high: float = 100.0) -> float:
    """The one number of an ESA score answer, in ``[low, high]``; raises :class:`JudgeParseError`."""
    stripped = text.strip()
    if not stripped:
        raise JudgeParseError("empty answer")
    over = _OVER_100.match(stripped)
    numbers = [over.group(1)] if over else _NUMBER.findall(stripped)
    if len(numbers) != 1:
        raise JudgeParseError(f"expected one score, found {len(numbers)} numbers")
    value = float(numbers[0].replace("−", "-"))
    if not low <= value <= high:
        raise JudgeParseError(f"score {numbers[0]} is outside {low:g}–{high:g}")
    return value
