"""Free text completion by a translation backend: what an LLM judge needs from ``llama-cpp`` and ``openai``.

A backend that can complete text has ``complete(prompts, *, max_tokens, temperature, seed)``: each prompt
is a chat conversation (a list of ``{"role", "content"}`` messages), each answer a :class:`Completion`.
Servers and GGUF models with a chat template get the messages as they are; a base model (a GGUF without
a chat template, or a server's ``/completions`` endpoint) gets them flattened by :func:`messages_to_text`
into a plain transcript that ends with ``Assistant:``, and stops before inventing the next user turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Message = Mapping[str, str]
Conversation = Sequence[Message]

#: stop strings for a flattened transcript: the model must not write the next turn itself
TRANSCRIPT_STOP = ["\nUser:", "\nSystem:"]


@dataclass(frozen=True)
class Completion:
    """One answer: its text, token counts (None when the backend does not say) and why it ended.

    ``finish_reason`` is ``"length"`` when ``max_tokens`` cut the answer, ``"stop"`` when it ended by
    itself (other values as the server reports them, e.g. ``"content_filter"``).
    """

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def messages_to_text(messages: Conversation) -> str:
    """A chat conversation as one completion prompt for a model without a chat template."""
    parts = []
    for message in messages:
        role = str(message.get("role", "user"))
        content = str(message.get("content", ""))
        if role == "system":
            parts.append(content.strip() + "\n")
        else:
            parts.append(f"{'Assistant' if role == 'assistant' else 'User'}: {content.strip()}\n")
    return "\n".join(parts) + "\nAssistant:"


def can_complete(backend: Any) -> bool:
    """Whether a translator object offers :func:`complete` (duck-typed: plugins may add it too)."""
    return callable(getattr(backend, "complete", None))


def usage_int(value: Any) -> int | None:
    """A token count from a server's ``usage`` object, or None when it is absent or not a count."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
