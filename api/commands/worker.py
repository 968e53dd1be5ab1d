"""`trulybot worker`: run the ingestion jobs from Redis with arq (needs REDIS_URL)."""

from __future__ import annotations

import argparse
from typing import Any

from core.config import get_settings


def _cmd(args: argparse.Namespace) -> int:
    from arq.connections import RedisSettings
    from arq.worker import Worker

    from api.routers.documents import job_registry
    from api.runtime import resolve_database
    from core.db import Database
    from core.jobs import ArqQueue, worker_functions
    from rag.knowledge import jobs as knowledge_jobs
    from rag.knowledge.embeddings import build_embedder

    settings = get_settings()
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is not set: without it jobs run inside `trulybot serve`")

    async def startup(ctx: dict[str, Any]) -> None:
        target = await resolve_database(settings, apply_migrations=False)
        db = Database.from_url(
            target.app_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            statement_timeout_ms=0,
        )
        ctx[knowledge_jobs.DEPS_KEY] = knowledge_jobs.IngestionDeps(
            db=db,
            settings=settings,
            embedder=build_embedder(settings),
            jobs=ArqQueue(ctx["redis"]),
            owner_url=target.owner_url,
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        deps = ctx.get(knowledge_jobs.DEPS_KEY)
        if deps is not None:
            await deps.db.dispose()

    worker = Worker(
        # A workspace holds at most JOBS_PER_WORKSPACE of all workers' slots; the lease outlives
        # the job timeout, so a worker that dies mid-job frees it by expiry.
        functions=worker_functions(
            job_registry(),
            per_workspace=settings.jobs_per_workspace,
            lease_seconds=args.job_timeout + 60,
        ),
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=args.concurrency,
        job_timeout=args.job_timeout,
        burst=args.burst,
    )
    worker.run()
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run ingestion jobs from Redis (arq)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--job-timeout", type=int, default=1800, help="seconds per job")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.set_defaults(func=_cmd)
