"""0052 on a database set up as production (the migration role no superuser, no BYPASSRLS: the
documents' forced row-level security binds it): a ``ready`` document's ``ingested_hash`` is its
``content_hash`` (its chunks are its stored content's); a failed or queued one's stays NULL (its
stored content may be a replacement). The downgrade drops the column; the next upgrade fills it
again."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from core import migrate
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import _workspace, as_production
from tests.test_migration_0051 import by_status, check_forced_and_dropped

DATABASE = "trulybot_migration_0052"


@pytest.fixture
async def before_0052(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "0051")


async def test_ready_documents_get_their_content_hash_and_the_others_do_not(
    before_0052: EmbeddedPostgres,
) -> None:
    cluster = before_0052
    workspace = await _workspace(cluster)
    hashes = {status: uuid.uuid4().hex * 2 for status in ("ready", "failed", "queued")}
    async with _superuser(cluster) as conn:
        for status, chunks in (("ready", 3), ("failed", 2), ("queued", 0)):
            await conn.execute(
                text(
                    "INSERT INTO documents (id, workspace_id, title, source_type, source, status,"
                    " chunk_count, content_hash) VALUES (:id, :ws, :t, 'upload', :f, :s, :n,"
                    " :h)"
                ),
                {"id": uuid.uuid4(), "ws": workspace, "t": status, "f": f"{status}.md"}
                | {"s": status, "n": chunks, "h": hashes[status]},
            )
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    expected = {"ready": hashes["ready"], "failed": None, "queued": None}
    assert await by_status(cluster, "ingested_hash") == expected
    await check_forced_and_dropped(cluster, "ingested_hash", "0051")
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await by_status(cluster, "ingested_hash") == expected
