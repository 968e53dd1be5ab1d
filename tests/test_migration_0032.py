"""0032 on a database set up as production is (the migration role no superuser, no BYPASSRLS):
the submissions naming a conversation retention already deleted are unlinked and marked, the
others kept, and from then on deleting a conversation sets its submissions' link NULL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from core import migrate
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import _workspace, as_production

DATABASE = "trulybot_migration_0032"


@pytest.fixture
async def before_0032(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "0031")


async def _submission(conn, workspace: uuid.UUID, conversation: uuid.UUID) -> uuid.UUID:  # type: ignore[no-untyped-def]
    lead, submission = uuid.uuid4(), uuid.uuid4()
    email = f"v-{lead.hex[:8]}@example.com"
    await conn.execute(
        text(
            "INSERT INTO leads (id, workspace_id, email, source, status) VALUES (:id, :ws, :e,"
            " 'widget', 'new')"
        ),
        {"id": lead, "ws": workspace, "e": email},
    )
    await conn.execute(
        text(
            "INSERT INTO lead_submissions (id, workspace_id, lead_id, email, conversation_id)"
            " VALUES (:id, :ws, :lead, :e, :c)"
        ),
        {"id": submission, "ws": workspace, "lead": lead, "e": email, "c": conversation},
    )
    return submission


async def _links(cluster: EmbeddedPostgres) -> dict[uuid.UUID, tuple[uuid.UUID | None, bool]]:
    async with _superuser(cluster) as conn:
        rows = await conn.execute(
            text(
                "SELECT id, conversation_id, conversation_deleted_at IS NOT NULL"
                " FROM lead_submissions"
            )
        )
        return {row[0]: (row[1], row[2]) for row in rows}


async def test_dangling_submissions_are_unlinked_and_deletes_set_null_afterwards(
    before_0032: EmbeddedPostgres,
) -> None:
    cluster = before_0032
    workspace = await _workspace(cluster)
    kept, gone = uuid.uuid4(), uuid.uuid4()  # a conversation that exists, one retention took
    async with _superuser(cluster) as conn:
        await conn.execute(
            text("INSERT INTO conversations (id, workspace_id, session_id) VALUES (:id, :ws, 's')"),
            {"id": kept, "ws": workspace},
        )
        linked = await _submission(conn, workspace, kept)
        dangling = await _submission(conn, workspace, gone)
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await _links(cluster) == {linked: (kept, False), dangling: (None, True)}
    async with _superuser(cluster) as conn:
        valid = (
            await conn.execute(
                text(
                    "SELECT convalidated FROM pg_constraint"
                    " WHERE conname = 'fk_lead_submissions_conversation_id_conversations'"
                )
            )
        ).scalar_one()
        assert valid is True
        await conn.execute(text("DELETE FROM conversations WHERE id = :id"), {"id": kept})
    assert (await _links(cluster))[linked] == (None, False)

    # Down and up again: the key, the columns and the indexes go and come back.
    await migrate.downgrade(cluster.app_url(OWNER_ROLE), "0031")
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert set(await _links(cluster)) == {linked, dangling}
