"""Row-level-security helpers shared by the revisions.

Every tenant table gets ENABLE + FORCE and a policy keyed on ``app.workspace_id``, which the app
sets per transaction with ``set_config(..., true)``.
"""

from __future__ import annotations

from alembic import op

CURRENT_WORKSPACE = "tb_current_workspace()"


def create_functions() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_current_workspace() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE AS
        $$ SELECT NULLIF(current_setting('app.workspace_id', true), '')::uuid $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_current_user() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE AS
        $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_setting(name text) RETURNS text
        LANGUAGE sql STABLE PARALLEL SAFE AS
        $$ SELECT NULLIF(current_setting(name, true), '') $$
        """
    )


def enable(table: str, *, using: str | None = None, check: str | None = None) -> None:
    """ENABLE + FORCE row-level security on ``table`` with one policy for every command."""
    using = using or f"workspace_id = {CURRENT_WORKSPACE}"
    check = check or f"workspace_id = {CURRENT_WORKSPACE}"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check})")


def disable(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
