"""Workspace exports: one row per requested export zip (lifecycle/exports.py).

Revision ID: 0006b2
Revises: 0006b1
Create Date: 2026-12-01

The zip itself lives under DATA_DIR/exports/ with a random file name; the row says whose it is,
how far the job got and when it expires. RLS: the workspace's own rows, plus every row while
``app.lookup`` is the sweep's value, so the scheduled job that deletes expired exports can list
them across workspaces (it deletes nothing else).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0006b2"
down_revision: str | None = "0006b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
SWEEP_LOOKUP = "workspace_exports:sweep"


def upgrade() -> None:
    op.create_table(
        "workspace_exports",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("requested_by", UUID, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("file_name", sa.String(100), nullable=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'ready', 'failed', 'expired')", name="status"
        ),
    )
    op.create_index(
        "ix_workspace_exports_workspace", "workspace_exports", ["workspace_id", "created_at"]
    )
    op.create_index("ix_workspace_exports_expires", "workspace_exports", ["expires_at"])
    rls.enable(
        "workspace_exports",
        using=f"workspace_id = tb_current_workspace() OR tb_setting('app.lookup') = '{SWEEP_LOOKUP}'",
    )


def downgrade() -> None:
    rls.disable("workspace_exports")
    op.drop_table("workspace_exports")
