"""Prompts and generation bounds shared by the LLM backends (``llama-cpp``, ``openai``).

One place builds the few-shot completion prompt and the chat messages, so a local GGUF model and the
same model behind an OpenAI-compatible server see the same text. It also holds the two rules that
bound generation (issue 11): a ``max_tokens`` derived from the source length, and a repetition stop
for loops the output check (:func:`mt_eval.checks.has_repetition_loop`) would flag anyway.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

LANG_NAMES = {"ar": "Arabic", "en": "English", "fr": "French", "de": "German", "es": "Spanish"}

#: Generic example pairs written for this prompt; deliberately not taken from any test set.
DEFAULT_FEW_SHOT: list[tuple[str, str]] = [
    ("ذهبت إلى السوق صباح اليوم لشراء الخبز والحليب.",
     "I went to the market this morning to buy bread and milk."),
    ("قال المسؤول إن المدرسة الجديدة ستفتح أبوابها في الشهر المقبل.",
     "The official said that the new school will open its doors next month."),
    ("يعيش أكثر من نصف سكان العالم في المدن.",
     "More than half of the world's population lives in cities."),
]
DEFAULT_TEMPLATE = "{src_name}: {source}\n{tgt_name}:"
DEFAULT_HEADER = "Translate {src_name} to {tgt_name}.\n\n"
DEFAULT_SYSTEM_PROMPT = ("You are a professional translator. Translate the user's {src_name} text into "
                         "{tgt_name}. Reply with the translation only.")

#: Output tokens allowed per source token when ``max_tokens`` is not given. A faithful translation
#: needs about 1-1.5 output tokens per source token (Arabic -> English, Gemma's tokenizer); 3 leaves
#: room for every natural ending measured on the seed paragraphs and stops runaway loops early.
DEFAULT_MAX_TOKENS_RATIO = 3.0
#: Floor of the derived ``max_tokens``, so a one-word source can still get a short sentence back.
DEFAULT_MAX_TOKENS_FLOOR = 32
#: Characters per source token assumed where the server's tokenizer is unknown (``openai``).
CHARS_PER_TOKEN_ESTIMATE = 3.0
_LAST_WORD = re.compile(r"\S+\Z")


def lang_names(source_lang: str, target_lang: str) -> dict[str, str]:
    return {"src_name": LANG_NAMES.get(source_lang, source_lang),
            "tgt_name": LANG_NAMES.get(target_lang, target_lang)}


def one_line(text: str) -> str:
    """Line breaks inside a source would end the completion at the stop string: make them spaces."""
    return " ".join(text.split())


def completion_prompt(source: str, *, header: str, template: str, few_shot: list[tuple[str, str]],
                      source_lang: str, target_lang: str) -> str:
    """The few-shot completion prompt for a base model; ends with ``<tgt_name>:``."""
    names = lang_names(source_lang, target_lang)
    parts = [header.format(**names)]
    parts += [template.format(source=src, **names) + f" {tgt}\n\n" for src, tgt in few_shot]
    parts.append(template.format(source=one_line(source), **names))
    return "".join(parts)


def chat_messages(source: str, *, system_prompt: str, few_shot: list[tuple[str, str]],
                  source_lang: str, target_lang: str) -> list[dict[str, str]]:
    """System prompt, few-shot turns, then the source as the last user turn."""
    names = lang_names(source_lang, target_lang)
    messages = [{"role": "system", "content": system_prompt.format(**names)}]
    for src, tgt in few_shot:
        messages += [{"role": "user", "content": src}, {"role": "assistant", "content": tgt}]
    messages.append({"role": "user", "content": source})
    return messages


class GenerationBounds(BaseModel):
    """How long an LLM may generate. Recorded in the signature: it changes outputs that hit a bound."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int | None = Field(None, ge=1, description="fixed cap; None derives it from the source")
    ratio: float = Field(DEFAULT_MAX_TOKENS_RATIO, gt=0, description="output tokens per source token")
    floor: int = Field(DEFAULT_MAX_TOKENS_FLOOR, ge=1, description="smallest derived cap")
    repetition_stop: bool = Field(True, description="stop a loop the repetition check would flag")

    def limit(self, source_tokens: int) -> int:
        """The token budget for a source of ``source_tokens`` tokens."""
        if self.max_tokens is not None:
            return self.max_tokens
        return max(self.floor, math.ceil(self.ratio * max(0, source_tokens)))

    def describe(self) -> dict[str, Any]:
        rule = ("fixed" if self.max_tokens is not None
                else f"max({self.floor}, ceil({self.ratio} * source_tokens))")
        return {"max_tokens": self.max_tokens, "max_tokens_rule": rule,
                "repetition_stop": REPETITION_RULE if self.repetition_stop else None}


def _default_check_rule() -> dict[str, int]:
    from mt_eval.checks import CheckConfig

    cfg = CheckConfig()
    return {"max_n": cfg.repeat_max_n, "min_count": cfg.repeat_min_count,
            "unigram_min_count": cfg.repeat_unigram_min_count}


#: The loop rule of the default output check; stopping there never hides a flag the check would raise.
REPETITION_RULE = _default_check_rule()


def has_loop(text: str) -> bool:
    """True when the *complete* words of ``text`` (all but a possibly unfinished last one) loop.

    A generation stopped here would still be flagged ``repetition`` by the output check, because the
    full output starts with these same words.
    """
    from mt_eval.checks import has_repetition_loop

    complete = _LAST_WORD.sub("", text)
    return has_repetition_loop(complete, **REPETITION_RULE)
