"""``workspaces.webhook_set_by`` and ``webhook_paused_at``: who pointed the webhook where it
points, and whether it waits for an owner.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-05

Removing a member revoked their API keys, but the webhook URL they had set (as an admin) kept
receiving every event: leads with visitors' addresses, handoff requests. The URL's setter is
recorded when it is set (an API key's maker for a key); when that person is removed, leaves,
or is made a member, the webhook pauses (no event is sent) until an owner confirms it or sets
another URL. A URL set before this revision has no recorded setter and is never paused.

Two nullable columns, no default, no backfill: a catalog change only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "workspaces", sa.Column("webhook_set_by", postgresql.UUID(as_uuid=True), nullable=True)
    )
    op.add_column(
        "workspaces",
        sa.Column("webhook_paused_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("workspaces", "webhook_paused_at")
    op.drop_column("workspaces", "webhook_set_by")
