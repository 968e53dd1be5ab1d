"""Analytics benchmark: GET /analytics over 90 days of a workspace with a million messages,
served from the daily rollup, beside the same figures counted by scanning the messages.

    .venv/bin/python -m bench.analytics                  # 1,000,000 messages over 365 days
    .venv/bin/python -m bench.analytics --quick          # 100,000 messages (a smoke run)

What runs: an embedded PostgreSQL owned by this process (a cluster under --data-dir, never the one
under .trulybot/ the server uses), migrated; the whole app in this process (ASGI transport, no
network), with the scheduler off so nothing refreshes behind the benchmark's back. An owner signs
up through the API; the workspace's history is then generated inside PostgreSQL with
generate_series (conversations of ten messages, one every 30 s, spread over 365 days; answers by
stage 25% FAQ, 15% cache, 40% retrieval, 15% fallback, 5% handoff, with the flags answers are
recorded with, a fifth of the fallbacks a sales lead sent to the team; 5% of the answers rated;
one lead per 50 conversations), and the rollup is rebuilt with ``rag.chat.analytics.rebuild``.

Measured --repeat times (the scan --scan-repeat times) after one warm-up call:

- ``rollup``: ``GET /api/v1/workspaces/{id}/analytics?from=&to=`` (90 days) through the whole app:
  authentication, the rollup's rows, and the top questions from the range's latest 1,000;
- ``scan``: the same daily figures counted from conversations, messages, feedback and leads by
  the statement that fills the rollup (``rag.chat.repository.analytics.COUNT_DAYS``), on the app
  role's session with the tenant set (RLS on), without HTTP;
- ``export`` (--export-repeat times): the conversation export of the same 90 days as CSV
  (``rag.chat.analytics.export_lines``: its keyset pages and the CSV, without HTTP), and its
  pages alone (``export_rows``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.chat_workload import _signup
from bench.common import (
    Table,
    add_write_options,
    database_versions,
    pct,
    write_section,
    writes_docs,
)
from core import migrate
from core.config import Settings
from core.db import Database
from core.embedded import embedded_postgres
from core.models import utcnow
from rag.chat import analytics
from rag.chat.repository import analytics as analytics_repo

APP_ROLE = "trulybot_app"
MESSAGES_PER_CONVERSATION = 10

GENERATE = """
WITH params AS (
    SELECT $1::uuid AS ws, $2::int AS conversations, $3::timestamptz AS now, $4::int AS days
)
INSERT INTO conversations (id, workspace_id, session_id, channel, status, message_count,
                           created_at, last_message_at)
SELECT gen_random_uuid(), p.ws, 'bench-' || i, 'widget',
       CASE WHEN i % 20 = 0 THEN 'handoff' ELSE 'open' END, 10,
       p.now - ((i % p.days) * interval '1 day') - ((i * 7919 % 86000) * interval '1 second'),
       p.now - ((i % p.days) * interval '1 day') - ((i * 7919 % 86000) * interval '1 second')
         + interval '270 seconds'
FROM params p, generate_series(1, (SELECT conversations FROM params)) AS i
"""

# Answers carry the flags they are recorded with (``rag.chat.repeats.answer_flags``): a fallback
# offers the contact form, and one in five is a sales lead sent to the team (intent ``lead``,
# ``routed``: counted apart from the answer rate); retrieval's answers are quoted (no model).
MESSAGES = """
INSERT INTO messages (id, workspace_id, conversation_id, role, text, intent, source,
                      answer_flags, created_at)
SELECT gen_random_uuid(), c.workspace_id, c.id,
       CASE WHEN k % 2 = 0 THEN 'user' ELSE 'assistant' END,
       CASE WHEN k % 2 = 0
            THEN 'how do I reset my password number ' || (hashtext(c.id::text || k) & 511)
            ELSE 'Here is how: open the settings page and follow the steps.' END,
       CASE WHEN a.routed THEN 'lead'
            WHEN (hashtext(c.id::text || (k - k % 2)) & 1023) < 51 THEN 'human'
            ELSE 'question' END,
       a.source,
       CASE WHEN a.routed THEN '{"lead_capture": true, "routed": true}'::jsonb
            WHEN a.source = 'fallback' THEN '{"lead_capture": true}'::jsonb
            WHEN a.source = 'rag' THEN '{"extractive": true}'::jsonb END,
       c.created_at + k * interval '30 seconds'
FROM conversations c, generate_series(0, 9) AS k,
LATERAL (SELECT s.source, s.source = 'fallback' AND hashtext(c.id::text || k || 'lead') % 5 = 0
                AS routed
         FROM (SELECT CASE WHEN k % 2 = 0 THEN NULL
            WHEN (hashtext(c.id::text || (k - 1)) & 1023) < 51 THEN 'handoff'
            WHEN (hashtext(c.id::text || k) & 1023) < 256 THEN 'faq'
            WHEN (hashtext(c.id::text || k) & 1023) < 410 THEN 'cache'
            WHEN (hashtext(c.id::text || k) & 1023) < 870 THEN 'rag'
            ELSE 'fallback' END AS source) s) a
WHERE c.workspace_id = $1
"""

FEEDBACK = """
INSERT INTO message_feedback (message_id, workspace_id, rating, created_at)
SELECT m.id, m.workspace_id,
       CASE WHEN hashtext(m.id::text) & 3 = 0 THEN 'down' ELSE 'up' END, m.created_at
FROM messages m
WHERE m.workspace_id = $1 AND m.role = 'assistant' AND (hashtext(m.id::text) & 1023) < 51
"""

LEADS = """
INSERT INTO leads (id, workspace_id, email, source, status, created_at, updated_at)
SELECT gen_random_uuid(), c.workspace_id, 'lead-' || c.session_id || '@example.com', 'widget',
       'new', c.created_at, c.created_at
FROM conversations c WHERE c.workspace_id = $1 AND hashtext(c.session_id) % 50 = 0
"""


async def load(owner_url: str, workspace_id: uuid.UUID, messages: int, days: int) -> float:
    raw = owner_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(raw)
    started = time.perf_counter()
    try:
        now = utcnow()
        conversations = messages // MESSAGES_PER_CONVERSATION
        await conn.execute(GENERATE, workspace_id, conversations, now, days)
        await conn.execute(MESSAGES, workspace_id)
        await conn.execute(FEEDBACK, workspace_id)
        await conn.execute(LEADS, workspace_id)
        for table in ("conversations", "messages", "message_feedback", "leads"):
            await conn.execute(f"ANALYZE {table}")
        count = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE workspace_id = $1", workspace_id
        )
        print(f"  {count:,} messages in {conversations:,} conversations over {days} days")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def migrated_app(data_dir: Path, database: str) -> tuple[str, str, Settings]:
    """A new embedded cluster under ``data_dir`` with ``database`` migrated: its owner's URL,
    the app role's, and the settings of the whole app on it (hash embeddings, no Redis, the
    scheduler and rate limits off, so nothing runs behind a benchmark's back)."""
    pg = await embedded_postgres(data_dir, database=database, recreate=True)
    owner_url, app_url = pg.owner_url(), pg.app_url(APP_ROLE)
    await migrate.ensure_app_role(owner_url, APP_ROLE)
    await migrate.upgrade(owner_url, app_role=APP_ROLE)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="development",
        data_dir=data_dir,
        seed_demo=False,
        embedding_provider="hash",
        database_url=app_url,
        migration_database_url=owner_url,
        redis_url=None,
        scheduler_enabled=False,
        rate_limits="off",
        log_level="WARNING",
    )
    return owner_url, app_url, settings


async def run(args: argparse.Namespace) -> None:
    from api.app import create_app

    owner_url, app_url, settings = await migrated_app(
        Path(args.data_dir), "trulybot_bench_analytics"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            token, workspace = await _signup(
                client, f"bench-{uuid.uuid4().hex[:10]}@example.com", "Analytics bench"
            )
            workspace_id = uuid.UUID(workspace["id"])
            headers = {"Authorization": f"Bearer {token}"}
            print(f"loading {args.messages:,} messages")
            load_s = await load(owner_url, workspace_id, args.messages, args.days)
            print(f"  loaded in {load_s:.0f} s")

            db = Database.from_url(app_url, pool_size=2, max_overflow=0)
            try:
                t = time.perf_counter()
                rows = await analytics.rebuild(db, workspace_id=workspace_id, now=utcnow())
                rebuild_s = time.perf_counter() - t
                print(f"  rollup rebuilt: {rows} days in {rebuild_s:.1f} s")

                today = utcnow().date()
                first = today - timedelta(days=89)
                params = {"from": first.isoformat(), "to": today.isoformat()}
                url = f"/api/v1/workspaces/{workspace_id}/analytics"
                span = analytics.DateRange(first, today)

                async def endpoint() -> dict[str, Any]:
                    response = await client.get(url, params=params, headers=headers)
                    response.raise_for_status()
                    result: dict[str, Any] = response.json()
                    return result

                async def scan() -> list[dict[str, Any]]:
                    async with db.transaction(workspace_id=workspace_id) as session:
                        return await analytics_repo.count_by_scanning(
                            session,
                            workspace_id=workspace_id,
                            start=span.start,
                            end=span.end,
                            now=utcnow(),
                        )

                async def floor() -> None:
                    response = await client.get(
                        f"/api/v1/workspaces/{workspace_id}", headers=headers
                    )
                    response.raise_for_status()

                served = await endpoint()
                scanned = await scan()
                # Both ways give the same figures (the rollup was built by the same statement).
                total = sum(day["visitor_messages"] for day in scanned)
                assert total == served["totals"]["visitor_messages"], (total, served["totals"])
                await floor()
                timings: dict[str, list[float]] = {"rollup": [], "scan": [], "floor": []}
                calls: tuple[tuple[str, Any], ...] = (
                    ("rollup", endpoint),
                    ("scan", scan),
                    ("floor", floor),
                )
                for i in range(args.repeat):
                    for name, call in calls:
                        if name == "scan" and i >= args.scan_repeat:
                            continue  # seconds each: a few are enough on a shared machine
                        t = time.perf_counter()
                        await call()
                        timings[name].append((time.perf_counter() - t) * 1000)
                messages_in_range = total + sum(day["answers"] for day in scanned)

                # The conversation export of the same 90 days, pages of EXPORT_PAGE each in a
                # transaction of its own (SQL and CSV, no HTTP): each page reads about its own
                # rows, so the whole grows with the range (it grew with its square).
                def transaction() -> Any:
                    return db.transaction(workspace_id=workspace_id)

                for _ in range(args.export_repeat):
                    t = time.perf_counter()
                    exported = 0
                    async for piece in analytics.export_lines(
                        transaction, workspace_id=workspace_id, span=span, fmt="csv"
                    ):
                        exported += piece.count("\r\n")
                    timings.setdefault("export", []).append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    async for _row in analytics.export_rows(
                        transaction, workspace_id=workspace_id, span=span
                    ):
                        pass
                    timings.setdefault("pages", []).append((time.perf_counter() - t) * 1000)
                exported -= 1  # the header
            finally:
                await db.dispose()

    table = Table(["how", "what it reads", "calls", "p50 ms", "p95 ms"])
    table.add(
        "rollup: GET /analytics (whole app)",
        f"{span.days} rollup rows + the latest {analytics.TOP_QUESTIONS_WINDOW:,} questions",
        args.repeat,
        f"{pct(timings['rollup'], 0.5):.1f}",
        f"{pct(timings['rollup'], 0.95):.1f}",
    )
    table.add(
        "scan: the same figures from messages (SQL only)",
        f"{messages_in_range:,} messages of 90 days",
        len(timings["scan"]),
        f"{pct(timings['scan'], 0.5):.1f}",
        f"{pct(timings['scan'], 0.95):.1f}",
    )
    table.add(
        "export: the same 90 days' conversations as CSV (SQL + CSV)",
        f"{exported:,} messages in pages of {analytics.EXPORT_PAGE:,}",
        len(timings["export"]),
        f"{pct(timings['export'], 0.5):.1f}",
        f"{pct(timings['export'], 0.95):.1f}",
    )
    table.add(
        "export: its pages alone (SQL)",
        f"{exported:,} messages in pages of {analytics.EXPORT_PAGE:,}",
        len(timings["pages"]),
        f"{pct(timings['pages'], 0.5):.1f}",
        f"{pct(timings['pages'], 0.95):.1f}",
    )
    table.add(
        "for reference: GET /workspaces/{id} (whole app)",
        "auth + one workspace row",
        args.repeat,
        f"{pct(timings['floor'], 0.5):.1f}",
        f"{pct(timings['floor'], 0.95):.1f}",
    )
    table.print()
    speedup = pct(timings["scan"], 0.5) / pct(timings["rollup"], 0.5)
    summary = (
        f"Workspace of {args.messages:,} messages over {args.days} days, loaded in {load_s:.0f} s;"
        f" rollup rebuilt from scratch in {rebuild_s:.1f} s ({rows} days). 90-day range, "
        f"{args.repeat} calls ({len(timings['scan'])} of the scan) after a warm-up; rollup p50 is"
        f" {speedup:.0f}x faster than the scan. Goal: under 100 ms for 90 days."
        f" Load average (1 min) when it ended: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
    )
    print(summary)
    if writes_docs(args):
        write_section(
            "analytics",
            "\n".join(
                [
                    "Run `python -m bench.analytics` (`--quick`: 100k messages). " + summary,
                    "",
                    table.markdown(),
                ]
            ),
            machine=await database_versions(owner_url),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--scan-repeat", type=int, default=5, help="calls of the slow scan")
    parser.add_argument("--export-repeat", type=int, default=3, help="whole exports")
    parser.add_argument("--quick", action="store_true", help="100k messages, 10 calls")
    parser.add_argument("--data-dir", default="/tmp/tb-bench-analytics")
    add_write_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.repeat = 100_000, 10
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
