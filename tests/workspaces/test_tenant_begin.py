"""A transaction's tenant context travels with its BEGIN: one round trip, exact values, and a
connection whose start failed never goes back to the pool half-begun."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import TENANT_SETTINGS, Database, create_engine
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE

# Quotes, a backslash before a quote, a statement separator, dollar quoting, a comment and
# characters outside ASCII: whatever the server's quoting rules, the value must come back as is.
HOSTILE = "o'brien\\'; SELECT 1; $$ $x$ -- /* é \U0001f600 '' \\\\"


@pytest.fixture
async def one_connection(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """A pool of one connection, so the next transaction gets the connection the last one had
    (unless it was invalidated)."""
    database = Database.from_url(pg.app_url(APP_ROLE), pool_size=1, max_overflow=0)
    yield database
    await database.dispose()


async def _settings(session: Any, names: tuple[str, ...]) -> dict[str, str]:
    columns = ", ".join(f"current_setting('{name}', true) AS c{i}" for i, name in enumerate(names))
    row = (await session.execute(text(f"SELECT {columns}"))).one()
    return dict(zip(names, row, strict=True))


async def test_the_settings_come_back_exactly_as_given(db: Database) -> None:
    workspace_id = uuid.uuid4()
    async with db.transaction(
        workspace_id=workspace_id,
        public_key=HOSTILE,
        lookup=HOSTILE[::-1],
        api_key_prefix="tb_" + uuid.uuid4().hex[:8],
        durable=False,
        local={"hnsw.ef_search": "77"},
    ) as session:
        seen = await _settings(session, (*TENANT_SETTINGS, "hnsw.ef_search", "synchronous_commit"))
    assert seen["app.workspace_id"] == str(workspace_id)
    assert seen["app.public_key"] == HOSTILE
    assert seen["app.lookup"] == HOSTILE[::-1]
    assert seen["app.user_id"] == ""
    assert seen["hnsw.ef_search"] == "77"
    assert seen["synchronous_commit"] == "off"


async def test_begin_and_the_tenant_are_one_round_trip(one_connection: Database) -> None:
    async with one_connection.transaction() as session:  # opens the pool's one connection
        raw = await (await session.connection()).get_raw_connection()
        driver = raw.driver_connection
    # asyncpg logs the simple-protocol messages (BEGIN, COMMIT), not its prepared statements
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    driver.add_query_logger(log)
    workspace_id = uuid.uuid4()
    try:
        async with one_connection.transaction(workspace_id=workspace_id) as session:
            seen = await _settings(session, ("app.workspace_id",))
    finally:
        driver.remove_query_logger(log)
    assert seen["app.workspace_id"] == str(workspace_id)
    assert len(sent) == 2, sent  # no bare BEGIN before the tenant: the prologue, then COMMIT
    assert sent[0].startswith("BEGIN; SELECT set_config('app.workspace_id'")
    assert str(workspace_id) not in sent[0]  # inlined as hex, never as a quoted literal
    assert sent[1].startswith("COMMIT")


async def test_a_start_the_server_refuses_leaves_nothing_open_in_the_pool(
    one_connection: Database,
) -> None:
    with pytest.raises(DBAPIError, match="0x00"):
        async with one_connection.transaction(lookup="a\x00b"):
            pass  # pragma: no cover - the start fails
    workspace_id = uuid.uuid4()
    async with one_connection.transaction(workspace_id=workspace_id) as session:
        seen = await _settings(session, ("app.workspace_id", "app.lookup"))
    assert seen == {"app.workspace_id": str(workspace_id), "app.lookup": ""}
    async with one_connection.transaction() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1


async def test_a_start_cancelled_after_the_server_began_leaves_nothing_open(
    one_connection: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prologue reached the server (its transaction is open there) and then the request
    was cancelled: the connection is dropped, and the next transaction starts clean."""
    original = asyncpg.Connection.execute
    cancelled = []

    async def execute_then_cancel(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, query, *args, **kwargs)
        if query.startswith("BEGIN;") and not cancelled:
            cancelled.append(self.is_in_transaction())
            raise asyncio.CancelledError
        return result

    monkeypatch.setattr(asyncpg.Connection, "execute", execute_then_cancel)
    with pytest.raises(asyncio.CancelledError):
        async with one_connection.transaction(workspace_id=uuid.uuid4()):
            pass  # pragma: no cover - the start is cancelled
    assert cancelled == [True]  # the server had begun the transaction
    workspace_id = uuid.uuid4()
    async with one_connection.transaction(workspace_id=workspace_id) as session:
        seen = await _settings(session, ("app.workspace_id",))
    assert seen == {"app.workspace_id": str(workspace_id)}


async def test_a_connection_it_cannot_begin_that_way_gets_the_settings_as_a_statement(
    pg: EmbeddedPostgres,
) -> None:
    engine = create_engine(pg.app_url(APP_ROLE), pool_size=1, max_overflow=0)
    database = Database(engine.execution_options(isolation_level="SERIALIZABLE"))
    try:
        workspace_id = uuid.uuid4()
        async with database.transaction(workspace_id=workspace_id, public_key=HOSTILE) as session:
            seen = await _settings(session, ("app.workspace_id", "app.public_key"))
            isolation = (await session.execute(text("SHOW transaction_isolation"))).scalar_one()
        assert seen == {"app.workspace_id": str(workspace_id), "app.public_key": HOSTILE}
        assert isolation == "serializable"
    finally:
        await database.dispose()
