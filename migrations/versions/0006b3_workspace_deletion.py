"""Workspace deletion: a deleted workspace is invisible at once and purged after a grace period.

Revision ID: 0006b3
Revises: 0006b2
Create Date: 2026-12-01

``deleted_at`` set: every lookup of the app (members, API keys, widget key) treats the workspace
as gone; ``purge_after``: when the purge job may delete every row of every tenant table (the
rows go with the workspace row through the foreign keys' ON DELETE CASCADE). The workspaces
policy gains one narrow clause: while ``app.lookup`` is the purge sweep's value, the app role sees
workspaces that are deleted and due for purge (the scheduled job lists them), nothing else.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import rls

revision: str = "0006b3"
down_revision: str | None = "0006b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURGE_LOOKUP = "workspaces:purge"
VISIBLE = (
    "id = tb_current_workspace()"
    " OR public_key = tb_setting('app.public_key')"
    " OR id IN (SELECT m.workspace_id FROM memberships m"
    "           WHERE m.user_id = tb_current_user())"
)


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.add_column("workspaces", sa.Column("purge_after", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_workspaces_purge_after",
        "workspaces",
        ["purge_after"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
    )
    rls.enable(
        "workspaces",
        using=(
            f"{VISIBLE} OR (tb_setting('app.lookup') = '{PURGE_LOOKUP}' AND deleted_at IS NOT NULL)"
        ),
        check="id = tb_current_workspace()",
    )


def downgrade() -> None:
    rls.enable("workspaces", using=VISIBLE, check="id = tb_current_workspace()")
    op.drop_index("ix_workspaces_purge_after", table_name="workspaces")
    op.drop_column("workspaces", "purge_after")
    op.drop_column("workspaces", "deleted_at")
