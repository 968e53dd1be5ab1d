"""Owner notifications by email: per-member preferences, the events, the digest's items.

Revision ID: 0011n1
Revises: 0010
Create Date: 2026-12-01

``notification_preferences``: one row per member, workspace and event kind the member changed
(mode ``immediate`` | ``daily_digest`` | ``off``); a kind without a row has the role's default
(workspaces/notifications.py). ``notification_events``: what happened (a new lead, a handoff, a
payment, a quota threshold, a failed document), written in the transaction of the effect and
deduplicated on ``(workspace_id, kind, dedupe_key)`` (a payment id, a lead id, a quota's month):
the idempotent record behind "once". ``dispatched_at`` is set when the dispatch job turned it
into mails and digest items, in one transaction. ``notification_digest_items``: an event waiting
for one member's daily digest; ``sent_at`` is set in the transaction that writes the digest mail.
``mail_outbox.headers``: extra headers of a message (List-Unsubscribe).

RLS: tenant policy; plus narrow lookup clauses for the scheduled sweeps: while ``app.lookup`` is
``notifications:pending`` the app role sees the events of every workspace (to find work left by
a lost kick), while it is ``notifications:digest`` the digest items of every workspace (to find
the members with a digest due); the work itself then runs in each workspace's own context.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from migrations import rls

revision: str = "0011n1"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = PG_UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")
PENDING_LOOKUP = "notifications:pending"
DIGEST_LOOKUP = "notifications:digest"


def _ws() -> sa.Column:
    return sa.Column(
        "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )


def _user() -> sa.Column:
    return sa.Column("user_id", UUID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        _ws(),
        _user(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("workspace_id", "user_id", "kind"),
        sa.CheckConstraint("mode IN ('immediate', 'daily_digest', 'off')", name="mode"),
    )
    op.create_table(
        "notification_events",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("data", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.Column("dispatched_at", TS, nullable=True),
        sa.UniqueConstraint("workspace_id", "kind", "dedupe_key", name="uq_notification_events"),
    )
    op.execute(
        "CREATE INDEX ix_notification_events_pending ON notification_events (created_at)"
        " WHERE dispatched_at IS NULL"
    )
    op.create_table(
        "notification_digest_items",
        _ws(),
        _user(),
        sa.Column(
            "event_id",
            UUID,
            sa.ForeignKey("notification_events.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.Column("sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("workspace_id", "user_id", "event_id"),
    )
    op.execute(
        "CREATE INDEX ix_notification_digest_items_due ON notification_digest_items"
        " (workspace_id, user_id) WHERE sent_at IS NULL"
    )
    op.add_column("mail_outbox", sa.Column("headers", JSONB, nullable=True))

    tenant = f"workspace_id = {rls.CURRENT_WORKSPACE}"
    rls.enable("notification_preferences")
    pending = f"{tenant} OR tb_setting('app.lookup') = '{PENDING_LOOKUP}'"
    rls.enable("notification_events", using=pending, check=tenant)
    digest = f"{tenant} OR tb_setting('app.lookup') = '{DIGEST_LOOKUP}'"
    rls.enable("notification_digest_items", using=digest, check=tenant)


def downgrade() -> None:
    op.drop_column("mail_outbox", "headers")
    op.drop_table("notification_digest_items")
    op.drop_table("notification_events")
    op.drop_table("notification_preferences")
