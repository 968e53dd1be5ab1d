"""What a running process holds: one typed ``Runtime`` that ``trulybot serve``, ``trulybot worker``,
the CLI commands and the tests share, built once by ``build_runtime``.

``build_runtime(settings)`` resolves the database (the embedded PostgreSQL + pgvector when
DATABASE_URL is unset, migrated when asked), connects Redis when REDIS_URL is set, and builds each
provider once: the embedder, the generator, the response cache, the webhook notifier, the job
queue with the ingestion jobs' context, the answer pipeline, the rate limiter and the payment
provider. Every keyword argument is a typed override (a test's database and Redis, a counting
embedder, an arq queue...); what the runtime built itself it closes when the block ends.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from api.job_registry import job_registry
from api.schedule import scheduled_jobs
from billing.provider import PaymentProvider, RazorpayProvider
from billing.provider_marking import MarkingProvider, mark_of
from billing.rate_limit_mark import RateLimitMark
from core import migrate
from core.config import Settings
from core.db import Database
from core.db_reach import UNREADABLE_ADDRESS, address_of, check_reachable
from core.embedded import EmbeddedPostgres, embedded_postgres
from core.jobs import ArqQueue, InProcessQueue, JobQueue
from core.limiter import RateLimiter
from core.looplag import LoopLagMonitor
from core.mail import MAILER_KEY, MailConfig, Mailer, Templates
from core.redis import create_redis
from core.replica import ReadRouting
from core.scheduler import Scheduler
from core.setting_checks import masked_url
from core.urls import base_url
from lifecycle import jobs as lifecycle_jobs
from rag.chat import notify
from rag.chat.cache import ResponseCache
from rag.chat.generator import Generator
from rag.chat.llm import make_generator
from rag.chat.notify import Notifier
from rag.chat.pipeline import AnswerPipeline
from rag.chat.repository.conversations import quoted_first_messages
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge.embeddings import Embedder, LocalEmbedder, build_embedder
from rag.knowledge.rerank import Reranker
from rag.knowledge.rerankers import build_reranker
from rag.knowledge.rerankers import describe as describe_reranker
from workspaces import notification_delivery
from workspaces import notifications as notifications_module
from workspaces.models import Workspace
from workspaces.widget_keys import WidgetKeyCache

log = logging.getLogger("trulybot")

JobsChoice = Literal["settings", "in-process", "arq"]
"""Where jobs run: ``settings`` is arq on Redis when REDIS_URL is set, else in this process."""


@dataclass
class DatabaseTarget:
    app_url: str
    owner_url: str | None
    embedded: EmbeddedPostgres | None
    newer_schema: tuple[str, ...] = ()
    """The revisions of a newer release the database is at, left as they were (not migrated)."""


@dataclass
class Runtime:
    """The real components of one process; built by ``build_runtime``, never by a router."""

    settings: Settings
    db: Database
    redis: Redis | None
    reads: ReadRouting
    """Where reads that may lag go: the read replica (DATABASE_REPLICA_URL) when it is fresh
    and the workspace was not just written to, else ``db``."""
    embedder: Embedder
    generator: Generator
    reranker: Reranker
    """Reorders the top retrieval candidates (RERANKER); ``NoReranker`` by default."""
    cache: ResponseCache
    notifier: Notifier
    jobs: JobQueue
    ingestion: knowledge_jobs.IngestionDeps
    """What the ingestion jobs receive (also in the in-process queue's context)."""
    lifecycle: lifecycle_jobs.LifecycleDeps
    """What the export, deletion and retention jobs receive (also in the job context)."""
    pipeline: AnswerPipeline
    limiter: RateLimiter
    mailer: Mailer
    """Outgoing mail: services enqueue in their unit of work, the ``mail.flush`` job sends."""
    notifications: notification_delivery.NotificationDeps
    """Owner notifications: dispatch after an event's commit, the sweep and the daily digest."""
    payments: PaymentProvider | None
    """The payment provider; None while billing is not configured."""
    owner_url: str | None
    """The owner connection (MIGRATION_DATABASE_URL or the embedded cluster's owner): index
    DDL and the operator's listing of every workspace. None when not configured."""
    embedded: EmbeddedPostgres | None
    scheduler: Scheduler
    """The periodic jobs; driven (``scheduler.start``) by serve without Redis, by the worker
    with it (see docs/deploy.md, Periodic jobs)."""
    widget_keys: WidgetKeyCache
    """Widget key -> workspace, for WIDGET_KEY_CACHE_SECONDS (workspaces/widget_keys.py)."""
    demo_public_key: str | None = None
    """The demo workspace's widget key, when `serve` seeded it (SEED_DEMO)."""


@dataclass(frozen=True)
class MailAndWebhookAlerts:
    """Owner alerts of the knowledge jobs (a web source failing), in the job's transaction: a
    notification event of the same kind (workspaces/notifications.py: a mail to the owners,
    with or without a webhook; once per failing streak, keyed by the sync that flagged it), and
    a workspace webhook event when a URL is set, posted after the commit."""

    notifier: Notifier

    async def record(
        self, session: AsyncSession, workspace: Workspace, event: str, data: dict[str, Any]
    ) -> uuid.UUID | None:
        if event in notifications_module.KINDS:
            key = str(data.get("sync_id") or data.get("source_id") or "")
            await notifications_module.emit(session, workspace.id, event, key, data)
        return await notify.enqueue(session, workspace, event, data)

    def send(self, workspace_id: uuid.UUID, handle: uuid.UUID) -> None:
        self.notifier.schedule(workspace_id, handle)


async def resolve_database(settings: Settings, *, apply_migrations: bool) -> DatabaseTarget:
    """With DATABASE_URL unset: start the embedded PostgreSQL + pgvector under data_dir, create
    the app role, migrate, and connect as the app role. Otherwise use what is configured."""
    newer: tuple[str, ...] = ()
    if settings.database_url:
        owner = settings.migration_database_url
        if (
            owner
            and settings.database_pooler != "none"
            and _same_server(owner, settings.database_url)
        ):
            raise SystemExit(
                "MIGRATION_DATABASE_URL must reach the primary directly, not through the pooler"
                " DATABASE_URL points at (DATABASE_POOLER)"
            )
        if apply_migrations:
            if not owner:
                raise SystemExit(
                    "MIGRATION_DATABASE_URL (the owner role) is needed to apply migrations"
                )
            await check_reachable("MIGRATION_DATABASE_URL", owner)
            newer = await _migrate(owner, settings)
        # The first connection of every command: one line naming the setting and the address.
        await check_reachable(
            "DATABASE_URL", settings.database_url, pooler=settings.database_pooler
        )
        return DatabaseTarget(settings.database_url, owner, None, newer)
    pg = await embedded_postgres(settings.data_dir)
    await migrate.ensure_app_role(pg.owner_url(), settings.app_db_role)
    if apply_migrations:
        newer = await _migrate(pg.owner_url(), settings)
    return DatabaseTarget(pg.app_url(settings.app_db_role), pg.owner_url(), pg, newer)


def _same_server(url: str, other: str) -> bool:
    """Whether both URLs connect to one host and port (any role or database): with DATABASE_URL
    through a pooler, a MIGRATION_DATABASE_URL there is the pooler too, whatever its role."""
    return url == other or (address_of(url) == address_of(other) != UNREADABLE_ADDRESS)


async def _migrate(owner_url: str, settings: Settings) -> tuple[str, ...]:
    return await migrate.upgrade(
        owner_url,
        app_role=settings.app_db_role,
        lock_timeout_ms=settings.migration_lock_timeout_ms,
        lock_retries=settings.migration_lock_retries,
    )


def app_database(
    url: str, settings: Settings, statement_timeout_ms: int | None, *, pooled: bool = True
) -> Database:
    """The app role's engine for ``url`` (the primary or the read replica) as configured."""
    return Database.from_url(
        url,
        pooler=settings.database_pooler if pooled else "none",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        statement_timeout_ms=settings.db_statement_timeout_ms
        if statement_timeout_ms is None
        else statement_timeout_ms,
    )


@asynccontextmanager
async def build_runtime(
    settings: Settings,
    *,
    database: Database | None = None,
    replica: Database | None = None,
    owner_url: str | None = None,
    apply_migrations: bool = False,
    statement_timeout_ms: int | None = None,
    redis: Redis | None = None,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    reranker: Reranker | None = None,
    jobs: JobQueue | JobsChoice = "settings",
    payments: PaymentProvider | None = None,
) -> AsyncIterator[Runtime]:
    """The process's runtime for the block; what it created is closed at the end.

    ``replica``: this read replica instead of one for DATABASE_REPLICA_URL.
    ``database``: use this one (with ``owner_url``) instead of resolving DATABASE_URL or the
    embedded cluster (``apply_migrations`` then, and ``statement_timeout_ms``, the per-statement
    limit, by default DB_STATEMENT_TIMEOUT_MS; 0 for operator tools). ``redis``: this client
    instead of one for REDIS_URL. ``embedder``, ``generator``, ``reranker``, ``payments``: instead
    of the ones the settings name. ``jobs``: a queue, or where jobs run (``JobsChoice``).
    """
    settings = settings.with_jwt_secret()
    async with AsyncExitStack() as stack:
        lag = LoopLagMonitor()  # the event loop's stalls, in /metrics
        lag.start()
        stack.push_async_callback(lag.stop)
        if reranker is None:  # first: a cross-encoder that does not load refuses to start
            reranker = build_reranker(settings)
            stack.push_async_callback(reranker.aclose)
            await reranker.start()
        embedded: EmbeddedPostgres | None = None
        if database is None:
            target = await resolve_database(settings, apply_migrations=apply_migrations)
            if target.embedded is not None:  # before what uses the database, so it runs after
                stack.callback(target.embedded.release)
            database = app_database(
                target.app_url,
                settings,
                statement_timeout_ms,
                pooled=target.embedded is None,  # the embedded cluster: never a pooler
            )
            stack.push_async_callback(database.dispose)
            owner_url, embedded = target.owner_url, target.embedded
        # The pool's gauges from the start and every window of the monitor, not only when this
        # process takes a scrape: with several server processes each scrape sums them all.
        database.report_pool()
        lag.reports.append(database.report_pool)
        if redis is None and settings.redis_url:
            redis = create_redis(settings.redis_url)
            stack.push_async_callback(redis.aclose)
        if replica is None and settings.database_replica_url:
            replica = app_database(settings.database_replica_url, settings, statement_timeout_ms)
            stack.push_async_callback(replica.dispose)
        reads = ReadRouting(
            database, replica, max_lag_seconds=settings.database_replica_max_lag_s, redis=redis
        )
        if embedder is None:
            embedder = build_embedder(settings)
            # Closed after the job queue and before the database: queued model work finishes.
            stack.push_async_callback(embedder.aclose)
            if isinstance(embedder, LocalEmbedder):  # the start pays the load, not a visitor
                await asyncio.to_thread(embedder.load)
        if generator is None:
            generator = make_generator(settings)
            stack.push_async_callback(generator.aclose)
        if payments is None and settings.billing_enabled:
            payments = RazorpayProvider.from_settings(settings)
        if payments is not None and mark_of(payments) is None:
            # Every call's 429 marks the account the cancels wait for (the lifecycle's mark).
            payments = MarkingProvider(payments, RateLimitMark(redis))

        # Closed after the job queue and the answers (callbacks run last pushed first), whose
        # work may still schedule deliveries; what it cancels stays pending for `webhook_retry`.
        notifier = Notifier(database, allow_private=settings.allow_private_urls)
        stack.push_async_callback(notifier.close)
        context: dict[str, Any] = {notify.DEPS_KEY: notifier}
        queue = await _job_queue(jobs, settings, context)
        if queue is not jobs:
            stack.push_async_callback(queue.close)
        ingestion = knowledge_jobs.IngestionDeps(
            db=database,
            settings=settings,
            embedder=embedder,
            jobs=queue,
            owner_url=owner_url,
            alerts=MailAndWebhookAlerts(notifier),
        )
        context[knowledge_jobs.DEPS_KEY] = ingestion
        mailer = Mailer(
            database,
            MailConfig.from_settings(settings),
            Templates("workspaces"),
            enqueue_job=queue.enqueue,
            still_member=notification_delivery.still_member(database),
        )
        context[MAILER_KEY] = mailer
        stack.push_async_callback(mailer.settle)
        notifications = notification_delivery.NotificationDeps(
            db=database,
            mailer=mailer,
            signing_key=settings.jwt_key,
            base_url=base_url(settings),
            enqueue_job=queue.enqueue,
            lead_mails_per_hour=settings.notification_lead_mails_per_hour,
            handoff_mails_per_hour=settings.notification_handoff_mails_per_hour,
            first_messages=quoted_first_messages,
        )
        notifications.start()
        stack.callback(notifications.stop)
        context[notification_delivery.DEPS_KEY] = notifications
        cache = ResponseCache(
            redis,
            ttl_seconds=settings.cache_ttl_seconds,
            semantic_similarity=settings.semantic_cache_similarity,
        )
        lifecycle = lifecycle_jobs.LifecycleDeps(
            db=database,
            settings=settings,
            jobs=queue,
            redis=redis,
            cache=cache,
            mailer=mailer,
            payments=payments,
        )
        context[lifecycle_jobs.DEPS_KEY] = lifecycle
        scheduler = Scheduler(
            database, scheduled_jobs(lifecycle, ingestion, notifications, notifier)
        )
        stack.push_async_callback(scheduler.stop)
        pipeline = AnswerPipeline(
            db=database,
            settings=settings,
            embedder=embedder,
            generator=generator,
            reranker=reranker,
            cache=cache,
            notifier=notifier,
        )
        # Streamed answers whose visitors left are written and recorded before the model's
        # client and the database close (callbacks run last pushed first).
        # At most a turn's model time (a hung model's fallback is recorded by then), and a
        # little for recording (Settings.chat_drain_seconds).
        stack.push_async_callback(pipeline.drain, settings.chat_drain_seconds)
        yield Runtime(
            settings=settings,
            db=database,
            redis=redis,
            reads=reads,
            embedder=embedder,
            generator=generator,
            reranker=reranker,
            cache=cache,
            notifier=notifier,
            jobs=queue,
            ingestion=ingestion,
            lifecycle=lifecycle,
            pipeline=pipeline,
            limiter=RateLimiter(redis),
            mailer=mailer,
            notifications=notifications,
            payments=payments,
            owner_url=owner_url,
            embedded=embedded,
            scheduler=scheduler,
            widget_keys=WidgetKeyCache(settings.widget_key_cache_seconds),
        )


@asynccontextmanager
async def operator_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The runtime of an operator tool (`trulybot ingest`, `eval`, `reindex`): the embedded
    database migrated first, no statement timeout, jobs run in this process and are waited for
    before the runtime closes. A database the app role cannot work on (not migrated, granted
    nothing, behind this release) is refused in one line, as `serve` refuses it: the tools
    failed on their first query with a traceback ("relation "chunks" does not exist")."""
    from api.start_checks import check_schema  # it imports this module

    async with build_runtime(
        settings,
        apply_migrations=settings.database_url is None,
        statement_timeout_ms=0,
        jobs="in-process",
    ) as runtime:
        await check_schema(runtime.db)
        yield runtime
        for _ in range(2):  # a job's mail (a failed document's notification) goes out too
            await notifications_module.settle_kicks()
            await runtime.mailer.settle()
            await runtime.jobs.drain()


@asynccontextmanager
async def owner_session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """One transaction on the owner connection: the operator tools' listing of every workspace
    (the table's owner may read them all, migration 0006f; the tenant tables stay under RLS).
    Needs MIGRATION_DATABASE_URL (or the embedded cluster)."""
    if not runtime.owner_url:
        raise SystemExit("this needs the owner connection: set MIGRATION_DATABASE_URL")
    owner = Database.from_url(runtime.owner_url, pool_size=1, max_overflow=0)
    try:
        async with owner.transaction() as session:
            yield session
    finally:
        await owner.dispose()


async def _job_queue(
    jobs: JobQueue | JobsChoice, settings: Settings, context: dict[str, Any]
) -> JobQueue:
    if not isinstance(jobs, str):
        return jobs
    if jobs == "arq" or (jobs == "settings" and settings.redis_url):
        if not settings.redis_url:
            raise SystemExit("jobs on arq need REDIS_URL")
        return ArqQueue.lazy(settings.redis_url)
    return InProcessQueue(job_registry(), context, per_workspace=settings.jobs_per_workspace)


def describe_payments(settings: Settings) -> str:
    """The start's ``payments:`` line: the webhook address Razorpay's dashboard needs, and
    a missing webhook secret, which refuses every webhook, logged as a warning too."""
    if not settings.billing_enabled:
        return (
            "payments: disabled (503; the plan page offers no upgrade)"
            " until RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET are set"
        )
    hook = f"{base_url(settings)}/api/v1/billing/webhooks/razorpay"
    line = f"payments: Razorpay, webhook {hook}"
    if not any(settings.razorpay_webhook_secret):
        problem = (
            "RAZORPAY_WEBHOOK_SECRET is not set: every payment webhook is refused (400"
            " invalid_signature); set it to the secret of the webhook in Razorpay's dashboard"
            ' (docs/billing.md, "Setting it up")'
        )
        log.warning("settings: %s", problem)
        line += f"; {problem}"
    return line


def describe_defaults(runtime: Runtime) -> list[str]:
    settings = runtime.settings
    lines: list[str] = []
    if runtime.embedded is not None:
        lines.append(
            f"database: embedded PostgreSQL + pgvector under {settings.data_dir}/pgdata "
            f"(connected as role {settings.app_db_role})"
        )
    else:
        pooled = settings.database_pooler == "pgbouncer"
        lines.append("database: DATABASE_URL" + (" through PgBouncer" if pooled else ""))
    if runtime.reads.enabled:
        lines.append(
            "read replica: DATABASE_REPLICA_URL for lists, exports, analytics and search"
            f" (primary when it lags over {settings.database_replica_max_lag_s:g} s or is down)"
        )
    lines.append(
        "redis: REDIS_URL; ingestion and mail run in `trulybot worker`: start one"
        " beside the server, or uploads stay queued and no mail is sent"
        if settings.redis_url
        else "redis: not set, in-process cache/limits/jobs"
    )
    model = {"local": "all-MiniLM-L6-v2", "hash": "zero-cost hashing, for tests"}.get(
        settings.embedding_provider, settings.embedding_model
    )
    if isinstance(runtime.embedder, LocalEmbedder) and runtime.embedder.runtime_used:
        model += f", {runtime.embedder.runtime_used}"  # torch here when onnx could not run
        if runtime.embedder.query_precision_used == "int8":
            model += ", int8 questions"
    lines.append(f"embeddings: {settings.embedding_provider} ({model})")
    if runtime.generator.extractive:
        lines.append(
            "generation: extractive answers from retrieved passages"
            " (no OPENAI_API_KEY or OPENAI_BASE_URL)"
        )
    else:
        base_url = settings.openai_base_url  # a gateway's key in it is not printed
        where = f"at {masked_url(base_url) or '(not shown)'}" if base_url else "(OpenAI)"
        lines.append(f"generation: {settings.chat_model} via the OpenAI-compatible API {where}")
        if problem := settings.model_time_problem():
            log.warning("settings: %s", problem)
    lines.append(describe_reranker(runtime.reranker))
    lines.append(describe_payments(settings))
    lines.append(
        "mail: SMTP_URL"
        if settings.smtp_url
        else f"mail: written to {settings.data_dir}/outbox/*.eml (SMTP_URL not set)"
    )
    lines.append(f"new workspaces start on plan: {settings.default_plan}")
    return lines
