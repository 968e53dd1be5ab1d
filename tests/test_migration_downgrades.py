"""Downgrades on a database set up as production is: the migration role owns the tables but is
no superuser and has no BYPASSRLS, so forced row-level security binds its data statements too
(the embedded cluster's superuser passes where the operator's role would not)."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import text

from api.start_checks import check_schema
from core import migrate
from core.db import Database
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import _workspace, as_production

DATABASE = "trulybot_downgrades"


@pytest.fixture
async def at_head(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "heads")


async def test_downgrade_below_0026_keeps_a_cancelled_delivery_as_failed(
    at_head: EmbeddedPostgres,
) -> None:
    """A delivery is ``cancelled`` when its owner removed the webhook URL while it was pending.
    0026's downgrade rewrote those to ``failed`` with no workspace set, so the policy showed it
    no row, and putting back the old status check then failed the whole downgrade."""
    workspace = await _workspace(at_head)
    delivery = uuid.uuid4()
    async with _superuser(at_head) as conn:
        await conn.execute(
            text(
                "INSERT INTO webhook_deliveries (id, workspace_id, event, url, payload, status,"
                " attempts, next_attempt_at, created_at) VALUES (:id, :ws,"
                " 'conversation.handoff', 'https://hooks.example', '{}', 'cancelled', 1,"
                " now(), now())"
            ),
            {"id": delivery, "ws": workspace},
        )
    await migrate.downgrade(at_head.app_url(OWNER_ROLE), "0025")
    async with _superuser(at_head) as conn:
        status = (
            await conn.execute(
                text("SELECT status FROM webhook_deliveries WHERE id = :id"), {"id": delivery}
            )
        ).scalar_one()
        forced = (
            await conn.execute(
                text(
                    "SELECT relforcerowsecurity FROM pg_class WHERE relname = 'webhook_deliveries'"
                )
            )
        ).scalar_one()
    assert status == "failed"
    assert forced is True


async def _index(cluster: EmbeddedPostgres) -> str:
    async with _superuser(cluster) as conn:
        return str(
            (
                await conn.execute(
                    text(
                        "SELECT indexdef FROM pg_indexes"
                        " WHERE indexname = 'ix_conversations_workspace_created'"
                    )
                )
            ).scalar_one()
        )


async def test_the_conversations_index_is_rebuilt_concurrently_both_ways(
    at_head: EmbeddedPostgres,
) -> None:
    """0030 builds the export's ``(workspace_id, created_at, id)`` index outside a transaction
    (0028 held a SHARE lock on ``conversations``, new chats waiting, for the whole build); an
    INVALID index left by a build the lock timeout interrupted does not stop the next try."""
    assert (await _index(at_head)).endswith("(workspace_id, created_at, id)")
    await migrate.downgrade(at_head.app_url(OWNER_ROLE), "0029")
    assert (await _index(at_head)).endswith("(workspace_id, created_at)")
    async with _superuser(at_head) as conn:  # what an interrupted CONCURRENTLY build leaves
        await conn.execute(
            text("CREATE INDEX ix_conversations_workspace_created_next ON conversations (id)")
        )
        await conn.execute(
            text(
                "UPDATE pg_index SET indisvalid = false WHERE indexrelid ="
                " 'ix_conversations_workspace_created_next'::regclass"
            )
        )
    await migrate.upgrade(at_head.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert (await _index(at_head)).endswith("(workspace_id, created_at, id)")
    async with _superuser(at_head) as conn:
        names = (
            await conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'conversations'")
            )
        ).scalars()
        assert "ix_conversations_workspace_created_next" not in set(names)


async def _reads_password_hash(cluster: EmbeddedPostgres) -> tuple[bool, bool]:
    """(may the app role read ``users.password_hash``, may it read ``users.email``)."""
    async with _superuser(cluster) as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT has_column_privilege(:role, 'users', 'password_hash', 'SELECT'),"
                    " has_column_privilege(:role, 'users', 'email', 'SELECT')"
                ),
                {"role": APP_ROLE},
            )
        ).one()
    return bool(row[0]), bool(row[1])


async def test_the_password_hash_column_is_given_back_below_0038_and_closed_again(
    at_head: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    """0038 closes ``users.password_hash`` to the app role (the grant after it); the previous
    release selects the column with every account, so a rollback below 0038 gives it back,
    and migrating up closes it again. The previous release's own `trulybot migrate` grants
    the table whole on a newer schema: this release's start check says so in a warning."""
    assert await _reads_password_hash(at_head) == (False, True)
    await migrate.downgrade(at_head.app_url(OWNER_ROLE), "0037")
    assert await _reads_password_hash(at_head) == (True, True)
    await migrate.upgrade(at_head.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await _reads_password_hash(at_head) == (False, True)

    async with _superuser(at_head) as conn:  # what the previous release's grant does
        await conn.execute(text(f"GRANT SELECT, UPDATE ON users TO {APP_ROLE}"))
    app = Database.from_url(at_head.app_url(APP_ROLE), pool_size=1, max_overflow=0)
    try:
        with caplog.at_level(logging.WARNING, logger="trulybot.start"):
            await check_schema(app)
            assert "may read users.password_hash" in caplog.text
            await migrate.upgrade(at_head.app_url(OWNER_ROLE), app_role=APP_ROLE)
            caplog.clear()
            await check_schema(app)
            assert "password_hash" not in caplog.text
    finally:
        await app.dispose()


async def test_below_0042_a_lead_without_email_stops_the_downgrade_and_none_lets_it(
    at_head: EmbeddedPostgres,
) -> None:
    """0042 lets a lead have a phone number and no email; its downgrade puts ``NOT NULL``
    back, which such a lead breaks: it refuses with a sentence saying so (read through
    ``owner_searches`` as the migration role, under forced row-level security) and nothing
    changes; once the lead is deleted, the downgrade runs."""
    workspace, lead = await _workspace(at_head), uuid.uuid4()
    async with _superuser(at_head) as conn:
        await conn.execute(
            text(
                "INSERT INTO leads (id, workspace_id, phone, source, status, created_at,"
                " updated_at) VALUES (:id, :ws, '+91 98765 43210', 'chat', 'new', now(), now())"
            ),
            {"id": lead, "ws": workspace},
        )
    with pytest.raises(Exception, match="leads without an email address exist"):
        await migrate.downgrade(at_head.app_url(OWNER_ROLE), "0041")
    async with _superuser(at_head) as conn:
        await conn.execute(text("DELETE FROM leads WHERE id = :id"), {"id": lead})
    await migrate.downgrade(at_head.app_url(OWNER_ROLE), "0041")
    async with _superuser(at_head) as conn:
        nullable = (
            await conn.execute(
                text(
                    "SELECT is_nullable FROM information_schema.columns"
                    " WHERE table_name = 'leads' AND column_name = 'email'"
                )
            )
        ).scalar_one()
    assert nullable == "NO"
    await migrate.upgrade(at_head.app_url(OWNER_ROLE), app_role=APP_ROLE)
