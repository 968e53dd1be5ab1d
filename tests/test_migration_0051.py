"""0051 on a database set up as production (the migration role no superuser, no BYPASSRLS: the
documents' forced row-level security binds it): a ``ready`` document's ``ingested_at`` is its
``processed_at`` (its chunks are its last processing's); a failed or queued one's stays NULL
(its ``processed_at`` may be a failure's). The downgrade drops the column; the next upgrade
fills it again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from core import migrate
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import _workspace, as_production

DATABASE = "trulybot_migration_0051"
PROCESSED = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)


@pytest.fixture
async def before_0051(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "0050")


async def by_status(cluster: EmbeddedPostgres, column: str) -> dict[str, Any]:
    """``column`` of each document, by its status (one document of each)."""
    async with _superuser(cluster) as conn:
        rows = await conn.execute(text(f"SELECT status, {column} FROM documents"))  # noqa: S608
        return {row[0]: row[1] for row in rows}


async def test_ready_documents_are_dated_and_the_others_are_not(
    before_0051: EmbeddedPostgres,
) -> None:
    cluster = before_0051
    workspace = await _workspace(cluster)
    async with _superuser(cluster) as conn:
        for status, chunks in (("ready", 3), ("failed", 2), ("queued", 0)):
            await conn.execute(
                text(
                    "INSERT INTO documents (id, workspace_id, title, source_type, source, status,"
                    " chunk_count, processed_at) VALUES (:id, :ws, :t, 'upload', :f, :s, :n,"
                    " :at)"
                ),
                {"id": uuid.uuid4(), "ws": workspace, "t": status, "f": f"{status}.md"}
                | {"s": status, "n": chunks, "at": PROCESSED},
            )
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    expected = {"ready": PROCESSED, "failed": None, "queued": None}
    assert await by_status(cluster, "ingested_at") == expected
    await check_forced_and_dropped(cluster, "ingested_at", "0050")
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await by_status(cluster, "ingested_at") == expected


async def check_forced_and_dropped(cluster: EmbeddedPostgres, column: str, down_to: str) -> None:
    """The documents' row-level security is forced again after the upgrade, and the downgrade
    to ``down_to`` drops their ``column``."""
    async with _superuser(cluster) as conn:
        forced = await conn.execute(
            text(
                "SELECT relforcerowsecurity AND relrowsecurity FROM pg_class"
                " WHERE relname = 'documents'"
            )
        )
        assert forced.scalar_one() is True
    await migrate.downgrade(cluster.app_url(OWNER_ROLE), down_to)
    async with _superuser(cluster) as conn:
        gone = await conn.execute(
            text(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'documents' AND column_name = :c"
            ),
            {"c": column},
        )
        assert gone.scalar_one() == 0
