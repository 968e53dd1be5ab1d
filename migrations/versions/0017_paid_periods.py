"""Each applied payment's paid interval, so a refund takes back only what that payment paid for.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

A full refund took one period off the current period end whatever payment was refunded, so
refunding an older payment whose period was used up took away the current paid period that a
later payment had paid for (a reviewer's finding). ``subscriptions.paid_periods`` holds, for every
applied payment, the plan, period, event time and the ``[start, end)`` interval it paid for
(billing/state.py ``PaidPeriod``). Rows stored before this revision start empty: the first event
applied to such a subscription derives the intervals from the payment history
(``derive_paid_periods``); nothing is backfilled here, since the migrating role does not bypass
row-level security and the derivation needs each workspace's payments.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subscriptions",
        sa.Column(
            "paid_periods", pg.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
    )


def downgrade() -> None:
    op.drop_column("subscriptions", "paid_periods")
