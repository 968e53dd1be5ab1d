"""A transaction begun together with its settings: ``BEGIN`` and the tenant context's
``set_config`` calls in one round trip (``Database(fused_begin=True)``), where SQLAlchemy's
asyncpg adapter would send a bare ``BEGIN`` before the first statement and the settings in a
statement of their own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import asyncpg.transaction  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import Pool

from core import vector_codec


def _text_literal(value: str) -> str:
    """``value`` as an SQL expression whose source holds nothing but hex digits: its UTF-8
    bytes, decoded by the server. A quoted literal would depend on the server's
    ``standard_conforming_strings``; this cannot be read as anything but the value."""
    if not value:
        return "''"
    return f"convert_from(decode('{value.encode().hex()}', 'hex'), 'UTF8')"


PROLOGUE_STATEMENT = "BEGIN; SELECT set_config(...)"
"""How an error names the prologue (``tenant_prologue``), never its values."""


def tenant_prologue(settings: Mapping[str, str]) -> str:
    """``BEGIN`` and the transaction's ``settings`` (``transaction_settings``) as one
    simple-protocol message: one round trip where a BEGIN and a parameterised ``set_config``
    statement took two. The values are inlined as ``_text_literal`` expressions."""
    calls = (f"set_config('{name}', {_text_literal(v)}, true)" for name, v in settings.items())
    return "BEGIN; SELECT " + ", ".join(calls)


class TenantTransaction(asyncpg.transaction.Transaction):
    """asyncpg's top-level transaction, begun by ``prologue`` (``tenant_prologue``) instead of
    a bare ``BEGIN``; committed and rolled back as asyncpg's own."""

    __slots__ = ("_prologue",)

    def __init__(self, connection: asyncpg.Connection, prologue: str) -> None:
        super().__init__(connection, None, False, False)
        self._prologue = prologue

    async def start(self) -> None:
        connection = self._connection
        if connection._top_xact is not None or connection.is_in_transaction():
            raise asyncpg.InterfaceError("a transaction is already open on this connection")
        connection._top_xact = self
        try:
            await connection.execute(self._prologue)
        except BaseException:
            self._state = asyncpg.transaction.TransactionState.FAILED  # type: ignore[misc]
            raise
        self._state = asyncpg.transaction.TransactionState.STARTED


async def begin_with_tenant(connection: AsyncConnection, settings: Mapping[str, str]) -> bool:
    """Begin ``connection``'s transaction with its settings in the same round trip
    (``tenant_prologue``), where SQLAlchemy's asyncpg adapter would send a bare ``BEGIN`` before
    the first statement. False, with nothing sent, when the connection is not one this knows
    how to begin (not asyncpg's adapter, another isolation level, or a transaction already
    begun): the caller sets the tenant with a statement. A failure invalidates the connection
    (it may hold a half-begun transaction), and the pool's older connections too when the
    connection was lost, and raises as SQLAlchemy would (``DBAPIError``)."""
    raw = await connection.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    driver = raw.driver_connection
    if (
        not isinstance(driver, asyncpg.Connection)
        or getattr(adapter, "_transaction", False) is not None
        or getattr(adapter, "isolation_level", False) is not None
        or getattr(adapter, "readonly", True)
        or getattr(adapter, "deferrable", True)
        or not hasattr(adapter, "_execute_mutex")
    ):
        return False
    transaction = TenantTransaction(driver, tenant_prologue(settings))
    try:
        async with adapter._execute_mutex:
            await transaction.start()
    except BaseException as error:
        raised = _as_dbapi_error(connection, adapter, error)  # before the connection closes
        lost_connection(connection.sync_engine.pool, raw, raised)
        # The server may hold a half-begun transaction: the connection never goes back to the
        # pool (not shielded: a second cancellation still ends in SQLAlchemy's forced close).
        await connection.invalidate()
        if raised is error:
            raise
        raise raised from error
    adapter._transaction = transaction
    return True


def lost_connection(pool: Pool, raw: Any, error: BaseException) -> None:
    """When ``error`` says the connection ``raw`` was lost (the server restarted, a failover,
    the pooler restarted): the pool's connections made before now are recycled when next
    checked out, as SQLAlchemy does when one of its statements finds its connection lost
    (else each of them, as dead, cost a request its 503 in turn)."""
    if getattr(error, "connection_invalidated", False):
        pool._invalidate(raw, error, _checkin=False)


def _as_dbapi_error(
    connection: AsyncConnection, adapter: Any, error: BaseException
) -> BaseException:
    return as_dbapi_error(connection.dialect, adapter, error, PROLOGUE_STATEMENT)


def as_dbapi_error(
    dialect: Any, adapter: Any, error: BaseException, statement: str
) -> BaseException:
    """``error`` as SQLAlchemy would raise it from ``statement``: a ``DBAPIError`` (an
    ``IntegrityError`` for a broken constraint, the driver's exception as its ``orig``'s
    ``__cause__``) that says whether the connection was lost (a refusal by the server is not: a
    500, not a 503); anything else (a cancellation) as it is. The bound values are never in it."""
    if not isinstance(error, Exception):
        return error
    try:
        adapter._handle_exception(error)  # raises the adapter's DBAPI error for it
    except dialect.loaded_dbapi.Error as dbapi_error:
        return DBAPIError.instance(
            statement,
            None,
            dbapi_error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=dialect.is_disconnect(dbapi_error, adapter, None)
            or vector_codec.is_stale(error, statement),
            dialect=dialect,
        )
    except Exception as other:  # pragma: no cover - the adapter raises its DBAPI errors
        return other
    return error
