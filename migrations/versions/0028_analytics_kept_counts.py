"""What deleted conversations and leads counted, so a day's figures stay as they were.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08

A day's row of ``analytics_daily`` was recounted from the rows still there whenever something
brought the day back (a returning visitor whose conversation started that day): conversations
removed by retention or erasure, and deleted leads, then dropped out of that day's figures, at
random. ``analytics_daily_purged`` holds, per workspace and UTC day, what the deleted rows
counted (the same columns as ``analytics_daily``), and a refresh writes the rows' counts plus
these.

* Conversations: ``lifecycle.repository`` counts those it is about to delete (retention,
  erasure) with ``rag.chat.repository.analytics.keep_deleted``, in the deleting transaction.
* Leads: ``tb_analytics_lead_deleted``, a trigger after each deleted lead, adds one to the
  lead's day (the API and dashboard deletion, both erasures): the workspaces package, where a
  lead is deleted, may not call the analytics. A lead deleted with its workspace (the purge, or
  the workspace row's cascade) counts nowhere.

Deletions before this revision are not known, so their days keep whatever their rows hold.
(``ix_conversations_workspace_created`` gains ``id`` in 0030, built concurrently.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "conversations",
    "visitor_messages",
    "answers",
    "answers_faq",
    "answers_cache",
    "answers_rag",
    "answers_fallback",
    "answers_handoff",
    "answers_refused",
    "answered",
    "unanswered",
    "feedback_up",
    "feedback_down",
    "team_feedback_up",
    "team_feedback_down",
    "leads",
    "handoffs",
    "resolution_counted",
    "resolved",
)


def upgrade() -> None:
    op.create_table(
        "analytics_daily_purged",
        sa.Column(
            "workspace_id",
            pg.UUID(as_uuid=True),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
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
    rls.enable("analytics_daily_purged")
    # A deleted lead of a live workspace: one more lead kept on its day. Under the deleting
    # transaction's tenant (RLS applies); nothing for a workspace being purged or gone.
    op.execute(
        """
        CREATE FUNCTION tb_analytics_lead_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO analytics_daily_purged (workspace_id, day, leads, updated_at)
            SELECT w.id, (OLD.created_at AT TIME ZONE 'UTC')::date, 1, now()
              FROM workspaces w
             WHERE w.id = OLD.workspace_id AND w.deleted_at IS NULL
            ON CONFLICT (workspace_id, day) DO UPDATE
               SET leads = analytics_daily_purged.leads + 1, updated_at = now();
            RETURN OLD;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER analytics_lead_deleted AFTER DELETE ON leads"
        " FOR EACH ROW EXECUTE FUNCTION tb_analytics_lead_deleted()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS analytics_lead_deleted ON leads")
    op.execute("DROP FUNCTION IF EXISTS tb_analytics_lead_deleted()")
    rls.disable("analytics_daily_purged")
    op.drop_table("analytics_daily_purged")
