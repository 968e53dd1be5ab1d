"""``analytics_daily.sales_routed`` (and ``analytics_daily_purged``'s): sales leads the bot sent
to the team, counted apart from the answer rate.

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-06

A sales lead nothing in the knowledge answered ("Can I get a quote for my team?", "book a
demo") gets the contact form ("someone will get back to you"): the team answers it, not the
knowledge. The Unanswered page left it out, yet analytics counted its fallback as unanswered,
so a sales site's answer rate fell with every lead the bot routed (docs/analytics.md, "What
each figure counts"). Such an answer now carries ``routed`` in ``messages.answer_flags``
(``rag.chat.recording.routed_to_team``), and the rollup counts it in ``sales_routed``, neither
answered nor unanswered.

Old rows: nothing is rewritten. An answer recorded before this revision carries no ``routed``
flag, and SQL cannot tell which ones it would have had: a sales lead and a price question are
both stored as intent ``lead`` (the lexicon that tells them apart is Python, in eleven
languages, and changes), and whether lead capture was "Never" when it was answered is not
stored. So those answers stay counted as they were (unanswered), and their days' rows keep
their figures; a recount of such a day gives the same figures, so no watermark is dropped and
nothing is rebuilt. Two integer columns with a constant default: a catalog change only (no
table rewrite). The downgrade counts the routed answers unanswered again, as the release below
this revision does, before it drops the columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0050"
down_revision: str | None = "0049"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("analytics_daily", "analytics_daily_purged")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table, sa.Column("sales_routed", sa.Integer, nullable=False, server_default="0")
        )


def downgrade() -> None:
    # The release below 0050 counts a routed sales lead's fallback as unanswered and has no
    # column for it: folded back into ``unanswered`` before the column goes (a day's row is
    # recounted only when something touches the day, and what deleted conversations counted,
    # ``analytics_daily_purged``, never is). Every workspace's rows: the owner role (no
    # BYPASSRLS in production) is bound by the FORCEd policy too, lifted for this transaction.
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(
            f"UPDATE {table} SET unanswered = unanswered + sales_routed"  # noqa: S608
            " WHERE sales_routed <> 0"
        )
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.drop_column(table, "sales_routed")
