"""PgBouncer (Debian's, transaction mode) in front of the test cluster, for the whole session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from core.db import Database
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE, TEST_DATA_DIR
from tests.topology import PgBouncer, pgbouncer_binary, socket_target, start_pgbouncer

SERVER_CONNECTIONS = 2
"""The pooler's server connections per (database, role): fewer than the app's clients, so
transactions of different clients (and tenants) take turns on the same server connections."""


@pytest.fixture(scope="session")
def bouncer(pg: EmbeddedPostgres) -> Iterator[PgBouncer]:
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed: `make system-deps` (apt-get install pgbouncer)")
    started = start_pgbouncer(
        TEST_DATA_DIR / "pgbouncer",
        {pg.database: socket_target(pg.socket_dir, pg.database)},
        pool_size=SERVER_CONNECTIONS,
    )
    yield started
    started.stop()


@pytest.fixture(scope="session")
async def pooled_db(bouncer: PgBouncer, pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """The app role through PgBouncer, as DATABASE_POOLER=pgbouncer configures it; more client
    connections than the pooler has server connections."""
    database = Database.from_url(
        bouncer.url(APP_ROLE, pg.database), pooler="pgbouncer", pool_size=6, max_overflow=4
    )
    yield database
    await database.dispose()
