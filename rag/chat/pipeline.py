"""The answer pipeline: what a site visitor experiences.

message -> validate (length, quota) -> intent -> FAQ -> response cache -> retrieval
        -> "don't know" when weak -> generation (LLM or extractive) -> citations, metering,
        conversation log -> cache store

Two short transactions surround the model call, so no database connection is held while a
model thinks: the first validates, meters and records the visitor's message and gathers the
knowledge; the second records the answer, its tokens and an unanswered question if any.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics
from core.config import Settings
from core.db import Database
from core.errors import AppError, NotFound, ValidationFailed
from rag.chat import faq as faq_service
from rag.chat import notify
from rag.chat import repository as repo
from rag.chat.cache import CacheHit, ResponseCache
from rag.chat.extractive import ExtractiveAnswerer
from rag.chat.generator import Completion, GenerationRequest, Generator, LLMUnavailable
from rag.chat.intents import detect_intent, persona_reply
from rag.chat.links import LinkPolicy, restrict_links
from rag.chat.llm import LLMGenerator
from rag.chat.models import ChatMessage, Conversation, UnansweredQuestion
from rag.chat.normalize import normalize_question, visitor_hash
from rag.chat.prompts import Citation, Passage, dont_know_answer, extract_citations, fallback_answer
from rag.knowledge import retrieval
from rag.knowledge.embeddings import Embedder
from workspaces import usage
from workspaces.models import Workspace
from workspaces.plans import get_plan

Source = Literal["faq", "cache", "rag", "fallback", "handoff"]
# Answers drawn from documents (quoted, or written by a model that read them): their links are
# restricted. FAQ answers and canned replies are the owner's words and are left alone.
LINKED: tuple[Source, ...] = ("rag", "cache")
Channel = Literal["widget", "owner"]

_FOLLOW_UP = re.compile(
    r"^(and|also|what about|how about|but|so|then|why|ok(ay)? (and|so)|same for)\b"
    r"|\b(it|its|it's|that|this|they|them|their|those|these|there|he|she|one|ones)\b",
    re.IGNORECASE,
)


@dataclass
class ChatInput:
    workspace: Workspace
    message: str
    session_id: str
    conversation_id: uuid.UUID | None = None
    channel: Channel = "widget"


@dataclass
class ChatResult:
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    answer: str
    intent: str
    source: Source
    citations: list[dict[str, Any]]
    lead_capture: bool
    timings_ms: dict[str, float]
    extractive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": str(self.conversation_id),
            "message_id": str(self.message_id),
            "answer": self.answer,
            "intent": self.intent,
            "source": self.source,
            "citations": self.citations,
            "lead_capture": self.lead_capture,
            "timings_ms": self.timings_ms,
            "extractive": self.extractive,
        }


@dataclass
class _Turn:
    """What the first transaction decided."""

    inp: ChatInput
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    intent: str
    lead_capture: bool
    knowledge_version: int
    normalized: str
    embedding: np.ndarray | None
    standalone: str
    cacheable: bool
    history: list[tuple[str, str]]
    bot_name: str
    timings: dict[str, float] = field(default_factory=dict)
    # Set when the answer is known without generation.
    answer: str | None = None
    source: Source | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    unanswered: bool = False
    handoff_delivery: uuid.UUID | None = None
    cap_reached: bool = False
    clock: _Clock | None = None


class _Clock:
    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.start = time.perf_counter()
        self.last = self.start

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round((now - self.last) * 1000, 2)
        self.last = now

    def total(self) -> None:
        self.timings["total"] = round((time.perf_counter() - self.start) * 1000, 2)


def bot_name_of(workspace: Workspace) -> str:
    config = workspace.widget_config or {}
    return str(config.get("bot_name") or f"{workspace.name} assistant")


def looks_like_follow_up(message: str) -> bool:
    words = message.split()
    return len(words) <= 12 and bool(_FOLLOW_UP.search(message))


class AnswerPipeline:
    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        embedder: Embedder,
        generator: Generator,
        cache: ResponseCache,
        notifier: notify.Notifier,
    ) -> None:
        self.db = db
        self.settings = settings
        self.embedder = embedder
        self.generator = generator
        self.extractive = ExtractiveAnswerer()
        self.cache = cache
        self.notifier = notifier

    # --- public -------------------------------------------------------------------------

    async def answer(self, inp: ChatInput) -> ChatResult:
        timings: dict[str, float] = {}
        clock = _Clock(timings)
        turn = await self._prepare(inp, clock)
        completion: Completion | None = None
        if turn.answer is None:
            completion = await self._generate(turn)
            clock.lap("generation")
        result = await self._finish(turn, completion, clock)
        return result

    async def stream(self, inp: ChatInput) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Server-sent events: meta, delta..., citations, done (or error)."""
        timings: dict[str, float] = {}
        clock = _Clock(timings)
        turn = await self._prepare(inp, clock)
        yield "meta", self._meta(turn)
        completion: Completion | None = None
        if turn.answer is None:
            text = ""
            try:
                async for event in self._generator_for(turn).stream(self._request(turn)):
                    if event.kind == "delta" and event.text:
                        text += event.text
                        yield "delta", {"text": event.text}
                    elif event.kind == "replace":
                        text = event.text
                        yield "replace", {"text": event.text}
                    elif event.kind == "done" and event.completion is not None:
                        completion = event.completion
            except LLMUnavailable:
                completion = None
                turn.answer = fallback_answer("")
                turn.source = "fallback"
                yield "replace", {"text": turn.answer}
            if completion is None and turn.answer is None:
                completion = Completion(text=text, prompt_tokens=0, completion_tokens=0, model="")
            clock.lap("generation")
        else:
            yield "delta", {"text": turn.answer}
        result = await self._finish(turn, completion, clock)
        yield "citations", {"citations": result.citations}
        yield "done", result.to_dict()

    # --- stage 1: validate, meter, record, gather knowledge ------------------------------

    async def _prepare(self, inp: ChatInput, clock: _Clock) -> _Turn:
        message = inp.message.strip()
        if not message:
            raise ValidationFailed(
                "The message is empty", code="message_empty", details=[{"field": "message"}]
            )
        if len(message) > self.settings.max_message_chars:
            raise ValidationFailed(
                f"The message is longer than {self.settings.max_message_chars} characters",
                code="message_too_long",
                details=[{"field": "message", "max_length": self.settings.max_message_chars}],
            )
        workspace = inp.workspace
        intent = detect_intent(message)
        clock.lap("validate")

        # 1. A short write: meter (refusing over quota before any model runs), record the
        #    visitor's message; courtesy, handoff and exact FAQ answers are settled here too.
        async with self.db.transaction(workspace_id=workspace.id, durable=False) as session:
            conversation, history, is_new = await self._conversation(session, inp)
            # The conversation (when new), the message, the conversation's count (when it had
            # history) and the usage counters: one statement, then the quota check on its result.
            amounts = {"messages": 1} | ({"conversations": 1} if not history else {})
            counters = await repo.record_message_metered(
                session,
                message=ChatMessage(
                    id=uuid.uuid4(),
                    workspace_id=workspace.id,
                    conversation_id=conversation.id,
                    role="user",
                    text=message,
                    intent=intent.intent,
                ),
                new_conversation=conversation if is_new else None,
                touch_conversation_id=conversation.id if history else None,
                usage=usage.increment_statement(workspace.id, **amounts),
            )
            self._meter(workspace, dict(zip(amounts, counters, strict=True)))
            clock.lap("record")
            follow_up = bool(history) and looks_like_follow_up(message)
            turn = _Turn(
                inp=inp,
                conversation_id=conversation.id,
                message_id=uuid.uuid4(),
                intent=intent.intent,
                lead_capture=intent.intent in ("lead", "human"),
                knowledge_version=int(workspace.knowledge_version),
                normalized=normalize_question(message),
                embedding=None,
                standalone=message,
                cacheable=not follow_up,
                history=history,
                bot_name=bot_name_of(workspace),
                timings=clock.timings,
                clock=clock,
            )
            if intent.intent in ("greeting", "thanks", "goodbye"):
                greeting = (workspace.widget_config or {}).get("greeting")
                turn.answer = persona_reply(intent.intent, turn.bot_name, greeting)
                turn.source = "fallback"
                return turn
            if intent.intent == "human":
                await self._hand_off(session, turn, message)
                return turn
            if not follow_up and await self._faq(session, turn, turn.normalized, None):
                return turn

        # 2. Exact cache, then what needs the embedding: no transaction is open meanwhile.
        if follow_up:
            turn.standalone = await self._rewrite(message, history)
            clock.lap("rewrite")
        elif turn.cacheable:
            hit = await self.cache.get_exact(
                workspace.id, turn.knowledge_version, turn.normalized, count_miss=False
            )
            clock.lap("cache")
            if hit is not None:
                return self._from_cache(turn, hit)
        turn.embedding = await self.embedder.embed_query(turn.standalone)
        clock.lap("embed")

        # 3. Read: FAQ (semantic, or exact on the rewritten question), semantic cache, retrieval.
        async with self.db.transaction(workspace_id=workspace.id) as session:
            key = normalize_question(turn.standalone) if follow_up else ""
            if await self._faq(session, turn, key, turn.embedding):
                return turn
            if turn.cacheable:
                hit = await self.cache.get_semantic(
                    workspace.id, turn.knowledge_version, turn.embedding
                )
                clock.lap("cache_semantic")
                if hit is not None:
                    return self._from_cache(turn, hit)
            hits = await retrieval.search(
                session,
                workspace_id=workspace.id,
                query=turn.standalone,
                query_embedding=turn.embedding,
                k=self.settings.retrieval_k,
                mode=retrieval.DEFAULT_MODE,
            )
            clock.lap("retrieval")
            minimum = self.settings.retrieval_min_similarity
            relevant = [h for h in hits if h.similarity is None or h.similarity >= minimum]
            if not relevant:
                turn.answer = dont_know_answer()
                turn.source = "fallback"
                turn.lead_capture = True
                turn.unanswered = True
                return turn
            turn.passages = [
                Passage(
                    n=i + 1,
                    chunk_id=h.chunk_id,
                    document_id=h.document_id,
                    title=h.title,
                    url=h.url,
                    page=h.page,
                    text=h.text,
                    score=h.score,
                )
                for i, h in enumerate(relevant)
            ]
            plan = get_plan(usage.effective_plan(workspace))
            if plan.limit("daily_llm_tokens") is not None and not self.generator.extractive:
                try:
                    await usage.check_daily_tokens(session, workspace)
                except AppError:
                    turn.cap_reached = True  # the owner's daily cap: answer extractively
            turn.source = "rag"
            return turn

    async def _faq(
        self,
        session: AsyncSession,
        turn: _Turn,
        normalized: str,
        embedding: np.ndarray | None,
    ) -> bool:
        match = await faq_service.match(
            session,
            workspace_id=turn.inp.workspace.id,
            normalized=normalized,
            embedding=embedding,
            threshold=self.settings.faq_similarity_threshold,
        )
        if turn.clock is not None:
            turn.clock.lap("faq" if embedding is None else "faq_semantic")
        if match is None:
            return False
        turn.answer = match.faq.answer
        turn.source = "faq"
        return True

    async def _hand_off(self, session: AsyncSession, turn: _Turn, message: str) -> None:
        workspace = turn.inp.workspace
        turn.answer = persona_reply("human", turn.bot_name)
        turn.source = "handoff"
        await repo.set_conversation_status(
            session,
            workspace_id=workspace.id,
            conversation_id=turn.conversation_id,
            status="handoff",
        )
        turn.handoff_delivery = await notify.enqueue(
            session,
            workspace,
            "conversation.handoff",
            {
                "conversation_id": str(turn.conversation_id),
                "session_id": turn.inp.session_id,
                "message": message,
            },
        )

    @staticmethod
    def _observe(
        turn: _Turn, source: str, completion: Completion | None, timings: dict[str, float]
    ) -> None:
        """Feed /metrics: stage timings, where answers came from, cache and FAQ hit ratios,
        LLM tokens and latency."""
        for stage, ms in timings.items():
            metrics.observe_stage(stage, ms / 1000)
        metrics.count_answer(source)
        if "faq" in timings or "faq_semantic" in timings:
            metrics.count_faq(source == "faq")
        if ("cache" in timings or "cache_semantic" in timings) and source != "faq":
            metrics.count_cache("hit" if source == "cache" else "miss")
        if "generation" in timings:
            model = completion.model if completion is not None and completion.model else "none"
            outcome = "ok" if completion is not None else "error"
            metrics.observe_llm(model, timings["generation"] / 1000, outcome)
            if completion is not None:
                metrics.count_llm_tokens(
                    model, prompt=completion.prompt_tokens, completion=completion.completion_tokens
                )

    @classmethod
    def _from_cache(cls, turn: _Turn, hit: CacheHit) -> _Turn:
        turn.citations = list(hit.entry.get("citations", []))
        turn.answer = cls._safe_links(turn, str(hit.entry["answer"]))
        turn.source = "cache"
        return turn

    @staticmethod
    def _safe_links(turn: _Turn, answer: str) -> str:
        """Links in an answer drawn from documents stay clickable only to the sources it cites
        and the workspace's allowed origins (rag.links)."""
        config = turn.inp.workspace.widget_config or {}
        policy = LinkPolicy.of(
            cited_urls=[c.get("url") for c in turn.citations],
            allowed_origins=list(config.get("allowed_origins") or []),
        )
        return restrict_links(answer, policy)

    async def _conversation(
        self, session: AsyncSession, inp: ChatInput
    ) -> tuple[Conversation, list[tuple[str, str]], bool]:
        """The conversation, its recent history, and whether it is new (not inserted yet: the
        caller inserts it with the visitor's message)."""
        workspace_id = inp.workspace.id
        if inp.conversation_id is not None:
            conversation = await repo.get_conversation(
                session, workspace_id=workspace_id, conversation_id=inp.conversation_id
            )
            if conversation is None or conversation.session_id != inp.session_id:
                raise NotFound("Conversation not found")
            recent = await repo.recent_messages(
                session,
                workspace_id=workspace_id,
                conversation_id=conversation.id,
                limit=self.settings.history_turns,
            )
            return conversation, [(m.role, m.text) for m in recent], False
        conversation = Conversation(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            session_id=inp.session_id,
            channel=inp.channel,
            status="open",
            message_count=1,  # the visitor's first message, recorded with it
        )
        return conversation, [], True

    @staticmethod
    def _meter(workspace: Workspace, counted: dict[str, int]) -> None:
        """Count first, then compare: exact at the limit even under concurrency (the upsert
        serialises on the counter row, and a refusal rolls the increment back). ``counted``
        holds each metric's value after this request's increment of one."""
        for metric, value in counted.items():
            usage.ensure_within(
                plan_code=usage.effective_plan(workspace),
                metric=metric,  # type: ignore[arg-type]
                used=int(value) - 1,
                resets_at=usage.month_reset(),
            )

    async def _rewrite(self, message: str, history: list[tuple[str, str]]) -> str:
        """A follow-up becomes a standalone question before retrieval."""
        last_question = next((text for role, text in reversed(history) if role == "user"), "")
        fallback = f"{last_question} {message}".strip()
        if not isinstance(self.generator, LLMGenerator):
            return fallback
        transcript = "\n".join(f"{role}: {text[:500]}" for role, text in history[-4:])
        prompt = [
            {
                "role": "system",
                "content": "Rewrite the user's last message as one standalone question, using the"
                " conversation for context. Reply with the question only.",
            },
            {"role": "user", "content": f"Conversation:\n{transcript}\n\nLast message: {message}"},
        ]
        try:
            completion = await self.generator.llm.complete(prompt, user=None)
        except LLMUnavailable:
            return fallback
        text = completion.text.strip().strip('"')
        return text if 0 < len(text) <= 500 else fallback

    # --- stage 2: generation --------------------------------------------------------------

    def _generator_for(self, turn: _Turn) -> Generator:
        return self.extractive if turn.cap_reached else self.generator

    def _request(self, turn: _Turn) -> GenerationRequest:
        return GenerationRequest(
            question=turn.standalone,
            passages=turn.passages,
            persona=turn.inp.workspace.persona,
            bot_name=turn.bot_name,
            history=turn.history,
            user=visitor_hash(turn.inp.session_id, self.settings.jwt_key),
        )

    async def _generate(self, turn: _Turn) -> Completion | None:
        try:
            return await self._generator_for(turn).generate(self._request(turn))
        except LLMUnavailable:
            turn.answer = fallback_answer("")
            turn.source = "fallback"
            return None

    # --- stage 3: record and meter the answer ---------------------------------------------

    def _meta(self, turn: _Turn) -> dict[str, Any]:
        return {
            "conversation_id": str(turn.conversation_id),
            "message_id": str(turn.message_id),
            "intent": turn.intent,
            "source": turn.source,
            "lead_capture": turn.lead_capture,
        }

    async def _finish(
        self, turn: _Turn, completion: Completion | None, clock: _Clock
    ) -> ChatResult:
        workspace = turn.inp.workspace
        extractive = False
        prompt_tokens = completion_tokens = 0
        if completion is not None:
            turn.answer = completion.text
            extractive = completion.extractive
            prompt_tokens, completion_tokens = (
                completion.prompt_tokens,
                completion.completion_tokens,
            )
            citations: list[Citation] = extract_citations(completion.text, turn.passages)
            turn.citations = [c.to_dict() for c in citations]
            for item in turn.citations:
                for key in ("document_id", "chunk_id"):
                    if item.get(key) is not None:
                        item[key] = str(item[key])
        source: Source = turn.source or "fallback"
        answer = (
            self._safe_links(turn, turn.answer or "") if source in LINKED else turn.answer or ""
        )
        async with self.db.transaction(workspace_id=workspace.id, durable=False) as session:
            # The answer and the conversation's message count in one statement.
            await repo.record_answer(
                session,
                ChatMessage(
                    id=turn.message_id,
                    workspace_id=workspace.id,
                    conversation_id=turn.conversation_id,
                    role="assistant",
                    text=answer,
                    intent=turn.intent,
                    source=source,
                    citations=turn.citations,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    latency_ms=int((time.perf_counter() - clock.start) * 1000),
                    timings=dict(clock.timings),
                ),
            )
            if prompt_tokens or completion_tokens:
                await usage.record_llm_tokens(
                    session, workspace.id, prompt_tokens + completion_tokens
                )
            if turn.unanswered:
                await repo.insert_unanswered(
                    session,
                    UnansweredQuestion(
                        id=uuid.uuid4(),
                        workspace_id=workspace.id,
                        question=turn.inp.message.strip()[:2000],
                        normalized=turn.normalized,
                        embedding=None if turn.embedding is None else turn.embedding.tolist(),
                        conversation_id=turn.conversation_id,
                        message_id=turn.message_id,
                    ),
                )
        if turn.handoff_delivery is not None:
            self.notifier.schedule(workspace.id, turn.handoff_delivery)
        if (
            source == "rag"
            and turn.cacheable
            and turn.citations
            and completion is not None
            and not completion.guarded
        ):
            await self.cache.put(
                workspace.id,
                turn.knowledge_version,
                turn.normalized,
                turn.embedding,
                {"answer": answer, "citations": turn.citations, "extractive": extractive},
            )
        clock.lap("record_answer")
        clock.total()
        self._observe(turn, source, completion, clock.timings)
        return ChatResult(
            conversation_id=turn.conversation_id,
            message_id=turn.message_id,
            answer=answer,
            intent=turn.intent,
            source=source,
            citations=turn.citations,
            lead_capture=turn.lead_capture,
            timings_ms=dict(clock.timings),
            extractive=extractive,
        )
