"""Database engine and tenant-scoped units of work.

Every transaction the app opens sets the tenant context with ``set_config(..., true)`` so that
row-level security (see migrations) applies to the running role. The context is local to the
transaction: a pooled connection never carries one tenant's context into another request.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from core import metrics

# The settings row-level-security policies read. Values are strings; '' means unset.
TENANT_SETTINGS = (
    "app.workspace_id",
    "app.user_id",
    "app.api_key_prefix",
    "app.public_key",
    "app.lookup",
)


def async_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` URLs and use the asyncpg driver."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in ("postgresql", "postgres"):
        scheme = "postgresql+asyncpg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    statement_timeout_ms: int = 15000,
    application_name: str = "trulybot",
) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        connect_args={
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
            "timeout": 10,
        },
    )
    _ping_idle_connections(engine)
    return engine


# A pooled connection idle at least this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling like ``pool_pre_ping``, but only for connections that sat
    idle in the pool for ``PING_AFTER_IDLE_SECONDS`` or more (where a server restart, a failover
    or a network idle timeout leaves dead connections behind). A connection handed back moments
    ago is used at once: asyncpg's ping is three round trips (BEGIN, a query, ROLLBACK), and
    every chat request checks out two or three connections. A dead connection found by the ping
    is replaced (and the pool's older connections are recycled), as with ``pool_pre_ping``; one
    that dies mid-use is invalidated by SQLAlchemy as usual."""
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["tb_returned_at"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("tb_returned_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(str(exc), invalidate_pool=True) from exc
            raise


async def set_tenant(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID | str | None = None,
    user_id: uuid.UUID | str | None = None,
    api_key_prefix: str | None = None,
    public_key: str | None = None,
    lookup: str | None = None,
    durable: bool = True,
    local: Mapping[str, str] | None = None,
) -> None:
    """Set (or clear) the tenant context for the rest of the current transaction, and the
    transaction-local settings in ``local`` (e.g. ``hnsw.ef_search``) in the same statement."""
    values = {
        "ws": str(workspace_id) if workspace_id else "",
        "uid": str(user_id) if user_id else "",
        "akp": api_key_prefix or "",
        "pk": public_key or "",
        "lk": lookup or "",
    }
    if local:
        names = tuple(sorted(local))
        values |= {f"x{i}": str(local[name]) for i, name in enumerate(names)}
        await session.execute(_with_local(durable, names), values)
        return
    await session.execute(_NON_DURABLE if not durable else _SET_TENANT, values)


_SET_TENANT = text(
    "SELECT set_config('app.workspace_id', :ws, true),"
    " set_config('app.user_id', :uid, true),"
    " set_config('app.api_key_prefix', :akp, true),"
    " set_config('app.public_key', :pk, true),"
    " set_config('app.lookup', :lk, true)"
)
_NON_DURABLE = text(
    "SELECT set_config('app.workspace_id', :ws, true),"
    " set_config('app.user_id', :uid, true),"
    " set_config('app.api_key_prefix', :akp, true),"
    " set_config('app.public_key', :pk, true),"
    " set_config('app.lookup', :lk, true),"
    " set_config('synchronous_commit', 'off', true)"
)


_SETTING_NAME = re.compile(r"^[a-z_]+(\.[a-z_]+)?$")


@functools.lru_cache(maxsize=32)
def _with_local(durable: bool, names: tuple[str, ...]) -> Any:
    """The tenant statement plus ``set_config(name, :xN, true)`` for each of ``names``."""
    for name in names:
        if not _SETTING_NAME.match(name):
            raise ValueError(f"not a setting name: {name!r}")
    base = (_SET_TENANT if durable else _NON_DURABLE).text
    extra = "".join(f", set_config('{name}', :x{i}, true)" for i, name in enumerate(names))
    return text(base + extra)


class Database:
    """The app's engine plus units of work. One per process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(create_engine(url, **kwargs))

    @asynccontextmanager
    async def transaction(
        self,
        *,
        workspace_id: uuid.UUID | str | None = None,
        user_id: uuid.UUID | str | None = None,
        api_key_prefix: str | None = None,
        public_key: str | None = None,
        lookup: str | None = None,
        durable: bool = True,
        local: Mapping[str, str] | None = None,
    ) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends normally, rolls back on an exception.

        ``durable=False`` commits without waiting for the WAL flush (``synchronous_commit =
        off`` for this transaction only): a database crash may lose the last fraction of a
        second of such commits, never consistency. Used for chat logs and their counters,
        never for payments. ``local``: more transaction-local settings, sent with the tenant's
        (``set_tenant``).
        """
        async with self.sessionmaker() as session, session.begin():
            waited = time.perf_counter()
            await session.connection()  # from the pool (or a new connect): the wait, measured
            metrics.observe_db_pool_wait(time.perf_counter() - waited)
            await set_tenant(
                session,
                workspace_id=workspace_id,
                user_id=user_id,
                api_key_prefix=api_key_prefix,
                public_key=public_key,
                lookup=lookup,
                durable=durable,
                local=local,
            )
            yield session

    def report_pool(self) -> None:
        """The pool's connections (checked out, idle, overflow, size) into /metrics."""
        pool = self.engine.pool
        if isinstance(pool, QueuePool):
            metrics.set_db_pool(
                size=pool.size(),
                checked_out=pool.checkedout(),
                idle=pool.checkedin(),
                overflow=pool.overflow(),
            )

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
