"""``subscriptions.provider_cycle_end``: the end of the linked Razorpay Subscription's cycle
after which Razorpay charges nothing more.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-05

Recorded from Razorpay's answer to our cancel at the cycle's end (its ``current_end``), kept
through the ``subscription.cancelled`` / ``completed`` that follows. A recurring charge of a
cycle starting at or after it is ``charged_after_cancel`` (docs/billing.md, "Razorpay
Subscriptions: cancel"). Before, such a charge was the ordinary ``recurring_charge``: nothing
stored the cycle's end to compare it with.

One nullable column, no default, no backfill: a catalog change only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subscriptions",
        sa.Column("provider_cycle_end", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("subscriptions", "provider_cycle_end")
