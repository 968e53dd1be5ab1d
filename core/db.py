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
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import TextClause, event, text
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from core import metrics, vector_codec
from core.advisory import lock_function
from core.db_url import connect_options
from core.direct import Direct, cancel_on_server, direct_transaction
from core.fused_begin import begin_with_tenant

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


Pooler = Literal["none", "pgbouncer"]
"""What DATABASE_URL points at: PostgreSQL itself, or PgBouncer in transaction mode."""

IDLE_IN_TRANSACTION_TIMEOUT_MS = 60000


def session_timeouts(statement_timeout_ms: int) -> dict[str, str]:
    """The per-connection limits every connection of the app carries: as startup parameters
    when it talks to PostgreSQL itself, set in each transaction (``set_config(..., true)``)
    through a transaction-mode pooler, which refuses them as startup parameters."""
    return {
        "statement_timeout": str(int(statement_timeout_ms)),
        "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_TIMEOUT_MS),
    }


def _unnamed_statement() -> str:
    """asyncpg's statement name for every statement SQLAlchemy prepares through a pooler: the
    unnamed statement, which the next Parse replaces. A named one (SQLAlchemy's recipe is a
    uuid name) would outlive the transaction on the server connection: asyncpg closes it
    later, in another transaction, which the pooler may send to another server connection, so
    names pile up on the server connections. SQLAlchemy prepares and runs a statement inside
    the same explicit transaction, so both reach the same server connection."""
    return ""


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    statement_timeout_ms: int = 15000,
    application_name: str = "trulybot",
    pooler: Pooler = "none",
) -> AsyncEngine:
    """The engine for ``url``. ``pooler="pgbouncer"``: nothing but ``application_name`` as a
    startup parameter (the timeouts go into each transaction, see ``Database``), and no
    prepared statement outlives its transaction (asyncpg's and SQLAlchemy's statement caches
    off, unnamed statements). ``pool_timeout``: how long a checkout waits for a pooled
    connection before ``sqlalchemy.exc.TimeoutError`` (the API's 503 ``database_busy``)."""
    # libpq's parameters (?sslmode=require, connect_timeout) as asyncpg's connect arguments.
    url, from_url = connect_options(url)
    server_settings = {"application_name": application_name, **from_url.pop("server_settings", {})}
    connect_args: dict[str, Any] = {"timeout": 10, **from_url}
    if pooler == "pgbouncer":
        connect_args.update(
            statement_cache_size=0,
            prepared_statement_cache_size=0,
            prepared_statement_name_func=_unnamed_statement,
        )
    else:
        server_settings.update(session_timeouts(statement_timeout_ms))
    connect_args["server_settings"] = server_settings
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        connect_args=connect_args,
        # An error's text keeps the statement but not its bound values: they are visitors'
        # messages, email addresses, password hashes and widget keys, and the error reaches
        # the logs (and /readyz's reasons) as it is.
        hide_parameters=True,
    )
    _ping_idle_connections(engine)
    _binary_vectors(engine)
    _cancel_on_invalidate(engine)
    _stale_vector_codec(engine)
    return engine


def _stale_vector_codec(engine: AsyncEngine) -> None:
    """A statement that finds its connection's vector codec stale (``vector_codec.is_stale``:
    the extension created after the connection was made, or dropped and created again by a
    restore) fails as on a lost connection (a 503, try again), and the pool's connections are
    replaced, with the codec: each of them failed every vector statement until recycled."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _handle(context: Any) -> None:
        if vector_codec.is_stale(context.original_exception, context.statement):
            context.is_disconnect = True


def _cancel_on_invalidate(engine: AsyncEngine) -> None:
    """A connection closed for good (invalidated: a transaction cut off by a cancel scope, a
    rollback that failed) may be closed mid-statement: the server is asked to cancel it
    (``core.direct.cancel_on_server``), on the session's path and the direct one alike."""

    @event.listens_for(engine.sync_engine, "invalidate")
    def _invalidated(dbapi_connection: Any, _record: Any, _error: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        if isinstance(driver, asyncpg.Connection):
            cancel_on_server(driver)


def _binary_vectors(engine: AsyncEngine) -> None:
    """Each new connection sends and reads pgvector's ``vector`` in its binary form
    (``core.vector_codec``): one round trip when the connection is made, none per statement.
    Through a transaction-mode pooler as well: the codec lives in the client connection, and the
    type's oid is the same on every server connection of the database."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(vector_codec.register)


# A pooled connection idle at least this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling like ``pool_pre_ping``, but only for connections that sat
    idle in the pool for ``PING_AFTER_IDLE_SECONDS`` or more (where a server restart, a failover
    or a network idle timeout leaves dead connections behind). A connection handed back moments
    ago is used at once: asyncpg's ping is three round trips (BEGIN, a query, ROLLBACK), and
    every chat request checks out two or three connections. A connection the driver already
    knows is closed (the server ended it: a restart, ``pg_terminate_backend``, PgBouncer
    restarted) is never handed out, however short its idle time: that check sends nothing.

    A dead connection found either way raises SQLAlchemy's ``InvalidatePoolError`` from the
    checkout event, as ``pool_pre_ping`` does: the pool connects again in its place (the
    request goes on on the new connection) and recycles its connections older than now as they
    are checked out. One that dies mid-use is invalidated by SQLAlchemy as usual, and by
    ``core.fused_begin`` and ``core.direct`` (at BEGIN, or on a direct statement), the pool's
    older connections with it (``fused_begin.lost_connection``)."""
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["tb_returned_at"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("tb_returned_at")
        if returned is None:  # new: just connected
            return
        driver = record.driver_connection
        if isinstance(driver, asyncpg.Connection) and driver.is_closed():
            raise InvalidatePoolError("the pooled connection was closed while it was idle")
        if time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise InvalidatePoolError(str(exc)) from exc
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
    """Set (or clear) the tenant context for the rest of the current transaction; ``local``:
    more transaction-local settings (the timeouts through a pooler, ``hnsw.ef_search``), in the
    same statement."""
    values = _tenant_values(
        workspace_id=workspace_id,
        user_id=user_id,
        api_key_prefix=api_key_prefix,
        public_key=public_key,
        lookup=lookup,
    )
    await _set_settings(session, transaction_settings(values, local, durable=durable))


async def set_lookup(session: AsyncSession, lookup: str) -> None:
    """Set ``app.lookup`` alone for the rest of the current transaction, the other settings
    (the workspace, the user) kept: a row found by a value the caller holds (an account by its
    address) within a transaction that has its context already."""
    await _set_settings(session, {"app.lookup": lookup})


async def lock_workspace(
    session: AsyncSession,
    purpose: str,
    workspace_id: uuid.UUID,
    *,
    shared: bool = False,
    wait: bool = True,
) -> bool:
    """Until the transaction ends, one transaction per workspace and ``purpose`` holds this
    (a transaction-scoped advisory lock): the next one reads after this one committed (READ
    COMMITTED), so counts checked against a quota, or rolled up, see each other. ``shared``:
    any number hold it at once, all waiting for (and waited for by) the exclusive holder.
    Not ``wait``: taken only if free at once (whether it was)."""
    taken = await session.execute(
        text(f"SELECT {lock_function(shared, wait)}(hashtext(:purpose), hashtext(:ws))"),
        {"purpose": purpose, "ws": str(workspace_id)},
    )
    return wait or bool(taken.scalar_one())


_SETTINGS_INFO = "core.db.transaction_settings"
"""``session.info`` key: the transaction-local settings in force (for ``released``)."""


def _remember(session: AsyncSession, settings: Mapping[str, str]) -> None:
    session.info[_SETTINGS_INFO] = {**session.info.get(_SETTINGS_INFO, {}), **settings}


async def _set_settings(session: AsyncSession, settings: Mapping[str, str]) -> None:
    """``settings`` (``transaction_settings``) in one parameterised statement."""
    params = {f"v{i}": value for i, value in enumerate(settings.values())}
    await session.execute(_settings_statement(tuple(settings)), params)
    _remember(session, settings)


@asynccontextmanager
async def released(session: AsyncSession) -> AsyncIterator[None]:
    """Give the session's connection back to the pool for a slow outside call (a sitemap
    download), so a slow site cannot hold one of the pool's connections.

    The transaction so far is committed on entry; when the block ends (normally or with an
    error, which goes on to the caller) a new one begins with the same transaction-local
    settings (tenant context, timeouts), and the unit of work (``Database.transaction``)
    commits or rolls back that one."""
    settings = dict(session.info.get(_SETTINGS_INFO, {}))
    await session.commit()  # the connection goes back to the pool
    try:
        yield
    finally:
        if settings:
            await _set_settings(session, settings)


async def resume(session: AsyncSession) -> None:
    """After the request's transaction was ended early (``api.deps.end_transaction``): begin
    another with the same transaction-local settings (tenant context, timeouts), for a page
    that reads again (a refused question's page shows the conversation so far). Within the
    transaction still open it sets what is already set."""
    settings = dict(session.info.get(_SETTINGS_INFO, {}))
    if settings:
        await _set_settings(session, settings)


@functools.cache
def _settings_statement(names: tuple[str, ...]) -> TextClause:
    calls = (f"set_config('{name}', :v{i}, true)" for i, name in enumerate(names))
    return text("SELECT " + ", ".join(calls))


_GUC_RE = re.compile(r"^[a-z_][a-z0-9_.]*$")


@functools.cache
def _checked_name(name: str) -> str:
    if not _GUC_RE.fullmatch(name):
        raise ValueError(f"invalid setting name {name!r}")
    return name


def _tenant_values(
    *,
    workspace_id: uuid.UUID | str | None,
    user_id: uuid.UUID | str | None = None,
    api_key_prefix: str | None = None,
    public_key: str | None = None,
    lookup: str | None = None,
) -> dict[str, str]:
    return {
        "app.workspace_id": str(workspace_id) if workspace_id else "",
        "app.user_id": str(user_id) if user_id else "",
        "app.api_key_prefix": api_key_prefix or "",
        "app.public_key": public_key or "",
        "app.lookup": lookup or "",
    }


def transaction_settings(
    values: Mapping[str, str], local: Mapping[str, str] | None = None, *, durable: bool = True
) -> dict[str, str]:
    """What a transaction sets, in order, names checked: the tenant ``values``, then ``local``
    (sorted), then ``synchronous_commit`` off when not ``durable``."""
    settings = {_checked_name(name): value for name, value in values.items()}
    for name, value in sorted((local or {}).items()):
        settings[_checked_name(name)] = str(value)
    if not durable:
        settings["synchronous_commit"] = "off"
    return settings


class Database:
    """The app's engine plus units of work. One per process."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        local: Mapping[str, str] | None = None,
        fused_begin: bool = True,
    ) -> None:
        """``local``: settings each transaction sets for itself (with the tenant context, in
        one statement): the timeouts when the engine talks to a transaction-mode pooler.
        ``fused_begin``: each transaction's ``BEGIN`` carries its settings (``core.fused_begin``,
        one round trip); off, SQLAlchemy sends ``BEGIN`` and the settings follow as a statement
        (what ``bench.chat_db`` compares it with)."""
        self.engine = engine
        self.local = dict(local or {})
        self.fused_begin = fused_begin
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self.probe_engine: Callable[[], AsyncEngine] | None = None
        """Builds the engine of ``ping`` (``from_url`` sets it); None: ``ping`` uses ``engine``."""
        self._probe: AsyncEngine | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        pooler: Pooler = "none",
        statement_timeout_ms: int = 15000,
        fused_begin: bool = True,
        **kwargs: Any,
    ) -> Database:
        engine = create_engine(
            url, pooler=pooler, statement_timeout_ms=statement_timeout_ms, **kwargs
        )
        local = session_timeouts(statement_timeout_ms) if pooler == "pgbouncer" else None
        db = cls(engine, local=local, fused_begin=fused_begin)
        # One connection (two for probes at once) of its own: a ping waiting for the request
        # pool said "unavailable" whenever every pooled connection was busy, on every replica
        # under the same load at once, and the balancer took them all out.
        probe_pool = {**kwargs, "pool_size": 1, "max_overflow": 1}
        db.probe_engine = lambda: create_engine(
            url, pooler=pooler, statement_timeout_ms=statement_timeout_ms, **probe_pool
        )
        return db

    def _settings(
        self, values: Mapping[str, str], local: Mapping[str, str] | None, durable: bool
    ) -> dict[str, str]:
        """A transaction's settings: the tenant ``values``, this database's and the caller's
        ``local`` ones (``transaction_settings``)."""
        return transaction_settings(
            values, {**self.local, **local} if local else self.local, durable=durable
        )

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
        async with self.sessionmaker() as session:
            await session.begin()
            waited = time.perf_counter()
            connection = await session.connection()  # from the pool (or a new connect)
            metrics.observe_db_pool_wait(time.perf_counter() - waited)
            values = _tenant_values(
                workspace_id=workspace_id,
                user_id=user_id,
                api_key_prefix=api_key_prefix,
                public_key=public_key,
                lookup=lookup,
            )
            settings = self._settings(values, local, durable)
            if self.fused_begin and await begin_with_tenant(connection, settings):
                _remember(session, settings)
            else:
                await _set_settings(session, settings)
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            # The current transaction: a block that ``released`` its connection began another.
            await session.commit()

    def direct(
        self,
        *,
        workspace_id: uuid.UUID | str | None = None,
        durable: bool = True,
        local: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[Direct]:
        """A unit of work like ``transaction`` (the same settings, set with its ``BEGIN`` in
        one round trip; committed when the block ends, rolled back on an exception) whose
        statements go straight to asyncpg (``core.direct``): no session, no ORM. For the
        statements a chat turn sends every time (``core.direct.fetch``)."""
        values = _tenant_values(workspace_id=workspace_id)
        return direct_transaction(self.engine, self._settings(values, local, durable))

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
        """One read of a table with no tenant (no row comes back under row-level security):
        it needs what every request needs, a connection and the table privileges (a bare
        ``SELECT 1`` said ready for a role granted nothing, which answered every request 500).
        A pooled connection that died with a database restart fails the first try and takes
        the pool's older connections with it; the ping then tries once on a new connection
        (the first /readyz after a restart answered 503, out of the balancer for nothing).
        It runs on a connection outside the request pool (``probe_engine``): a busy pool is no
        database that is down."""
        if self._probe is None and self.probe_engine is not None:
            self._probe = self.probe_engine()
        engine = self._probe or self.engine
        for attempt in range(2):
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1 FROM scheduled_runs LIMIT 1"))
                return
            except DBAPIError as exc:
                if attempt or not exc.connection_invalidated:
                    raise

    async def dispose(self) -> None:
        if self._probe is not None:
            await self._probe.dispose()
            self._probe = None
        await self.engine.dispose()
