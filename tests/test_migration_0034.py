"""0034 during a rollout: a mail the previous release's mail job is sending when the policy is
applied is marked sent by that job, not left claimed for this release to send again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from core import mail_repository as outbox
from core import migrate
from core.db import Database
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import as_production

DATABASE = "trulybot_migration_0034"


@pytest.fixture
async def before_0034(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "0033")


async def _migration_waits(cluster: EmbeddedPostgres) -> bool:
    """Whether 0034 is waiting for the mail in flight (its poll's ``pg_sleep`` runs)."""
    async with _superuser(cluster) as conn:
        found = await conn.execute(
            text(
                "SELECT 1 FROM pg_stat_activity WHERE datname = :db AND state = 'active'"
                " AND query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()"
            ),
            {"db": DATABASE},
        )
        return found.first() is not None


async def test_a_mail_in_flight_at_the_migration_is_marked_sent_and_not_sent_again(
    before_0034: EmbeddedPostgres,
) -> None:
    cluster = before_0034
    app = Database.from_url(cluster.app_url(APP_ROLE), pool_size=2, max_overflow=0)
    try:
        # The previous release queues a password reset and its mail job claims it (it sets no
        # app.lookup), then hands it to the relay: no transaction open...
        async with app.transaction() as session:
            mail_id = await outbox.insert(
                session,
                recipient="someone@example.com",
                subject="Reset your password",
                text_body="https://bot.example.com/reset?token=secret",
                html_body=None,
                template="password_reset",
            )
        now = datetime.now(UTC)
        async with app.transaction() as session:
            claimed = await outbox.claim_next(session, now=now, until=now + timedelta(minutes=5))
        assert claimed is not None
        assert claimed.id == mail_id

        # ...while 0034 is applied: it waits for the send to be recorded.
        migrating = asyncio.create_task(
            migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE, revision="0034")
        )
        while not migrating.done() and not await _migration_waits(cluster):
            await asyncio.sleep(0.05)
        async with app.transaction() as session:
            marked = await outbox.mark_sent(
                session, mail_id, claim=claimed.claim, sent_at=datetime.now(UTC)
            )
        await migrating
        # Before, the policy came first and hid the row from the mark: it stayed claimed.
        assert marked

        # This release's mail job, once that claim would have run out, has nothing to send.
        later = now + timedelta(hours=1)
        async with app.transaction(lookup=outbox.OUTBOX_SENDER) as session:
            again = await outbox.claim_next(session, now=later, until=later + timedelta(minutes=5))
        assert again is None
    finally:
        await app.dispose()
