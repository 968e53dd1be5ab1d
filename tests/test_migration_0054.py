"""0054 on a database set up as production (the migration role bound by the documents' forced
row-level security): a ``ready`` document's warning (``error``/``error_code``) is copied to
``ingested_notice``/``ingested_notice_code``; a ready one without a warning, and a failed one
(its ``error`` is its failure), stay NULL. The downgrade drops the columns; the next upgrade
fills them again."""

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

DATABASE = "trulybot_migration_0054"
NOTICE = "Page 2 of 3 could not be read and was left out"


@pytest.fixture
async def before_0054(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "0053")


async def test_a_ready_document_s_warning_is_its_answering_version_s_notice(
    before_0054: EmbeddedPostgres,
) -> None:
    cluster = before_0054
    workspace = await _workspace(cluster)
    rows = {
        "ready": (NOTICE, "pages_unreadable"),
        "failed": ("The PDF could not be read.", "parse_failed"),
        "queued": (None, None),
    }
    async with _superuser(cluster) as conn:
        for status, (error, code) in rows.items():
            await conn.execute(
                text(
                    "INSERT INTO documents (id, workspace_id, title, source_type, source, status,"
                    " chunk_count, error, error_code) VALUES (:id, :ws, :t, 'upload', :f, :s, 3,"
                    " :e, :c)"
                ),
                {"id": uuid.uuid4(), "ws": workspace, "t": status, "f": f"{status}.pdf"}
                | {"s": status, "e": error, "c": code},
            )
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    notices = {"ready": NOTICE, "failed": None, "queued": None}
    codes = {"ready": "pages_unreadable", "failed": None, "queued": None}
    assert await by_status(cluster, "ingested_notice") == notices
    assert await by_status(cluster, "ingested_notice_code") == codes
    await check_forced_and_dropped(cluster, "ingested_notice", "0053")
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await by_status(cluster, "ingested_notice_code") == codes
