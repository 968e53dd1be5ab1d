"""New leads past the hourly cap on "New lead" mails: held for one summary mail.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04

A visitor rotating addresses could send a workspace's members one "New lead" mail per form,
without limit. ``NOTIFICATION_LEAD_MAILS_PER_HOUR`` caps the immediate mails per workspace and
clock hour; a ``lead.created`` event past the cap gets ``held_until`` (the end of its hour)
instead of its own mail, and the notification sweep sends one summary per member once that hour
is over, setting ``summarized_at``. NULL for existing rows and every other event: additive,
nothing to backfill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "notification_events",
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "notification_events",
        sa.Column("summarized_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute(
        "CREATE INDEX ix_notification_events_held ON notification_events (held_until)"
        " WHERE held_until IS NOT NULL AND summarized_at IS NULL"
    )
    op.execute(
        "CREATE INDEX ix_notification_events_kind_created"
        " ON notification_events (workspace_id, kind, created_at)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_notification_events_kind_created")
    op.execute("DROP INDEX IF EXISTS ix_notification_events_held")
    op.drop_column("notification_events", "summarized_at")
    op.drop_column("notification_events", "held_until")
