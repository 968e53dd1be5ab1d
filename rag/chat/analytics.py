"""What the bot is doing: daily figures per workspace, served from a rollup, and the export of
conversations.

The figures (UTC days; the owner's own test chats are left out):

- conversations: started that day; visitor messages and answers: sent that day;
- answers by stage: where each answer came from (``faq``, ``cache``, ``rag`` = retrieval,
  ``fallback``, ``handoff``, ``refused`` = withheld by the output guard, as the chat API
  reports ``source``);
- answered: answers from an FAQ, the cache or retrieval; unanswered: fallback answers to
  anything but courtesy (the honest "don't know", or generation failing); sales_routed: a
  sales lead's fallback that sent it to the team (``rag.chat.recording.routed_to_team``),
  neither answered nor unanswered; answer rate = answered / (answered + unanswered +
  refused), over the questions the knowledge was to answer: a refusal is no answer, but no
  knowledge gap either, so it is not among the unanswered (nor on the Unanswered page), and a
  routed sales lead is in neither part;
- feedback up / down: visitors' ratings of that day's answers (the team's ratings through the
  API are counted apart, and never decide resolution);
- leads: created that day; handoffs: conversations started that day in which the visitor asked
  for a human (each once, whatever the days it asked on);
- resolution, as hosted peers count it. A conversation with at least one answer to a question is
  *resolved* when the visitor confirmed it (their latest rating is thumbs up), or when 24 hours
  passed after their last message and the last answer was an answer (FAQ, cache, retrieval),
  not a "don't know" nor a refusal, and that answer was not rated down. A conversation in
  which the visitor asked for a human is never resolved, even after a thumbs up. A
  conversation is *counted* once its 24-hour window closed or it got a thumbs up; until then it
  is neither resolved nor unresolved. A message after the window reopens it: it is judged
  again 24 hours after that message. Resolution rate = resolved / counted, counted on the day
  the conversation started.

The rollup (``analytics_daily``) is kept by a scheduled job (api/schedule.py, every five minutes),
not by the chat path: a conversation's resolution changes when nothing happens (its window
closes), ratings change after the fact, and the answer pipeline keeps its round trips. Each run
recounts, per workspace, only the days that may have changed since the workspace's last refresh
(``analytics_refresh``); a workspace never refreshed is rebuilt from its first conversation, so
existing history is counted too. Figures of today lag by at most the job's interval.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import ValidationFailed
from core.models import utcnow
from core.pagination import keyset_pages
from rag.chat.conversations import group_questions
from rag.chat.intents import question_of
from rag.chat.repository import analytics as repo
from rag.chat.repository import conversation_export as export_repo
from rag.chat.repository.conversation_export import ExportChannel as ExportChannel
from workspaces.csv_cells import csv_safe
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess, require_verified

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
TOP_QUESTIONS_WINDOW = 1000
"""Top questions are grouped from at most this many of the range's latest questions."""
TOP_QUESTIONS = 10
RESOLUTION_WINDOW = timedelta(hours=24)
LATE_COMMIT_MARGIN = timedelta(minutes=10)
"""How far before its last refresh a workspace's changes are looked for again: a transaction
that started earlier (its rows carry its start time) may commit after the refresh read."""
REBUILD_CHUNK_DAYS = 31
EXPORT_PAGE = 1000
STAGES = ("faq", "cache", "rag", "fallback", "handoff", "refused")
DAILY = tuple(
    name
    for name in repo.COUNTS
    if not name.startswith(("answers_", "team_")) and name not in ("resolution_counted", "resolved")
)
"""The figures given per day (and as totals); stages, the team's ratings and resolution are
given over the range."""

ExportFormat = Literal["csv", "jsonl"]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


# --- keeping the rollup ------------------------------------------------------------------------


async def rebuild(db: Database, *, workspace_id: uuid.UUID, now: datetime) -> int:
    """Recount every day of the workspace's history, a month per transaction; rows written."""
    async with db.transaction(workspace_id=workspace_id) as session:
        first = await repo.first_activity(session, workspace_id=workspace_id)
    written = 0
    if first is not None:
        day = _utc_day(first)
        last = _utc_day(now)
        while day <= last:
            end = min(day + timedelta(days=REBUILD_CHUNK_DAYS), last + timedelta(days=1))
            async with db.transaction(workspace_id=workspace_id) as session:
                await repo.lock_workspace(session, workspace_id=workspace_id)
                written += await repo.recount(
                    session,
                    workspace_id=workspace_id,
                    start=day_start(day),
                    end=day_start(end),
                    now=now,
                )
            day = end
    async with db.transaction(workspace_id=workspace_id) as session:
        await repo.set_refreshed_at(session, workspace_id=workspace_id, at=now)
    return written


async def _changed_since(
    session: AsyncSession, *, workspace_id: uuid.UUID, last: datetime | None
) -> bool:
    """Whether a refresh after one at ``last`` (None: never) may change any figure."""
    if last is None:
        return True
    since = last - LATE_COMMIT_MARGIN
    return await repo.has_changes(
        session, workspace_id=workspace_id, since=since, window_since=since - RESOLUTION_WINDOW
    )


async def due(db: Database, *, workspace_id: uuid.UUID) -> bool:
    """Whether the workspace's rollup needs a refresh: never refreshed, or something happened
    since its last one (a message, a rating, a lead, a deletion counted), or a conversation's
    24-hour window may have closed since. The scheduled run enqueues refreshes for these only:
    an idle workspace costs one read, not a job."""
    async with db.transaction(workspace_id=workspace_id) as session:
        last = await repo.refreshed_at(session, workspace_id=workspace_id)
        return await _changed_since(session, workspace_id=workspace_id, last=last)


async def refresh(db: Database, *, workspace_id: uuid.UUID, now: datetime) -> int:
    """Bring the workspace's rollup up to ``now``: recount the days that may have changed since
    its last refresh (all of them the first time); rows written."""
    async with db.transaction(workspace_id=workspace_id) as session:
        last = await repo.refreshed_at(session, workspace_id=workspace_id)
    if last is None:
        return await rebuild(db, workspace_id=workspace_id, now=now)
    since = last - LATE_COMMIT_MARGIN
    written = 0
    async with db.transaction(workspace_id=workspace_id) as session:
        await repo.lock_workspace(session, workspace_id=workspace_id)
        days = await repo.changed_days(
            session,
            workspace_id=workspace_id,
            since=since,
            window_since=since - RESOLUTION_WINDOW,
        )
        for day in days:
            written += await repo.recount(
                session,
                workspace_id=workspace_id,
                start=day_start(day),
                end=day_start(day + timedelta(days=1)),
                now=now,
            )
        await repo.set_refreshed_at(session, workspace_id=workspace_id, at=now)
    return written


# --- reading it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return day_start(self.first)

    @property
    def end(self) -> datetime:
        return day_start(self.last + timedelta(days=1))


EARLIEST = date(1970, 1, 1)
LATEST = date(9999, 1, 1)


def date_range(first: date | None, last: date | None, *, today: date) -> DateRange:
    """The inclusive range asked for (default: the last 30 days up to today); 422
    ``invalid_date_range`` when it ends before it starts, ``date_range_too_long`` past
    MAX_RANGE_DAYS; ``date_out_of_range`` for a day outside EARLIEST..LATEST (the range's
    arithmetic overflowed at the calendar's ends: a 500, or an export that broke mid-stream)."""
    for name, day in (("from", first), ("to", last)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise ValidationFailed(
                f"'{name}' must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}",
                code="date_out_of_range",
                details=[{"field": name, "value": day.isoformat()}],
            )
    last = last or (max(first, today) if first else today)
    first = first or last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if last < first:
        raise ValidationFailed(
            "'to' is before 'from'",
            code="invalid_date_range",
            details=[{"field": "to", "from": first.isoformat(), "to": last.isoformat()}],
        )
    span = DateRange(first, last)
    if span.days > MAX_RANGE_DAYS:
        raise ValidationFailed(
            f"The range is longer than {MAX_RANGE_DAYS} days",
            code="date_range_too_long",
            details=[{"field": "from", "max_days": MAX_RANGE_DAYS, "days": span.days}],
        )
    return span


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def report(
    session: AsyncSession, access: WorkspaceAccess, *, span: DateRange
) -> dict[str, Any]:
    """The workspace's figures over ``span`` from the rollup, and its top questions from the
    range's latest TOP_QUESTIONS_WINDOW questions."""
    authorize(access, Action.ANALYTICS_READ)
    workspace_id = access.workspace.id
    rows = {
        row.day: row
        for row in await repo.daily_rows(
            session, workspace_id=workspace_id, first=span.first, last=span.last
        )
    }
    totals = dict.fromkeys(repo.COUNTS, 0)
    days: list[dict[str, Any]] = []
    for offset in range(span.days):
        day = span.first + timedelta(days=offset)
        row = rows.get(day)
        for name in repo.COUNTS:
            totals[name] += getattr(row, name) if row is not None else 0
        days.append({"day": day, **{n: getattr(row, n) if row is not None else 0 for n in DAILY}})
    answers = totals["answers"]
    rated = totals["feedback_up"] + totals["feedback_down"]
    questions = await repo.recent_questions(
        session,
        workspace_id=workspace_id,
        start=span.start,
        end=span.end,
        limit=TOP_QUESTIONS_WINDOW,
    )
    # "are you a bot? <question>" was answered as the question: counted with it.
    top = group_questions(
        [replace(q, question=question_of(q.question, "question")) for q in questions],
        limit=TOP_QUESTIONS,
    )
    refreshed = await repo.refreshed_at(session, workspace_id=workspace_id)
    if refreshed is not None and not await _changed_since(
        session, workspace_id=workspace_id, last=refreshed
    ):
        # Nothing happened since: the figures are those a refresh now would write (an idle
        # workspace is not refreshed, see ``due``).
        refreshed = utcnow()
    return {
        "from": span.first,
        "to": span.last,
        "refreshed_at": refreshed,
        "totals": {name: totals[name] for name in DAILY},
        "stages": {
            stage: {
                "count": totals[f"answers_{stage}"],
                "share": _rate(totals[f"answers_{stage}"], answers),
            }
            for stage in STAGES
        },
        "answer_rate": _rate(
            totals["answered"],
            totals["answered"] + totals["unanswered"] + totals["answers_refused"],
        ),
        "feedback": {
            "up": totals["feedback_up"],
            "down": totals["feedback_down"],
            "rated_share": _rate(rated, answers),
            "up_rate": _rate(totals["feedback_up"], rated),
            "down_rate": _rate(totals["feedback_down"], rated),
            "team": {"up": totals["team_feedback_up"], "down": totals["team_feedback_down"]},
        },
        "resolution": {
            "counted": totals["resolution_counted"],
            "resolved": totals["resolved"],
            "rate": _rate(totals["resolved"], totals["resolution_counted"]),
        },
        "days": days,
        "top_questions": [
            {k: g[k] for k in ("question", "count", "examples", "last_asked_at")} for g in top
        ],
        "top_questions_window": {
            "questions": sum(q.count for q in questions),
            "max": TOP_QUESTIONS_WINDOW,
        },
    }


# --- the conversation export -------------------------------------------------------------------

EXPORT_COLUMNS = (
    "conversation_id",
    "session_id",
    "channel",
    "status",
    "lead_id",
    "conversation_created_at",
    "message_id",
    "role",
    "created_at",
    "intent",
    "source",
    "rating",
    "rater",
    "text",
    "sales_routed",  # last: readers taking the columns by position read the others as before
)


async def start_export(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    span: DateRange,
    fmt: ExportFormat,
    channel: ExportChannel = "widget",
    head: bool = False,
) -> None:
    """Check and record an export of conversations in this unit of work; the rows then stream
    from ``export_lines`` in transactions of their own. ``head`` (a HEAD request): checked,
    not recorded, as nothing leaves."""
    permit = authorize(access, Action.CONVERSATIONS_EXPORT)
    await require_verified(session, access)  # visitors' words leave: a verified person only
    if head:
        return
    await permit.record(
        session,
        target_type="conversations",
        details={
            "from": span.first.isoformat(),
            "to": span.last.isoformat(),
            "format": fmt,
            "channel": channel,
        },
    )


async def export_rows(
    transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    *,
    workspace_id: uuid.UUID,
    span: DateRange,
    channel: ExportChannel = "widget",
) -> AsyncIterator[export_repo.ExportRow]:
    """The messages of the conversations of ``channel`` started in the range, in keyset pages
    of EXPORT_PAGE, each read in a short ``transaction()`` of its own (memory stays one page;
    each page is routed by itself, so one whose replica connection fails reads the primary;
    each page reads about its own rows, wherever it is in the range)."""

    async def read(after: export_repo.ExportKey | None) -> list[export_repo.ExportRow]:
        async with transaction() as session:
            return await export_repo.export_page(
                session,
                workspace_id=workspace_id,
                start=span.start,
                end=span.end,
                after=after,
                limit=EXPORT_PAGE,
                channel=channel,
            )

    async for row in keyset_pages(read, lambda row: row.key, EXPORT_PAGE):
        yield row


def _cell(value: object) -> str:
    """A CSV cell: ``true``/``false`` as in the JSON lines (``sales_routed``), the rest as the
    other exports write it."""
    return ("true" if value else "false") if isinstance(value, bool) else csv_safe(value)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


_LINE_ENDS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})
"""Where ``str.splitlines`` (and httpx's ``iter_lines``) ends a line and JSON escapes nothing
(it escapes the controls below U+0020): escaped, a record is one line however it is split."""


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False).translate(_LINE_ENDS) + "\n"


async def export_lines(
    transaction: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    *,
    workspace_id: uuid.UUID,
    span: DateRange,
    fmt: ExportFormat,
    channel: ExportChannel = "widget",
) -> AsyncIterator[str]:
    """CSV (one row per message, its conversation's columns repeated, formulas neutralised) or
    JSON lines (a ``conversation`` line, then one ``message`` line per message), in pieces of
    about 16 KB. ``channel``: the visitors' conversations (``widget``, those the figures count),
    the owners' own test chats (``owner``) or ``all``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    if fmt == "csv":
        writer.writerow(EXPORT_COLUMNS)
    current: uuid.UUID | None = None
    async for row in export_rows(
        transaction, workspace_id=workspace_id, span=span, channel=channel
    ):
        if fmt == "csv":
            writer.writerow([_cell(getattr(row, column)) for column in EXPORT_COLUMNS])
        else:
            if row.conversation_id != current:
                current = row.conversation_id
                conversation = {
                    "type": "conversation",
                    "id": str(row.conversation_id),
                    "session_id": row.session_id,
                    "channel": row.channel,
                    "status": row.status,
                    "lead_id": str(row.lead_id) if row.lead_id else None,
                    "created_at": _iso(row.conversation_created_at),
                }
                buffer.write(_json_line(conversation))
            message = {
                "type": "message",
                "id": str(row.message_id),
                "conversation_id": str(row.conversation_id),
                "role": row.role,
                "created_at": _iso(row.created_at),
                "intent": row.intent,
                "source": row.source,
                "rating": row.rating,
                "rater": row.rater,
                "text": row.text,
                "sales_routed": row.sales_routed,
            }
            buffer.write(_json_line(message))
        if buffer.tell() > 16_384:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
