"""What the answer pipeline calls to write an answer: the ``Generator`` protocol, its request and
its results.

Two implementations: ``rag.chat.llm.LLMGenerator`` (a prompt with a fresh canary, an
OpenAI-compatible model, the output guard, streaming included) and
``rag.chat.extractive.ExtractiveAnswerer`` (no model: the retrieved passages' best sentences,
labelled as such). ``rag.chat.llm.make_generator(settings)`` picks one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from core.errors import AppError
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


@dataclass(slots=True)
class Spent:
    """What a streamed answer has cost so far, kept up as the model writes: a stream that ends
    before its ``done`` event (an error mid-stream, the turn cancelled) is still metered for
    the text the model wrote. Nothing until the model's first words (a request that failed
    before them wrote nothing); then the prompt, estimated, and the completion, estimated from
    the text so far; the provider's usage once it reports it."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    text: str = ""
    """What the model wrote so far (before the output guard)."""
    closed: bool = False
    """Counted with the recorded answer: a failure after that counts nothing more."""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def partial(self) -> Completion | None:
        """The interrupted answer as a completion (its text and tokens); None when the model
        wrote nothing."""
        if not self.tokens:
            return None
        return Completion(self.text, self.prompt_tokens, self.completion_tokens, model="")


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    question: str
    passages: Sequence[Passage]
    persona: str = ""
    bot_name: str = "Assistant"
    history: Sequence[tuple[str, str]] = ()
    user: str | None = None
    """Pseudonymous visitor id (``rag.chat.normalize.visitor_hash``), the OpenAI ``user``."""
    offer_contact: bool = True
    """The owner lets the bot ask for contact details: false when the workspace's lead capture
    is "Never" (the rules then forbid offering a follow-up; "I don't know" asks for nothing)."""
    dont_know: str | None = None
    """The owner's "don't know" answer (widget settings' ``texts``), None for the default."""
    unavailable: str | None = None
    """The owner's answer for a model that failed, None for the default."""
    documentation_prefix: str | None = None
    """The owner's label before an answer the extractive answerer quotes, None for the
    default (``rag.chat.extractive.EXTRACTIVE_PREFIX``)."""
    spent: Spent | None = None
    """Kept up by ``Generator.stream`` as the model writes (a model's generator; the extractive
    answerer spends nothing)."""


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


@dataclass(frozen=True)
class Rewritten:
    """A follow-up rewritten to stand alone, and the model tokens that took (metered with the
    turn's answer)."""

    question: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    joined: bool = False
    """Read with the last question, no model's rewrite (``joined_follow_up``): the pipeline
    reads the message alone first (``rag.chat.pipeline``)."""

    @property
    def tokens(self) -> tuple[int, int]:
        return (self.prompt_tokens, self.completion_tokens)


def joined_follow_up(message: str, history: Sequence[tuple[str, str]]) -> str:
    """The rewrite without a model: the visitor's previous question, then the follow-up. The
    pipeline reads the follow-up alone first (``Rewritten.joined``) and this when that finds
    nothing (python -m bench.follow_ups, docs/retrieval.md)."""
    last_question = next((text for role, text in reversed(history) if role == "user"), "")
    return f"{last_question} {message}".strip()


def joined_rewrite(message: str, history: Sequence[tuple[str, str]]) -> Rewritten:
    """The follow-up without a model's rewrite: ``joined_follow_up``, marked ``joined``."""
    return Rewritten(joined_follow_up(message, history), joined=True)
