"""A migrated database of a test's own in the suite's cluster, with no live workspace, for the
tests of a scheduled sweep over every live workspace (the analytics rollup, the requeue of
queued documents). In the suite's database such a sweep also reads, and acts on, the thousands
of workspaces and documents the tests before it left there: in a full run a test of a few
tenths of a second took 15-30 s (a read and a job per workspace; each stale document of
another test ingested again), and none of that is what the test is about."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import text

from core import migrate
from core.db import Database
from core.embedded import EmbeddedPostgres, ensure_database
from tests.conftest import APP_ROLE


async def migrated(pg: EmbeddedPostgres, name: str, *, recreate: bool = False) -> EmbeddedPostgres:
    """The database ``name`` of ``pg``'s cluster (created, or dropped first with ``recreate``),
    migrated to this release's head by the superuser, the app role granted."""
    await ensure_database(pg.socket_dir, name, recreate=recreate)
    cluster = EmbeddedPostgres(server=pg.server, socket_dir=pg.socket_dir, database=name)
    await migrate.upgrade(cluster.owner_url(), app_role=APP_ROLE)
    return cluster


APART = "trulybot_apart"
"""The database of the modules whose sweeps must not go through the thousands of workspaces the
suite's other tests leave in its database (``module_databases``, ``without_live_workspaces``):
one for them all, so a run migrates one more database, not one per module; each module starts
with the workspaces of the modules before it deleted."""

SERVED_APP = APART
"""Where tests start an app as one `trulybot serve` without Redis starts it: its start resumes
the queued documents of every live workspace, a transaction each, and its scheduler sweeps
every live workspace while it runs."""


_MADE_THIS_SESSION: set[str] = set()
"""The databases ``without_live_workspaces`` made again in this process."""


async def without_live_workspaces(pg: EmbeddedPostgres, name: str) -> EmbeddedPostgres:
    """``migrated``, and the workspaces the modules before left there deleted (the sweeps over
    every live workspace leave deleted ones alone). Dropped and made again at its first use in
    a session: what a failed run left (a source left due, a lease held) is not met by the next
    run's tests, which count what is due in the whole database."""
    cluster = await migrated(pg, name, recreate=name not in _MADE_THIS_SESSION)
    _MADE_THIS_SESSION.add(name)
    owner = Database.from_url(cluster.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with owner.transaction() as session:
            await session.execute(
                text("UPDATE workspaces SET deleted_at = now() WHERE deleted_at IS NULL")
            )
    finally:
        await owner.dispose()
    return cluster


@asynccontextmanager
async def own_database(pg: EmbeddedPostgres, name: str) -> AsyncIterator[tuple[Database, Database]]:
    """(the app's, the owner's) ``Database`` on the database ``name`` of ``pg``'s cluster,
    migrated; made again at its first use in a session, then the workspaces of the modules
    before are deleted, which the sweeps leave alone (``without_live_workspaces``)."""
    cluster = await without_live_workspaces(pg, name)
    owner = Database.from_url(cluster.owner_url(), pool_size=1, max_overflow=2)
    app = Database.from_url(cluster.app_url(APP_ROLE), pool_size=2, max_overflow=4)
    try:
        yield app, owner
    finally:
        await app.dispose()
        await owner.dispose()


def module_databases(name: str = APART) -> tuple[Any, Any, Any]:
    """Fixtures ``own_databases``, ``db`` and ``owner_db`` of a module whose tests run on the
    database ``name`` of their own (``own_database``), the module's runtimes, clients and
    owners with them: assign them in the module,
    ``own_databases, db, owner_db = module_databases()``."""

    @pytest.fixture(scope="module", name="own_databases")
    async def databases(pg: EmbeddedPostgres) -> AsyncIterator[tuple[Database, Database]]:
        async with own_database(pg, name) as both:
            yield both

    @pytest.fixture(scope="module", name="db")
    def app_db(own_databases: tuple[Database, Database]) -> Database:
        return own_databases[0]

    @pytest.fixture(scope="module", name="owner_db")
    def owner_db(own_databases: tuple[Database, Database]) -> Database:
        return own_databases[1]

    return databases, app_db, owner_db
