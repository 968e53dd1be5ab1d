"""Pooled connections whose server side went away while they sat idle (PostgreSQL restarted, a
failover, an idle timeout on the way): the ping on checkout finds them dead, the pool replaces
them, and the request that checked one out is served (it answered 500: the ping's handler
raised TypeError instead of SQLAlchemy's disconnect signal). A connection the driver knows is
closed is replaced without a ping; one that dies unnoticed between uses costs one request its
503, and the pool's other connections are recycled with it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import db as core_db
from core.db import Database
from core.direct import Prepared, fetch
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE, client_for, json_logs, make_runtime, make_settings, signup
from tests.rag.test_chat import chat


@pytest.fixture
def ping_every_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pooled connection counts as idle long enough to be pinged on checkout: what
    PING_AFTER_IDLE_SECONDS of waiting gives, without the wait."""
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 0.0)


async def backends(owner_db: Database, name: str) -> set[int]:
    """The server processes of the connections named ``name``, as the superuser sees them."""
    async with owner_db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": name},
        )
        return {int(row[0]) for row in rows}


async def terminate(owner_db: Database, name: str) -> set[int]:
    """What a restart does to the pooled connections named ``name``: their server side ends.
    The server processes that were ended."""
    async with owner_db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = await conn.execute(
            text(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :name"
            ),
            {"name": name},
        )
        return {int(row[0]) for row in rows if row[1]}


@pytest.fixture
async def named_db(pg: EmbeddedPostgres) -> AsyncIterator[tuple[Database, str]]:
    """The app role's pool of two, its connections named so that only they are ended."""
    name = f"tb-dead-{uuid.uuid4().hex[:8]}"
    database = Database.from_url(
        pg.app_url(APP_ROLE), pool_size=2, max_overflow=0, application_name=name
    )
    try:
        yield database, name
    finally:
        await database.dispose()


@pytest.mark.usefixtures("ping_every_checkout")
async def test_requests_after_the_pooled_connections_died_are_served(
    named_db: tuple[Database, str], owner_db: Database, redis_client: Redis
) -> None:
    """An owner's page and a visitor's chat, each on a pooled connection that died idle: both
    answered (not 500, not 503), and the pool is made of new connections afterwards."""
    db, name = named_db
    settings = make_settings(db_pool_size=2, db_max_overflow=0)
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        owner = await signup(client, f"Dead {uuid.uuid4().hex[:6]}")
        assert (await chat(client, owner, "hello")).status_code == 200
        ended = await terminate(owner_db, name)
        assert ended  # the pool held connections, and they are gone
        with json_logs() as logs:
            usage = await client.get(owner.url("/usage"), headers=owner.headers)
            answered = await chat(client, owner, "hello again")
            again = await client.get(owner.url("/usage"), headers=owner.headers)
        for response in (usage, answered, again):
            assert response.status_code == 200, response.text
        assert not [line for line in logs if line.get("level") == "error"], logs
        now = await backends(owner_db, name)
    assert now, "the pool reconnected"
    assert not now & ended


async def driver_connections(db: Database, count: int) -> list[object]:
    """``count`` connections of ``db``'s pool checked out at once (nothing run on them) and
    handed back; their asyncpg connections."""
    held = [await db.engine.connect() for _ in range(count)]
    drivers = [(await conn.get_raw_connection()).driver_connection for conn in held]
    for conn in held:
        await conn.close()
    return drivers


async def until_closed(drivers: list[object]) -> None:
    """Until asyncpg has heard that each of ``drivers`` was closed by the server."""
    async with asyncio.timeout(30):
        while not all(driver.is_closed() for driver in drivers):  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)


async def one_read(db: Database) -> int:
    async with db.transaction() as session:
        return int((await session.execute(text("SELECT 1"))).scalar_one())


async def test_a_connection_known_closed_is_replaced_without_a_ping(
    named_db: tuple[Database, str], owner_db: Database
) -> None:
    """Connections handed back moments ago are not pinged, but one whose end the driver has
    heard of (the server's goodbye after a restart) is not handed out: no request fails."""
    db, name = named_db
    drivers = await driver_connections(db, 2)
    assert len(await terminate(owner_db, name)) == 2
    await until_closed(drivers)
    assert [await one_read(db) for _ in range(3)] == [1, 1, 1]


class HalfOpenPath:
    """A TCP path to the cluster's socket that can go half-open, as a NAT or firewall idle
    timeout (or a failover behind one) leaves a connection: ``sever`` ends the server side,
    the client hears nothing until it next sends, and then its connection is dropped."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.upstreams: list[asyncio.StreamWriter] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def sever(self) -> None:
        for upstream in self.upstreams:
            upstream.transport.abort()
        self.upstreams.clear()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _link(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        server_in, server = await asyncio.open_unix_connection(str(self.socket))
        self.upstreams.append(server)
        for pump in (self._up(client_in, client, server), self._down(server_in, client, server)):
            task = asyncio.ensure_future(pump)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _up(
        self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter, server: object
    ) -> None:
        with _quiet():
            while data := await client_in.read(65536):
                if server not in self.upstreams:  # severed: what the client sends is reset
                    client.transport.abort()
                    return
                server.write(data)  # type: ignore[attr-defined]
        with _quiet():
            server.close()  # type: ignore[attr-defined]

    async def _down(
        self, server_in: asyncio.StreamReader, client: asyncio.StreamWriter, server: object
    ) -> None:
        with _quiet():
            while data := await server_in.read(65536):
                client.write(data)
        if server in self.upstreams:  # the server closed it: the client hears of it
            client.close()
        # Severed: the client is told nothing.


def _quiet() -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(ConnectionError, OSError)


@pytest.fixture
async def half_open(pg: EmbeddedPostgres) -> AsyncIterator[tuple[Database, HalfOpenPath]]:
    """The app role's pool of two over a ``HalfOpenPath``."""
    path = HalfOpenPath(Path(pg.socket_dir) / ".s.PGSQL.5432")
    port = await path.start()
    database = Database.from_url(
        f"postgresql+asyncpg://{APP_ROLE}@127.0.0.1:{port}/{pg.database}?ssl=disable",
        pool_size=2,
        max_overflow=0,
    )
    try:
        yield database, path
    finally:
        await database.dispose()
        await path.close()


@pytest.mark.usefixtures("ping_every_checkout")
async def test_the_ping_finds_a_half_open_connection_and_the_request_goes_on(
    half_open: tuple[Database, HalfOpenPath],
) -> None:
    """The idle timeout's case: the connections look alive to the driver, the ping's first
    packet is dropped, and the transaction runs on a new connection."""
    db, path = half_open
    drivers = await driver_connections(db, 2)
    path.sever()
    assert [await one_read(db) for _ in range(3)] == [1, 1, 1]
    assert all(driver.is_closed() for driver in drivers)  # type: ignore[attr-defined]


async def one_direct_read(db: Database) -> int:
    """``one_read`` on the direct path (``Database.direct``: a chat turn's statements)."""
    async with db.direct() as direct:
        [(one,)] = await fetch(direct, _ONE, {})
        return int(one)


_ONE = Prepared(text("SELECT 1"))


@pytest.mark.parametrize("read", [one_read, one_direct_read], ids=["session", "direct"])
async def test_a_connection_that_died_unnoticed_costs_one_transaction(
    half_open: tuple[Database, HalfOpenPath], read: Callable[[Database], Awaitable[int]]
) -> None:
    """Handed back moments ago (no ping) and half-open: the first transaction's BEGIN finds it
    dead (a 503 ``database_unavailable`` over HTTP) and the pool's other connection, as dead,
    is recycled with it: the next transactions are served. On the direct path too (each dead
    pooled connection cost a transaction in turn there)."""
    db, path = half_open
    await driver_connections(db, 2)
    path.sever()
    with pytest.raises(DBAPIError) as lost:
        await read(db)
    assert lost.value.connection_invalidated
    assert [await read(db) for _ in range(2)] == [1, 1]


async def test_on_the_direct_path_a_statement_that_finds_its_connection_lost_recycles_the_pool(
    half_open: tuple[Database, HalfOpenPath],
) -> None:
    """Lost mid-transaction (a statement's turn, not BEGIN's): the same, the pool's other
    connection, as dead, is not handed to the next transaction."""
    db, path = half_open
    await driver_connections(db, 2)

    async def severed_between_statements() -> None:
        async with db.direct() as direct:
            await fetch(direct, _ONE, {})
            path.sever()
            await fetch(direct, _ONE, {})

    with pytest.raises(DBAPIError) as lost:
        await severed_between_statements()
    assert lost.value.connection_invalidated
    assert [await one_direct_read(db) for _ in range(2)] == [1, 1]
