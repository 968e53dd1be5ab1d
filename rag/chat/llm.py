"""The language model behind an OpenAI-compatible API, and the generator that guards it.

- ``LLM`` is the provider boundary (messages in, text out). ``OpenAIChatLLM`` talks to any
  OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, Ollama...) and turns every
  transport or API failure into ``LLMUnavailable`` so the pipeline can fall back.
- ``LLMGenerator`` is the ``Generator`` over an ``LLM``: it builds the prompt with a fresh canary,
  calls the model and guards the output (``rag.chat.guard``), streaming included.
- ``make_generator(settings)`` picks ``LLMGenerator`` when an OpenAI key or base URL is set,
  else the extractive answerer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import openai

from core.text import has_visible
from rag.chat.extractive import ExtractiveAnswerer
from rag.chat.generator import (
    Completion,
    GenerationRequest,
    Generator,
    LLMUnavailable,
    Rewritten,
    Spent,
    StreamEvent,
    joined_rewrite,
)
from rag.chat.guard import (
    DEFAULT_REFUSAL,
    MIN_LEAK_SPAN,
    RULE_CONCEPTS,
    OutputGuard,
    guard_stream,
)
from rag.chat.prompts import (
    PromptMessage,
    build_messages,
    fallback_answer,
    follow_up_messages,
    new_canary,
    system_rules,
)

if TYPE_CHECKING:
    from openai._types import RequestOptions

    from core.config import Settings


@runtime_checkable
class LLM(Protocol):
    """A chat model behind an OpenAI-style message list."""

    async def complete(self, messages: list[PromptMessage], *, user: str | None) -> Completion: ...

    def stream(
        self, messages: list[PromptMessage], *, user: str | None
    ) -> AsyncIterator[StreamEvent]:
        """Deltas, then one ``done`` event whose completion carries the usage."""
        ...

    async def aclose(self) -> None: ...


CHAT_COMPLETIONS: Final = "/chat/completions"
# What ``chat.completions.create`` passes the SDK besides the body: the API key as a bearer token.
_OPTIONS: Final[RequestOptions] = {"security": {"bearer_auth": True}}
# Streamed chunks as the decoded JSON objects: the SDK still decodes the SSE, raises an
# ``APIError`` for an error sent mid-stream and closes the response; only its per-chunk pydantic
# models (ChatCompletionChunk, Choice, ChoiceDelta...) are not built.
_RAW_STREAM: Final = openai.AsyncStream[object]
_EMPTY: Final[dict[str, Any]] = {}
# What a reply may not carry into an answer: NUL (PostgreSQL refuses it in text), the other C0
# controls but tab and line breaks, DEL (as ``rag.knowledge.parsed`` drops them from documents),
# and lone surrogates (a JSON escape of half a character: no UTF-8 for it).
_UNSTORABLE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
CHARS_PER_TOKEN_CAP: Final = 8
"""A reply's length cap, in characters per ``max_tokens`` token: twice what an English token
averages, so a server that honours ``max_tokens`` never meets it, and one that ignores it stops
there (the reply is cut as at max_tokens: ``finish_reason`` "length")."""


def _mapping(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (read-only)."""
    return value if isinstance(value, dict) else _EMPTY


def model_text(value: object) -> str:
    """The model's text as an answer may hold it (``_UNSTORABLE`` dropped): what the guard
    checks, the visitor is shown and the conversation records are the same text. Not a string
    (a server's ``null`` content): empty."""
    return _UNSTORABLE.sub("", value) if isinstance(value, str) else ""


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def _unavailable(exc: openai.APIError) -> LLMUnavailable:
    details: dict[str, Any] = {"reason": type(exc).__name__}
    if isinstance(exc, openai.APIStatusError):
        details["upstream_status"] = exc.status_code
    return LLMUnavailable(details=details)


class OpenAIChatLLM:
    """``LLM`` over any OpenAI-compatible chat completions API (OpenAI, vLLM, Ollama...)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = "gpt-4o-mini",
        max_tokens: int = 512,
        temperature: float = 0.2,
        timeout: float = 20.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.max_chars = max_tokens * CHARS_PER_TOKEN_CAP
        self.temperature = temperature
        self.client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIChatLLM:
        return cls(
            # Self-hosted OpenAI-compatible servers often need no key; the SDK insists on one.
            api_key=settings.openai_api_key or "unused",
            base_url=settings.openai_base_url,
            model=settings.chat_model,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
        )

    async def aclose(self) -> None:
        await self.client.close()

    def _params(self, messages: list[PromptMessage], user: str | None) -> dict[str, Any]:
        """The request body, as ``chat.completions.create`` would send it: every value is
        already JSON (strings, numbers, the messages as role/content dicts), so the SDK's
        per-call type-directed transform of the parameters has nothing to change."""
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if user:
            params["user"] = user
        return params

    async def complete(self, messages: list[PromptMessage], *, user: str | None) -> Completion:
        try:
            data = await self.client.post(
                CHAT_COMPLETIONS,
                cast_to=object,
                body=self._params(messages, user),
                options=_OPTIONS,
            )
        except openai.APIError as exc:
            raise _unavailable(exc) from exc
        if not isinstance(data, dict):  # a body that is not a JSON object (a proxy's page)
            raise LLMUnavailable(details={"reason": "unexpected_response"})
        choices = data.get("choices")
        choice = _mapping(choices[0]) if isinstance(choices, list) and choices else None
        text = model_text(_mapping(choice.get("message")).get("content")) if choice else ""
        finish_reason = choice.get("finish_reason") if choice else None
        if len(text) > self.max_chars:  # a server that ignored max_tokens
            text, finish_reason = text[: self.max_chars], "length"
        usage = _mapping(data.get("usage"))
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens
            if prompt_tokens is not None
            else _estimate_prompt(messages),
            completion_tokens=(
                completion_tokens if completion_tokens is not None else _estimate_tokens(text)
            ),
            model=data.get("model") or self.model,
            finish_reason=finish_reason,
        )

    async def stream(
        self, messages: list[PromptMessage], *, user: str | None
    ) -> AsyncIterator[StreamEvent]:
        """Deltas, then ``done``. A stream whose body ends after the model's first words with
        no ``finish_reason`` (a proxy or gateway closing it when its backend died) is no whole
        answer: ``LLMUnavailable`` (``stream_incomplete``), as an error mid-stream. A reply
        reaching ``max_chars`` (a server ignoring ``max_tokens``) is cut there and ends as at
        max_tokens (``finish_reason`` "length")."""
        params = self._params(messages, user)
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
        parts: list[str] = []
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        model = self.model
        finish_reason: str | None = None
        room = self.max_chars
        over = False
        try:
            stream = await self.client.post(
                CHAT_COMPLETIONS,
                cast_to=object,
                body=params,
                options=_OPTIONS,
                stream=True,
                stream_cls=_RAW_STREAM,
            )
            async with stream:
                async for chunk in stream:
                    if not isinstance(chunk, dict):
                        continue
                    if chunk.get("model"):
                        model = chunk["model"]
                    usage = chunk.get("usage")
                    if isinstance(usage, dict):
                        prompt_tokens = usage.get("prompt_tokens")
                        completion_tokens = usage.get("completion_tokens")
                    for choice in chunk.get("choices") or ():
                        choice = _mapping(choice)
                        if choice.get("finish_reason"):
                            finish_reason = choice["finish_reason"]
                        delta = model_text(_mapping(choice.get("delta")).get("content"))
                        if len(delta) > room:
                            delta, over = delta[:room], True
                        if delta:
                            room -= len(delta)
                            parts.append(delta)
                            yield StreamEvent("delta", delta)
                    if over:  # the length cap: the rest is not read
                        finish_reason = "length"
                        break
        except openai.APIError as exc:
            raise _unavailable(exc) from exc
        if parts and finish_reason is None:
            raise LLMUnavailable(details={"reason": "stream_incomplete"})
        text = "".join(parts)
        yield StreamEvent(
            "done",
            completion=Completion(
                text=text,
                prompt_tokens=prompt_tokens
                if prompt_tokens is not None
                else _estimate_prompt(messages),
                completion_tokens=completion_tokens
                if completion_tokens is not None
                else _estimate_tokens(text),
                model=model,
                finish_reason=finish_reason,
            ),
        )


def _estimate_prompt(messages: list[PromptMessage]) -> int:
    return sum(_estimate_tokens(m.get("content", "")) + 4 for m in messages)


async def _tallied(
    events: AsyncIterator[StreamEvent], messages: list[PromptMessage], spent: Spent
) -> AsyncIterator[StreamEvent]:
    """``events`` as they come, ``spent`` kept up with them: from the model's first words the
    prompt and the text so far (estimated), at ``done`` the usage it carries."""
    async for event in events:
        if event.kind == "delta" and event.text:
            spent.text += event.text
            spent.prompt_tokens = spent.prompt_tokens or _estimate_prompt(messages)
            spent.completion_tokens = _estimate_tokens(spent.text)
        elif event.kind == "done" and event.completion is not None:
            spent.prompt_tokens = event.completion.prompt_tokens
            spent.completion_tokens = event.completion.completion_tokens
        yield event


@dataclass
class LLMGenerator:
    """``Generator`` backed by an ``LLM``: prompt with a fresh canary, call, guard the output."""

    llm: LLM
    refusal: str = DEFAULT_REFUSAL
    min_span: int = MIN_LEAK_SPAN
    extractive: bool = field(default=False, init=False)

    def _prepare(self, request: GenerationRequest) -> tuple[list[PromptMessage], OutputGuard]:
        canary = new_canary()
        messages = build_messages(
            persona=request.persona,
            bot_name=request.bot_name,
            question=request.question,
            passages=request.passages,
            history=request.history,
            canary=canary,
            offer_contact=request.offer_contact,
            dont_know=request.dont_know,
        )
        guard = OutputGuard(
            [canary, system_rules(request.bot_name, offer_contact=request.offer_contact)],
            min_span=self.min_span,
            refusal=self.refusal,
            persona=request.persona,
            rule_concepts=RULE_CONCEPTS,
            public_text=[p.text for p in request.passages],
        )
        return messages, guard

    async def generate(self, request: GenerationRequest) -> Completion:
        messages, guard = self._prepare(request)
        completion = await self.llm.complete(messages, user=request.user)
        if guard.leaks(completion.text):
            return replace(completion, text=guard.refusal, guarded=True)
        return _said_something(completion, request)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        messages, guard = self._prepare(request)
        events = self.llm.stream(messages, user=request.user)
        if request.spent is not None:
            events = _tallied(events, messages, request.spent)
        async for event in guard_stream(events, guard):
            final = event.completion
            if event.kind == "done" and final is not None and not final.guarded:
                said = _said_something(final, request)
                if said is not final:  # what was shown (blanks at most) makes way for it
                    yield StreamEvent("replace", said.text)
                    event = StreamEvent("done", completion=said)
            yield event

    async def aclose(self) -> None:
        await self.llm.aclose()

    async def rewrite_follow_up(
        self, message: str, history: Sequence[tuple[str, str]]
    ) -> Rewritten:
        """The model rewrites the follow-up; without it (an outage, an empty or overlong reply)
        the previous question and the follow-up are joined. The tokens a reply took are
        counted whether it is used or not."""
        try:
            completion = await self.llm.complete(follow_up_messages(message, history), user=None)
        except LLMUnavailable:
            return joined_rewrite(message, history)
        text = completion.text.strip().strip('"')
        tokens = (completion.prompt_tokens, completion.completion_tokens)
        if 0 < len(text) <= 500:
            return Rewritten(text, *tokens)
        return replace(
            joined_rewrite(message, history), prompt_tokens=tokens[0], completion_tokens=tokens[1]
        )


def _said_something(completion: Completion, request: GenerationRequest) -> Completion:
    """``completion``, or when its text shows nothing (a reply withheld by the provider's
    content filter, a reasoning model that spent ``max_tokens`` before writing any answer) the
    answer a failed model gets (``fallback_answer``), its tokens still counted: never an empty
    answer. It cites no passage, so the question is left unanswered for the owner."""
    if has_visible(completion.text):
        return completion
    text = request.unavailable or fallback_answer("", offer_contact=request.offer_contact)
    return replace(completion, text=text)


def make_generator(settings: Settings, *, llm: LLM | None = None) -> Generator:
    """``LLMGenerator`` when an OpenAI key or base URL is set, else ``ExtractiveAnswerer``."""
    if llm is not None:
        return LLMGenerator(llm)
    if settings.openai_api_key or settings.openai_base_url:
        return LLMGenerator(OpenAIChatLLM.from_settings(settings))
    return ExtractiveAnswerer()
