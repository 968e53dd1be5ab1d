"""What analytics tells apart: answers the output guard refused, and who rated an answer.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

A reviewer's findings on the figures owners see (docs/analytics.md):

* An answer the output guard withheld (the visitor got its refusal) was stored with source
  ``rag`` and counted as answered, as retrieval, and towards resolution. It is now stored as
  ``refused``; ``analytics_daily.answers_refused`` counts them per day. The refusals stored
  before are relabelled: assistant messages of source ``rag`` that cite nothing and say the
  guard's refusal word for word (rag.chat.guard.DEFAULT_REFUSAL, the same since the guard
  came; before 483e25a a model's answer citing nothing was stored as ``rag`` too, so the text
  tells them apart).
* A rating by the team (``POST /workspaces/{id}/feedback``) counted as a visitor's, in the
  feedback figures and in resolution. ``message_feedback.rater`` says who rated: ``visitor`` or
  ``team``; ``analytics_daily.team_feedback_up`` / ``_down`` count the team's apart. Ratings
  stored before cannot be told apart and stay ``visitor`` (as they were counted).

Handoffs now count a conversation once, on the day it started (it was once per day it asked for
a human, so a range's total counted it again for each day). Resolution reads the rating of the
last answer, as documented, not the latest rating anywhere in the conversation.

The rollup is recounted from the messages by its next refresh: every workspace's
``analytics_refresh`` watermark is dropped, so the scheduled job rebuilds it from its first
conversation, as for a workspace never refreshed (days whose conversations were all purged keep
their rows, as before).

The tables are under FORCE row-level security, which binds their owner too (the documented
owner role has no BYPASSRLS): the data statements run with FORCE lifted, in this transaction.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


REFUSAL = (
    "Sorry, I can't help with that request. "
    "I can answer questions about the information in our documentation."
)
"""rag.chat.guard.DEFAULT_REFUSAL as it is at this revision."""


def _as_owner(table: str, *statements: sa.TextClause) -> None:
    """Run ``statements`` on every workspace's rows of ``table`` (FORCE lifted meanwhile)."""
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    for statement in statements:
        op.execute(statement)
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def upgrade() -> None:
    for name in ("answers_refused", "team_feedback_up", "team_feedback_down"):
        op.add_column(
            "analytics_daily", sa.Column(name, sa.Integer, nullable=False, server_default="0")
        )
    op.add_column(
        "message_feedback",
        sa.Column("rater", sa.String(8), nullable=False, server_default="visitor"),
    )
    _as_owner(
        "messages",
        sa.text(
            "UPDATE messages SET source = 'refused' WHERE role = 'assistant' AND source = 'rag'"
            " AND citations = '[]'::jsonb AND text = :refusal"
        ).bindparams(refusal=REFUSAL),
    )
    _as_owner("analytics_refresh", sa.text("DELETE FROM analytics_refresh"))


def downgrade() -> None:
    _as_owner("messages", sa.text("UPDATE messages SET source = 'rag' WHERE source = 'refused'"))
    op.drop_column("message_feedback", "rater")
    for name in ("answers_refused", "team_feedback_up", "team_feedback_down"):
        op.drop_column("analytics_daily", name)
