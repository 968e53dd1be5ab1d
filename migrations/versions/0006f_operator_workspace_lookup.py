"""Operator lookups of workspaces that work under forced row-level security.

Revision ID: 0006f
Revises: 0006a1
Create Date: 2026-12-04

`trulybot ingest/eval/reindex --workspace SLUG` and `reindex` over every workspace read the
``workspaces`` table without a tenant. Production runs both roles NOSUPERUSER NOBYPASSRLS
(docs/deploy.md) and ``workspaces`` is under FORCE row-level security, which binds its owner
too: before this revision such a lookup found nothing ("no workspace with slug ...", or a
reindex of zero workspaces). It worked only on the embedded cluster, whose owner is a superuser.

- ``tb_workspace_id_by_slug(slug)``: a SECURITY DEFINER function that returns one workspace's
  id and nothing else, executable by the app role (core/migrate.py grants it), so an operator
  tool that names one workspace needs only DATABASE_URL;
- the policy ``owner_reads``: the table's owner (the migration role) may SELECT every row of
  ``workspaces`` (no other table), which the function runs as and which lists the workspaces
  for `trulybot reindex` over all of them (MIGRATION_DATABASE_URL).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006f"
down_revision: str | None = "0006a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLUG_LOOKUP = "tb_workspace_id_by_slug(text)"


def upgrade() -> None:
    # TO the table's owner, whoever ran the migrations that created it.
    op.execute(
        """
        DO $$ BEGIN
            EXECUTE format(
                'CREATE POLICY owner_reads ON workspaces FOR SELECT TO %I USING (true)',
                (SELECT pg_get_userbyid(relowner) FROM pg_class
                  WHERE oid = 'public.workspaces'::regclass));
        END $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_workspace_id_by_slug(wanted text) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
        $$ SELECT id FROM workspaces WHERE slug = wanted $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {SLUG_LOOKUP} FROM PUBLIC")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SLUG_LOOKUP}")
    op.execute("DROP POLICY IF EXISTS owner_reads ON workspaces")
