"""Workspaces: when the widget was first seen on a site (the getting-started checklist's
"snippet installed"), and from which origin.

Revision ID: 0006d
Revises: 0006a3
Create Date: 2026-12-01

Set once, by the first widget request whose Origin is a site the widget may answer (not the
dashboard's own host). Nullable columns: no row is rewritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006d"
down_revision: str | None = "0006a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "workspaces",
        sa.Column("widget_installed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("workspaces", sa.Column("widget_installed_origin", sa.String(300), nullable=True))


def downgrade() -> None:
    op.drop_column("workspaces", "widget_installed_origin")
    op.drop_column("workspaces", "widget_installed_at")
