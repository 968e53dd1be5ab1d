"""The dashboard's list pages with 10,000 rows: time to render the first page, and its weight.

`python -m bench.dashboard_pages [--rows 10000] [--requests 40] [--quick] [--no-write]`

On an embedded PostgreSQL this bench owns: two workspaces, one with 100 leads and 100
conversations, one with ``--rows`` of each. A signed-in owner asks each list page (leads, leads
searched for a few of them and for text every lead contains, conversations, conversations with a
filter, conversations searched) ``--requests`` times through the real app in this process (httpx's
ASGI transport: no network; the figure is the app's time from request to last byte, including the
session lookup, the page's queries and the template). The table puts the small and the large
workspace side by side; the goal is under 50 ms at p50 for the large one. The page weight is the
HTML plus the CSS and scripts it loads (uncompressed). A second table times the leads search's two
queries alone, the ILIKE of before beside the trigram index, in the same rounds; a third the
conversations page's queries alone, searched or not (each conversation has two messages: a
visitor's question and a bot's answer of 400 characters).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text

from api.app import create_app
from api.runtime import build_runtime
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
from rag.chat.repository import conversations as conversation_repo
from rag.knowledge.embeddings import HashEmbedder
from workspaces import lead_repository

APP_ROLE = "trulybot_app"
PASSWORD = "bench password 123"
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
ASSETS = re.compile(r'(?:src|href)="(/app/static/[^"]+)"')


async def seed_rows(owner: Database, workspace_id: str, rows: int) -> None:
    """``rows`` leads and conversations in one workspace, in bulk (owner connection, past RLS)."""
    async with owner.transaction() as s:
        await s.execute(
            text(
                "INSERT INTO leads (id, workspace_id, email, name, source, status, created_at,"
                " updated_at) SELECT gen_random_uuid(), CAST(:ws AS uuid),"
                " 'lead' || g || '@example.com', 'Lead ' || g, 'widget',"
                " (ARRAY['new','contacted','qualified','won','lost'])[1 + g % 5],"
                " now() - g * interval '1 minute', now() FROM generate_series(1, :n) g"
            ),
            {"ws": workspace_id, "n": rows},
        )
        await s.execute(
            text(
                "INSERT INTO conversations (id, workspace_id, session_id, channel, status,"
                " message_count, created_at, last_message_at) SELECT gen_random_uuid(),"
                " CAST(:ws AS uuid), 's' || g, CASE WHEN g % 4 = 0 THEN 'owner' ELSE 'widget' END,"
                " 'open', 2, now() - g * interval '1 minute', now() - g * interval '1 minute'"
                " FROM generate_series(1, :n) g"
            ),
            {"ws": workspace_id, "n": rows},
        )
        # Each conversation's two messages: the visitor's question and the bot's answer, of
        # typical lengths (80 and 400 characters); one topic in five is refunds.
        await s.execute(
            text(
                "INSERT INTO messages (id, workspace_id, conversation_id, role, text, created_at)"
                " SELECT gen_random_uuid(), c.workspace_id, c.id, r.role,"
                " CASE WHEN r.role = 'user' THEN 'Question ' || c.session_id || ' about '"
                " || (ARRAY['shipping times', 'a refund', 'the pricing plans', 'opening hours',"
                " 'my login'])[1 + substr(c.session_id, 2)::int % 5]"
                " || ': could you tell me more, please?'"
                " ELSE repeat('Here is what our documentation says about it. ', 8) END,"
                " c.created_at + r.n * interval '1 second'"
                " FROM conversations c, (VALUES ('user', 0), ('assistant', 1)) AS r(role, n)"
                " WHERE c.workspace_id = CAST(:ws AS uuid)"
            ),
            {"ws": workspace_id},
        )
        await s.execute(text("ANALYZE leads"))
        await s.execute(text("ANALYZE conversations"))
        await s.execute(text("ANALYZE messages"))


async def signed_in(client: httpx.AsyncClient, workspace_name: str) -> str:
    page = await client.get("/app/signup")
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/app/signup",
        data={
            "csrf_token": CSRF.search(page.text).group(1),  # type: ignore[union-attr]
            "email": email,
            "password": PASSWORD,
            "workspace_name": workspace_name,
        },
    )
    assert response.status_code == 200, response.text
    login = await client.post(
        "/app/login",
        data={
            "csrf_token": CSRF.search(response.text).group(1),  # type: ignore[union-attr]
            "email": email,
            "password": PASSWORD,
        },
    )
    landing = await client.get(login.headers["location"])
    return str(landing.headers["location"])


async def timed(
    client: httpx.AsyncClient, url: str, requests: int
) -> tuple[list[float], list[float], int]:
    """Wall time and this process's CPU time (the app's own work, PostgreSQL's not) of each
    request, in ms, and the page's size."""
    await client.get(url)  # warm: templates compiled, plans cached
    times, cpu = [], []
    size = 0
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = await client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        size = len(response.content)
    return times, cpu, size


# The search test of the leads page before migration 0011b1: ILIKE over email and name, no index.
ILIKE_BEFORE = "workspace_id = :w AND (email ILIKE :p OR name ILIKE :p)"


async def search_queries(
    db: Database, workspace_id: str, q: str, requests: int
) -> tuple[list[float], list[float]]:
    """The leads page's two queries for ``q`` (the first page and the total) as the app role
    under RLS, in ms: as the repository asks them now (the trigram index when few leads hold
    the trigrams, with its estimate), and with the ILIKE test of before, one after the other in
    each round (the same load on both)."""
    ws = uuid.UUID(workspace_id)
    filters = {"status": None, "q": q, "created_after": None, "created_before": None}
    params = {"w": ws, "p": f"%{q}%"}
    now, before = [], []
    for round_ in range(requests + 1):  # round 0 warms both
        async with db.transaction(workspace_id=ws) as s:
            started = time.perf_counter()
            await lead_repository.list_leads(s, workspace_id=ws, limit=51, cursor=None, **filters)
            await lead_repository.count_leads(s, workspace_id=ws, **filters)
            middle = time.perf_counter()
            await s.execute(
                text(
                    f"SELECT * FROM leads WHERE {ILIKE_BEFORE}"
                    " ORDER BY created_at DESC, id DESC LIMIT 51"
                ),
                params,
            )
            await s.execute(text(f"SELECT count(*) FROM leads WHERE {ILIKE_BEFORE}"), params)
            ended = time.perf_counter()
        if round_:
            now.append((middle - started) * 1000)
            before.append((ended - middle) * 1000)
    return now, before


async def conversation_search_queries(
    db: Database, workspace_id: str, q: str | None, requests: int
) -> list[float]:
    """The conversations page's queries for ``q`` (its first page and where each row mentions
    ``q``; without ``q``: the first page and each row's first message) as the app role under
    RLS, in ms."""
    ws = uuid.UUID(workspace_id)
    times = []
    for round_ in range(requests + 1):  # round 0 warms
        async with db.transaction(workspace_id=ws) as s:
            started = time.perf_counter()
            rows = await conversation_repo.list_conversations(
                s, workspace_id=ws, status=None, limit=51, before=None, q=q
            )
            ids = [row.id for row in rows[:50]]
            if q:
                await conversation_repo.mentions(s, ws, ids, q)
            else:
                await conversation_repo.first_visitor_messages(s, ws, ids)
            ended = time.perf_counter()
        if round_:
            times.append((ended - started) * 1000)
    return times


async def like_scan(
    db: Database, workspace_id: str, q: str, requests: int, *, strpos: bool = False
) -> list[float]:
    """Counting the workspace's messages that contain ``q`` (app role, RLS), in ms: by
    ``lower(text) LIKE``, or by ``strpos`` of the lowered texts as the search does."""
    ws = uuid.UUID(workspace_id)
    test = "strpos(lower(text), lower(:q)) > 0" if strpos else "lower(text) LIKE lower(:p)"
    sql = text(f"SELECT count(*) FROM messages WHERE workspace_id = :w AND {test}")
    times = []
    for round_ in range(requests + 1):  # round 0 warms
        async with db.transaction(workspace_id=ws) as s:
            started = time.perf_counter()
            await s.execute(sql, {"w": ws, "q": q, "p": f"%{q}%"})
            ended = time.perf_counter()
        if round_:
            times.append((ended - started) * 1000)
    return times


async def run(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    pg = await embedded_postgres(data_dir, database="trulybot_bench_dashboard", recreate=True)
    try:
        await migrate.ensure_app_role(pg.owner_url(), APP_ROLE)
        await migrate.upgrade(pg.owner_url(), app_role=APP_ROLE)
        db = Database.from_url(pg.app_url(APP_ROLE), pool_size=5)
        owner = Database.from_url(pg.owner_url(), pool_size=1, max_overflow=0)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="test",
            jwt_secret="bench-" + "x" * 40,
            data_dir=data_dir,
            redis_url=None,
        )
        async with build_runtime(
            settings, database=db, embedder=HashEmbedder(), jobs="in-process"
        ) as runtime:
            app = create_app(runtime=runtime)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 123))
            table = Table(
                ["page", "rows in workspace", "p50 ms", "p95 ms", "app CPU p50 ms", "weight KB"]
            )
            for rows in (100, args.rows):
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://testserver"
                ) as client:
                    base = await signed_in(client, f"Bench {rows}")
                    large_workspace = base.rstrip("/").split("/")[-1]
                    await seed_rows(owner, large_workspace, rows)
                    assets = 0
                    first = await client.get(base + "/leads")
                    for asset in sorted(set(ASSETS.findall(first.text))):
                        assets += len((await client.get(asset)).content)
                    for name, path in (
                        ("leads", "/leads"),
                        ("leads, searched", "/leads?q=lead77"),
                        ("leads, searched, every lead matches", "/leads?q=example"),
                        ("conversations", "/conversations"),
                        ("conversations, site only", "/conversations?channel=widget"),
                        ("conversations, searched (a few)", "/conversations?q=question+s77"),
                        ("conversations, searched (one in five)", "/conversations?q=refund"),
                    ):
                        times, cpu, size = await timed(client, base + path, args.requests)
                        table.add(
                            name,
                            f"{rows:,}",
                            pct(times, 0.5),
                            pct(times, 0.95),
                            pct(cpu, 0.5),
                            (size + assets) / 1024,
                        )
            table.print("Dashboard list pages (in-process, first page of 50 rows)")
            queries = Table(["search", "rows in workspace", "how", "p50 ms", "p95 ms"])
            for label, q in (
                ("lead77 (a few leads)", "lead77"),
                ("example (every lead)", "example"),
            ):
                now, before = await search_queries(db, large_workspace, q, args.requests)
                for how, times in (("ILIKE, no index (before)", before), ("now (0011b1)", now)):
                    queries.add(label, f"{args.rows:,}", how, pct(times, 0.5), pct(times, 0.95))
            queries.print("The leads page's two search queries alone (app role, RLS)")
            searches = Table(["conversations", "rows in workspace", "messages", "p50 ms", "p95 ms"])
            for label, q in (
                ("not searched", None),
                ("searched, a few match (question s77)", "question s77"),
                ("searched, one in five match (refund)", "refund"),
                ("searched, none match", "nothing like it"),
            ):
                times = await conversation_search_queries(db, large_workspace, q, args.requests)
                searches.add(
                    label, f"{args.rows:,}", f"{2 * args.rows:,}", pct(times, 0.5), pct(times, 0.95)
                )
            # The test the search does not use, over the same messages, in the same way.
            times = await like_scan(db, large_workspace, "refund", args.requests)
            searches.add(
                "the messages alone, lower(text) LIKE '%refund%' (not used)",
                f"{args.rows:,}",
                f"{2 * args.rows:,}",
                pct(times, 0.5),
                pct(times, 0.95),
            )
            times = await like_scan(db, large_workspace, "refund", args.requests, strpos=True)
            searches.add(
                "the messages alone, strpos(lower(text), 'refund') > 0 (used)",
                f"{args.rows:,}",
                f"{2 * args.rows:,}",
                pct(times, 0.5),
                pct(times, 0.95),
            )
            searches.print("The conversations page's queries alone (app role, RLS)")
            versions = await database_versions(pg.owner_url())
        await owner.dispose()
        await db.dispose()
    finally:
        pg.release()
    if writes_docs(args):
        body = "\n".join(
            [
                "`python -m bench.dashboard_pages`; the machine was shared with other work "
                f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end): "
                "wall times are indicative, the app's CPU time less so. Goal: a list page of a "
                "workspace with 10,000 leads or conversations renders its first page in under "
                "50 ms of server time; each page's HTML + CSS + JS under 150 KB.",
                "",
                table.markdown(),
                "",
                "The page's two search queries (first page, total) alone, as the app role under "
                "RLS; the ILIKE of before and the queries of now (migration 0011b1: the trigram "
                "index when the planner expects few leads to hold the trigrams, else the lowered "
                "text's LIKE; with that estimate) alternate in each round:",
                "",
                queries.markdown(),
                "",
                "The conversations page's queries alone (its first page, and each row's first "
                "message or, searched, where the row mentions the text), as the app role under "
                "RLS; the search reads the workspace's messages (no index: `strpos` of the "
                "lowered texts), and, last, that test beside `lower(text) LIKE` alone:",
                "",
                searches.markdown(),
            ]
        )
        write_section("dashboard_pages", body, machine=versions)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="1,000 rows, 10 requests")
    add_write_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.requests = 1_000, 10
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
