"""Row-level security proven at the database, connected as the app role."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import Database
from tests.conftest import ROOT, Owner

TENANT_TABLES_SQL = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
              AND a.attname = 'workspace_id' AND NOT a.attisdropped)
ORDER BY c.relname
"""


async def test_every_table_with_workspace_id_has_rls_enabled_and_forced(owner_db: Database) -> None:
    async with owner_db.transaction() as session:
        rows = (await session.execute(text(TENANT_TABLES_SQL))).all()
    assert len(rows) >= 5
    missing = [name for name, enabled, forced in rows if not (enabled and forced)]
    assert missing == []


async def test_app_role_is_not_superuser_and_owns_nothing(db: Database) -> None:
    async with db.transaction() as session:
        role = (
            await session.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
        owned = (
            await session.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
                )
            )
        ).scalar_one()
    assert tuple(role) == (False, False)
    assert owned == 0


async def test_no_workspace_set_reads_zero_rows_everywhere(
    client: httpx.AsyncClient, owner: Owner, db: Database, owner_db: Database
) -> None:
    await client.post(owner.url("/leads"), json={"email": "x@example.com"}, headers=owner.headers)
    await client.post(owner.url("/api-keys"), json={"name": "k"}, headers=owner.headers)
    async with owner_db.transaction() as session:
        tables = [r[0] for r in (await session.execute(text(TENANT_TABLES_SQL))).all()]
        tables.append("workspaces")
    async with db.transaction() as session:
        for table in tables:
            query = text(f"SELECT count(*) FROM {table}")  # noqa: S608 - names from the catalog
            count = (await session.execute(query)).scalar_one()
            assert count == 0, table


async def test_with_a_set_b_rows_are_invisible_and_writes_with_b_id_fail(
    client: httpx.AsyncClient, owner: Owner, other: Owner, db: Database
) -> None:
    await client.post(
        other.url("/leads"), json={"email": "secret@example.com"}, headers=other.headers
    )
    await client.post(
        owner.url("/leads"), json={"email": "mine@example.com"}, headers=owner.headers
    )
    async with db.transaction(workspace_id=owner.workspace_id) as session:
        seen = (
            await session.execute(
                text("SELECT count(*) FROM leads WHERE workspace_id = :b"),
                {"b": other.workspace_id},
            )
        ).scalar_one()
        assert seen == 0
        workspaces = (await session.execute(text("SELECT id FROM workspaces"))).scalars().all()
        assert [str(w) for w in workspaces] == [owner.workspace_id]
        updated = await session.execute(
            text("UPDATE leads SET status = 'lost' WHERE workspace_id = :b"),
            {"b": other.workspace_id},
        )
        assert updated.rowcount == 0  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(workspace_id=owner.workspace_id) as session:
            await session.execute(
                text(
                    "INSERT INTO leads (id, workspace_id, email)"
                    " VALUES (:id, :b, 'planted@example.com')"
                ),
                {"id": uuid.uuid4(), "b": other.workspace_id},
            )
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.transaction(workspace_id=owner.workspace_id) as session:
            await session.execute(
                text("UPDATE leads SET workspace_id = :b"), {"b": other.workspace_id}
            )


async def test_tenant_context_does_not_leak_across_pooled_transactions(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    await client.post(
        owner.url("/leads"), json={"email": "pooled@example.com"}, headers=owner.headers
    )
    for _ in range(5):
        async with db.transaction(workspace_id=owner.workspace_id) as session:
            assert (await session.execute(text("SELECT count(*) FROM leads"))).scalar_one() >= 1
        async with db.transaction() as session:
            assert (await session.execute(text("SELECT count(*) FROM leads"))).scalar_one() == 0


async def test_every_fixed_lookup_that_opens_a_table_is_documented(owner_db: Database) -> None:
    """docs/architecture.md is where an operator or a reviewer learns which ``app.lookup``
    values open which tables: it named three of the seven fixed values a policy knows
    (``sources:due`` opens every workspace's sources for writes too) and none of the owner
    role's policies but one."""
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT tablename, policyname, coalesce(qual, '') || ' ' ||"
                " coalesce(with_check, '') FROM pg_policies WHERE schemaname = 'public'"
            )
        )
        policies = rows.all()
    fixed = {
        value
        for _table, _name, clauses in policies
        for value in re.findall(r"tb_setting\('app\.lookup'::text\) = '([^']+)'", clauses)
    }
    assert "sources:due" in fixed  # the pattern reads the catalog's form
    names = {name for _table, name, _clauses in policies}
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert sorted(v for v in fixed if f"`{v}`" not in doc) == []
    assert sorted(n for n in names - {"tenant_isolation"} if f"`{n}`" not in doc) == []
