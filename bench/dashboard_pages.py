"""The dashboard's list pages with 10,000 rows: time to render the first page, and its weight.

`python -m bench.dashboard_pages [--rows 10000] [--requests 40] [--quick] [--no-write]`

On an embedded PostgreSQL this bench owns: two workspaces, one with 100 leads and 100
conversations, one with ``--rows`` of each. A signed-in owner asks each list page (leads,
leads searched for a few of them and for text every lead contains, conversations,
conversations with a filter) ``--requests`` times through the real app in this process (httpx's
ASGI transport: no network; the figure is the app's time from request to last byte, including
the session lookup, the page's queries and the template). The table puts the small and the large workspace side by side; the goal is under 50 ms at p50 for
the large one. The page weight is the HTML plus the CSS and scripts it loads (uncompressed).
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
from bench.common import Table, database_versions, pct, write_section
from core import migrate
from core.config import Settings
from core.db import Database
from core.embedded import embedded_postgres
from rag.knowledge.embeddings import HashEmbedder

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
        await s.execute(text("ANALYZE leads"))
        await s.execute(text("ANALYZE conversations"))


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
                    await seed_rows(owner, base.rstrip("/").split("/")[-1], rows)
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
            versions = await database_versions(pg.owner_url())
        await owner.dispose()
        await db.dispose()
    finally:
        pg.release()
    if not args.no_write:
        body = "\n".join(
            [
                "`python -m bench.dashboard_pages`; the machine was shared with other work "
                f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end): "
                "wall times are indicative, the app's CPU time less so. Goal: a list page of a "
                "workspace with 10,000 leads or conversations renders its first page in under "
                "50 ms of server time; each page's HTML + CSS + JS under 150 KB.",
                "",
                table.markdown(),
            ]
        )
        write_section("dashboard_pages", body, machine=versions)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="1,000 rows, 10 requests")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.requests = 1_000, 10
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
