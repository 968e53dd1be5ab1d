"""bench.chat_http --profile (and bench.chat_db): the app run inside the bench process, a
workspace made through it, and cProfile of the cache-hit (or rag) path with its database round
trips per request.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import random
import time
import uuid
from typing import Any

import httpx

from bench.chat_questions import CACHE_QUESTIONS, unique_questions
from bench.chat_servers import (
    CONVERSATION_CAP_ENV,
    DEMO,
    DOCUMENTS,
    RATE_LIMIT_ENV,
    Database,
    flush_redis,
)
from bench.chat_workload import Workspace, _signup
from bench.common import pct


def in_process_settings(
    args: argparse.Namespace, db: Database, fake_url: str, *, redis_url: str | None = None
) -> Any:
    """The settings of an app run inside the bench process (``--profile``, ``bench.chat_db``)."""
    from core.config import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="development",
        data_dir=args.data_dir,
        seed_demo=False,
        default_plan="unlimited",
        embedding_provider=args.embedder,
        openai_api_key="bench-key",
        openai_base_url=fake_url,
        database_url=db.app_url,
        migration_database_url=db.owner_url,
        redis_url=redis_url,
        log_level=getattr(args, "log_level", "WARNING"),
        **{k.lower(): v for k, v in RATE_LIMIT_ENV.items()},
        **{k.lower(): int(v) for k, v in CONVERSATION_CAP_ENV.items()},
    )


async def profile_cache_hits(args: argparse.Namespace, db: Database, fake: Any) -> str:
    """cProfile of N cache-hit requests through the whole ASGI app in this process."""
    from api.app import create_app

    settings = in_process_settings(
        args, db, fake.base_url, redis_url=args.redis_url if args.profile_redis else None
    )
    if args.profile_redis:
        await flush_redis(args.redis_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            signup = await _workspace_in_process(client)
            fake.latency = 0.0
            cached = []
            for q in CACHE_QUESTIONS:
                await _chat_rel(client, signup.public_key, q)
                if (await _chat_rel(client, signup.public_key, q))["source"] == "cache":
                    cached.append(q)
            if not cached:
                raise RuntimeError("no question produced a cache hit")
            trips = _count_round_trips(app.state.runtime.db.engine.sync_engine)
            profiler = cProfile.Profile()
            server_ms: list[float] = []
            t0 = time.perf_counter()
            profiler.enable()
            rag = args.profile_scenario == "rag"  # unique questions: retrieval + generation
            messages = (
                unique_questions(args.profile_requests, random.Random(args.seed)) if rag else cached
            )
            for i in range(args.profile_requests):
                body = await _chat_rel(client, signup.public_key, messages[i % len(messages)])
                server_ms.append(float(body["timings_ms"]["total"]))
            profiler.disable()
            wall = time.perf_counter() - t0
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(60)
    n = args.profile_requests
    head = (
        f"{n} {args.profile_scenario} requests in-process (cProfile on): {n / wall:.0f} req/s, "
        f"server p50 {pct(server_ms, 0.5):.2f} ms, p95 {pct(server_ms, 0.95):.2f} ms\n"
        "database round trips per request: "
        + ", ".join(f"{k} {v / n:.2f}" for k, v in trips.items())
        + f" (total {sum(trips.values()) / n:.2f})\n"
    )
    return head + out.getvalue()


def _count_round_trips(engine: Any) -> dict[str, int]:
    """Counts, from now on, what the engine sends to PostgreSQL: BEGIN, statements, COMMIT and
    ROLLBACK (each a round trip; a statement's first use on a connection adds a prepare)."""
    from sqlalchemy import event

    counts = {"begin": 0, "statements": 0, "commit": 0, "rollback": 0}

    def bump(key: str) -> Any:
        def listener(*_: Any, **__: Any) -> None:
            counts[key] += 1

        return listener

    event.listen(engine, "begin", bump("begin"))
    event.listen(engine, "before_cursor_execute", bump("statements"))
    event.listen(engine, "commit", bump("commit"))
    event.listen(engine, "rollback", bump("rollback"))
    return counts


async def _chat_rel(client: httpx.AsyncClient, key: str, message: str) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/chat",
        json={"message": message, "session_id": f"p-{uuid.uuid4().hex[:8]}"},
        headers={"X-Widget-Key": key},
    )
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


async def _workspace_in_process(client: httpx.AsyncClient, *, faqs: bool = False) -> Workspace:
    """A workspace with the demo documents (and ``faqs``: the demo FAQs), through ``client``."""
    token, ws = await _signup(client, f"prof-{uuid.uuid4().hex[:10]}@example.com", "Profile")
    headers = {"Authorization": f"Bearer {token}"}
    prefix = f"/api/v1/workspaces/{ws['id']}"
    for item in json.loads((DEMO / "faqs.json").read_text()) if faqs else []:
        (await client.post(f"{prefix}/faqs", json=item, headers=headers)).raise_for_status()
    for name in DOCUMENTS:
        r = await client.post(
            f"{prefix}/documents",
            files={"file": (name, (DEMO / name).read_bytes(), "text/markdown")},
            headers=headers,
        )
        r.raise_for_status()
    for _ in range(600):
        r = await client.get(f"{prefix}/documents", headers=headers)
        if all(d["status"] == "ready" for d in r.json()["items"]):
            break
        await asyncio.sleep(0.5)
    return Workspace(ws["id"], ws["public_key"], "", [])
