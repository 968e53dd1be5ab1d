"""Row-level-security helpers shared by the revisions.

Every tenant table gets ENABLE + FORCE and one policy. Policies read transaction-local settings
the app sets with ``set_config(..., true)`` at the start of every transaction (core/db.py
``TENANT_SETTINGS``): ``app.workspace_id`` (the current workspace: most policies key on it alone),
and the narrow lookup keys some policies also accept: ``app.user_id`` (a user's own
memberships and workspaces), ``app.api_key_prefix`` (resolving an API key),
``app.public_key`` (resolving a widget key) and ``app.lookup`` (billing: the order or payment a
webhook names, or the reconcile run's listing of pending orders).
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
