"""Conversation retention: a per-workspace setting, and the sweep's view of every workspace.

Revision ID: 0006b4
Revises: 0006b3
Create Date: 2026-12-01

``conversation_retention_days``: NULL keeps the plan's default (workspaces/plans.py), a number
of days shortens it. The workspaces policy gains a second narrow lookup clause: while
``app.lookup`` is the retention sweep's value, the app role sees the workspaces that are not
deleted (the daily job reads their plan and setting, then works in each one's own context).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import rls

revision: str = "0006b4"
down_revision: str | None = "0006b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURGE_LOOKUP = "workspaces:purge"
SWEEP_LOOKUP = "workspaces:sweep"
VISIBLE = (
    "id = tb_current_workspace()"
    " OR public_key = tb_setting('app.public_key')"
    " OR id IN (SELECT m.workspace_id FROM memberships m"
    "           WHERE m.user_id = tb_current_user())"
)
WITH_PURGE = (
    f"{VISIBLE} OR (tb_setting('app.lookup') = '{PURGE_LOOKUP}' AND deleted_at IS NOT NULL)"
)


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("conversation_retention_days", sa.Integer))
    op.create_check_constraint(
        "conversation_retention_days",
        "workspaces",
        "conversation_retention_days IS NULL OR conversation_retention_days > 0",
    )
    rls.enable(
        "workspaces",
        using=(
            f"{WITH_PURGE} OR (tb_setting('app.lookup') = '{SWEEP_LOOKUP}' AND deleted_at IS NULL)"
        ),
        check="id = tb_current_workspace()",
    )


def downgrade() -> None:
    rls.enable("workspaces", using=WITH_PURGE, check="id = tb_current_workspace()")
    op.drop_constraint("ck_workspaces_conversation_retention_days", "workspaces")
    op.drop_column("workspaces", "conversation_retention_days")
