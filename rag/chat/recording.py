"""The third transaction of a turn: the answer as recorded and metered.

``generated`` turns the model's completion into the answer (its citations, "I don't know", the
fallback, the guard's refusal); ``AnswerRecorder.finish`` records it with the conversation's
message count, the tokens this turn spent (the answer, the follow-up's rewrite, the reranker)
and the question left unanswered, then schedules the handoff's delivery and stores a reusable
answer in the response cache. ``meta`` is the first event of a streamed answer.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from core.db import Database
from rag.chat import notify, repeats
from rag.chat.cache import ResponseCache
from rag.chat.clock import Clock, observe
from rag.chat.echoes import echoes_the_visitor
from rag.chat.exchange import ChatResult
from rag.chat.generator import Completion, Spent
from rag.chat.links import safe_links
from rag.chat.models import ChatMessage, UnansweredQuestion
from rag.chat.normalize import normalize_question
from rag.chat.prompts import drop_unknown_citations, extract_citations, fallback_answer
from rag.chat.repository import conversations as conversation_repo
from rag.chat.shortcuts import disclosure, unavailable
from rag.chat.stages import Answer, Grounding, Turn
from workspaces import usage


def generated(
    grounding: Grounding,
    completion: Completion | None,
    *,
    offer_contact: bool = True,
    unavailable: str | None = None,
) -> Answer:
    """The answer written from the passages; "I don't know" when it cites none of them; the
    fallback when the model failed (an outage, a timeout, a stream broken off: the visitor got
    no answer, so the question is left unanswered for the owner, as analytics counts it); the
    guard's refusal (``refused``: no answer, and no question left unanswered for the owner)
    when the guard withheld it. An answer the model did not finish (``cut``: stopped at
    max_tokens, or at ``rag.chat.llm``'s cap on its length) ends with "…", so the visitor
    sees it was cut short. ``unavailable``: the owner's text for the fallback."""
    offer = offer_contact
    if completion is None:
        text = unavailable or fallback_answer("", offer_contact=offer)
        return Answer(text, "fallback", unanswered=True)
    if completion.guarded:
        return Answer(completion.text, "refused")
    # A source number the model made up would show as a citation that leads nowhere.
    text = drop_unknown_citations(completion.text, grounding.passages)
    citations = extract_citations(text, grounding.passages)
    if not citations:
        # The rules make the model cite every statement it takes from a source: an answer
        # citing none said it does not know (rule 3). The owner sees the question, the
        # visitor gets the contact form, as when retrieval found nothing.
        return Answer(text, "fallback", lead_capture=offer, unanswered=True, drawn=True)
    if cut(completion):
        text = text.rstrip() + CUT_MARK
    return Answer(text, "rag", tuple(c.to_dict() for c in citations), drawn=True)


CUT_MARK = "…"
"""What ends an answer the model did not finish (``cut``)."""


def cut(completion: Completion | None) -> bool:
    """The model stopped writing before its answer's end: at ``max_tokens`` (or the length cap
    ``rag.chat.llm`` puts on a server that ignores it)."""
    return completion is not None and completion.finish_reason == "length"


def meta(turn: Turn, settled: Answer | Grounding) -> dict[str, Any]:
    """The ``meta`` event a streamed answer starts with, before its first words. ``source`` is
    the answer's when a stage settled it (an FAQ, the cache, a handoff, "don't know"); None
    when a model or the extractive answerer is still to write it from the passages: what
    answers then (``rag``, or ``fallback`` when the model knew nothing or failed, ``refused``
    when the output guard withheld it) is only known once it is written, and ``done`` says
    it."""
    return {
        "conversation_id": str(turn.conversation_id),
        "message_id": str(turn.message_id),
        "intent": turn.intent,
        "source": None if isinstance(settled, Grounding) else settled.source,
        "lead_capture": turn.lead_capture or (isinstance(settled, Answer) and settled.lead_capture),
        "lead_saved": _lead_saved(turn, settled),
    }


def _lead_saved(turn: Turn, settled: Answer | Grounding) -> bool:
    """The visitor's contact details were taken as the lead in this turn: typed as the message
    (``shortcuts.contact``), or a number to call back beside the question (``Turn.callback``)."""
    return turn.callback == "saved" or (isinstance(settled, Answer) and settled.lead_saved)


def _unanswered(turn: Turn) -> UnansweredQuestion:
    return UnansweredQuestion(
        id=uuid.uuid4(),
        workspace_id=turn.workspace.id,
        # A follow-up as it was read ("How much is the Family plan? and per year?"): "and per
        # year?" alone means nothing to the owner. The question after "are you a bot?" without
        # it (an FAQ made from it asked that too), and without a call asked on a number
        # (``call_requests.without_callback``): the number is on the visitor's lead, and an FAQ made
        # from the group would keep it past the visitor's erasure.
        question=turn.standalone[:2000],
        normalized=normalize_question(turn.standalone) if turn.follow_up else turn.normalized,
        embedding=None if turn.embedding is None else turn.embedding.tolist(),
        conversation_id=turn.conversation_id,
        message_id=turn.message_id,
    )


def routed_to_team(turn: Turn) -> bool:
    """A sales lead the team answers ("can I get a quote?": the contact form, or the address
    already left), not the knowledge. A price question is no such lead, and neither is a lead
    where the bot never asks for contact details (the owner gets no lead then, only the
    question)."""
    return turn.sales_lead and turn.asks_for_contact


def knowledge_gap(turn: Turn) -> bool:
    """A visitor's question the bot left unanswered is one for the owner's Unanswered page,
    unless it was routed to the team (``routed_to_team``: no knowledge was to answer it).
    Analytics counts the same turns apart (the answer's ``routed`` flag): neither answered
    nor unanswered."""
    return turn.channel == "widget" and not routed_to_team(turn)


def held(turn: Turn) -> bool:
    """The turn holds reserved tokens not yet settled nor given back."""
    reservation = turn.reservation
    return reservation is not None and reservation.tokens > 0 and not reservation.closed


class AnswerRecorder:
    """Records a settled turn's answer (the third transaction) and caches it when it may be
    given to another visitor."""

    def __init__(self, *, db: Database, cache: ResponseCache, notifier: notify.Notifier) -> None:
        self.db = db
        self.cache = cache
        self.notifier = notifier

    async def finish(
        self,
        turn: Turn,
        settled: Answer | Grounding,
        completion: Completion | None,
        clock: Clock,
        *,
        interrupted: Completion | None = None,
        spent: Spent | None = None,
    ) -> ChatResult:
        """``interrupted``: the model's stream broke off after its first words (``completion``
        is None): its tokens are metered with the fallback given in its place, recorded as
        interrupted (``answer_flags``). ``spent``: the turn's tally of its models' tokens
        (``repeats.unclaimed_on_failure``), closed once they are counted here."""
        workspace = turn.workspace
        answer = (
            settled
            if isinstance(settled, Answer)
            else generated(
                settled,
                completion,
                offer_contact=turn.offers_contact,
                unavailable=unavailable(turn),
            )
        )
        text = answer.text
        if answer.drawn:
            text = safe_links(turn.workspace.widget_config, text, answer.citations)
        # The visitor asked whether a bot answers before their question: told first (not cached).
        shown = disclosure(turn) + text
        citations = list(answer.citations)
        model_call = completion or interrupted
        answered = (
            (model_call.prompt_tokens, model_call.completion_tokens) if model_call else (0, 0)
        )
        # The follow-up's rewrite and the reranker's ordering are model work for this turn too
        # (metered, capped daily).
        tokens = (
            answered[0] + turn.rewrite_tokens[0] + turn.rerank_tokens[0],
            answered[1] + turn.rewrite_tokens[1] + turn.rerank_tokens[1],
        )
        extractive = completion.extractive if completion is not None else answer.extractive
        lead_capture = turn.lead_capture or answer.lead_capture
        erased = False  # the conversation went while the model answered (a visitor's erasure)
        try:
            async with self.db.direct(workspace_id=workspace.id, durable=False) as direct:
                # The answer and the conversation's message count in one statement, with the
                # LLM tokens (this month and today) and the question left unanswered, if any;
                # sent by asyncpg, no session (``Database.direct``).
                await conversation_repo.record_answer(
                    direct,
                    ChatMessage(
                        id=turn.message_id,
                        workspace_id=workspace.id,
                        conversation_id=turn.conversation_id,
                        role="assistant",
                        text=shown,
                        intent=turn.intent,
                        source=answer.source,
                        citations=citations,
                        prompt_tokens=tokens[0],
                        completion_tokens=tokens[1],
                        latency_ms=int((time.perf_counter() - clock.start) * 1000),
                        timings=dict(clock.timings),
                        answer_flags=repeats.answer_flags(
                            lead_capture=lead_capture,
                            lead_saved=_lead_saved(turn, answer),
                            extractive=extractive,
                            interrupted=completion is None and interrupted is not None,
                            truncated=answer.source == "rag" and cut(completion),
                            routed=answer.unanswered and routed_to_team(turn),
                        )
                        or None,
                    ),
                    # The tokens spent, counted today in place of the turn's reservation.
                    usage.token_increment(workspace.id, sum(tokens), turn.reservation)
                    if sum(tokens) or held(turn)
                    else None,
                    _unanswered(turn) if answer.unanswered and knowledge_gap(turn) else None,
                )
            if turn.reservation is not None:
                turn.reservation.closed = True  # settled: nothing to give back on a failure
            if spent is not None:
                spent.closed = True  # counted: nothing to count again on a failure
        except IntegrityError:
            # Erased meanwhile: the answer is given, nothing of it recorded, delivered or cached.
            erased = await self._erased_meanwhile(turn, sum(tokens), spent)
            if not erased:
                if turn.claim is None:
                    raise
                # Another try of this message recorded its answer first (a claim taken over
                # from a try that was slow, not gone): that answer is kept, and given to this
                # try too; the tokens this try's models spent are counted all the same, in
                # place of its reservation.
                async with self.db.transaction(workspace_id=workspace.id) as session:
                    await repeats.settle_spent(session, workspace.id, turn.reservation, sum(tokens))
                    if spent is not None:
                        spent.closed = True
                    return await repeats.recorded_answer(session, workspace, turn)
        if answer.handoff_delivery is not None and not erased:
            self.notifier.schedule(workspace.id, answer.handoff_delivery)
        if (
            not erased
            and answer.source == "rag"
            and turn.cacheable
            and citations
            and isinstance(settled, Grounding)
            and completion is not None
            and not completion.guarded
            # An answer the model did not finish (cut at max_tokens, stopped by a content
            # filter) ends mid-sentence: the next asker gets a whole one written anew.
            # A streamed reply always names its reason (``rag.chat.llm`` refuses one that ends
            # without it); a whole JSON body may not (None).
            and (completion.extractive or completion.finish_reason in (None, "stop"))
            # A model's answer may carry what this visitor said (from the conversation so
            # far, or what identifies them in the question), so no other visitor may get it.
            and (
                completion.extractive
                or not (turn.history or echoes_the_visitor(text, turn.message, settled.passages))
            )
        ):
            await self.cache.put(
                workspace.id,
                turn.cache_version,
                turn.normalized,
                turn.embedding,
                {"answer": text, "citations": citations, "extractive": extractive},
                fence=turn.fence,
            )
        clock.lap("record_answer")
        clock.total()
        observe(answer.source, completion, clock.timings, turn.rewrite_tokens, interrupted)
        return ChatResult(
            conversation_id=turn.conversation_id,
            message_id=turn.message_id,
            answer=shown,
            intent=turn.intent,
            source=answer.source,
            citations=citations,
            lead_capture=lead_capture,
            timings_ms=dict(clock.timings),
            extractive=extractive,
            lead_saved=_lead_saved(turn, answer),
        )

    async def _erased_meanwhile(self, turn: Turn, tokens: int, spent: Spent | None) -> bool:
        """Whether the turn's conversation is gone (erased by its owner at the visitor's request
        after the question was recorded: the answer's insert broke its foreign key). Then the
        tokens the models spent are metered all the same, in place of the reservation."""
        workspace_id = turn.workspace.id
        async with self.db.transaction(workspace_id=workspace_id) as session:
            found = await conversation_repo.get_conversation(
                session, workspace_id=workspace_id, conversation_id=turn.conversation_id
            )
            if found is not None:
                return False
            await repeats.settle_spent(session, workspace_id, turn.reservation, tokens)
        if turn.reservation is not None:
            turn.reservation.closed = True
        if spent is not None:
            spent.closed = True
        return True
