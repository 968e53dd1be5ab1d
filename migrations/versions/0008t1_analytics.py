"""Analytics: a daily rollup per workspace, and how far each workspace's rollup is refreshed.

Revision ID: 0008t1
Revises: 0006a3
Create Date: 2026-12-01

``analytics_daily``: one row per workspace and UTC day with the day's counts (rag/chat/analytics.py
says what each counts). ``analytics_refresh``: when the scheduled refresh last brought a
workspace's rows up to date (its watermark). Two indexes let a day of one workspace be recounted
without scanning the workspace's whole history: messages and conversations by creation time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0008t1"
down_revision: str | None = "0006a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
COUNTS = (
    "conversations",
    "visitor_messages",
    "answers",
    "answers_faq",
    "answers_cache",
    "answers_rag",
    "answers_fallback",
    "answers_handoff",
    "answered",
    "unanswered",
    "feedback_up",
    "feedback_down",
    "leads",
    "handoffs",
    "resolution_counted",
    "resolved",
)


def _workspace() -> sa.Column:
    return sa.Column(
        "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "analytics_daily",
        _workspace(),
        sa.Column("day", sa.Date, nullable=False),
        *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in COUNTS),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.PrimaryKeyConstraint("workspace_id", "day"),
    )
    op.create_table(
        "analytics_refresh",
        _workspace(),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id"),
    )
    op.create_index("ix_messages_workspace_created", "messages", ["workspace_id", "created_at"])
    op.create_index(
        "ix_conversations_workspace_created", "conversations", ["workspace_id", "created_at"]
    )
    rls.enable("analytics_daily")
    rls.enable("analytics_refresh")


def downgrade() -> None:
    op.drop_index("ix_conversations_workspace_created", "conversations")
    op.drop_index("ix_messages_workspace_created", "messages")
    rls.disable("analytics_refresh")
    rls.disable("analytics_daily")
    op.drop_table("analytics_refresh")
    op.drop_table("analytics_daily")
