"""SQL of conversations, messages, feedback and unanswered questions. A turn's writes (the
message with the usage counters, the answer with its tokens) are ``turn_statements``, whose
names are importable from here as before."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, Select, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import newest_first
from rag.chat.models import (
    ChatMessage,
    Conversation,
    MessageFeedback,
    UnansweredQuestion,
)
from rag.chat.repository.turn_statements import Recorded as Recorded
from rag.chat.repository.turn_statements import record_answer as record_answer
from rag.chat.repository.turn_statements import record_message_metered as record_message_metered


async def get_conversation(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    for_update: bool = False,
) -> Conversation | None:
    """The conversation; ``for_update`` locks its row until the transaction ends (a change
    that reads what it replaces)."""
    stmt = select(Conversation).where(
        Conversation.workspace_id == workspace_id, Conversation.id == conversation_id
    )
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def set_conversation_status(
    session: AsyncSession, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, status: str
) -> bool:
    """Whether the conversation's status changed to ``status`` (False when it had it already,
    or is not there). Conditional in the statement, so of two concurrent callers only one sees
    the change."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.id == conversation_id,
            Conversation.status != status,
        )
        .values(status=status)
        .returning(Conversation.id)
    )
    return result.scalar_one_or_none() is not None


async def link_conversation_lead(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    lead_id: uuid.UUID,
) -> bool:
    result = await session.execute(
        update(Conversation)
        .where(Conversation.workspace_id == workspace_id, Conversation.id == conversation_id)
        .values(lead_id=lead_id)
        .returning(Conversation.id)
    )
    return result.scalar_one_or_none() is not None


async def recent_messages(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    limit: int,
    before: ChatMessage | None = None,
) -> list[ChatMessage]:
    """The conversation's last ``limit`` messages, oldest first; (``before``) of those that
    came before that message."""
    stmt = select(ChatMessage).where(
        ChatMessage.workspace_id == workspace_id, ChatMessage.conversation_id == conversation_id
    )
    if before is not None:
        stmt = stmt.where(
            tuple_(ChatMessage.created_at, ChatMessage.id) < tuple_(before.created_at, before.id)
        )
    result = await session.execute(
        stmt.order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc()).limit(limit)
    )
    return list(reversed(list(result.scalars())))


async def list_messages(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    newest: bool = False,
) -> list[ChatMessage]:
    """A keyset page of the conversation's messages by (created_at, id): oldest first after
    the key ``after``, or (``newest``) newest first before it."""
    stmt = select(ChatMessage).where(
        ChatMessage.workspace_id == workspace_id, ChatMessage.conversation_id == conversation_id
    )
    if newest:
        stmt = newest_first(stmt, ChatMessage, after=after, limit=limit)
    else:
        if after is not None:
            stmt = stmt.where(tuple_(ChatMessage.created_at, ChatMessage.id) > tuple_(*after))
        stmt = stmt.order_by(ChatMessage.created_at, ChatMessage.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def list_conversations(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    status: str | None,
    limit: int,
    before: datetime | None,
    channel: str | None = None,
    has_lead: bool | None = None,
    before_id: uuid.UUID | None = None,
    started: bool = False,
    after: tuple[datetime, uuid.UUID] | None = None,
    q: str | None = None,
) -> list[Conversation]:
    """Latest activity first; a page continues after (``before``, ``before_id``):
    conversations whose last message came at the same moment are told apart by id. A
    conversation that gets a message moves up, so a walk in this order can miss one.
    ``started``: newest started first, by the (created_at, id) that never change, after the
    key ``after``; a walk in this order misses none. ``q``: only those with a message that
    contains it (``mentioning``)."""
    stmt = select(Conversation).where(Conversation.workspace_id == workspace_id)
    if q:
        stmt = stmt.where(Conversation.id.in_(mentioning(workspace_id, q)))
    if status:
        stmt = stmt.where(Conversation.status == status)
    if channel:
        stmt = stmt.where(Conversation.channel == channel)
    if has_lead is not None:
        stmt = stmt.where(
            Conversation.lead_id.is_not(None) if has_lead else Conversation.lead_id.is_(None)
        )
    if started:
        stmt = newest_first(stmt, Conversation, after=after, limit=limit)
    else:
        if after is not None:
            before, before_id = after
        if before is not None and before_id is not None:
            stmt = stmt.where(
                tuple_(Conversation.last_message_at, Conversation.id) < tuple_(before, before_id)
            )
        elif before is not None:
            stmt = stmt.where(Conversation.last_message_at < before)
        order = (Conversation.last_message_at.desc(), Conversation.id.desc())
        stmt = stmt.order_by(*order).limit(limit)
    return list((await session.execute(stmt)).scalars())


def mentioning(workspace_id: uuid.UUID, q: str) -> Select[uuid.UUID]:
    """The ids of the workspace's conversations with a message (the visitor's or the bot's)
    that contains ``q``, ignoring case (``_contains``)."""
    return select(ChatMessage.conversation_id).where(
        ChatMessage.workspace_id == workspace_id, _contains(q)
    )


def _contains(q: str) -> ColumnElement[bool]:
    """The message's text contains ``q`` as typed (no wildcards), ignoring case: ``strpos`` of
    the lowered texts, a third of the time of ``lower(text) LIKE '%q%'`` (docs/benchmarks.md,
    "Searching conversations"). No index: each of the workspace's messages is tested."""
    return func.strpos(func.lower(ChatMessage.text), func.lower(q)) > 0


async def mentions(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_ids: Sequence[uuid.UUID],
    q: str,
) -> dict[uuid.UUID, str]:
    """The first message of each conversation that contains ``q`` (as ``mentioning``), by id."""
    if not conversation_ids:
        return {}
    stmt = (
        select(ChatMessage.conversation_id, ChatMessage.text)
        .where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.conversation_id.in_(list(conversation_ids)),
            _contains(q),
        )
        .order_by(ChatMessage.conversation_id, ChatMessage.created_at, ChatMessage.id)
        .ext(distinct_on(ChatMessage.conversation_id))
    )
    return {cid: str(words) for cid, words in (await session.execute(stmt)).all()}


async def get_message(
    session: AsyncSession, *, workspace_id: uuid.UUID, message_id: uuid.UUID, shared: bool = False
) -> ChatMessage | None:
    """The message; ``shared`` holds it (FOR KEY SHARE, the lock a row referring to it takes)
    until the transaction ends: one being deleted (retention, an erasure) is waited for and
    not found, and one found is not deleted before the caller's row that names it is in."""
    stmt = select(ChatMessage).where(
        ChatMessage.workspace_id == workspace_id, ChatMessage.id == message_id
    )
    if shared:
        stmt = stmt.with_for_update(read=True, key_share=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def upsert_feedback(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    message_id: uuid.UUID,
    rating: str,
    comment: str | None,
    rater: str = "visitor",
    replace: bool = True,
) -> bool:
    """Rate an answer as ``rater`` (visitor or team); ``replace=False`` leaves a rating already
    there alone. Whether this rating was stored."""
    stmt = insert(MessageFeedback).values(
        message_id=message_id,
        workspace_id=workspace_id,
        rating=rating,
        rater=rater,
        comment=comment,
    )
    if replace:
        stmt = stmt.on_conflict_do_update(
            index_elements=[MessageFeedback.message_id],
            set_={"rating": rating, "rater": rater, "comment": comment, "created_at": func.now()},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=[MessageFeedback.message_id])
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def feedback_counts(session: AsyncSession, *, workspace_id: uuid.UUID) -> dict[str, int]:
    """Every rating of the workspace's answers: visitors' (``up``, ``down``) and the team's
    (``team_up``, ``team_down``)."""
    result = await session.execute(
        select(MessageFeedback.rater, MessageFeedback.rating, func.count())
        .where(MessageFeedback.workspace_id == workspace_id)
        .group_by(MessageFeedback.rater, MessageFeedback.rating)
    )
    counts = {"up": 0, "down": 0, "team_up": 0, "team_down": 0}
    for rater, rating, count in result.all():
        counts[str(rating) if rater == "visitor" else f"team_{rating}"] = int(count)
    return counts


async def feedback_for(
    session: AsyncSession, *, workspace_id: uuid.UUID, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, MessageFeedback]:
    """The rating (and comment) of each of these messages that has one, and who gave it."""
    if not message_ids:
        return {}
    result = await session.execute(
        select(MessageFeedback).where(
            MessageFeedback.workspace_id == workspace_id,
            MessageFeedback.message_id.in_(list(message_ids)),
        )
    )
    return {row.message_id: row for row in result.scalars()}


# --- unanswered questions --------------------------------------------------------------------


@dataclass(slots=True)
class UnansweredRow:
    """An unanswered question as the owner's list groups it, its vector as float32 components
    (read in pgvector's binary form by the connection's codec, ``core.vector_codec``). Not
    frozen: a frozen dataclass's ``__init__`` costs twice as much, 2,000 times on the event loop
    per read."""

    id: uuid.UUID
    question: str
    normalized: str
    embedding: np.ndarray | None
    created_at: datetime


async def recent_unanswered(
    session: AsyncSession, *, workspace_id: uuid.UUID, limit: int
) -> list[UnansweredRow]:
    """The latest ``limit`` questions not dealt with, newest first, with their vectors."""
    result = await session.execute(
        select(
            UnansweredQuestion.id,
            UnansweredQuestion.question,
            UnansweredQuestion.normalized,
            UnansweredQuestion.embedding,
            UnansweredQuestion.created_at,
        )
        .where(
            UnansweredQuestion.workspace_id == workspace_id,
            UnansweredQuestion.resolved.is_(False),
        )
        .order_by(UnansweredQuestion.created_at.desc())
        .limit(limit)
    )
    return [
        UnansweredRow(
            id=row.id,
            question=row.question,
            normalized=row.normalized,
            embedding=row.embedding,
            created_at=row.created_at,
        )
        for row in result
    ]


@dataclass(frozen=True)
class ExportedQuestion:
    """An unanswered question as the export writes it: without its embedding, which the
    export never uses (384 floats a row, read and thrown away)."""

    id: uuid.UUID
    question: str
    normalized: str
    conversation_id: uuid.UUID | None
    created_at: datetime


async def unanswered_page(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ExportedQuestion]:
    """The questions not dealt with, newest first, after the key ``after`` (the export's
    keyset pages)."""
    stmt = select(
        UnansweredQuestion.id,
        UnansweredQuestion.question,
        UnansweredQuestion.normalized,
        UnansweredQuestion.conversation_id,
        UnansweredQuestion.created_at,
    ).where(
        UnansweredQuestion.workspace_id == workspace_id,
        UnansweredQuestion.resolved.is_(False),
    )
    result = await session.execute(newest_first(stmt, UnansweredQuestion, after=after, limit=limit))
    return [ExportedQuestion(**row._mapping) for row in result]


async def resolve_unanswered(
    session: AsyncSession, *, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> int:
    """Mark ``ids`` resolved, and every other unresolved ask of the same words (the same
    ``normalized`` key): the owner's list groups only the latest questions, so asks of the
    question older than that window came back as its group once it was dealt with. How many
    were not already resolved (a teammate's resolve, or a stale page's ids, counts none)."""
    same_words = select(UnansweredQuestion.normalized).where(
        UnansweredQuestion.workspace_id == workspace_id,
        UnansweredQuestion.id.in_(ids),
        UnansweredQuestion.normalized != "",
    )
    result = await session.execute(
        update(UnansweredQuestion)
        .where(
            UnansweredQuestion.workspace_id == workspace_id,
            or_(UnansweredQuestion.id.in_(ids), UnansweredQuestion.normalized.in_(same_words)),
            UnansweredQuestion.resolved.is_(False),
        )
        .values(resolved=True)
        .returning(UnansweredQuestion.id)
    )
    return len(result.all())


async def has_conversation(
    session: AsyncSession, *, workspace_id: uuid.UUID, channel: str | None = None
) -> bool:
    """Whether the workspace has any conversation (on ``channel`` when given)."""
    stmt = select(Conversation.id).where(Conversation.workspace_id == workspace_id)
    if channel is not None:
        stmt = stmt.where(Conversation.channel == channel)
    return (await session.execute(stmt.limit(1))).first() is not None


async def first_visitor_messages(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The first visitor message of each conversation (its first 400 characters), by id; a
    conversation deleted since, or with no visitor message, is not in it."""
    if not conversation_ids:
        return {}
    stmt = (
        select(ChatMessage.conversation_id, func.left(ChatMessage.text, 400))
        .where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.conversation_id.in_(list(conversation_ids)),
            ChatMessage.role == "user",
        )
        .order_by(ChatMessage.conversation_id, ChatMessage.created_at, ChatMessage.id)
        .ext(distinct_on(ChatMessage.conversation_id))
    )
    return {cid: str(words) for cid, words in (await session.execute(stmt)).all()}


async def quoted_first_messages(
    session: AsyncSession, workspace_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """``first_visitor_messages`` for a mail that quotes them (the owners' handoff summary):
    each conversation held first (FOR KEY SHARE, by id) until the transaction ends. Retention
    and an erasure lock a conversation before they delete it, then delete the mails naming it:
    one being deleted is waited for and not found; one found is deleted only after the mail's
    transaction committed, the mail with it. Read unlocked, the words of a conversation the
    retention sweep deleted meanwhile were queued after its delete of the mails about it, and
    the mail was kept and sent."""
    if not conversation_ids:
        return {}
    held = await session.execute(
        select(Conversation.id)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.id.in_(list(conversation_ids)),
        )
        .order_by(Conversation.id)
        .with_for_update(read=True, key_share=True)
    )
    return await first_visitor_messages(session, workspace_id, list(held.scalars()))


async def contact_replies(
    session: AsyncSession, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, limit: int
) -> list[str]:
    """What the visitor wrote where the bot had asked for contact details (their messages
    recorded with the intent "contact"), newest first, at most ``limit`` of them."""
    stmt = (
        select(ChatMessage.text)
        .where(
            ChatMessage.workspace_id == workspace_id,
            ChatMessage.conversation_id == conversation_id,
            ChatMessage.role == "user",
            ChatMessage.intent == "contact",
        )
        .order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())
