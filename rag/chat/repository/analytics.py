"""SQL of the analytics: recounting a workspace's days into ``analytics_daily``, reading them back,
the recent questions for the top-questions list, and the conversation export's keyset pages.

Days are UTC dates. The owner's own test chats (channel ``owner``) are left out of every figure.
``COUNT_DAYS`` is the one place the figures are defined; the benchmark runs the same statement
over a whole range to compare counting from messages with reading the rollup.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import db
from rag.chat.intents import NEVER_UNANSWERED
from rag.chat.models import AnalyticsDaily

COUNTS: tuple[str, ...] = (
    "conversations",
    "visitor_messages",
    "answers",
    "answers_faq",
    "answers_cache",
    "answers_rag",
    "answers_fallback",
    "answers_handoff",
    "answers_refused",
    "answered",
    "unanswered",
    "feedback_up",
    "feedback_down",
    "team_feedback_up",
    "team_feedback_down",
    "leads",
    "handoffs",
    "resolution_counted",
    "resolved",
)

# A fallback answer to these is a reply, not an "I don't know" (rag.chat.intents).
_COURTESY = "(" + ", ".join(f"'{intent}'" for intent in NEVER_UNANSWERED) + ")"
_ANSWERED = "('faq', 'cache', 'rag')"

# One row per UTC day in [:t1, :t2) with activity. Conversations, their handoffs, their
# resolution and leads belong to the day they were created (so a conversation that asked for a
# human on two days is one handoff in a range's total); messages and answers to the day they
# were sent; feedback to the day of the answer it rates. Feedback and resolution read visitors'
# ratings only (``rater = 'visitor'``); the team's are counted apart. Resolution is judged at
# :now (see rag/chat/analytics.py).
COUNT_DAYS = f"""
WITH conv AS (
    SELECT c.id, (c.created_at AT TIME ZONE 'UTC')::date AS day
    FROM conversations c
    WHERE c.workspace_id = :ws AND c.channel <> 'owner'
      AND c.created_at >= :t1 AND c.created_at < :t2
),
conv_counts AS (SELECT day, count(*) AS conversations FROM conv GROUP BY day),
msg AS (
    SELECT (m.created_at AT TIME ZONE 'UTC')::date AS day, m.id, m.conversation_id, m.role,
           m.intent, m.source
    FROM messages m JOIN conversations c ON c.id = m.conversation_id AND c.workspace_id = :ws
    WHERE m.workspace_id = :ws AND c.channel <> 'owner'
      AND m.created_at >= :t1 AND m.created_at < :t2
),
msg_counts AS (
    SELECT day,
        count(*) FILTER (WHERE role = 'user') AS visitor_messages,
        count(*) FILTER (WHERE role = 'assistant') AS answers,
        count(*) FILTER (WHERE role = 'assistant' AND source = 'faq') AS answers_faq,
        count(*) FILTER (WHERE role = 'assistant' AND source = 'cache') AS answers_cache,
        count(*) FILTER (WHERE role = 'assistant' AND source = 'rag') AS answers_rag,
        count(*) FILTER (WHERE role = 'assistant' AND source = 'fallback') AS answers_fallback,
        count(*) FILTER (WHERE role = 'assistant' AND source = 'handoff') AS answers_handoff,
        count(*) FILTER (WHERE role = 'assistant' AND source = 'refused') AS answers_refused,
        count(*) FILTER (WHERE role = 'assistant' AND source IN {_ANSWERED}) AS answered,
        count(*) FILTER (
            WHERE role = 'assistant' AND source = 'fallback'
              AND coalesce(intent, '') NOT IN {_COURTESY}
        ) AS unanswered
    FROM msg GROUP BY day
),
feedback_counts AS (
    SELECT msg.day,
        count(*) FILTER (WHERE f.rater = 'visitor' AND f.rating = 'up') AS feedback_up,
        count(*) FILTER (WHERE f.rater = 'visitor' AND f.rating = 'down') AS feedback_down,
        count(*) FILTER (WHERE f.rater = 'team' AND f.rating = 'up') AS team_feedback_up,
        count(*) FILTER (WHERE f.rater = 'team' AND f.rating = 'down') AS team_feedback_down
    FROM msg JOIN message_feedback f ON f.message_id = msg.id AND f.workspace_id = :ws
    GROUP BY msg.day
),
lead_counts AS (
    SELECT (l.created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS leads
    FROM leads l
    WHERE l.workspace_id = :ws AND l.created_at >= :t1 AND l.created_at < :t2
    GROUP BY 1
),
per_conv AS (
    SELECT conv.day,
        max(m.created_at) FILTER (WHERE m.role = 'user') AS last_visitor_at,
        coalesce(bool_or(m.source = 'handoff'), false) AS handoff,
        (array_agg(m.source ORDER BY m.created_at DESC, m.id DESC) FILTER (
            WHERE m.role = 'assistant' AND coalesce(m.intent, '') NOT IN {_COURTESY}
        ))[1] AS last_source,
        (array_agg(f.rating ORDER BY m.created_at DESC, m.id DESC) FILTER (
            WHERE m.role = 'assistant' AND coalesce(m.intent, '') NOT IN {_COURTESY}
        ))[1] AS last_answer_rating,
        (array_agg(f.rating ORDER BY f.created_at DESC, f.message_id DESC) FILTER (
            WHERE f.rating IS NOT NULL
        ))[1] AS last_rating
    FROM conv
    JOIN messages m ON m.workspace_id = :ws AND m.conversation_id = conv.id
    LEFT JOIN message_feedback f
      ON f.message_id = m.id AND f.workspace_id = :ws AND f.rater = 'visitor'
    GROUP BY conv.id, conv.day
),
judged AS (
    SELECT day, handoff, last_source, last_answer_rating, last_rating,
        last_source IS NOT NULL AND (
            last_rating = 'up'
            OR last_visitor_at <= CAST(:now AS timestamptz) - interval '24 hours'
        ) AS counted
    FROM per_conv
),
resolution_counts AS (
    SELECT day,
        count(*) FILTER (WHERE handoff) AS handoffs,
        count(*) FILTER (WHERE counted) AS resolution_counted,
        count(*) FILTER (
            WHERE counted AND NOT handoff AND (
                last_rating = 'up'
                OR (last_source IN {_ANSWERED} AND coalesce(last_answer_rating, '') <> 'down')
            )
        ) AS resolved
    FROM judged GROUP BY day
),
days AS (
    SELECT day FROM conv_counts UNION SELECT day FROM msg_counts UNION SELECT day FROM lead_counts
)
SELECT days.day,
    coalesce(cc.conversations, 0) AS conversations,
    coalesce(mc.visitor_messages, 0) AS visitor_messages,
    coalesce(mc.answers, 0) AS answers,
    coalesce(mc.answers_faq, 0) AS answers_faq,
    coalesce(mc.answers_cache, 0) AS answers_cache,
    coalesce(mc.answers_rag, 0) AS answers_rag,
    coalesce(mc.answers_fallback, 0) AS answers_fallback,
    coalesce(mc.answers_handoff, 0) AS answers_handoff,
    coalesce(mc.answers_refused, 0) AS answers_refused,
    coalesce(mc.answered, 0) AS answered,
    coalesce(mc.unanswered, 0) AS unanswered,
    coalesce(fc.feedback_up, 0) AS feedback_up,
    coalesce(fc.feedback_down, 0) AS feedback_down,
    coalesce(fc.team_feedback_up, 0) AS team_feedback_up,
    coalesce(fc.team_feedback_down, 0) AS team_feedback_down,
    coalesce(lc.leads, 0) AS leads,
    coalesce(rc.handoffs, 0) AS handoffs,
    coalesce(rc.resolution_counted, 0) AS resolution_counted,
    coalesce(rc.resolved, 0) AS resolved
FROM days
LEFT JOIN conv_counts cc USING (day)
LEFT JOIN msg_counts mc USING (day)
LEFT JOIN feedback_counts fc USING (day)
LEFT JOIN lead_counts lc USING (day)
LEFT JOIN resolution_counts rc USING (day)
"""  # noqa: S608 - constant fragments only

_COLUMNS = ", ".join(COUNTS)
_UPSERT = text(
    f"INSERT INTO analytics_daily (workspace_id, day, {_COLUMNS}, updated_at)"  # noqa: S608
    f" SELECT CAST(:ws AS uuid), counted.day, {_COLUMNS}, now() FROM ({COUNT_DAYS}) counted"
    " ON CONFLICT (workspace_id, day) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in COUNTS)
    + ", updated_at = now()"
)
_SCAN = text(f"SELECT * FROM ({COUNT_DAYS}) counted ORDER BY day")  # noqa: S608


async def lock_workspace(session: AsyncSession, *, workspace_id: uuid.UUID) -> None:
    """Serialise this transaction with any other refresh of the workspace's rollup (until it
    ends), so an older count never overwrites a newer one."""
    await db.lock_workspace(session, "analytics_daily", workspace_id)


async def recount(
    session: AsyncSession, *, workspace_id: uuid.UUID, start: datetime, end: datetime, now: datetime
) -> int:
    """Recount the days in [start, end) from conversations, messages, feedback and leads into
    ``analytics_daily`` (days with activity get a row); how many rows were written."""
    result = await session.execute(
        _UPSERT, {"ws": workspace_id, "t1": start, "t2": end, "now": now}
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def count_by_scanning(
    session: AsyncSession, *, workspace_id: uuid.UUID, start: datetime, end: datetime, now: datetime
) -> list[dict[str, Any]]:
    """The daily figures counted from the messages themselves, without the rollup (what the
    benchmark compares the rollup with)."""
    result = await session.execute(_SCAN, {"ws": workspace_id, "t1": start, "t2": end, "now": now})
    return [dict(row._mapping) for row in result]


async def changed_days(
    session: AsyncSession, *, workspace_id: uuid.UUID, since: datetime, window_since: datetime
) -> list[date]:
    """The days whose figures may have changed since ``since``: days with new messages,
    feedback or leads, the days of the conversations those touched, and the days of
    conversations whose 24-hour window may have closed (last active after ``window_since``)."""
    result = await session.execute(
        text(
            """
            SELECT (created_at AT TIME ZONE 'UTC')::date FROM messages
             WHERE workspace_id = :ws AND created_at >= :since
            UNION
            SELECT (created_at AT TIME ZONE 'UTC')::date FROM conversations
             WHERE workspace_id = :ws AND last_message_at >= :window_since
            UNION
            SELECT (x.created_at AT TIME ZONE 'UTC')::date
              FROM message_feedback f
              JOIN messages m ON m.id = f.message_id AND m.workspace_id = :ws
              JOIN conversations c ON c.id = m.conversation_id AND c.workspace_id = :ws
              CROSS JOIN LATERAL (VALUES (m.created_at), (c.created_at)) AS x(created_at)
             WHERE f.workspace_id = :ws AND f.created_at >= :since
            UNION
            SELECT (created_at AT TIME ZONE 'UTC')::date FROM leads
             WHERE workspace_id = :ws AND created_at >= :since
            """
        ),
        {"ws": workspace_id, "since": since, "window_since": window_since},
    )
    return sorted(row[0] for row in result)


async def first_activity(session: AsyncSession, *, workspace_id: uuid.UUID) -> datetime | None:
    """When the workspace's oldest conversation or lead was created (where a rebuild starts)."""
    result = await session.execute(
        text(
            "SELECT least((SELECT min(created_at) FROM conversations WHERE workspace_id = :ws),"
            " (SELECT min(created_at) FROM leads WHERE workspace_id = :ws))"
        ),
        {"ws": workspace_id},
    )
    first: datetime | None = result.scalar_one_or_none()
    return first


async def refreshed_at(session: AsyncSession, *, workspace_id: uuid.UUID) -> datetime | None:
    result = await session.execute(
        text("SELECT refreshed_at FROM analytics_refresh WHERE workspace_id = :ws"),
        {"ws": workspace_id},
    )
    at: datetime | None = result.scalar_one_or_none()
    return at


async def set_refreshed_at(session: AsyncSession, *, workspace_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        text(
            "INSERT INTO analytics_refresh (workspace_id, refreshed_at) VALUES (:ws, :at)"
            " ON CONFLICT (workspace_id) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at"
        ),
        {"ws": workspace_id, "at": at},
    )


async def daily_rows(
    session: AsyncSession, *, workspace_id: uuid.UUID, first: date, last: date
) -> Sequence[AnalyticsDaily]:
    """The rollup rows of the days in [first, last] (at most one per day)."""
    result = await session.execute(
        select(AnalyticsDaily)
        .where(
            AnalyticsDaily.workspace_id == workspace_id,
            AnalyticsDaily.day >= first,
            AnalyticsDaily.day <= last,
        )
        .order_by(AnalyticsDaily.day)
    )
    return result.scalars().all()


@dataclass(frozen=True)
class QuestionRow:
    """Visitors' questions with the same text, shaped like an unanswered one for the
    similarity grouping (``count``: how many times it was asked in the window)."""

    id: uuid.UUID
    question: str
    normalized: str
    embedding: Any
    created_at: datetime
    count: int


async def recent_questions(
    session: AsyncSession, *, workspace_id: uuid.UUID, start: datetime, end: datetime, limit: int
) -> list[QuestionRow]:
    """The latest ``limit`` visitors' questions asked in [start, end), the same texts (case
    and surrounding blanks aside) counted together, the most recently asked first: the bounded
    window the top questions are grouped from."""
    result = await session.execute(
        text(
            "SELECT (array_agg(id ORDER BY created_at DESC))[1] AS id,"
            " (array_agg(text ORDER BY created_at DESC))[1] AS text,"
            " max(created_at) AS created_at, count(*) AS n FROM ("
            "  SELECT m.id, m.text, m.created_at FROM messages m"
            "  JOIN conversations c ON c.id = m.conversation_id AND c.workspace_id = :ws"
            "  WHERE m.workspace_id = :ws AND m.role = 'user' AND m.intent = 'question'"
            "  AND c.channel <> 'owner' AND m.created_at >= :t1 AND m.created_at < :t2"
            "  ORDER BY m.created_at DESC, m.id DESC LIMIT :limit"
            ") recent GROUP BY lower(btrim(text)) ORDER BY max(created_at) DESC"
        ),
        {"ws": workspace_id, "t1": start, "t2": end, "limit": limit},
    )
    return [
        QuestionRow(
            id=row.id,
            question=row.text,
            normalized="",
            embedding=None,
            created_at=row.created_at,
            count=int(row.n),
        )
        for row in result
    ]


# --- the conversation export: keyset pages of messages in conversation order ------------------

ExportKey = tuple[datetime, uuid.UUID, datetime, uuid.UUID]


@dataclass(frozen=True)
class ExportRow:
    conversation_id: uuid.UUID
    session_id: str
    channel: str
    status: str
    lead_id: uuid.UUID | None
    conversation_created_at: datetime
    message_id: uuid.UUID
    role: str
    text: str
    intent: str | None
    source: str | None
    rating: str | None
    rater: str | None
    created_at: datetime

    @property
    def key(self) -> ExportKey:
        return (
            self.conversation_created_at,
            self.conversation_id,
            self.created_at,
            self.message_id,
        )


_EXPORT_SELECT = (
    "SELECT c.id AS conversation_id, c.session_id, c.channel, c.status, c.lead_id,"
    " c.created_at AS conversation_created_at, m.id AS message_id, m.role, m.text,"
    " m.intent, m.source, f.rating, f.rater, m.created_at"
    " FROM conversations c"
    " JOIN messages m ON m.conversation_id = c.id AND m.workspace_id = :ws"
    " LEFT JOIN message_feedback f ON f.message_id = m.id AND f.workspace_id = :ws"
    " WHERE c.workspace_id = :ws AND c.created_at >= :t1 AND c.created_at < :t2"
)
_EXPORT_ORDER = " ORDER BY c.created_at, c.id, m.created_at, m.id LIMIT :limit"
_EXPORT_FIRST = text(_EXPORT_SELECT + _EXPORT_ORDER)
_EXPORT_NEXT = text(
    _EXPORT_SELECT
    + " AND (c.created_at, c.id, m.created_at, m.id) > (:a_conv_at, :a_conv, :a_msg_at, :a_msg)"
    + _EXPORT_ORDER
)


async def export_page(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    start: datetime,
    end: datetime,
    after: ExportKey | None,
    limit: int,
) -> list[ExportRow]:
    """Messages of the conversations created in [start, end), in conversation order then
    message order, the next ``limit`` after ``after``."""
    params: dict[str, Any] = {"ws": workspace_id, "t1": start, "t2": end, "limit": limit}
    if after is not None:
        params |= dict(zip(("a_conv_at", "a_conv", "a_msg_at", "a_msg"), after, strict=True))
    result = await session.execute(_EXPORT_FIRST if after is None else _EXPORT_NEXT, params)
    return [ExportRow(**row._mapping) for row in result]
