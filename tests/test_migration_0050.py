"""0050: ``sales_routed`` on the rollup's tables. On a database set up as production (the
tables' owner is no superuser, so row-level security's FORCE applies to it): the days counted
before the revision keep their figures, with no sales lead routed (old answers carry no
``routed`` flag: docs/analytics.md, "Answers recorded before the routed mark"); the downgrade
counts the routed answers unanswered again (as the release below 0050 does) and drops the
columns; the next upgrade adds them again."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text

from core import migrate
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE
from tests.rag.test_question_keys_migration import _workspace, as_production
from tests.test_operator_commands import OWNER_ROLE, _superuser

DATABASE = "trulybot_sales_routed"
DAY = date(2026, 11, 30)
TABLES = ("analytics_daily", "analytics_daily_purged")


async def _rows(cluster: EmbeddedPostgres, ws: uuid.UUID) -> dict[str, tuple[object, ...]]:
    async with _superuser(cluster) as conn:
        found = {}
        for table in TABLES:
            routed = await conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.columns"
                    " WHERE table_name = :t AND column_name = 'sales_routed'"
                ),
                {"t": table},
            )
            column = ", sales_routed" if routed.scalar_one() else ""
            row = await conn.execute(
                text(
                    f"SELECT answered, unanswered, leads{column} FROM {table}"  # noqa: S608
                    " WHERE workspace_id = :ws AND day = :day"
                ),
                {"ws": ws, "day": DAY},
            )
            found[table] = tuple(row.one())
        return found


async def _forced_on_both(cluster: EmbeddedPostgres) -> None:
    """Row-level security is enabled and forced on both tables."""
    async with _superuser(cluster) as conn:
        forced = await conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relname IN"
                " ('analytics_daily', 'analytics_daily_purged')"
                " AND relforcerowsecurity AND relrowsecurity"
            )
        )
        assert sorted(r[0] for r in forced) == list(TABLES)


async def _insert(cluster: EmbeddedPostgres, ws: uuid.UUID, columns: str, values: str) -> None:
    """One row of ``DAY`` in both tables."""
    async with _superuser(cluster) as conn:
        for table in TABLES:
            await conn.execute(
                text(
                    f"INSERT INTO {table} (workspace_id, day, {columns})"  # noqa: S608
                    f" VALUES (:ws, :day, {values})"
                ),
                {"ws": ws, "day": DAY},
            )


async def test_the_counted_days_keep_their_figures_through_upgrade_and_downgrade(
    pg: EmbeddedPostgres,
) -> None:
    cluster = await as_production(pg, DATABASE, "0049")
    ws = await _workspace(cluster)
    await _insert(cluster, ws, "answered, unanswered, leads", "3, 2, 1")
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    upgraded = dict.fromkeys(TABLES, (3, 2, 1, 0))
    assert await _rows(cluster, ws) == upgraded
    await _forced_on_both(cluster)
    await migrate.downgrade(cluster.app_url(OWNER_ROLE), "0049")
    assert await _rows(cluster, ws) == dict.fromkeys(TABLES, (3, 2, 1))
    await migrate.upgrade(cluster.app_url(OWNER_ROLE), app_role=APP_ROLE)
    assert await _rows(cluster, ws) == upgraded


async def test_the_downgrade_counts_the_routed_leads_unanswered_again(
    pg: EmbeddedPostgres,
) -> None:
    """Below 0050 the release counts a sales lead's fallback as unanswered, and it has no
    ``sales_routed`` to read. A downgrade that only dropped the column lost those answers from
    every figure: the days' rows kept ``unanswered`` without them (a day nothing touches again
    is never recounted), and ``analytics_daily_purged``'s, what deleted conversations counted,
    is never recounted at all, so the old release's answer rate left them out for good."""
    cluster = await as_production(pg, DATABASE, "heads")
    ws = await _workspace(cluster)
    await _insert(cluster, ws, "answered, unanswered, leads, sales_routed", "3, 2, 1, 4")
    await migrate.downgrade(cluster.app_url(OWNER_ROLE), "0049")
    # The 4 routed answers are unanswered again, as the release below 0050 counts them.
    assert await _rows(cluster, ws) == dict.fromkeys(TABLES, (3, 6, 1))
    await _forced_on_both(cluster)
