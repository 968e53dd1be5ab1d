"""The conversations a queued mail quotes, so erasing their visitor takes it out of the outbox.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07

The summary of handoff requests held past ``NOTIFICATION_HANDOFF_MAILS_PER_HOUR`` quotes the
first words of the latest few visitors who asked for a person. Like a "new lead" mail quoting a
lead (``about_leads``, migration 0019), it sits in ``mail_outbox`` until sent and 7 days after;
``about_conversations`` names the conversations it quotes, and ``lifecycle.erasure`` deletes the
mails about the conversations it erases. NULL for existing rows and every other mail: additive,
nothing to backfill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "mail_outbox",
        sa.Column("about_conversations", postgresql.ARRAY(postgresql.UUID()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("mail_outbox", "about_conversations")
