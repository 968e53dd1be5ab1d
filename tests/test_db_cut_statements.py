"""A statement cut off on the client's side (a visitor who leaves mid-stream, the request's time
limit: an anyio cancel scope, which cancels the rollback too, so the pooled connection is closed)
is cancelled on the server as well. Before, the server ran it on to its statement timeout (15
s by default): a backend, its locks and its CPU held for a visitor who was gone, under the load
that made the statement slow in the first place."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest
from sqlalchemy import text

from core.db import Database
from core.direct import Prepared, fetch
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE

_PID = Prepared(text("SELECT pg_backend_pid()"))
_SLEEP = Prepared(text("SELECT pg_sleep(600)"))


@pytest.fixture
async def patient(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """A pool of one whose statements may run ten minutes: only a cancel ends one sooner."""
    database = Database.from_url(
        pg.app_url(APP_ROLE),
        pool_size=1,
        max_overflow=0,
        statement_timeout_ms=600_000,
        application_name=f"tb-cut-{uuid.uuid4().hex[:8]}",
    )
    yield database
    await database.dispose()


async def _sleeping(owner_db: Database, pid: int) -> bool:
    async with owner_db.engine.connect() as conn:
        state = await conn.scalar(
            text("SELECT state FROM pg_stat_activity WHERE pid = :p AND query LIKE '%pg_sleep%'"),
            {"p": pid},
        )
    return state == "active"


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(60):  # a liveness bound, far above the milliseconds it takes
        while not await check():
            await asyncio.sleep(0.02)


async def _cut_off_while_sleeping(
    owner_db: Database, run: Callable[[list[int]], Awaitable[None]]
) -> int:
    """``run`` a transaction that notes its backend's pid and sleeps; cut it off by a cancel
    scope once the server runs the sleep. The pid."""
    pid: list[int] = []

    async def cancel_when_sleeping() -> None:
        await _until(lambda: asyncio.sleep(0, bool(pid)))
        await _until(lambda: _sleeping(owner_db, pid[0]))
        scope.cancel()

    with anyio.CancelScope() as scope:
        watcher = asyncio.ensure_future(cancel_when_sleeping())
        try:
            await run(pid)
        finally:
            await watcher
    assert scope.cancelled_caught
    return pid[0]


async def _gone(owner_db: Database, pid: int) -> bool:
    return not await _sleeping(owner_db, pid)


async def test_a_direct_statement_cut_off_is_cancelled_on_the_server(
    patient: Database, owner_db: Database
) -> None:
    async def sleep(pid: list[int]) -> None:
        async with patient.direct() as direct:
            [(mine,)] = await fetch(direct, _PID, {})
            pid.append(mine)
            await fetch(direct, _SLEEP, {})

    pid = await _cut_off_while_sleeping(owner_db, sleep)
    assert patient.engine.pool.checkedout() == 0
    await _until(lambda: _gone(owner_db, pid))


async def test_a_session_statement_cut_off_is_cancelled_on_the_server(
    patient: Database, owner_db: Database
) -> None:
    async def sleep(pid: list[int]) -> None:
        async with patient.transaction() as session:
            pid.append(int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()))
            await session.execute(text("SELECT pg_sleep(600)"))

    pid = await _cut_off_while_sleeping(owner_db, sleep)
    assert patient.engine.pool.checkedout() == 0
    await _until(lambda: _gone(owner_db, pid))
