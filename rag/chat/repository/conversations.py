"""SQL of conversations, messages, feedback and unanswered questions."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import BigInteger, Date, Text, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import newest_first
from rag.chat.models import (
    ChatMessage,
    Conversation,
    MessageFeedback,
    UnansweredQuestion,
)
from rag.chat.repository.faqs import faq_exact_answer
from rag.knowledge.repository.chunks import vector_param
from workspaces.models import UsageDaily
from workspaces.plans import Metric
from workspaces.repository import workspace_version
from workspaces.usage import TokenIncrement, UsageIncrement
from workspaces.usage_repository import TOKEN_UPSERTS, daily_reservation, daily_tokens


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


def _row_values(row: Conversation | ChatMessage | UnansweredQuestion) -> dict[str, Any]:
    """Every column of a new row, defaults filled in (a statement inside a WITH gets no
    Python-side defaults from SQLAlchemy)."""
    values: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key, None)
        if value is None and column.default is not None and column.default.is_callable:
            value = column.default.arg(None)
        elif value is None and column.default is not None and column.default.is_scalar:
            value = column.default.arg
        values[column.key] = value
    return values


def _insert_cte(table: Any, prefix: str, name: str) -> Any:
    """INSERT of every column from bind parameters ``{prefix}{column}``: a constant statement,
    compiled and cache-keyed once (per-call ``.values(...)`` re-derives the cache key from every
    value on each execution). A vector column is bound by ``vector_param`` (a float4[])."""
    values = {
        c.key: vector_param(prefix + c.key, c.type)
        if isinstance(c.type, VECTOR)
        else bindparam(prefix + c.key, type_=c.type)
        for c in table.columns
    }
    return insert(table).values(values).cte(name)


_conversations: Any = Conversation.__table__
_messages: Any = ChatMessage.__table__
_unanswered: Any = UnansweredQuestion.__table__
_usage_daily: Any = UsageDaily.__table__
_touch = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("touch_id"))
    .values(message_count=_conversations.c.message_count + 1, last_message_at=func.now())
)


def _params(prefix: str, row: Conversation | ChatMessage | UnansweredQuestion) -> dict[str, Any]:
    return {prefix + k: v for k, v in _row_values(row).items()}


@dataclass(frozen=True)
class Recorded:
    """What ``record_message_metered`` returns."""

    counted: dict[Metric, int]
    workspace_version: str | None
    faq_answer: str | None
    daily_tokens: int | None = None
    """Today's LLM tokens so far, when asked for (``daily_tokens_day``)."""
    reserved: bool | None = None
    """With ``reserve``: whether the tokens were reserved (False: the day had reached the cap)."""


async def record_message_metered(
    session: AsyncSession,
    *,
    message: ChatMessage,
    new_conversation: Conversation | None,
    touch_conversation_id: uuid.UUID | None,
    usage: UsageIncrement,
    faq_normalized: str | None = None,
    daily_tokens_day: date | None = None,
    reserve: tuple[int, int] | None = None,
) -> Recorded:
    """One round trip: insert ``new_conversation`` (when given), insert ``message``, add one
    message to ``touch_conversation_id`` (when given), and increment the usage counters
    (``usage``); returns each counted metric's new value, the workspace row's version
    (``workspaces.widget_keys``) and, with ``faq_normalized``, the answer of an enabled FAQ
    whose question or variant normalizes to it, and with ``daily_tokens_day`` the LLM tokens
    counted that day (for the plan's daily cap), and with ``reserve`` (tokens, cap) as well those
    tokens added to that day while it is below the cap (``daily_reservation``). A new
    conversation, the visitor's message, the conversation's count and last-message time, the
    usage counters, the exact FAQ lookup, the day's tokens and the reservation, in one statement
    (built once per shape, ``_record_statement``)."""
    params = usage.params | _params("m_", message) | {"ver_ws": message.workspace_id}
    if new_conversation is not None:
        params |= _params("c_", new_conversation)
    if touch_conversation_id is not None:
        params["touch_id"] = touch_conversation_id
    if faq_normalized:
        params |= {"faq_ws": message.workspace_id, "faq_normalized": faq_normalized}
    if daily_tokens_day is not None:
        params |= {"dt_ws": message.workspace_id, "dt_day": daily_tokens_day}
    reserving = daily_tokens_day is not None and reserve is not None
    if reserving and reserve is not None:
        params |= {"dt_est": reserve[0], "dt_limit": reserve[1]}
    statement = _record_statement(
        usage.statement,
        new_conversation is not None,
        touch_conversation_id is not None,
        bool(faq_normalized),
        daily_tokens_day is not None,
        reserving,
    )
    result = await session.execute(statement, params)
    row = tuple(result.one())
    counted = usage.counted(row[: len(usage.metrics)])
    version, *rest = row[len(usage.metrics) :]
    faq = rest.pop(0) if faq_normalized else None
    daily = int(rest.pop(0) or 0) if daily_tokens_day is not None else None
    reserved = rest.pop(0) is not None if reserving else None
    return Recorded(counted, version, faq, daily, reserved)


@functools.cache
def _record_statement(
    upsert: Any,
    new_conversation: bool,
    touch: bool,
    faq: bool,
    daily: bool = False,
    reserve: bool = False,
) -> Any:
    """``record_message_metered``'s statement for the usage ``upsert`` (built once per set of
    metrics) and what else it carries; bind parameters ``c_*``, ``m_*``, ``touch_id``,
    ``ver_ws``, ``faq_ws``, ``faq_normalized``, ``dt_ws``, ``dt_day``, ``dt_est`` and
    ``dt_limit`` beside the upsert's. The reservation is evaluated in the upsert's RETURNING,
    after the monthly counters' row is locked, and the conversation is touched after the
    statement (a CTE nothing reads): this month's counters, today's, then the conversation, the
    order of the answer's statement (``_answer_statement``), so the two never wait for each
    other in a circle."""
    ctes = []
    if new_conversation:
        ctes.append(_insert_cte(_conversations, "c_", "new_conv"))
    ctes.append(_insert_cte(_messages, "m_", "new_message"))
    if touch:
        ctes.append(_touch.cte("touched_conv"))
    ws = _conversations.c.workspace_id.type
    extra = [workspace_version(bindparam("ver_ws", type_=ws)).label("workspace_version")]
    if faq:
        answer = faq_exact_answer(
            bindparam("faq_ws", type_=ws), bindparam("faq_normalized", type_=Text())
        )
        extra.append(answer.label("faq_answer"))
    if daily:
        tokens = daily_tokens(bindparam("dt_ws", type_=ws), bindparam("dt_day", type_=Date()))
        extra.append(tokens.label("daily_tokens"))
    if daily and reserve:
        reserved = daily_reservation(
            bindparam("dt_ws", type_=ws),
            bindparam("dt_day", type_=Date()),
            bindparam("dt_est", type_=BigInteger()),
            bindparam("dt_limit", type_=BigInteger()),
        ).cte("reserved_tokens")
        extra.append(select(reserved.c.llm_tokens).scalar_subquery().label("reserved"))
    return upsert.add_cte(*ctes).returning(*extra)


@functools.cache
def _answer_statement(metered: bool, unanswered: bool) -> Any:
    """``record_answer``'s statement: the answer (``m_*``) and its conversation's count
    (``touch_id``), with the LLM tokens (``tok_*``) and an unanswered question (``q_*``).

    Metered, it locks its rows in the order of ``_record_statement``'s: this month's counters
    (the main statement), then today's (the first column it returns), then the conversation (the
    second). A data-modifying CTE that nothing reads runs after the main statement, in an order
    of PostgreSQL's choosing: with the conversation's update as the main statement, a turn
    recording its answer held the conversation while it waited for the month's row, which
    another turn of that conversation held while it waited for the conversation (a deadlock:
    one of them aborted, a 500 or a message left without its answer)."""
    ctes = [_insert_cte(_messages, "m_", "new_message")]
    if unanswered:
        ctes.append(_insert_cte(_unanswered, "q_", "new_unanswered"))
    if not metered:
        return _touch.add_cte(*ctes)
    day = TOKEN_UPSERTS[1].returning(_usage_daily.c.llm_tokens).cte("tokens_day")
    touched = _touch.returning(_conversations.c.id).cte("touched_conv")
    return (
        TOKEN_UPSERTS[0]
        .add_cte(*ctes, day, touched)
        .returning(
            select(day.c.llm_tokens).scalar_subquery().label("day_tokens"),
            select(touched.c.id).scalar_subquery().label("touched"),
        )
    )


async def record_answer(
    session: AsyncSession,
    message: ChatMessage,
    tokens: TokenIncrement | None = None,
    unanswered: UnansweredQuestion | None = None,
) -> None:
    """One round trip: the answer's row, one more message counted on its conversation,
    (``tokens``) the LLM tokens counted this month and today, and (``unanswered``) the question
    recorded for the owner as unanswered."""
    params = {"touch_id": message.conversation_id, **_params("m_", message)}
    if tokens is not None:
        params |= tokens.params
    if unanswered is not None:
        params |= _params("q_", unanswered)
    await session.execute(_answer_statement(tokens is not None, unanswered is not None), params)


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
) -> list[Conversation]:
    """Latest activity first; a page continues after (``before``, ``before_id``):
    conversations whose last message came at the same moment are told apart by id. A
    conversation that gets a message moves up, so a walk in this order can miss one.
    ``started``: newest started first, by the (created_at, id) that never change, after the
    key ``after``; a walk in this order misses none."""
    stmt = select(Conversation).where(Conversation.workspace_id == workspace_id)
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


async def get_message(
    session: AsyncSession, *, workspace_id: uuid.UUID, message_id: uuid.UUID
) -> ChatMessage | None:
    result = await session.execute(
        select(ChatMessage).where(
            ChatMessage.workspace_id == workspace_id, ChatMessage.id == message_id
        )
    )
    return result.scalar_one_or_none()


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


async def recent_unanswered(
    session: AsyncSession, *, workspace_id: uuid.UUID, limit: int
) -> list[UnansweredQuestion]:
    result = await session.execute(
        select(UnansweredQuestion)
        .where(
            UnansweredQuestion.workspace_id == workspace_id,
            UnansweredQuestion.resolved.is_(False),
        )
        .order_by(UnansweredQuestion.created_at.desc())
        .limit(limit)
    )
    return list(result.scalars())


async def resolve_unanswered(
    session: AsyncSession, *, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> int:
    """Mark ``ids`` resolved; how many were not already (a teammate's resolve, or a stale
    page's ids, counts none)."""
    result = await session.execute(
        update(UnansweredQuestion)
        .where(
            UnansweredQuestion.workspace_id == workspace_id,
            UnansweredQuestion.id.in_(ids),
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
