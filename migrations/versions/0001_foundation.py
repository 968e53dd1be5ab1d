"""Foundation: workspaces, users, memberships, API keys, leads, usage counters, with RLS.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
NOW = sa.text("now()")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=None if nullable else NOW,
    )


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    rls.create_functions()

    op.create_table(
        "workspaces",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(80), nullable=False),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("persona", sa.Text, nullable=False, server_default=""),
        sa.Column("widget_config", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("knowledge_version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("webhook_secret", sa.String(128), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("slug", name="uq_workspaces_slug"),
        sa.UniqueConstraint("public_key", name="uq_workspaces_public_key"),
    )

    op.create_table(
        "users",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.execute("CREATE UNIQUE INDEX uq_users_email_lower ON users (lower(email))")

    op.create_table(
        "memberships",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", UUID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("workspace_id", "user_id", name="uq_memberships_workspace_user"),
        sa.CheckConstraint("role IN ('owner', 'admin', 'member')", name="role"),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column(
            "created_by", UUID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        _ts("created_at"),
        _ts("last_used_at", nullable=True),
        _ts("revoked_at", nullable=True),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_index("ix_api_keys_workspace_id", "api_keys", ["workspace_id", "created_at"])

    op.create_table(
        "leads",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("source", sa.String(40), nullable=False, server_default="api"),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("conversation_id", UUID, nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "status IN ('new', 'contacted', 'qualified', 'won', 'lost')", name="status"
        ),
    )
    op.execute("CREATE UNIQUE INDEX uq_leads_workspace_email ON leads (workspace_id, lower(email))")
    op.create_index("ix_leads_workspace_created", "leads", ["workspace_id", "created_at", "id"])

    op.create_table(
        "usage_counters",
        sa.Column(
            "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("conversations", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("messages", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("documents", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("chunks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("llm_tokens", sa.BigInteger, nullable=False, server_default="0"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("workspace_id", "month", name="pk_usage_counters"),
        sa.CheckConstraint("month ~ '^[0-9]{4}-[0-9]{2}$'", name="month_format"),
    )

    op.create_table(
        "usage_daily",
        sa.Column(
            "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("llm_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("workspace_id", "day", name="pk_usage_daily"),
    )

    # Row-level security. A workspace is visible when it is the current one, when it is being
    # resolved by its public widget key, or when the current user is a member of it.
    rls.enable(
        "workspaces",
        using=(
            "id = tb_current_workspace()"
            " OR public_key = tb_setting('app.public_key')"
            " OR id IN (SELECT m.workspace_id FROM memberships m"
            "           WHERE m.user_id = tb_current_user())"
        ),
        check="id = tb_current_workspace()",
    )
    rls.enable(
        "memberships",
        using="workspace_id = tb_current_workspace() OR user_id = tb_current_user()",
    )
    rls.enable(
        "api_keys",
        using="workspace_id = tb_current_workspace() OR prefix = tb_setting('app.api_key_prefix')",
        check="workspace_id = tb_current_workspace() OR prefix = tb_setting('app.api_key_prefix')",
    )
    for table in ("leads", "usage_counters", "usage_daily"):
        rls.enable(table)


def downgrade() -> None:
    for table in ("usage_daily", "usage_counters", "leads", "api_keys", "memberships", "users"):
        op.drop_table(table)
    op.drop_table("workspaces")
    op.execute("DROP FUNCTION IF EXISTS tb_setting(text)")
    op.execute("DROP FUNCTION IF EXISTS tb_current_user()")
    op.execute("DROP FUNCTION IF EXISTS tb_current_workspace()")
