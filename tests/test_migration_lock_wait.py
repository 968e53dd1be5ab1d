"""Two migrators at once (`trulybot migrate` twice, a deploy's migration job beside a replica
starting with MIGRATION_DATABASE_URL, a first start with WORKERS=2): the second waits for the
first's advisory lock. It waited inside the statement asking for it, holding a snapshot, and a
revision of the first building an index CONCURRENTLY waits for every older snapshot to go: the
two deadlocked, PostgreSQL cancelled one, and a migrator exited 1 (an operator's finding). Now
the lock is tried, with no transaction open between tries, so the holder's index is built and
the second migrates once the lock is free."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from core import migrate
from core.db import create_engine
from core.embedded import EmbeddedPostgres, ensure_database
from tests.conftest import APP_ROLE
from tests.test_operator_stop import MIGRATION_LOCK, _one

DATABASE = "trulybot_migration_lock_wait"
GUARD = 120  # seconds: a guard against hanging, never an assertion on time


async def _asked(url: str, holder: int) -> bool:
    """Whether a session of the database other than ``holder`` has asked for the lock (its
    last statement names it: waiting in it, or between tries)."""
    found = await _one(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid NOT IN (pg_backend_pid(), :holder) AND query ILIKE :asked",
        holder=holder,
        asked=f"%advisory_lock({MIGRATION_LOCK})%",
    )
    return bool(found)


async def test_a_migrator_waiting_for_the_lock_lets_its_holder_build_an_index_concurrently(
    pg: EmbeddedPostgres,
) -> None:
    await ensure_database(pg.socket_dir, DATABASE, recreate=True)
    url = EmbeddedPostgres(
        server=pg.server, socket_dir=pg.socket_dir, database=DATABASE
    ).owner_url()
    engine = create_engine(url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    try:
        async with engine.connect() as raw:
            holder = await raw.execution_options(isolation_level="AUTOCOMMIT")
            pid = int(await holder.scalar(text("SELECT pg_backend_pid()")) or 0)
            await holder.execute(text("CREATE TABLE lock_wait_probe (a int)"))
            await holder.execute(text(f"SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            waiting = asyncio.create_task(migrate.upgrade(url, app_role=APP_ROLE))
            async with asyncio.timeout(GUARD):
                while not waiting.done() and not await _asked(url, pid):
                    await asyncio.sleep(0.02)
                # What the first migrator's revision does while the second waits.
                await holder.execute(text("CREATE INDEX CONCURRENTLY ON lock_wait_probe (a)"))
            await holder.execute(text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        async with asyncio.timeout(GUARD):
            assert await waiting == ()  # migrated: nothing newer than this code
        async with engine.connect() as conn:
            heads = await conn.run_sync(migrate._current_heads)
        assert tuple(heads) == tuple(sorted(migrate.code_heads()))
    finally:
        await engine.dispose()
