"""The answer pipeline: what a site visitor experiences.

message -> validate (length, quota) -> intent -> courtesy | handoff | FAQ -> response cache
        -> retrieval -> "don't know" when weak -> rerank (RERANKER) -> generation (LLM or
        extractive) -> citations, metering, conversation log -> cache store

Each step after validation is a stage in ``rag.chat.stages``: the first that settles the answer
ends the search. At most three short transactions, and none waits for a model (the follow-up
rewrite, the embedding, the generation), nor holds a slot of the turn gate (``TurnGate``) while a
model works: a hung model or embeddings provider holds up no turn that needs none of them. With
a local embedder the question's embedding starts
before the first transaction and runs beside it (``question.embed_early``):

1. a write: meter the message (refusing over quota before any model runs), record it (and the
   conversation when new); courtesy, handoff and exact FAQ answers are settled here;
2. a read, once the question is embedded: semantic FAQ match and retrieval (skipped when the
   first transaction or the exact cache settled the answer);
3. a write: the answer, its tokens and an unanswered question if any (``rag.chat.recording``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.db import Database
from core.errors import NotFound, QuotaExceeded
from rag.chat import notify, question, recording, repeats
from rag.chat.cache import ResponseCache
from rag.chat.clock import Clock, TurnGate
from rag.chat.erasure_waits import ErasureWaits
from rag.chat.exchange import ChatInput, ChatResult, checked_message
from rag.chat.extractive import ExtractiveAnswerer
from rag.chat.follow_ups import continues
from rag.chat.generator import (
    Completion,
    GenerationRequest,
    Generator,
    LLMUnavailable,
    Spent,
)
from rag.chat.intents import Intent, detect_intent, question_of
from rag.chat.normalize import visitor_hash
from rag.chat.recording import AnswerRecorder
from rag.chat.relevance import WordMatch
from rag.chat.repository.client_messages import (
    names_a_missing_conversation,
    names_a_missing_workspace,
    repeats_a_client_message,
)
from rag.chat.shortcuts import (
    ErasureRunning,
    cache_exact,
    cache_semantic,
    callback,
    contact,
    courtesy,
    disclosure,
    faq_exact,
    faq_semantic,
    handoff,
    unavailable,
    wait_for_erasure,
)
from rag.chat.stages import (
    Answer,
    Grounding,
    Turn,
    bot_name_of,
    record,
    retrieve,
)
from rag.chat.streaming import Emit, StreamedTurns
from rag.chat.token_reservations import PASSAGE_OVERHEAD_TOKENS, TokenEstimate
from rag.knowledge import retrieval
from rag.knowledge.embeddings import Embedder
from rag.knowledge.rerank import NoReranker, Reranker
from workspaces import notifications
from workspaces.widget_keys import WorkspaceChanged

log = logging.getLogger(__name__)


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
        reranker: Reranker | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.embedder = embedder
        self.generator = generator
        self.extractive = ExtractiveAnswerer()
        self.cache = cache
        self.notifier = notifier
        self.recorder = AnswerRecorder(db=db, cache=cache, notifier=notifier)
        self.reranker = reranker or NoReranker()
        # What a turn reserves under the daily token cap before any model runs (stages.record).
        self.estimate = TokenEstimate(
            answer_tokens=0 if generator.extractive else settings.llm_max_tokens,
            passage_tokens=settings.retrieval_k * (settings.chunk_tokens + PASSAGE_OVERHEAD_TOKENS),
            rerank_tokens=self.reranker.token_estimate,
        )
        # Turns settling or recording at once (CHAT_CONCURRENT_TURNS, default DB_POOL_SIZE): a
        # turn beyond waits here, in order, rather than for a pooled connection mid-transaction
        # (or an overflow connection opened and closed again); a turn back to record its answer
        # goes first. The models (the rewrite, the embedding, generation, an LLM reranker) are
        # outside: a slot is held for the transactions only.
        self._gate = TurnGate(settings.chat_concurrent_turns or settings.db_pool_size)
        self._erasures = ErasureWaits(db)  # one connection per erased workspace waits
        self._streams = StreamedTurns()

    # --- public -------------------------------------------------------------------------

    async def answer(self, inp: ChatInput) -> ChatResult:
        clock = Clock()
        model_by = self._model_deadline()
        first = await self._settle(inp, clock, model_by)
        if isinstance(first, ChatResult):
            return first  # a repeat of a message already answered
        turn, settled = first
        # What the model's answer cost, once it returned: metered (with the rewrite's and the
        # reranker's tokens) when the turn fails or is cancelled before recording it (the
        # request's timeout while it waits for its finishing slot, a shutdown).
        spent = Spent()
        async with repeats.unclaimed_on_failure(self.db, turn, spent):
            completion: Completion | None = None
            if isinstance(settled, Grounding):
                try:
                    async with asyncio.timeout_at(model_by):
                        completion = await self._generator_for(settled).generate(
                            self._request(turn, settled)
                        )
                    spent.prompt_tokens = completion.prompt_tokens
                    spent.completion_tokens = completion.completion_tokens
                except (LLMUnavailable, TimeoutError):
                    completion = None  # the fallback, recorded
                clock.lap("generation")
            async with self._gate.slot(finishing=True):
                return await self.recorder.finish(turn, settled, completion, clock, spent=spent)

    async def stream(self, inp: ChatInput) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Server-sent events: meta (``source`` None until the answer is written: ``done``
        says what answered), delta and replace..., citations, done (or error). Once settled, the
        answer is written and recorded by a task that outlives its listener
        (``rag.chat.streaming``); ``drain`` waits for such turns. A repeat of a message already
        answered gets that answer's events (``repeats.replay_events``)."""
        clock = Clock()
        model_by = self._model_deadline()
        first = await self._settle(inp, clock, model_by)
        if isinstance(first, ChatResult):
            for event in repeats.replay_events(first):
                yield event
            return
        turn, settled = first
        relay = self._streams.relay(
            ("meta", recording.meta(turn, settled)),
            partial(self._write_and_record, turn, settled, clock, model_by),
        )
        async with aclosing(relay):
            async for event in relay:
                yield event

    async def drain(self, within_seconds: float | None = None) -> None:
        """Wait for the streamed turns still being written (``StreamedTurns.drain``)."""
        await self._streams.drain(within_seconds)

    async def _write_and_record(
        self,
        turn: Turn,
        settled: Answer | Grounding,
        clock: Clock,
        model_by: float | None,
        emit: Emit,
    ) -> None:
        # What the model wrote so far: metered when its stream breaks off, and what a turn
        # cancelled mid-answer (shutdown) settles its reservation to.
        spent = Spent()
        async with repeats.unclaimed_on_failure(self.db, turn, spent):
            await self._write(turn, settled, clock, model_by, emit, spent)

    async def _write(
        self,
        turn: Turn,
        settled: Answer | Grounding,
        clock: Clock,
        model_by: float | None,
        emit: Emit,
        spent: Spent,
    ) -> None:
        completion: Completion | None = None
        interrupted: Completion | None = None
        # "are you a bot? what are your opening hours?": what the bot is, then the answer.
        note = disclosure(turn)
        if isinstance(settled, Grounding):
            if note:
                emit("delta", {"text": note})
            text = ""
            failed = False
            generation_started = time.perf_counter()
            request = replace(self._request(turn, settled), spent=spent)
            try:
                generator = self._generator_for(settled)
                # The turn's model time runs until the model's first words; a stream under way
                # is held to LLM_TIMEOUT_SECONDS between its parts instead.
                async with asyncio.timeout_at(model_by) as model_time:
                    async for event in generator.stream(request):
                        model_time.reschedule(None)
                        if event.kind == "delta" and event.text:
                            clock.first_token(generation_started)
                            text += event.text
                            emit("delta", {"text": event.text})
                        elif event.kind == "replace":
                            clock.first_token(generation_started)
                            text = event.text
                            emit("replace", {"text": note + event.text})
                        elif event.kind == "done" and event.completion is not None:
                            completion = event.completion
            except (LLMUnavailable, TimeoutError):
                failed = True
                completion = None
                # Broken off after the model's first words: what it wrote is metered, and the
                # answer recorded as interrupted (the visitor gets the fallback in its place).
                interrupted = spent.partial()
                emit("replace", {"text": note + unavailable(turn)})
            if completion is None and not failed:
                completion = Completion(text=text, prompt_tokens=0, completion_tokens=0, model="")
            clock.lap("generation")
        else:
            clock.first_token(time.perf_counter())
            emit("delta", {"text": note + settled.text})
        async with self._gate.slot(finishing=True):
            result = await self.recorder.finish(
                turn, settled, completion, clock, interrupted=interrupted, spent=spent
            )
        emit("citations", {"citations": result.citations})
        emit("done", result.to_dict())

    # --- settling the answer: the stages, in three transactions at most ------------------

    async def _settle(
        self, inp: ChatInput, clock: Clock, model_by: float | None = None
    ) -> tuple[Turn, Answer | Grounding] | ChatResult:
        """The turn and its settled answer (or the passages to answer from); the recorded answer
        when the message is a repeat of one answered (``rag.chat.repeats``)."""
        message = checked_message(inp.message, self.settings.max_message_chars)
        # The bot's own name is no content: "Hi Captain Nemo!" greets it.
        intent = detect_intent(message, bot_name=bot_name_of(inp.workspace)).intent
        clock.lap("validate")
        early = question.embed_early(self.embedder, message, intent)
        # A gate slot for the first transaction only: the rewrite and the embedding wait for
        # a model with none held, so a hung model cannot stop the turns that need none; nor
        # does a running erasure its message waits for (``ErasureRunning``).
        while True:
            async with self._gate.slot():
                clock.lap("admit")
                try:
                    first = await self._first(inp, message, intent, clock)
                    break
                except ErasureRunning:
                    pass
                except QuotaExceeded as refused:
                    await notifications.notice_quota_refusal(self.db, inp.workspace.id, refused)
                    raise
            await self._erasures.wait(inp.workspace.id)
        if isinstance(first, ChatResult):
            return first
        turn, answer = first
        if answer is not None:
            return turn, answer
        # The follow-up's rewrite, once it returned: metered when the turn fails after it.
        spent = Spent()
        async with repeats.unclaimed_on_failure(self.db, turn, spent):
            return await self._ground(turn, early, clock, model_by, spent)

    async def _first(
        self, inp: ChatInput, message: str, intent: Intent, clock: Clock
    ) -> tuple[Turn, Answer | None] | ChatResult:
        """The first transaction: the message metered and recorded, and the answer when settled
        with it. A message the workspace recorded before with the same client_message_id is
        not recorded again (the statement fails and rolls back): ``repeats.take_up``."""
        workspace = inp.workspace
        opens_in = inp.session_id if inp.conversation_id is None else None
        try:
            async with self.db.transaction(workspace_id=workspace.id, durable=False) as session:
                await wait_for_erasure(session, workspace.id, message, opens_in=opens_in)
                turn = await record(
                    session,
                    workspace,
                    message=message,
                    intent=intent,
                    session_id=inp.session_id,
                    conversation_id=inp.conversation_id,
                    channel=inp.channel,
                    history_turns=self.settings.history_turns,
                    workspace_version=inp.workspace_version,
                    client_message_id=inp.client_message_id,
                    estimate=self.estimate,
                )
                clock.lap("record")
                return await self._settled_first(session, turn, clock)
        except IntegrityError as exc:
            if inp.workspace_version is not None and names_a_missing_workspace(exc):
                # A cached widget key's workspace was purged: looked up again (401).
                raise WorkspaceChanged(str(workspace.id)) from exc
            if names_a_missing_conversation(exc):
                # Deleted (retention, an erasure) while the message waited for it.
                raise NotFound("Conversation not found") from exc
            if inp.client_message_id is None or not repeats_a_client_message(exc):
                raise
        async with self.db.transaction(workspace_id=workspace.id, durable=False) as session:
            await wait_for_erasure(session, workspace.id, message, opens_in=opens_in)
            taken = await repeats.take_up(
                session,
                workspace,
                client_message_id=inp.client_message_id,
                session_id=inp.session_id,
                channel=inp.channel,
                message=message,
                history_turns=self.settings.history_turns,
                workspace_version=inp.workspace_version,
                estimate=self.estimate,
            )
            if isinstance(taken, ChatResult):
                return taken
            clock.lap("record")
            return await self._settled_first(session, taken, clock)

    async def _settled_first(
        self, session: AsyncSession, turn: Turn, clock: Clock
    ) -> tuple[Turn, Answer | None]:
        """What settles the answer in the first transaction: courtesy, a contact, a handoff, an
        FAQ asked word for word; the turn, with a number to call back saved first
        (``callback``). Left unsettled and cacheable, the turn reads the workspace's erasure
        epochs (``Turn.fence``) before its message commits (``rag.chat.cache_fence``): read
        by every turn before, a Redis round trip for answers never cached."""
        turn = await callback(session, turn)
        answer = courtesy(turn) or await contact(session, turn) or await handoff(session, turn)
        if answer is None:
            answer = faq_exact(turn)
            clock.lap("faq")
        if answer is None and turn.cacheable:
            turn = replace(turn, fence=await self.cache.fence(turn.workspace.id))
        return turn, answer

    async def _ground(
        self,
        turn: Turn,
        early: asyncio.Task[np.ndarray] | None,
        clock: Clock,
        model_by: float | None = None,
        spent: Spent | None = None,
    ) -> tuple[Turn, Answer | Grounding]:
        """After the first transaction: the follow-up rewritten, the exact cache, the question
        embedded (within the turn's model time: ``EmbeddingError`` past it), then the semantic
        FAQ, the semantic cache and retrieval in a read transaction (with a gate slot), and the
        reranking. ``spent``: what the rewrite cost, once it returned.

        A follow-up no model rewrote (none configured, the owner's daily cap reached, the model
        failed or ran out of time) is read alone first, unless it opens as a continuation ("and
        per year?"): "Does it work on Linux?" after a question about refunds was read as "Can
        I get a refund on a yearly plan? Does it work on Linux?" and answered with the refund
        policy. Only when the message alone finds nothing relevant (no FAQ, no passage the "I
        don't know" rule lets through) is it read with the last question (measured by
        ``python -m bench.follow_ups``: docs/retrieval.md, "Follow-ups without a model")."""
        message = turn.message
        # No transaction is open while the question is rewritten and embedded. Past the
        # owner's daily token cap the follow-up is rewritten without the model.
        if turn.follow_up:
            rewriter = self.extractive if turn.daily_cap_reached else self.generator
            # The question as recorded (``question_of``): without "are you a bot?" before it
            # or a call asked on the visitor's number beside it.
            alone = turn.standalone
            rewritten = await question.rewrite(rewriter, alone, turn.history, model_by)
            turn = replace(turn, standalone=rewritten.question, rewrite_tokens=rewritten.tokens)
            if spent is not None:
                spent.prompt_tokens, spent.completion_tokens = rewritten.tokens
            clock.lap("rewrite")
            if rewritten.joined and not continues(alone):
                read, found = await self._look_up(
                    replace(turn, standalone=alone), None, clock, model_by
                )
                if not (isinstance(found, Answer) and found.unanswered):
                    return await self._rerank(read, found, clock)
        else:
            answer = await cache_exact(self.cache, turn, model=not self.generator.extractive)
            clock.lap("cache")
            if answer is not None:
                return turn, answer
        # The early embedding is of the question as recorded (``question_of``), else the
        # standalone question is a rewritten follow-up.
        same = early if turn.standalone == question_of(message, turn.intent) else None
        return await self._rerank(*await self._look_up(turn, same, clock, model_by), clock)

    async def _look_up(
        self,
        turn: Turn,
        early: asyncio.Task[np.ndarray] | None,
        clock: Clock,
        model_by: float | None,
    ) -> tuple[Turn, Answer | Grounding]:
        """``turn.standalone`` embedded (``early``'s vector when given), then the semantic FAQ,
        the semantic cache and retrieval in a read transaction (with a gate slot)."""
        embedding = await question.embed(self.embedder, turn.standalone, early, model_by)
        turn = replace(turn, embedding=embedding)
        clock.lap("embed")
        workspace = turn.workspace
        k = self.reranker.pool(self.settings.retrieval_k)
        # The search's hnsw.ef_search is set with the tenant, in the transaction's first statement.
        # A read of Core statements only: sent by asyncpg, no session (``Database.direct``).
        ef_search = {"hnsw.ef_search": str(retrieval.ef_search_for(k, retrieval.DEFAULT_MODE))}
        async with (
            self._gate.slot(),
            self.db.direct(workspace_id=workspace.id, local=ef_search) as session,
        ):
            answer = await faq_semantic(
                session, turn, threshold=self.settings.faq_similarity_threshold
            )
            clock.lap("faq_semantic")
            if answer is None and turn.cacheable:
                answer = await cache_semantic(self.cache, turn, model=not self.generator.extractive)
                clock.lap("cache_semantic")
            if answer is not None:
                return turn, answer
            found = await retrieve(
                session,
                turn,
                k=k,
                min_similarity=self.settings.retrieval_min_similarity,
                word_match=WordMatch(
                    self.settings.retrieval_word_match_similarity,
                    self.settings.retrieval_word_match_share,
                ),
                weights=retrieval.Weights.of(self.settings),
                metered_generation=not self.generator.extractive or self.reranker.metered,
            )
            clock.lap("retrieval")
        return turn, found

    def _model_deadline(self) -> float | None:
        """When this turn's model time ends (``Settings.chat_model_seconds``, event loop time),
        counted from now, the turn's start; None: no limit but the model's own."""
        seconds = self.settings.chat_model_seconds
        return None if seconds is None else asyncio.get_running_loop().time() + seconds

    async def _rerank(
        self, turn: Turn, found: Answer | Grounding, clock: Clock
    ) -> tuple[Turn, Answer | Grounding]:
        """The best RETRIEVAL_K passages in the reranker's order, renumbered, and the turn
        with the tokens the reranker's model spent (metered with the answer's). An LLM
        reranker is skipped once the owner's daily token cap is reached."""
        if not isinstance(found, Grounding) or not self.reranker.active:
            return turn, found
        k = self.settings.retrieval_k
        if found.cap_reached and self.reranker.metered:
            kept = list(found.passages[:k])
        else:
            ranked = await self.reranker.rerank(turn.standalone, found.passages, k)
            kept = ranked.items
            turn = replace(turn, rerank_tokens=ranked.tokens)
            clock.lap("rerank")
        passages = tuple(replace(p, n=n) for n, p in enumerate(kept, 1))
        return turn, replace(found, passages=passages)

    # --- generation -------------------------------------------------------------------------

    def _generator_for(self, grounding: Grounding) -> Generator:
        return self.extractive if grounding.cap_reached else self.generator

    def _request(self, turn: Turn, grounding: Grounding) -> GenerationRequest:
        return GenerationRequest(
            question=turn.standalone,
            passages=grounding.passages,
            persona=turn.workspace.persona,
            bot_name=turn.bot_name,
            history=turn.history,
            user=visitor_hash(turn.session_id, self.settings.jwt_key),
            offer_contact=turn.offers_contact,
            dont_know=turn.text("dont_know"),
            unavailable=unavailable(turn),
            documentation_prefix=turn.text("documentation_prefix"),
        )
