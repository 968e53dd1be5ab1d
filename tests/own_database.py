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


SERVED_APP = "trulybot_served_app"
"""The database of the tests that start an app as one `trulybot serve` without Redis starts it
(``without_live_workspaces``): its start resumes the queued documents of every live workspace,
a transaction each, and its scheduler sweeps every live workspace while it runs."""


async def without_live_workspaces(pg: EmbeddedPostgres, name: str) -> EmbeddedPostgres:
    """``migrated``, and the workspaces its earlier runs left there deleted (the sweeps over
    every live workspace leave deleted ones alone)."""
    cluster = await migrated(pg, name)
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
    migrated; the workspaces of its earlier runs are deleted, which the sweeps leave alone. Kept
    between runs, not recreated: DROP DATABASE waits for a checkpoint, seconds late in a run."""
    cluster = await without_live_workspaces(pg, name)
    owner = Database.from_url(cluster.owner_url(), pool_size=1, max_overflow=2)
    app = Database.from_url(cluster.app_url(APP_ROLE), pool_size=2, max_overflow=4)
    try:
        yield app, owner
    finally:
        await app.dispose()
        await owner.dispose()


def module_databases(name: str) -> tuple[Any, Any, Any]:
    """Fixtures ``own_databases``, ``db`` and ``owner_db`` of a module whose tests run on the
    database ``name`` of their own (``own_database``), the module's runtimes, clients and
    owners with them: assign them in the module,
    ``own_databases, db, owner_db = module_databases("trulybot_x")``."""

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
