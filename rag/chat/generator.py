"""What the answer pipeline calls to write an answer: the ``Generator`` protocol, its request and
its results.

Two implementations: ``rag.chat.llm.LLMGenerator`` (a prompt with a fresh canary, an
OpenAI-compatible model, the output guard, streaming included) and
``rag.chat.extractive.ExtractiveAnswerer`` (no model: the retrieved passages' best sentences,
labelled as such). ``rag.chat.llm.make_generator(settings)`` picks one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from core.errors import AppError
from rag.chat.normalize import content_terms
from rag.chat.prompts import Passage


class LLMUnavailable(AppError):
    """The language model could not answer (timeout, connection, rate limit, API error)."""

    code = "llm_unavailable"
    status_code = 503
    message = "The answer service is temporarily unavailable"


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    extractive: bool = False
    guarded: bool = False
    """True when the output guard replaced the model's text with a refusal."""
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One streaming event.

    - ``delta``: append ``text`` to the answer shown so far.
    - ``replace``: discard what was shown and show ``text`` instead (the output guard tripped).
    - ``done``: last event; ``completion`` holds the final text and the token usage.
    """

    kind: Literal["delta", "replace", "done"]
    text: str = ""
    completion: Completion | None = None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    question: str
    passages: Sequence[Passage]
    persona: str = ""
    bot_name: str = "Assistant"
    history: Sequence[tuple[str, str]] = ()
    user: str | None = None
    """Pseudonymous visitor id (``rag.chat.normalize.visitor_hash``), the OpenAI ``user``."""


@runtime_checkable
class Generator(Protocol):
    """What the answer pipeline calls: question and passages in, a safe answer out."""

    @property
    def extractive(self) -> bool: ...

    async def generate(self, request: GenerationRequest) -> Completion: ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]: ...

    async def rewrite_follow_up(
        self, message: str, history: Sequence[tuple[str, str]]
    ) -> Rewritten:
        """A follow-up ("and for yearly plans?") as a question that stands alone, for
        retrieval; ``history`` is the conversation so far as (role, text), oldest first."""
        ...

    async def aclose(self) -> None:
        """Release the model client's connections (the runtime calls it once, at exit)."""
        ...


# A message opening like this continues the one before ("and for yearly plans?").
_CONTINUES = re.compile(
    r"^\W*(and|also|what about|how about|but|so|then|why|ok(ay)? (and|so)|same for)\b",
    re.IGNORECASE,
)


def names_its_subject(message: str) -> bool:
    """A message that looked like a follow-up (a pronoun) but names what it asks about in words
    of its own ("Does it work on Linux?", "Is it possible to back up a NAS?") and does not open
    as a continuation: the pronoun is the product or the business, not the last topic."""
    return not _CONTINUES.match(message) and len(content_terms(message)) >= 2


@dataclass(frozen=True)
class Rewritten:
    """A follow-up rewritten to stand alone, and the model tokens that took (metered with the
    turn's answer)."""

    question: str
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> tuple[int, int]:
        return (self.prompt_tokens, self.completion_tokens)


def joined_follow_up(message: str, history: Sequence[tuple[str, str]]) -> str:
    """The rewrite without a model. A message that names its own subject stands alone (glued to
    the last question, a change of topic was answered about the old one); otherwise the
    visitor's last question that named its own subject, then the follow-up (never a chain of
    follow-ups, which drifted from topic to topic)."""
    if names_its_subject(message):
        return message
    asked = [text for role, text in reversed(history) if role == "user"]
    last_question = next((text for text in asked if names_its_subject(text)), "")
    if not last_question and asked:
        last_question = asked[0]
    return f"{last_question} {message}".strip()
