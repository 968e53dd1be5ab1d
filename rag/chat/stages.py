"""The stages of the answer pipeline: each reads the turn and settles the answer, or passes.

``record`` meters and records the visitor's message and makes the turn. Then the stages in
``rag.chat.shortcuts`` (``courtesy``, ``handoff``, ``contact``, the FAQ and cache lookups) each
return an ``Answer`` or None (not theirs to answer); ``retrieve`` returns the passages to answer
from (``Grounding``) or the honest don't-know ``Answer``. Generation from the passages is the
pipeline's last step (``rag.chat.pipeline``). A stage never changes the turn: the pipeline makes
a new one when it learns more (the rewritten follow-up, the question's embedding).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from core.direct import Executor
from core.errors import NotFound
from core.models import utcnow
from rag.chat.cache_fence import Fence
from rag.chat.contact_names import answers_contact_request
from rag.chat.follow_ups import looks_like_follow_up
from rag.chat.intents import (
    NOT_QUESTIONS,
    Intent,
    asks_identity_first,
    is_sales_lead,
    question_of,
)
from rag.chat.models import ChatMessage, Conversation
from rag.chat.normalize import KEY_VERSION, hides_text, normalize_question
from rag.chat.prompts import Passage
from rag.chat.relevance import WordMatch
from rag.chat.reply_language import conversation_language
from rag.chat.repository import conversations as conversation_repo
from rag.chat.token_reservations import TokenEstimate, reservation_wanted, reserved
from rag.chat.translations import dont_know_reply, lead_reply
from rag.knowledge import retrieval
from workspaces import notifications, usage
from workspaces.models import Workspace
from workspaces.plans import Metric, get_plan
from workspaces.widget_keys import WorkspaceChanged
from workspaces.widget_texts import TextName, owner_text

Source = Literal["faq", "cache", "rag", "fallback", "handoff", "refused"]
"""Where an answer came from; ``refused``: the output guard withheld the model's answer and the
visitor got its refusal instead (an attempt to make the bot leak its rules, or an answer
repeating the owner's persona), which is no answer."""
Channel = Literal["widget", "owner"]


def bot_name_of(workspace: Workspace) -> str:
    config = workspace.widget_config or {}
    return str(config.get("bot_name") or f"{workspace.name} assistant")


def asks_for_contact(workspace: Workspace) -> bool:
    """The owner lets the bot ask visitors for contact details: lead capture is anything but
    "Never" (``off``; unset is the default, ``on_intent``). With "Never" no answer asks for an
    email address, none offers the contact form, and an address typed into the chat makes no
    lead."""
    return (workspace.widget_config or {}).get("lead_capture") != "off"


def answer_voice(workspace: Workspace) -> str:
    """A short digest of what a model is told besides the question and the passages: the
    persona, the bot's name and whether it may offer to have the team follow up. Part of the
    response cache's scope, so an answer written under an old persona, name or lead capture
    is not served once the owner changes them (a reviewer's finding: for CACHE_TTL_SECONDS),
    and the owner's label of a quoted answer (an extractive answer is cached with it)."""
    told: list[object] = [workspace.persona or "", bot_name_of(workspace)]
    told.append(asks_for_contact(workspace))
    if prefix := owner_text(workspace.widget_config, "documentation_prefix"):
        told.append(prefix)  # only when set: the digests of every other workspace stay
    return hashlib.sha256(json.dumps(told).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Claim:
    """A try's claim on answering a visitor's message sent with a client_message_id."""

    client_message_id: str
    message_id: uuid.UUID
    """The visitor's message (the answer's id is the turn's ``message_id``)."""
    claimed_at: datetime


@dataclass(frozen=True)
class Turn:
    """One visitor message and what is known about it; what every stage reads."""

    workspace: Workspace
    session_id: str
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    """The id the answer will be stored under."""
    message: str
    intent: Intent
    history: tuple[tuple[str, str], ...]
    follow_up: bool
    normalized: str
    knowledge_version: int
    bot_name: str
    standalone: str
    """The question to answer: the message, or the follow-up rewritten to stand alone."""
    embedding: np.ndarray | None = None
    """The standalone question's embedding, once computed."""
    exact_faq: str | None = None
    """The answer of an FAQ whose question normalizes to the message's words, looked up when
    the message was recorded (not for courtesy or a request for a human)."""
    daily_tokens: int | None = None
    """Today's LLM tokens when the message was recorded (read only under a daily cap)."""
    reservation: usage.TokenReservation | None = None
    """The LLM tokens this turn may spend, reserved on today's counter with its message (under
    a daily cap, when a model may run): settled to what it spent when its answer is recorded,
    given back when it fails before (``rag.chat.repeats.unclaimed_on_failure``). Shared by the
    copies the pipeline makes of the turn."""
    reserve_refused: bool = False
    """The reservation was refused: the day had reached the cap when the message was recorded
    (turns under way hold their reservations), so no model runs for this turn."""
    rewrite_tokens: tuple[int, int] = (0, 0)
    """The model's (prompt, completion) tokens for rewriting a follow-up to stand alone."""
    rerank_tokens: tuple[int, int] = (0, 0)
    """The model's (prompt, completion) tokens for ordering the passages (RERANKER=llm)."""
    channel: Channel = "widget"
    """Who asked: a visitor through the widget, or the workspace's people ("owner": the
    dashboard's playground, the API); only visitors' questions are left unanswered for the
    owner."""
    claim: Claim | None = None
    """The message came with a client_message_id: this try's claim on answering it, released
    when the try fails without an answer (rag/chat/repeats.py)."""
    resumed: bool = False
    """A try of a message an earlier try recorded and metered, then failed to answer: nothing
    is metered again and what the earlier try did (a handoff) is not done twice."""
    lead_given: bool = False
    """The visitor left their contact details in this conversation (an address typed in the
    chat, the widget's contact form): the conversation has its lead."""
    callback: Literal["saved", "declined"] | None = None
    """A call asked on a number beside the question, or an address or a number left beside it
    (``shortcuts.callback``): "saved" on a lead, or "declined"."""
    fence: Fence | None = None
    """The workspace's erasure epochs read before the turn's message committed (None: not
    read, the answer is not one to cache): its answer is cached only if no erasure cleared the
    cache since (``rag.chat.cache_fence``)."""

    @property
    def cacheable(self) -> bool:
        """A follow-up's answer depends on its conversation: never cached, never from cache.
        The answer to a message with hidden characters depends on what the cache key cannot
        see (``hides_text``: an instruction in tag characters after an ordinary question):
        never cached, and no semantic hit (an exact one is the visible question's answer)."""
        return not self.follow_up and not hides_text(self.message)

    @property
    def asked_identity(self) -> bool:
        """The message asked whether a bot answers before its question (``question_of``)."""
        return asks_identity_first(self.message, self.intent)

    @property
    def asks_for_contact(self) -> bool:
        return asks_for_contact(self.workspace)

    @property
    def offers_contact(self) -> bool:
        """Ask the visitor for contact details in this answer: the owner lets the bot, and the
        visitor left none in this conversation yet (a reviewer's finding: every "I don't know"
        after the address was given asked for it again, and the widget showed the form)."""
        return self.asks_for_contact and not self.lead_given

    def text(self, name: TextName) -> str | None:
        """The owner's text ``name`` (widget settings' ``texts``), None for the default."""
        return owner_text(self.workspace.widget_config, name)

    @property
    def cache_version(self) -> str:
        """The response cache's version for this turn: the knowledge version, the voice the
        answers were written in (``answer_voice``) and the version of the normalized keys
        (``KEY_VERSION``: entries keyed by an older normalization are never served)."""
        return f"{self.knowledge_version}.{answer_voice(self.workspace)}.k{KEY_VERSION}"

    @property
    def daily_cap_reached(self) -> bool:
        """The owner's daily LLM token cap was reached when the message was recorded (today's
        tokens are read with it under a capped plan): no model runs for this turn."""
        if self.reserve_refused:
            return True
        if self.daily_tokens is None:
            return False
        limit = get_plan(usage.effective_plan(self.workspace)).limit("daily_llm_tokens")
        return limit is not None and self.daily_tokens + 1 > limit

    @property
    def lead_capture(self) -> bool:
        """Offer the contact form for what the visitor asked (a sales lead, a person). A lead
        that only asks a price gets it only when the bot does not know (``Answer.lead_capture``
        of the fallback): answered from the knowledge, it is a question answered."""
        return (self.sales_lead or self.intent == "human") and self.offers_contact

    @property
    def sales_lead(self) -> bool:
        """A lead asking more than a price ("book a demo", "get a quote")."""
        return is_sales_lead(self.intent, self.message)


@dataclass(frozen=True)
class Answer:
    """An answer a stage settled (or the fallback when generation failed)."""

    text: str
    source: Source
    citations: tuple[dict[str, Any], ...] = ()
    lead_capture: bool = False
    """Offer the contact form whatever the intent (the bot did not know)."""
    lead_saved: bool = False
    """Contact details typed in the chat were taken as the lead: the widget stops asking."""
    unanswered: bool = False
    """Record the question for the owner (nothing relevant was found)."""
    handoff_delivery: uuid.UUID | None = None
    """The webhook delivery to post once the turn is committed."""
    extractive: bool = False
    """Quoted from the passages without a language model (a cached answer that was)."""
    drawn: bool = False
    """Written from documents' passages (by a model or quoted; from retrieval, the cache, or
    a model's "I don't know"): its links are restricted (``links.safe_links``). FAQ answers and
    canned replies are the owner's words and are left alone."""


@dataclass(frozen=True)
class Grounding:
    """What retrieval found: the answer is generated from these passages."""

    passages: tuple[Passage, ...]
    cap_reached: bool = False
    """The owner's daily LLM token cap is reached: answer extractively."""


# --- the first transaction: the visitor's message is metered and recorded --------------------


async def record(
    session: AsyncSession,
    workspace: Workspace,
    *,
    message: str,
    intent: Intent,
    session_id: str,
    conversation_id: uuid.UUID | None,
    channel: Channel,
    history_turns: int,
    workspace_version: str | None = None,
    client_message_id: str | None = None,
    estimate: TokenEstimate | None = None,
) -> Turn:
    """Meter the message (429 ``quota_exceeded`` over the plan, before any model runs) and record
    it, with its conversation when new; the turn every later stage reads.

    ``workspace_version``: the version of the (cached) ``workspace``; ``WorkspaceChanged`` when
    the row is another now (the caller's transaction rolls back: nothing recorded or metered).
    ``client_message_id``: recorded with the message, claimed for this try; a message of the
    workspace already recorded with it makes the statement fail (``IntegrityError``, rolled
    back: nothing recorded or metered; rag/chat/repeats.py). ``estimate``: the turn's LLM tokens
    are reserved with the message under a daily cap (``Turn.reservation``)."""
    conversation, history, is_new, asked = await _conversation(
        session,
        workspace.id,
        session_id=session_id,
        conversation_id=conversation_id,
        channel=channel,
        history_turns=history_turns,
    )
    if intent != "contact" and asked and answers_contact_request(message, intent):
        # The bot just asked for contact details: the visitor gives an address or their name.
        intent = "contact"
    # The conversation (when new), the message, the conversation's count (when it existed) and
    # the usage counters: one statement, then the quota check on its result. Whether the
    # conversation is new comes from its row, never from the history read (HISTORY_TURNS=0
    # reads none: every message was metered as a new conversation).
    amounts: dict[Metric, int] = {"messages": 1}
    if is_new:
        amounts["conversations"] = 1
    question = question_of(message, intent)
    normalized = normalize_question(question)
    # The exact FAQ match is looked up in the same statement when it may settle the answer
    # (word for word an FAQ's question: its answer, follow-up or not), and today's LLM tokens
    # when the plan caps them and the turn may call the model.
    faq_wanted, daily_day = lookups_wanted(workspace, intent)
    follow_up = bool(history) and looks_like_follow_up(question)
    reserve = reservation_wanted(workspace, daily_day, estimate, message, tuple(history), follow_up)
    reply_id = uuid.uuid4()
    visitor = ChatMessage(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        conversation_id=conversation.id,
        role="user",
        text=message,
        intent=intent,
    )
    claim = None
    if client_message_id is not None:
        claim = Claim(client_message_id, visitor.id, utcnow())
        visitor.client_message_id = client_message_id
        visitor.reply_id = reply_id
        visitor.reply_claimed_at = claim.claimed_at
    recorded = await conversation_repo.record_message_metered(
        session,
        message=visitor,
        new_conversation=conversation if is_new else None,
        touch_conversation_id=None if is_new else conversation.id,
        usage=(increment := usage.increment_statement(workspace.id, amounts)),
        faq_normalized=normalized if faq_wanted else None,
        daily_tokens_day=daily_day,
        reserve=reserve,
    )
    if workspace_version is not None and recorded.workspace_version != workspace_version:
        raise WorkspaceChanged(str(workspace.id))
    reservation = reserved(workspace, daily_day, reserve, recorded.reserved)
    _meter(workspace, recorded.counted, increment.month)
    await notifications.quota_used(
        session,
        workspace.id,
        plan_code=usage.effective_plan(workspace),
        month=increment.month,
        counted=recorded.counted,
        added=amounts,
    )
    return Turn(
        workspace=workspace,
        session_id=session_id,
        conversation_id=conversation.id,
        message_id=reply_id,
        message=message,
        intent=intent,
        history=tuple(history),
        follow_up=follow_up,
        normalized=normalized,
        knowledge_version=int(workspace.knowledge_version),
        bot_name=bot_name_of(workspace),
        standalone=question,
        exact_faq=recorded.faq_answer,
        daily_tokens=recorded.daily_tokens,
        reservation=reservation,
        reserve_refused=reserve is not None and reservation is None,
        channel=channel,
        claim=claim,
        lead_given=conversation.lead_id is not None,
    )


def lookups_wanted(workspace: Workspace, intent: Intent) -> tuple[bool, date | None]:
    """Whether a message of ``intent`` may be an FAQ's question (looked up as it is recorded),
    and the day whose LLM tokens to read with it (the plan caps them daily and the turn may
    call the model)."""
    may_ask_the_model = intent not in NOT_QUESTIONS
    capped = get_plan(usage.effective_plan(workspace)).limit("daily_llm_tokens") is not None
    return may_ask_the_model, usage.today() if capped and may_ask_the_model else None


async def _conversation(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    session_id: str,
    conversation_id: uuid.UUID | None,
    channel: Channel,
    history_turns: int,
) -> tuple[Conversation, list[tuple[str, str]], bool, bool]:
    """The conversation, its latest ``history_turns`` messages (none for 0), whether it is new
    (not inserted yet: the caller inserts it with the visitor's message), and whether the bot's
    last answer in it asked for contact details (offered the contact form). A conversation of
    another session or another ``channel`` is not found (404): a visitor cannot post into the
    owners' test chat, nor the owners' chat into a visitor's conversation."""
    if conversation_id is not None:
        conversation = await conversation_repo.get_conversation(
            session, workspace_id=workspace_id, conversation_id=conversation_id
        )
        if (
            conversation is None
            or conversation.session_id != session_id
            or conversation.channel != channel
        ):
            raise NotFound("Conversation not found")
        recent = await conversation_repo.recent_messages(
            session,
            workspace_id=workspace_id,
            conversation_id=conversation.id,
            limit=max(history_turns, 1),
        )
        last = recent[-1] if recent else None
        asked = (
            last is not None
            and last.role == "assistant"
            and bool((last.answer_flags or {}).get("lead_capture"))
        )
        history = [(m.role, m.text) for m in recent] if history_turns > 0 else []
        return conversation, history, False, asked
    conversation = Conversation(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        session_id=session_id,
        channel=channel,
        status="open",
        message_count=1,  # the visitor's first message, recorded with it
    )
    return conversation, [], True, False


def _meter(workspace: Workspace, counted: dict[Metric, int], month: str) -> None:
    """Count first, then compare: exact at the limit even under concurrency (the upsert
    serialises on the counter row, and a refusal rolls the increment back). ``counted`` holds
    each metric's value after this request's increment of one, in ``month``'s counters: a
    refusal is of that month, and resets when it ends (a turn that straddled a month's end
    said the count reset a month later, and its notice took the next month's key)."""
    for metric, value in counted.items():
        usage.ensure_within(
            plan_code=usage.effective_plan(workspace),
            metric=metric,
            used=int(value) - 1,
            resets_at=usage.month_reset(usage.month_start(month)),
            month=month,
        )


# --- settled in the first transaction, with the visitor's message ---------------------------


async def retrieve(
    session: Executor,
    turn: Turn,
    *,
    k: int,
    min_similarity: float,
    metered_generation: bool,
    weights: retrieval.Weights,
    word_match: WordMatch | None = None,
) -> Grounding | Answer:
    """The workspace's passages relevant to the question, or "don't know" (the question is
    recorded as unanswered and the contact form offered, unless lead capture is "Never"): a
    passage is relevant when its cosine to the question reaches ``min_similarity`` or
    ``word_match`` holds for it.
    ``metered_generation``: the answer would spend LLM tokens, so the plan's daily token cap is
    checked. The transaction set ``hnsw.ef_search`` to ``retrieval.ef_search_for(k,
    DEFAULT_MODE)``."""
    hits = await retrieval.search(
        session,
        workspace_id=turn.workspace.id,
        query=turn.standalone,
        query_embedding=turn.embedding,
        k=k,
        mode=retrieval.DEFAULT_MODE,
        weights=weights,  # the RETRIEVAL_* settings' (pipeline), as /search ranks
        ef_search=None,  # set with the transaction's tenant (pipeline)
        fill=True,  # a workspace of fewer than k documents still gives k passages
    )
    relevant = [
        h
        for h in hits
        if h.similarity is None
        or h.similarity >= min_similarity
        or (word_match is not None and word_match.holds(turn.standalone, h))
    ]
    if not relevant:
        offer, left = turn.offers_contact, turn.lead_given and turn.asks_for_contact
        hint = turn.text("no_contact_hint")
        language = conversation_language(turn.message, turn.history)
        text = turn.text("dont_know") or (  # a sales lead: the team is there, no "I don't know"
            lead_reply(language, turn.bot_name, offer_contact=offer, address_left=left, hint=hint)
            if turn.sales_lead
            else dont_know_reply(language, offer_contact=offer, address_left=left)
        )
        return Answer(text, "fallback", lead_capture=offer, unanswered=True)
    passages = tuple(
        Passage(
            n=i + 1,
            chunk_id=h.chunk_id,
            document_id=h.document_id,
            title=h.title,
            url=h.url,
            page=h.page,
            text=h.text,
            score=h.score,
            heading_path=tuple(h.heading_path),
            page_score=h.page_score,
            embed_format=h.embed_format,
            second=h.second,
            headings_within=h.headings_within,
        )
        for i, h in enumerate(relevant)
    )
    # The owner's daily cap, as read (and reserved against) with the message: answer
    # extractively.
    return Grounding(passages, metered_generation and turn.daily_cap_reached)
