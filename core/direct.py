"""A chat turn's hot statements straight on the driver: compiled once, bound by asyncpg.

``Database.transaction`` gives an ``AsyncSession``: every statement goes through the ORM's
execution, SQLAlchemy's compiled cache, its cursor adapter and back, with greenlet switches on
the way, and the session's own state machine begins and commits. For the few statements a rag
turn sends every time (the FAQ variants nearest the question, the passages, the recorded
answer, the visitor's message) that machinery cost more of the event loop's CPU than asyncpg
itself. Here:

- ``Prepared``: a Core statement compiled once per dialect into asyncpg's SQL (``$1``..., the
  same casts SQLAlchemy renders), with the names of its parameters in order and the bind
  processors SQLAlchemy would apply (JSON to text, a boolean...). The statement's text is
  asyncpg's statement cache key: prepared once per connection, or (``DATABASE_POOLER=
  pgbouncer``: the cache off) as the unnamed statement inside its transaction, as SQLAlchemy
  does through a pooler.
- ``Direct``: a transaction on one pooled connection (``Database.direct``), begun with the
  tenant's settings in one round trip (``core.fused_begin``), committed by asyncpg.
- ``fetch``: a statement's rows on a ``Direct``, or on a session's connection (the turn's first
  transaction, an owner's search), in its transaction.

What stays the same: the statements' text and casts, the transaction-local tenant settings
(row-level security applies as before), and the errors: a failure is raised as SQLAlchemy
raises it (``DBAPIError``, an ``IntegrityError`` for a broken constraint, ``orig.__cause__`` the
driver's), and a lost connection is invalidated, never handed out again; so is one whose
transaction may not have ended (a rollback that failed or was cancelled, a COMMIT cut short):
``direct_transaction`` hands the pool back a connection with no transaction open, or none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from asyncpg import connect_utils
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util import greenlet_spawn

from core import metrics
from core.fused_begin import (
    PROLOGUE_STATEMENT,
    TenantTransaction,
    as_dbapi_error,
    lost_connection,
    tenant_prologue,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: Mapping[str, Any]
    """Values the statement carries itself (a ``LIMIT 5``), by parameter name."""


class Prepared:
    """A Core statement (``statement``) and its asyncpg form, compiled on first use for the
    dialect of the connection it runs on."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: tuple[Any, _Compiled] | None = None

    def compiled(self, dialect: Any) -> _Compiled:
        key = (type(dialect), dialect.paramstyle, dialect.server_version_info)
        held = self._compiled
        if held is not None and held[0] == key:
            return held[1]
        compiled = _compile(self.statement, dialect)
        self._compiled = (key, compiled)
        return compiled


def _compile(statement: Any, dialect: Any) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    if dialect.paramstyle != "numeric_dollar":
        raise ValueError(f"not asyncpg's parameters: {dialect.paramstyle}")
    # What SQLAlchemy would add at execution (Python-side defaults, expanding IN lists, escaped
    # names) is not done here: such a statement is refused, not sent differently.
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.post_compile_params
        or compiled.literal_execute_params
        or compiled.escaped_bind_names
    ):
        raise ValueError("a statement SQLAlchemy must complete at execution")
    names = tuple(compiled.positiontup or ())
    processors = compiled._bind_processors
    defaults = {
        name: compiled.binds[name].effective_value
        for name in names
        if not compiled.binds[name].required
    }
    return _Compiled(
        sql=compiled.string,
        names=names,
        processors=tuple(processors.get(name) for name in names),
        defaults=defaults,
    )


def _arguments(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
    defaults = compiled.defaults
    out = []
    for name, process in zip(compiled.names, compiled.processors, strict=True):
        value = params[name] if name in params else defaults[name]
        out.append(value if process is None or value is None else process(value))
    return out


class Direct:
    """One transaction on a pooled connection, its statements sent by asyncpg
    (``Database.direct``)."""

    __slots__ = ("_adapter", "_dialect", "_driver", "_invalidate")

    def __init__(
        self,
        driver: asyncpg.Connection,
        adapter: Any,
        dialect: Any,
        invalidate: Callable[[BaseException], Awaitable[None]],
    ) -> None:
        """``invalidate``: called with the error (``as_dbapi_error``'s) when a statement found
        its connection lost (``lost_connection``)."""
        self._driver = driver
        self._adapter = adapter
        self._dialect = dialect
        self._invalidate = invalidate

    async def fetch(self, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Any]:
        """The rows of ``prepared`` bound with ``params`` (asyncpg records: by position)."""
        compiled = prepared.compiled(self._dialect)
        try:
            return await self._driver.fetch(compiled.sql, *_arguments(compiled, params))
        except Exception as error:
            raised = as_dbapi_error(self._dialect, self._adapter, error, compiled.sql)
            if getattr(raised, "connection_invalidated", False):
                await self._invalidate(raised)
            raise raised from error


Executor = AsyncSession | Direct
"""What a hot statement runs on: a ``Direct`` transaction, or a session's."""


async def fetch(executor: Executor, prepared: Prepared, params: Mapping[str, Any]) -> Sequence[Any]:
    """The rows of ``prepared`` in ``executor``'s transaction (by position). On a session whose
    transaction has not begun on the driver yet, or not on asyncpg, through the session."""
    if isinstance(executor, Direct):
        return await executor.fetch(prepared, params)
    connection = await executor.connection()
    raw = await connection.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    driver = raw.driver_connection
    if getattr(adapter, "_transaction", None) is None or not isinstance(driver, asyncpg.Connection):
        return (await executor.execute(prepared.statement, params)).all()

    async def invalidate(error: BaseException) -> None:
        lost_connection(connection.sync_engine.pool, raw, error)
        await connection.invalidate()

    direct = Direct(driver, adapter, connection.dialect, invalidate)
    return await direct.fetch(prepared, params)


CANCEL_SECONDS = 10.0
"""How long a cancel request (``cancel_on_server``) may take to reach the server."""

_cancels: set[asyncio.Task[None]] = set()


def cancel_on_server(driver: asyncpg.Connection) -> None:
    """Ask the server to cancel what ``driver``'s backend runs, if anything (PostgreSQL's
    cancel request, on a connection of its own, sent by a task of its own), for a connection
    being closed mid-statement: closing its socket does not stop the statement, which ran on
    to its statement timeout. Nothing awaited here: the caller may be a task being cancelled
    (an anyio cancel scope cancels each of its awaits), which is how a statement is cut off.

    asyncpg sends one itself when a statement's task is cancelled, from a task that closing
    the connection cancels (``Connection.terminate``): cut off by a cancel scope, the rollback
    is cancelled too, the connection closed, and the request never went. A backend that ran
    nothing (or is gone) ignores the request. Through PgBouncer the request comes after the
    client connection closed and cancels nothing (docs/deploy.md). Uses asyncpg's own cancel
    request and the connection's address and keys, which asyncpg keeps private
    (tests/test_db_cut_statements.py fails if that changes)."""
    protocol = driver._protocol
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # closed outside the event loop (at exit): no statement runs
        return
    if driver.is_closed() or protocol is None:
        return
    request = connect_utils._cancel(
        loop=loop,
        addr=driver._addr,
        params=driver._params,
        backend_pid=protocol.backend_pid,
        backend_secret=protocol.backend_secret,
    )
    task = asyncio.ensure_future(_send(request))
    _cancels.add(task)
    task.add_done_callback(_cancels.discard)


async def _send(request: Awaitable[None]) -> None:
    try:
        async with asyncio.timeout(CANCEL_SECONDS):
            await request
    except Exception as error:  # the server is gone (or unreachable): best effort
        log.info("cancel request not sent: %s: %s", type(error).__name__, error)


def discard_raw(raw: Any) -> None:
    """Close a pooled connection for good (``PoolProxiedConnection.invalidate``) and give its
    slot back to the pool: it may hold a half-begun or half-ended transaction (and its tenant).
    Called outside SQLAlchemy's greenlet, the driver's connection is terminated at once (its
    socket closed; the server rolls the transaction back), with no await: a task that is being
    cancelled (an anyio cancel scope cancels each of its awaits) cannot cut it short and leave
    the connection counted as checked out."""
    raw.invalidate()


@asynccontextmanager
async def direct_transaction(
    engine: AsyncEngine, settings: Mapping[str, str]
) -> AsyncIterator[Direct]:
    """A ``Direct`` transaction on a connection of ``engine``'s pool, begun with ``settings``
    (``core.db.transaction_settings``: the tenant and the timeouts) in one round trip;
    committed when the block ends, rolled back on an exception (``Database.direct``)."""
    waited = time.perf_counter()
    raw = await engine.raw_connection()  # from the pool (or a new connect)
    metrics.observe_db_pool_wait(time.perf_counter() - waited)
    lost = False

    async def invalidate(error: BaseException | None = None) -> None:
        nonlocal lost
        if error is not None:
            lost_connection(engine.pool, raw, error)
        if not lost:
            lost = True
            discard_raw(raw)

    try:
        adapter: Any = raw.dbapi_connection
        driver = raw.driver_connection
        dialect = engine.dialect
        transaction = TenantTransaction(driver, tenant_prologue(settings))
        try:
            await transaction.start()
        except BaseException as error:
            raised = as_dbapi_error(dialect, adapter, error, PROLOGUE_STATEMENT)
            await invalidate(raised)  # it may hold a half-begun transaction
            if raised is error:
                raise
            raise raised from error
        try:
            yield Direct(driver, adapter, dialect, invalidate)
        except BaseException:
            if not lost:
                try:
                    await transaction.rollback()
                except BaseException as failed:
                    # Not rolled back: a failure, or a cancellation that reached the rollback
                    # too (an anyio cancel scope cancels every await in it, and asyncpg's
                    # transaction cannot be rolled back after that). The connection may still
                    # hold the transaction and its tenant: closed, at once, never handed out
                    # again. A cancellation goes on, not the error.
                    await invalidate()
                    if not isinstance(failed, Exception):
                        raise
            raise
        try:
            await transaction.commit()
        except BaseException as error:
            raised = as_dbapi_error(dialect, adapter, error, "COMMIT")
            # A commit cut short (cancelled) may or may not have ended the transaction on the
            # server: the connection is closed, not handed out with it.
            if raised is error or getattr(raised, "connection_invalidated", False):
                await invalidate(raised)
            if raised is error:
                raise
            raise raised from error
    finally:
        # Back to the pool (nothing, once discarded). The transaction ended here (or the
        # connection was discarded), so the pool's reset on return sends nothing: no await that
        # a cancellation could cut short between the pool and its connection.
        await greenlet_spawn(raw.close)
