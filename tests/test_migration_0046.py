"""0046: the ``billing:deferred-charges`` lookup (a FOR SELECT policy on ``billing_events``) and
the partial index reconcile lists deferred recurring charges by. On a database set up as
production: the index is built outside a transaction, and the downgrade drops both, the upgrade
puts them back."""

from __future__ import annotations

import io
import re

import pytest
from alembic import command
from sqlalchemy import text

from core import migrate
from core.embedded import EmbeddedPostgres
from core.migrate import alembic_config
from tests.conftest import APP_ROLE
from tests.operator_scratch import OWNER_ROLE, _superuser
from tests.rag.test_question_keys_migration import as_production
from tests.test_migration_0042 import _in_transactions

DATABASE = "trulybot_deferred_charges"
POLICY, INDEX = "billing_events_deferred_charges", "ix_billing_events_deferred_charges"


def test_the_index_is_built_outside_a_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://trulybot@localhost/trulybot")
    config = alembic_config()
    config.output_buffer = io.StringIO()
    command.upgrade(config, "0045:0046", sql=True)
    sql = config.output_buffer.getvalue()
    assert re.search(rf"CREATE INDEX CONCURRENTLY\s+{INDEX}", sql)
    assert [s for s in _in_transactions(sql) if "INDEX" in s] == [], sql


async def _present(cluster: EmbeddedPostgres) -> tuple[bool, bool]:
    async with _superuser(cluster) as conn:
        policy = await conn.execute(
            text("SELECT count(*) FROM pg_policy WHERE polname = :p"), {"p": POLICY}
        )
        index = await conn.execute(
            text("SELECT count(*) FROM pg_indexes WHERE indexname = :i"), {"i": INDEX}
        )
        return policy.scalar_one() == 1, index.scalar_one() == 1


async def test_the_downgrade_drops_the_lookup_and_the_upgrade_restores_it(
    pg: EmbeddedPostgres,
) -> None:
    cluster = await as_production(pg, DATABASE, "heads")
    assert await _present(cluster) == (True, True)
    await migrate.downgrade(cluster.app_url(OWNER_ROLE), "0045")
    assert await _present(cluster) == (False, False)
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await _present(cluster) == (True, True)
