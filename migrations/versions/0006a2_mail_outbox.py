"""Outgoing mail: a transactional outbox.

Revision ID: 0006a2
Revises: 0007
Create Date: 2026-12-01

A message is written in the transaction of the action that causes it (a signup, an invitation)
and sent by a background job after that transaction commits; a rolled-back action sends nothing.
Not tenant data (no workspace column): like ``users``, it is read only by the mail job. The job
claims due rows with ``locked_until`` (so several workers never send one message twice while
they live), retries with backoff, and gives up after the configured number of attempts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0006a2"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text, nullable=True),
        sa.Column("template", sa.String(80), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=NOW),
        sa.Column("next_attempt_at", TS, nullable=False, server_default=NOW),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("failed_at", TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.execute(
        "CREATE INDEX ix_mail_outbox_due ON mail_outbox (next_attempt_at)"
        " WHERE sent_at IS NULL AND failed_at IS NULL"
    )


def downgrade() -> None:
    op.drop_table("mail_outbox")
