"""0053 on a database set up as production (the migration role no superuser, no BYPASSRLS):
``billing_events.body_sha256`` is added NULL for the rows stored before (their raw bodies were
never kept), which the unique index lets repeat; the app role stores a webhook's hash and a
second row with the same hash is refused. The downgrade drops the column and its index."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core import migrate
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import as_production

DATABASE = "trulybot_migration_0053"


@pytest.fixture
async def before_0053(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    return await as_production(pg, DATABASE, "0052")


_OLD_ROW = (
    "INSERT INTO billing_events (id, event_id, event_type, source, outcome, payload, received_at)"
    " VALUES (:id, :e, 'payment.captured', 'webhook', 'ignored', '{}', now())"
)
_NEW_ROW = (
    "INSERT INTO billing_events (id, event_id, event_type, source, outcome, payload, received_at,"
    " body_sha256) VALUES (:id, :e, 'payment.captured', 'webhook', 'ignored', '{}', now(), :h)"
)


async def _insert(cluster: EmbeddedPostgres, event_id: str, digest: str | None = None) -> None:
    """A stored webhook's row (with ``body_sha256`` once 0053 added it)."""
    async with _superuser(cluster) as conn:
        await conn.execute(
            text(_NEW_ROW if digest else _OLD_ROW),
            {"id": uuid.uuid4(), "e": event_id} | ({"h": digest} if digest else {}),
        )


async def _column_count(cluster: EmbeddedPostgres) -> int:
    async with _superuser(cluster) as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'billing_events' AND column_name = 'body_sha256'"
            )
        )
        return int(found.scalar_one())


async def test_old_rows_get_no_hash_and_a_hash_is_stored_once(
    before_0053: EmbeddedPostgres,
) -> None:
    cluster = before_0053
    for n in range(2):
        await _insert(cluster, f"evt_old{n}")
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    async with _superuser(cluster) as conn:
        hashes = await conn.execute(text("SELECT body_sha256 FROM billing_events"))
        assert [h for (h,) in hashes] == [None, None]
    digest = "ab" * 32
    await _insert(cluster, "evt_new1", digest)
    with pytest.raises(IntegrityError):
        await _insert(cluster, "evt_new2", digest)
    await migrate.downgrade(cluster.app_url(OWNER_ROLE), "0052")
    assert await _column_count(cluster) == 0
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await _column_count(cluster) == 1
