"""Row-level security on ``users``: a transaction reads only the accounts it has a reason to.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-05

``users`` had none (0001: "accounts belong to no workspace; sign-in reads them by email"), so
any statement without a tenant context (a repository that forgot one, an injected one) read
every account's address and password hash.

ENABLE + FORCE, and four policies (permissive: a row is visible when one of them admits it):

- ``tenant_isolation`` (every command): the signed-in account's own row (``app.user_id``):
  its page, a password change, a verification, the account's deletion;
- ``users_by_email`` (reads): the account of one address, by ``app.lookup =
  'users:email:<address>'`` (sign-in, sign-up finding the address taken, a reset requested,
  an invitation to that address), compared as the unique index compares (``lower``);
- ``users_sign_up`` (inserts): a new account of the address the lookup names (sign-up, an
  invitation accepted by a new account);
- ``users_members`` (reads): in a workspace's context (``app.workspace_id``), the accounts of
  its members (the member list, the notifications' recipients).

The address and the members come from two stable functions (``tb_lookup_email``,
``tb_workspace_members``) so that every arm of the policies is an index condition (the
``lower(email)`` unique index, the primary key): a sign-in's lookup stays an index scan, though
the statement's own ``lower(email) = ...`` (``lower`` is not leakproof) cannot go below the
policy.

The policies only: no row is rewritten (ACCESS EXCLUSIVE on ``users`` for a moment).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICIES = ("tenant_isolation", "users_by_email", "users_sign_up", "users_members")


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_lookup_email() RETURNS text
        LANGUAGE sql STABLE PARALLEL SAFE AS
        $$ SELECT CASE WHEN starts_with(current_setting('app.lookup', true), 'users:email:')
                  THEN lower(substr(current_setting('app.lookup', true), 13)) END $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_workspace_members() RETURNS uuid[]
        LANGUAGE sql STABLE PARALLEL SAFE AS
        $$ SELECT coalesce(array_agg(m.user_id), '{}') FROM memberships m
           WHERE m.workspace_id = tb_current_workspace() $$
        """
    )
    op.execute("ALTER TABLE users ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE users FORCE ROW LEVEL SECURITY")
    for name in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {name} ON users")
    op.execute(
        "CREATE POLICY tenant_isolation ON users"
        " USING (id = tb_current_user()) WITH CHECK (id = tb_current_user())"
    )
    op.execute(
        "CREATE POLICY users_by_email ON users FOR SELECT USING (lower(email) = tb_lookup_email())"
    )
    op.execute(
        "CREATE POLICY users_sign_up ON users FOR INSERT"
        " WITH CHECK (lower(email) = tb_lookup_email())"
    )
    op.execute(
        "CREATE POLICY users_members ON users FOR SELECT USING (id = ANY (tb_workspace_members()))"
    )


def downgrade() -> None:
    for name in POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {name} ON users")
    op.execute("ALTER TABLE users NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE users DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS tb_workspace_members()")
    op.execute("DROP FUNCTION IF EXISTS tb_lookup_email()")
