"""What `trulybot serve` and `trulybot worker` check before they take work, each refusal one
line naming the way out: the database reachable (``preflight``, before any worker process
starts), the app role's privileges and the schema's revision (``check_schema``), the stored
vectors' dimension against the embedder's (``check_vector_column``), and Redis answering
(``redis_problem``); under serve, a refusal in the app's start-up is said as it is, not as a
traceback (``StartRefusalMiddleware``). The operator tools (`ingest`, `eval`, `reindex`) check the
schema only (``api.runtime.operator_runtime``): the vectors' dimension is what `reindex` puts
right, and `migrate` the schema."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ResponseError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.runtime import Runtime, app_database
from core import migrate
from core.config import Settings
from core.db import Database
from core.db_reach import check_reachable, sqlstate
from core.errors import ConfigError
from rag.knowledge.repository import indexes

log = logging.getLogger("trulybot.start")


class VectorColumnMismatch(ConfigError):
    """The stored vectors' dimension is not the embedder's: every search would fail."""


async def check_vector_column(runtime: Runtime) -> None:
    """Refuse to serve (or to run jobs) with an embedder whose vectors cannot be compared with the
    stored ones: after EMBEDDING_PROVIDER or EMBEDDING_DIMENSIONS changed without
    ``trulybot reindex --change-dimension``, every question and every ingested chunk failed on
    the database's "different vector dimensions" as a 500. The operator tools do not check:
    ``reindex`` is how the column changes."""
    async with runtime.db.transaction() as session:
        current = await indexes.column_dimensions(session)
    wanted = runtime.embedder.dimensions
    if current != wanted:
        raise VectorColumnMismatch(
            f"the stored vectors are vector({current}) but {runtime.embedder.name} makes "
            f"{wanted}-dimension vectors, so every search would fail. Run `trulybot reindex "
            "--change-dimension` with these settings first (docs/deploy.md, Changing the "
            f"embedding model), or set EMBEDDING_DIMENSIONS back to {current}."
        )


class SchemaNotReady(ConfigError):
    """The app role cannot work on this database: no privileges, or a schema behind the code."""


async def check_schema(db: Database) -> None:
    """Refuse to serve (or to run jobs) on a database the app role cannot work on, naming the
    way out: the role was granted nothing (APP_DB_ROLE not DATABASE_URL's user when `trulybot
    migrate` ran), or the schema is older than this release (the new image rolled out before the
    migration). Both passed /readyz and answered every request 500. A schema newer than the code
    is accepted: the previous release keeps serving while the new one rolls out. A column the
    app role should not read (``migrate.CLOSED_COLUMNS``) but may is said in a warning: the
    app works, with the hashes open to it as before 0038."""
    async with db.transaction() as session:
        role, problem = await migrate.table_access(session)
        if problem == "42P01":
            raise SchemaNotReady(
                "the database has no tables: run `trulybot migrate` first (docs/deploy.md)"
            )
        if problem == "42501":
            raise SchemaNotReady(no_privileges(role))
        try:
            heads = await migrate.database_heads(session)
        except Exception as exc:
            if sqlstate(exc) == "42501":  # an older grant: the function not granted
                raise SchemaNotReady(no_privileges(role)) from None
            raise
        if opened := await migrate.open_closed_columns(session):
            log.warning(
                "the app role %r may read %s, which only its functions should (the previous"
                " release's `trulybot migrate` grants it, after a rollback): run `trulybot"
                " migrate` with this release (docs/deploy.md)",
                role,
                ", ".join(opened),
            )
    if refusal := migrate.schema_refusal(heads):
        raise SchemaNotReady(refusal)


def no_privileges(role: str) -> str:
    return (
        f"the app role {role!r} (DATABASE_URL's user) has no privileges on the tables: run"
        f" `trulybot migrate` with APP_DB_ROLE={role} (it grants them to APP_DB_ROLE)"
    )


async def preflight(settings: Settings) -> None:
    """`trulybot serve`'s checks of a configured database before any worker process starts, so
    a refusal is one line (from the app's start it was a traceback of 270 lines): the
    connections, and the schema when it is not migrated at start."""
    if not settings.database_url:
        return  # the embedded cluster starts (and is migrated) with the app
    await check_reachable("DATABASE_URL", settings.database_url, pooler=settings.database_pooler)
    if settings.migration_database_url:
        await check_reachable("MIGRATION_DATABASE_URL", settings.migration_database_url)
        return  # migrated at start, then checked
    db = app_database(settings.database_url, settings, None)
    try:
        await check_schema(db)
    finally:
        await db.dispose()


async def redis_problem(redis: Redis | None, url: str | None) -> str | None:
    """A start-up line when REDIS_URL is set but does not answer (None when it does). A Redis
    that answers and refuses the URL's password or database number is ``ConfigError``: that is
    no outage to wait out (it started on the fallbacks, "degraded", and every upload failed
    ``queue_unavailable``), and `trulybot worker` refuses the same URL at once."""
    if redis is None or not url:
        return None
    try:
        await asyncio.wait_for(redis.ping(), timeout=2)
    except (AuthenticationError, ResponseError) as exc:
        raise ConfigError(
            f"REDIS_URL: {redis_address(url)} refused the connection ({exception_line(exc)});"
            " check the URL's password and database number"
        ) from None
    except Exception as exc:
        return (
            f"redis: REDIS_URL at {redis_address(url)} does not answer ({type(exc).__name__}):"
            " running on in-process fallbacks (limits, cache) until it does; uploads cannot be"
            " queued meanwhile"
        )
    return None


def exception_line(exc: BaseException) -> str:
    """What an error says, in one line for a start-up's refusal (its type when it says
    nothing)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def redis_address(url: str) -> str:
    """``host:port`` of a Redis URL, never its password."""
    parts = urlsplit(url)
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    return f"{parts.hostname or 'localhost'}:{port}"


class StartRefusals:
    """What a refusal during the app's start-up said (``refusing``), so that
    ``StartRefusalMiddleware`` says that, not the framework's traceback of it."""

    def __init__(self, command: str = "trulybot serve") -> None:
        self.command = command
        self.said: str | None = None

    @contextmanager
    def refusing(self) -> Iterator[None]:
        try:
            yield
        except ConfigError as exc:
            self.said = f"{self.command}: {exc}"
            raise


class StartRefusalMiddleware:
    """A start check's refusal in the app's lifespan (under `trulybot serve`'s uvicorn, after
    ``preflight``: the vectors' dimension, the schema of a database migrated at start) came
    out as Starlette's traceback of it, the lifespan's frames over and over; uvicorn now logs
    the refusal's own paragraph, and still exits non-zero ("Application startup failed")."""

    def __init__(self, app: ASGIApp, refusals: StartRefusals) -> None:
        self.app = app
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def said(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self.refusals.said:
                message = {**message, "message": self.refusals.said}
            await send(message)

        await self.app(scope, receive, said)
