"""SQL of the analytics: recounting a workspace's days into ``analytics_daily`` (with what its
deleted conversations and leads counted, ``analytics_daily_purged``), reading them back, and the
recent questions for the top-questions list. The conversation export's pages are in
``conversation_export``.

Days are UTC dates. The owner's own test chats (channel ``owner``) are left out of every figure.
``COUNT_DAYS`` is the one place the figures are defined; the benchmark runs the same statement
over a whole range to compare counting from messages with reading the rollup.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, get_args

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import db
from rag.chat.intents import NEVER_UNANSWERED, NOT_QUESTIONS, Intent
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
    "sales_routed",
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
# Visitors' messages the bot answers as questions (a question, or a lead's: "how much is the
# Pro plan?"): the top questions are grouped from these.
_ASKED = "(" + ", ".join(f"'{i}'" for i in get_args(Intent) if i not in NOT_QUESTIONS) + ")"


ROUTED = "coalesce(m.source = 'fallback' AND m.answer_flags @> '{\"routed\": true}', false)"
"""SQL: the message ``m`` is a sales lead's fallback the bot sent to the team
(``Message.routed``): what ``sales_routed`` counts, and the conversation export's column."""


# One row per UTC day in [:t1, :t2) with activity. Conversations, their handoffs, their
# resolution and leads belong to the day they were created (so a conversation that asked for a
# human on two days is one handoff in a range's total); messages and answers to the day they
# were sent; feedback to the day of the answer it rates. Feedback and resolution read visitors'
# ratings only (``rater = 'visitor'``); the team's are counted apart. A fallback whose
# ``answer_flags`` say ``routed`` (a sales lead sent to the team) is ``sales_routed``, not
# ``unanswered`` (read only for fallbacks: the other answers' flags are never looked at).
# Resolution is judged at :now (see rag/chat/analytics.py). ``only`` counts just the
# conversations :ids (their messages, feedback and resolution; no lead): what they contributed,
# before they are deleted.
def _count_days(*, only: bool = False) -> str:
    conversations = " AND c.id = ANY(CAST(:ids AS uuid[]))" if only else ""
    messages = " AND m.conversation_id = ANY(CAST(:ids AS uuid[]))" if only else ""
    leads = " AND false" if only else ""
    return f"""
WITH conv AS (
    SELECT c.id, (c.created_at AT TIME ZONE 'UTC')::date AS day
    FROM conversations c
    WHERE c.workspace_id = :ws AND c.channel <> 'owner'
      AND c.created_at >= :t1 AND c.created_at < :t2{conversations}
),
conv_counts AS (SELECT day, count(*) AS conversations FROM conv GROUP BY day),
msg AS (
    SELECT (m.created_at AT TIME ZONE 'UTC')::date AS day, m.id, m.conversation_id, m.role,
           m.intent, m.source,
           {ROUTED} AS routed
    FROM messages m JOIN conversations c ON c.id = m.conversation_id AND c.workspace_id = :ws
    WHERE m.workspace_id = :ws AND c.channel <> 'owner'
      AND m.created_at >= :t1 AND m.created_at < :t2{messages}
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
            WHERE role = 'assistant' AND source = 'fallback' AND NOT routed
              AND coalesce(intent, '') NOT IN {_COURTESY}
        ) AS unanswered,
        count(*) FILTER (WHERE role = 'assistant' AND routed) AS sales_routed
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
    WHERE l.workspace_id = :ws AND l.created_at >= :t1 AND l.created_at < :t2{leads}
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
    coalesce(mc.sales_routed, 0) AS sales_routed,
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


COUNT_DAYS = _count_days()

_COLUMNS = ", ".join(COUNTS)
# A day's row: what its rows count now, plus what its deleted conversations and leads counted
# (``analytics_daily_purged``), so deleting them never changes the day's figures.
_SUMS = ", ".join(f"coalesce(counted.{c}, 0) + coalesce(purged.{c}, 0)" for c in COUNTS)
_UPSERT = text(
    f"INSERT INTO analytics_daily (workspace_id, day, {_COLUMNS}, updated_at)"  # noqa: S608
    f" SELECT CAST(:ws AS uuid), day, {_SUMS}, now()"
    f" FROM ({COUNT_DAYS}) counted FULL JOIN ("
    f" SELECT day, {_COLUMNS} FROM analytics_daily_purged WHERE workspace_id = :ws"
    "  AND day >= (CAST(:t1 AS timestamptz) AT TIME ZONE 'UTC')::date"
    "  AND day < (CAST(:t2 AS timestamptz) AT TIME ZONE 'UTC')::date"
    ") purged USING (day)"
    " ON CONFLICT (workspace_id, day) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in COUNTS)
    + ", updated_at = now()"
)
# What conversations about to be deleted counted, added to their days' kept counts.
_KEEP = text(
    f"INSERT INTO analytics_daily_purged (workspace_id, day, {_COLUMNS}, updated_at)"  # noqa: S608
    f" SELECT CAST(:ws AS uuid), day, {_COLUMNS}, now() FROM ({_count_days(only=True)}) counted"
    " ON CONFLICT (workspace_id, day) DO UPDATE SET "
    + ", ".join(f"{c} = analytics_daily_purged.{c} + EXCLUDED.{c}" for c in COUNTS)
    + ", updated_at = now()"
)
# The whole calendar the database stores: the conversations deleted, whenever they were.
_ALL_TIME = (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
_SCAN = text(f"SELECT * FROM ({COUNT_DAYS}) counted ORDER BY day")  # noqa: S608


async def keep_deleted(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    conversation_ids: Collection[uuid.UUID],
    now: datetime | None = None,
) -> None:
    """Before ``conversation_ids`` are deleted (retention, erasure), in the same transaction: add
    what they count (their conversations, messages, feedback, handoffs, and their resolution as
    judged at ``now``) to their days' kept counts, which every later recount of those days adds
    to what remains. A deleted lead keeps its count by a trigger (migration 0028)."""
    if not conversation_ids:
        return
    first, last = _ALL_TIME
    await session.execute(
        _KEEP,
        {
            "ws": workspace_id,
            "ids": list(conversation_ids),
            "t1": first,
            "t2": last,
            "now": now or datetime.now(UTC),
        },
    )


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
    feedback or leads, the days of the conversations those touched, the days of
    conversations whose 24-hour window may have closed (last active after ``window_since``),
    and the days whose deleted conversations or leads were counted since."""
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
            UNION
            SELECT day FROM analytics_daily_purged
             WHERE workspace_id = :ws AND updated_at >= :since
            """
        ),
        {"ws": workspace_id, "since": since, "window_since": window_since},
    )
    return sorted(row[0] for row in result)


async def has_changes(
    session: AsyncSession, *, workspace_id: uuid.UUID, since: datetime, window_since: datetime
) -> bool:
    """Whether ``changed_days`` would find any day (one probe of each index, no day listed):
    an idle workspace's refresh is skipped on this."""
    result = await session.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM messages"
            "  WHERE workspace_id = :ws AND created_at >= :since)"
            " OR EXISTS (SELECT 1 FROM conversations"
            "  WHERE workspace_id = :ws AND last_message_at >= :window_since)"
            " OR EXISTS (SELECT 1 FROM message_feedback"
            "  WHERE workspace_id = :ws AND created_at >= :since)"
            " OR EXISTS (SELECT 1 FROM leads WHERE workspace_id = :ws AND created_at >= :since)"
            " OR EXISTS (SELECT 1 FROM analytics_daily_purged"
            "  WHERE workspace_id = :ws AND updated_at >= :since)"
        ),
        {"ws": workspace_id, "since": since, "window_since": window_since},
    )
    return bool(result.scalar_one())


async def first_activity(session: AsyncSession, *, workspace_id: uuid.UUID) -> datetime | None:
    """When the workspace's oldest conversation or lead was created, or its oldest day with
    deleted ones counted (where a rebuild starts)."""
    result = await session.execute(
        text(
            "SELECT least((SELECT min(created_at) FROM conversations WHERE workspace_id = :ws),"
            " (SELECT min(created_at) FROM leads WHERE workspace_id = :ws),"
            " (SELECT min(day) FROM analytics_daily_purged WHERE workspace_id = :ws)::timestamp"
            " AT TIME ZONE 'UTC')"
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
            "SELECT (array_agg(id ORDER BY created_at DESC))[1] AS id,"  # noqa: S608 - constants
            " (array_agg(text ORDER BY created_at DESC))[1] AS text,"
            " max(created_at) AS created_at, count(*) AS n FROM ("
            "  SELECT m.id, m.text, m.created_at FROM messages m"
            "  JOIN conversations c ON c.id = m.conversation_id AND c.workspace_id = :ws"
            f"  WHERE m.workspace_id = :ws AND m.role = 'user' AND m.intent IN {_ASKED}"
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
