"""Audit log: an append-only record of owner actions per workspace.

Revision ID: 0002a
Revises: 0001
Create Date: 2026-11-23

Append-only is enforced in the database, for every role: the app role is granted UPDATE and
DELETE on all tables by ``trulybot migrate`` (core.migrate.grant_app_role), so a REVOKE here would
be undone; instead a trigger raises on any UPDATE or DELETE of a row. The one exception is a
DELETE cascading from the deletion of the workspace itself (the trigger then runs nested inside
the foreign key's trigger, pg_trigger_depth() > 1): removing a tenant removes its log. Actor ids
carry no foreign keys on purpose: ON DELETE SET NULL would be an UPDATE, and the log must outlive
users and API keys. Retention purges are an operator task: as the owner, inside the purge's
transaction, ``NO FORCE ROW LEVEL SECURITY`` (forced RLS binds the owner too) and ``DISABLE TRIGGER
audit_log_append_only``, both put back before the commit (docs/deploy.md has the script).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0002a"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("actor_user_id", UUID, nullable=True),
        sa.Column("actor_api_key_id", UUID, nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(40), nullable=True),
        sa.Column("target_id", sa.String(200), nullable=True),
        sa.Column("details", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
    )
    op.create_index(
        "ix_audit_log_workspace_created", "audit_log", ["workspace_id", "created_at", "id"]
    )
    rls.enable("audit_log")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION tb_audit_log_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
                RETURN OLD;  -- cascading from the deletion of the workspace
            END IF;
            RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION tb_audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS tb_audit_log_append_only()")
    rls.disable("audit_log")
    op.drop_table("audit_log")
