"""What a queued mail is about, so an erasure or a purge can take it out of the outbox.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

A "new lead" notification quotes the visitor (their email, name, phone, message) and sat in
``mail_outbox`` for up to 7 days after it was sent, or until SMTP took it, whatever an erasure of
that visitor or a purge of the workspace had done: the outbox had no workspace to find it by.
``about_workspace`` names the workspace a notification is about and ``about_leads`` the leads it
quotes (not ``workspace_id``: the outbox is not tenant data, has no row-level security, and is a
reference table for sharding, docs/scaling.md). ``lifecycle.erasure`` deletes the mails about the
erased leads, ``lifecycle.deletion.purge_workspace`` every mail about the workspace.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("mail_outbox", sa.Column("about_workspace", postgresql.UUID(), nullable=True))
    op.add_column(
        "mail_outbox",
        sa.Column("about_leads", postgresql.ARRAY(postgresql.UUID()), nullable=True),
    )
    op.execute(
        "CREATE INDEX ix_mail_outbox_about ON mail_outbox (about_workspace)"
        " WHERE about_workspace IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_mail_outbox_about")
    op.drop_column("mail_outbox", "about_leads")
    op.drop_column("mail_outbox", "about_workspace")
