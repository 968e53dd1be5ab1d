"""Lead submissions: every form a visitor sends through the widget, kept as history.

Revision ID: 0004w
Revises: 0003
Create Date: 2026-12-02

The public widget key must never read or replace a lead: a visitor's submission becomes a row
here (what they sent, when, from which of their conversations) and only fills a lead's empty
fields. Owners read the history through the leads API and the CSV export.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0004w"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        "lead_submissions",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("lead_id", UUID, sa.ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("source", sa.String(40), nullable=False, server_default="widget"),
        sa.Column("conversation_id", UUID, nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
    )
    op.create_index(
        "ix_lead_submissions_lead",
        "lead_submissions",
        ["workspace_id", "lead_id", "created_at", "id"],
    )
    rls.enable("lead_submissions")


def downgrade() -> None:
    rls.disable("lead_submissions")
    op.drop_table("lead_submissions")
