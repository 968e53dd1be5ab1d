"""The conversation export's pages read about their own rows (the review's F2: every page joined
all the range's messages, so an export's work grew with the square of its size), and whose
conversations it carries (the visitors', as the analytics count them, unless asked).

The rows a page reads are counted by the database itself: each statement the export sent is run
again under EXPLAIN (ANALYZE, FORMAT JSON), and the rows its scans of conversations, messages and
feedback produced or filtered out are added up. No timing."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import event, text

from api.runtime import Runtime
from core.db import Database
from core.models import utcnow
from rag.chat import analytics
from tests.conftest import signup
from tests.rag.test_analytics import HOURS, Visitor, add_faq, app

__all__ = ["app"]  # the fixture

CONVERSATIONS = 3000
TABLES = {"conversations", "messages", "message_feedback"}

# 3,000 conversations over the last 10 days with 3 to 17 messages each (about 30,000), so pages
# of 1,000 stop inside conversations; every 7th answer rated.
GENERATE = """
WITH made AS (
    INSERT INTO conversations (id, workspace_id, session_id, channel, status, message_count,
                               created_at, last_message_at)
    SELECT gen_random_uuid(), CAST(:ws AS uuid), 'pages-' || i, 'widget', 'open', 3 + i % 15,
           CAST(:now AS timestamptz) - (i % 10) * interval '1 day' - i * interval '1 second',
           CAST(:now AS timestamptz) - (i % 10) * interval '1 day'
    FROM generate_series(1, :n) AS i
    RETURNING id, workspace_id, message_count, created_at
)
INSERT INTO messages (id, workspace_id, conversation_id, role, text, intent, source, created_at)
SELECT gen_random_uuid(), made.workspace_id, made.id,
       CASE WHEN k % 2 = 0 THEN 'user' ELSE 'assistant' END, 'message ' || k,
       'question', CASE WHEN k % 2 = 0 THEN NULL ELSE 'rag' END,
       made.created_at + k * interval '10 seconds'
FROM made, generate_series(0, made.message_count - 1) AS k
"""
RATE = """
INSERT INTO message_feedback (message_id, workspace_id, rating, rater)
SELECT id, workspace_id, 'up', 'visitor' FROM messages
WHERE workspace_id = :ws AND role = 'assistant' AND hashtext(id::text) % 7 = 0
"""


@contextmanager
def statements(db: Database, table: str = "messages") -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs sent on ``db`` meanwhile that read ``table``, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and table in statement:
            sent.append((statement, parameters))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def rows_read(plan: dict[str, Any]) -> int:
    """Rows the scans of the export's tables produced or removed, over all their loops."""
    total = 0
    if plan.get("Relation Name") in TABLES:
        loops = int(plan.get("Actual Loops", 1))
        removed = int(plan.get("Rows Removed by Filter", 0)) + int(
            plan.get("Rows Removed by Index Recheck", 0)
        )
        total += (int(plan["Actual Rows"]) + removed) * loops
    total += int(plan.get("Rows Removed by Join Filter", 0)) * int(plan.get("Actual Loops", 1))
    return total + sum(rows_read(child) for child in plan.get("Plans", []))


async def explained(db: Database, workspace_id: uuid.UUID, statement: str, parameters: Any) -> int:
    async with db.transaction(workspace_id=workspace_id) as session:
        conn = await session.connection()
        result = await conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
        )
        raw = result.scalar_one()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    return rows_read(plan[0]["Plan"])


async def collect(lines: AsyncIterator[str]) -> str:
    return "".join([piece async for piece in lines])


async def test_each_page_reads_about_its_own_rows(
    app: tuple[httpx.AsyncClient, Runtime], owner_db: Database
) -> None:
    client, runtime = app
    owner = await signup(client, "Export pages")
    workspace_id = uuid.UUID(owner.workspace_id)
    now = utcnow()
    async with owner_db.transaction() as session:
        await session.execute(text(GENERATE), {"ws": workspace_id, "now": now, "n": CONVERSATIONS})
        await session.execute(text(RATE), {"ws": workspace_id})
    async with owner_db.transaction() as session:
        expected = int(
            (
                await session.execute(
                    text("SELECT count(*) FROM messages WHERE workspace_id = :ws"),
                    {"ws": workspace_id},
                )
            ).scalar_one()
        )
    async with owner_db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("conversations", "messages", "message_feedback"):
            await conn.exec_driver_sql(f"ANALYZE {table}")

    span = analytics.date_range(now.date() - timedelta(days=11), now.date(), today=now.date())

    def transaction() -> Any:
        return runtime.db.transaction(workspace_id=workspace_id)

    assert analytics.EXPORT_PAGE == 1000
    with statements(runtime.db) as sent:
        body = await collect(
            analytics.export_lines(transaction, workspace_id=workspace_id, span=span, fmt="csv")
        )
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == expected  # every message once, in conversation then message order
    assert len({r["message_id"] for r in rows}) == expected
    keys = [(r["conversation_created_at"], r["conversation_id"], r["created_at"]) for r in rows]
    assert keys == sorted(keys)
    assert sum(1 for r in rows if r["rating"]) > 0

    pages = expected // analytics.EXPORT_PAGE + 1
    assert len(sent) >= pages
    read = [await explained(runtime.db, workspace_id, s, p) for s, p in sent]
    # Each page reads about its rows (a page's conversations, their messages, a feedback probe
    # per message), wherever it is: the last page no more than the first. Before, the last one
    # read all 30,000 messages to return a few.
    assert sum(read) < 3 * expected, read
    assert max(read) < 3 * analytics.EXPORT_PAGE, read


# --- whose conversations ----------------------------------------------------------------------


async def test_the_export_carries_the_visitors_conversations_unless_asked(
    app: tuple[httpx.AsyncClient, Runtime],
) -> None:
    """The owner's own test chats were in the export while the figures never count them."""
    client, _ = app
    owner = await signup(client, "Export channel")
    await add_faq(client, owner)
    visitor = Visitor(client, owner)
    await visitor.say(HOURS)
    tried = await client.post(owner.url("/chat"), json={"message": HOURS}, headers=owner.headers)
    assert tried.status_code == 200, tried.text
    own = tried.json()["conversation_id"]

    async def exported(**params: str) -> set[tuple[str, str]]:
        response = await client.get(
            owner.url("/conversations/export"), params=params, headers=owner.headers
        )
        assert response.status_code == 200, response.text
        return {
            (r["conversation_id"], r["channel"]) for r in csv.DictReader(io.StringIO(response.text))
        }

    assert await exported() == {(visitor.conversation_id, "widget")}
    assert await exported(channel="widget") == {(visitor.conversation_id, "widget")}
    assert await exported(channel="owner") == {(own, "owner")}
    assert await exported(channel="all") == {(visitor.conversation_id, "widget"), (own, "owner")}
    bad = await client.get(
        owner.url("/conversations/export"), params={"channel": "email"}, headers=owner.headers
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"
    audit = await client.get(owner.url("/audit"), headers=owner.headers)
    channels = [
        e["details"]["channel"]
        for e in audit.json()["items"]
        if e["action"] == "conversations.exported"
    ]
    assert sorted(channels) == ["all", "owner", "widget", "widget"]
