"""The invitation a queued mail carries, so withdrawing the invitation takes its mail back.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04

An invitation withdrawn while its mail still waited in ``mail_outbox`` (the relay failing, for
up to hours) was still sent: the invitee got a link that answers "This invitation was
withdrawn", and a mistyped address learnt the workspace's name. ``about_invitation`` names the
invitation an ``invitation`` mail carries; withdrawing it (``invitations.revoke``, a new
invitation to the same address, the removal of the member who sent it) deletes the mail when it
has not gone out yet. NULL for existing rows and every other mail: additive, nothing to
backfill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("mail_outbox", sa.Column("about_invitation", postgresql.UUID(), nullable=True))
    op.execute(
        "CREATE INDEX ix_mail_outbox_invitation ON mail_outbox (about_invitation)"
        " WHERE about_invitation IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_mail_outbox_invitation")
    op.drop_column("mail_outbox", "about_invitation")
