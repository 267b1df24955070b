"""Judge prompts: GEMBA-MQM and GEMBA-ESA, as chat conversations.

Both follow the published protocols, with wording and few-shot examples written for mt-eval (GEMBA's own
prompt texts are CC BY-SA 4.0; these are not copies of them):

- **GEMBA-MQM** — Kocmi & Federmann, 2023, "GEMBA-MQM: Detecting Translation Quality Error Spans with
  GPT-4" (WMT 2023). A system message, three few-shot (user, assistant) turns, then the segment. The judge
  lists errors under ``Critical:`` / ``Major:`` / ``Minor:`` headings, one per line as
  ``category/subcategory - "quoted text"``, with the MQM error typology (accuracy, fluency, style,
  terminology, non-translation, other) and severity definitions of the paper.
- **GEMBA-ESA** — the Error Span Annotation protocol (Kocmi et al., 2024, "Error Span Annotation: A
  Balanced Approach for Human Evaluation of Machine Translation", WMT 2024) run by an LLM as in GEMBA-ESA
  (the LLM judge of the WMT 2024–2025 automatic rankings): first mark error spans with two severities
  (major, minor); then, given those spans, score the translation from 0 to 100 on ESA's scale with its
  reference points 0 "no meaning preserved", 33 "some meaning preserved", 66 "most meaning preserved and
  few grammar mistakes", 100 "perfect meaning and grammar".

Both protocols are reference-free (quality estimation from the source); ``reference=True`` adds the
(first) reference translation to the segment, as a variant recorded in the signature.

:func:`template_hash` covers every template piece (system message, instructions, examples, score prompt),
so any change to a prompt changes the metric's signature and the judge cache's keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from mt_eval.translators.prompts import LANG_NAMES

#: bumped when the way prompts are assembled changes (the texts themselves are hashed)
PROMPT_FORMAT = 1

CATEGORIES = ("accuracy (addition, mistranslation, omission, untranslated text), fluency (character encoding,"
              " grammar, inconsistency, punctuation, register, spelling), style (awkward), terminology"
              " (inappropriate for context, inconsistent use), non-translation, other, or no-error")

MQM_SYSTEM = ("You annotate the quality of machine translation: you find the errors in a translation and"
              " classify them.")
MQM_INSTRUCTIONS = (
    "Using the source segment and the machine translation between triple backticks, find the errors in the"
    " translation and classify them. Error categories: " + CATEGORIES + ".\n"
    "Give each error one severity: critical, major or minor. Critical errors prevent understanding the text."
    " Major errors disrupt the flow, but what the text is trying to say can still be understood. Minor errors"
    " are technically errors but neither disrupt the flow nor hinder understanding.\n"
    "Answer under the headings Critical:, Major: and Minor:, one error per line as"
    " category/subcategory - \"quoted text from the translation\", or no-error under a heading"
    " without errors."
)
ESA_SYSTEM = "You find the errors in a machine translation and assess the quality of the translation."
ESA_INSTRUCTIONS = (
    "Using the source segment and the machine translation between triple backticks, find the errors in the"
    " translation and classify them. Error categories: " + CATEGORIES + ".\n"
    "Give each error one severity: major or minor. Major errors disrupt the flow and make the text hard or"
    " impossible to understand. Minor errors do not disrupt the flow much, and what the text is trying to"
    " say can still be understood.\n"
    "Answer under the headings Major: and Minor:, one error per line as"
    " category/subcategory - \"quoted text from the translation\", or no-error under a heading"
    " without errors."
)
ESA_SCORE = (
    "Considering the translation from {src_name} to {tgt_name} and the error spans annotated in it, rate the"
    " translation on a continuous scale from 0 to 100, where 0 means \"no meaning preserved\", 33 \"some"
    " meaning preserved\", 66 \"most meaning preserved and few grammar mistakes\" and 100 \"perfect meaning"
    " and grammar\".\n\n"
    "{segment}"
    "Annotated error spans:\n```{error_spans}```\n"
    "Answer with the score only.\nScore (0-100): "
)
SEGMENT = "{src_name} source:\n```{source}```\n{reference_block}{tgt_name} translation:\n```{hypothesis}```\n"
REFERENCE_BLOCK = "{tgt_name} reference translation:\n```{reference}```\n"

#: Few-shot examples written for mt-eval (source language, source, target language, translation, MQM
#: answer). They cover a wrong number, an omission quoted from the source, duplicated words, a word-order
#: slip, and an error-free translation, in three language pairs, none from any test set.
FEW_SHOT: tuple[dict[str, str], ...] = (
    {"src_lang": "ar",
     "source": "أعلنت الشركة أنها ستوظف مئتي عامل جديد في مصنعها بالإسكندرية خلال العام المقبل.",
     "tgt_lang": "en",
     "hypothesis": "The company announced that it will hire twenty new workers at its factory next year.",
     "answer": "Critical:\nno-error\nMajor:\naccuracy/mistranslation - \"twenty\"\n"
               "accuracy/omission - \"بالإسكندرية\"\nMinor:\nno-error"},
    {"src_lang": "fr",
     "source": "Le conseil municipal a approuvé hier le budget de la nouvelle bibliothèque, malgré "
               "l'opposition de deux élus.",
     "tgt_lang": "en",
     "hypothesis": "The city council approved yesterday the budget of the new library library, despite the "
                   "opposition of two voters.",
     "answer": "Critical:\nno-error\nMajor:\naccuracy/mistranslation - \"voters\"\n"
               "Minor:\nfluency/grammar - \"approved yesterday the budget\"\n"
               "accuracy/addition - \"library library\""},
    {"src_lang": "es",
     "source": "El museo abre todos los días excepto los lunes.",
     "tgt_lang": "de",
     "hypothesis": "Das Museum ist täglich außer montags geöffnet.",
     "answer": "Critical:\nno-error\nMajor:\nno-error\nMinor:\nno-error"},
)


def lang_name(code: str) -> str:
    return LANG_NAMES.get(code, code)


def segment_text(source: str, hypothesis: str, reference: str | None, *, source_lang: str,
                 target_lang: str) -> str:
    """The segment block shared by every prompt: source, optional reference, translation."""
    names = {"src_name": lang_name(source_lang), "tgt_name": lang_name(target_lang)}
    block = REFERENCE_BLOCK.format(reference=reference, **names) if reference is not None else ""
    return SEGMENT.format(source=source, hypothesis=hypothesis, reference_block=block, **names)


def _esa_answer(mqm_answer: str) -> str:
    """An MQM example answer in ESA's two severities (the examples have no critical error)."""
    lines = mqm_answer.split("\n")
    return "\n".join(lines[2:]) if lines[:2] == ["Critical:", "no-error"] else mqm_answer


def _conversation(system: str, instructions: str, *, esa: bool, source: str, hypothesis: str,
                  reference: str | None, source_lang: str, target_lang: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}]
    for shot in FEW_SHOT:
        # examples carry no reference: they teach the answer format, which does not depend on it
        text = segment_text(shot["source"], shot["hypothesis"], None, source_lang=shot["src_lang"],
                            target_lang=shot["tgt_lang"])
        messages.append({"role": "user", "content": text + "\n" + instructions})
        answer = _esa_answer(shot["answer"]) if esa else shot["answer"]
        messages.append({"role": "assistant", "content": answer})
    text = segment_text(source, hypothesis, reference, source_lang=source_lang, target_lang=target_lang)
    messages.append({"role": "user", "content": text + "\n" + instructions})
    return messages


def mqm_messages(source: str, hypothesis: str, reference: str | None = None, *, source_lang: str,
                 target_lang: str) -> list[dict[str, str]]:
    """GEMBA-MQM: the error annotation conversation for one segment."""
    return _conversation(MQM_SYSTEM, MQM_INSTRUCTIONS, esa=False, source=source, hypothesis=hypothesis,
                         reference=reference, source_lang=source_lang, target_lang=target_lang)


def esa_span_messages(source: str, hypothesis: str, reference: str | None = None, *, source_lang: str,
                      target_lang: str) -> list[dict[str, str]]:
    """GEMBA-ESA step 1: the error-span annotation conversation (major/minor)."""
    return _conversation(ESA_SYSTEM, ESA_INSTRUCTIONS, esa=True, source=source, hypothesis=hypothesis,
                         reference=reference, source_lang=source_lang, target_lang=target_lang)


def esa_score_messages(source: str, hypothesis: str, error_spans: str, reference: str | None = None, *,
                       source_lang: str, target_lang: str) -> list[dict[str, str]]:
    """GEMBA-ESA step 2: score 0–100 given the spans the judge annotated in step 1 (its answer, verbatim)."""
    segment = segment_text(source, hypothesis, reference, source_lang=source_lang, target_lang=target_lang)
    content = ESA_SCORE.format(src_name=lang_name(source_lang), tgt_name=lang_name(target_lang),
                               segment=segment, error_spans=error_spans.strip())
    return [{"role": "user", "content": content}]


def template_hash(kind: str) -> str:
    """16 hex digits of sha256 over every template piece of ``kind`` (``gemba-mqm`` or ``gemba-esa``)."""
    pieces: dict[str, Any] = {"format": PROMPT_FORMAT, "segment": SEGMENT, "reference": REFERENCE_BLOCK,
                              "few_shot": list(FEW_SHOT), "languages": LANG_NAMES}
    if kind == "gemba-mqm":
        pieces.update(system=MQM_SYSTEM, instructions=MQM_INSTRUCTIONS)
    elif kind == "gemba-esa":
        pieces.update(system=ESA_SYSTEM, instructions=ESA_INSTRUCTIONS, score=ESA_SCORE)
    else:
        raise ValueError(f"unknown judge prompt {kind!r}")
    blob = json.dumps(pieces, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def first_reference(references: Sequence[str]) -> str | None:
    return references[0] if references else None
