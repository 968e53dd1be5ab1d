"""Answer pipeline: FAQs, conversations, messages, feedback, unanswered questions, webhook outbox.

Revision ID: 0002p
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0002p"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
NOW = sa.text("now()")
DIMENSIONS = 384  # `trulybot reindex` alters the column when the embedding model changes


def _ws() -> sa.Column:
    return sa.Column(
        "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=None if nullable else NOW,
    )


def upgrade() -> None:
    op.create_table(
        "faqs",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("alt_questions", pg.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_faqs_workspace", "faqs", ["workspace_id", "created_at"])

    # One row per way of asking (the question and each alternative), for exact and semantic match.
    op.create_table(
        "faq_questions",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column("faq_id", UUID, sa.ForeignKey("faqs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("normalized", sa.Text, nullable=False),
        sa.Column("embedding", Vector(DIMENSIONS), nullable=True),
    )
    op.create_index("ix_faq_questions_lookup", "faq_questions", ["workspace_id", "normalized"])
    op.create_index("ix_faq_questions_faq", "faq_questions", ["faq_id"])

    op.create_table(
        "conversations",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column("session_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False, server_default="widget"),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("lead_id", UUID, sa.ForeignKey("leads.id", ondelete="SET NULL"), nullable=True),
        sa.Column("message_count", sa.Integer, nullable=False, server_default="0"),
        _ts("created_at"),
        _ts("last_message_at"),
        sa.CheckConstraint("status IN ('open', 'handoff', 'closed')", name="status"),
    )
    op.create_index(
        "ix_conversations_workspace_last", "conversations", ["workspace_id", "last_message_at"]
    )
    op.create_index("ix_conversations_session", "conversations", ["workspace_id", "session_id"])

    op.create_table(
        "messages",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column(
            "conversation_id",
            UUID,
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("intent", sa.String(16), nullable=True),
        sa.Column("source", sa.String(16), nullable=True),
        sa.Column("citations", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Integer, nullable=True),
        sa.Column("timings", pg.JSONB, nullable=True),
        _ts("created_at"),
        sa.CheckConstraint("role IN ('user', 'assistant')", name="role"),
    )
    op.create_index(
        "ix_messages_conversation", "messages", ["workspace_id", "conversation_id", "created_at"]
    )

    op.create_table(
        "message_feedback",
        sa.Column(
            "message_id", UUID, sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
        ),
        _ws(),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        _ts("created_at"),
        sa.CheckConstraint("rating IN ('up', 'down')", name="rating"),
    )
    op.create_index(
        "ix_message_feedback_workspace", "message_feedback", ["workspace_id", "created_at"]
    )

    op.create_table(
        "unanswered_questions",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("normalized", sa.Text, nullable=False),
        sa.Column("embedding", Vector(DIMENSIONS), nullable=True),
        sa.Column(
            "conversation_id",
            UUID,
            sa.ForeignKey("conversations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "message_id", UUID, sa.ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("resolved", sa.Boolean, nullable=False, server_default=sa.false()),
        _ts("created_at"),
    )
    op.create_index(
        "ix_unanswered_workspace_created", "unanswered_questions", ["workspace_id", "created_at"]
    )

    # Outgoing webhooks to the owner (handoff...), delivered with retries and backoff.
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", UUID, primary_key=True),
        _ws(),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        _ts("next_attempt_at"),
        _ts("created_at"),
        _ts("delivered_at", nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_webhook_deliveries_workspace", "webhook_deliveries", ["workspace_id", "created_at"]
    )

    op.create_foreign_key(
        "fk_leads_conversation_id_conversations",
        "leads",
        "conversations",
        ["conversation_id"],
        ["id"],
        ondelete="SET NULL",
    )

    for table in (
        "faqs",
        "faq_questions",
        "conversations",
        "messages",
        "message_feedback",
        "unanswered_questions",
        "webhook_deliveries",
    ):
        rls.enable(table)


def downgrade() -> None:
    op.drop_constraint("fk_leads_conversation_id_conversations", "leads", type_="foreignkey")
    for table in (
        "webhook_deliveries",
        "unanswered_questions",
        "message_feedback",
        "messages",
        "conversations",
        "faq_questions",
        "faqs",
    ):
        op.drop_table(table)
