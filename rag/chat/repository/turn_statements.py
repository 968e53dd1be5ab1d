"""A chat turn's writes, one round trip each: the visitor's message with its conversation, the
conversation's count, the usage counters, the workspace row's version, the exact FAQ answer and
the day's tokens (``record_message_metered``); the answer with its tokens and an unanswered
question (``record_answer``). Each statement is built once per shape and bound by parameter;
both lock their rows in one order (this month's counters, today's, the conversation)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import BigInteger, Date, Text, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert

from core.direct import Executor, Prepared, fetch
from rag.chat.models import ChatMessage, Conversation, UnansweredQuestion
from rag.chat.repository.faqs import faq_exact_answer
from rag.knowledge.repository.chunks import vector_param
from workspaces.models import UsageDaily
from workspaces.plans import Metric
from workspaces.repository import workspace_version
from workspaces.usage import TokenIncrement, UsageIncrement
from workspaces.usage_repository import TOKEN_UPSERTS, daily_reservation, daily_tokens


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
    value on each execution). A vector column is bound by ``vector_param`` (in pgvector's
    binary form)."""
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
    session: Executor,
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
    rows = await fetch(session, statement, params)
    if len(rows) != 1:
        raise RuntimeError(f"the message's statement returned {len(rows)} rows, not one")
    row = tuple(rows[0])
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
) -> Prepared:
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
    return Prepared(upsert.add_cte(*ctes).returning(*extra))


@functools.cache
def _answer_statement(metered: bool, unanswered: bool) -> Prepared:
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
        return Prepared(_touch.add_cte(*ctes))
    day = TOKEN_UPSERTS[1].returning(_usage_daily.c.llm_tokens).cte("tokens_day")
    touched = _touch.returning(_conversations.c.id).cte("touched_conv")
    return Prepared(
        TOKEN_UPSERTS[0]
        .add_cte(*ctes, day, touched)
        .returning(
            select(day.c.llm_tokens).scalar_subquery().label("day_tokens"),
            select(touched.c.id).scalar_subquery().label("touched"),
        )
    )


async def record_answer(
    session: Executor,
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
    await fetch(session, _answer_statement(tokens is not None, unanswered is not None), params)
