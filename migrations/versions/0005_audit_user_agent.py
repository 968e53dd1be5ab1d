"""Audit log: the actor's user agent, next to their IP and request id.

Revision ID: 0005a
Revises: 0004w
Create Date: 2026-12-03

Entries written before this revision have no user agent (NULL). Adding a nullable column
rewrites no row, so the append-only trigger of 0002a is not involved.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005a"
down_revision: str | None = "0004w"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("user_agent", sa.String(512), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_log", "user_agent")
