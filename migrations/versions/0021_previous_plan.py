"""The plan a payment replaced and when it ended, so its retention grace survives a new plan.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

After a downgrade the ended plan's conversation retention holds for ``RETENTION_GRACE`` after
its paid period ended (lifecycle/retention.py), read from ``workspaces.plan`` and
``plan_expires_at``. Buying a lower plan overwrote both with the new plan's (a yearly Pro that
ended, renewed a few days later on a Starter month; an upgrade refunded back to the Starter
month paid before it), so the grace was gone and that night's purge deleted the conversations
the ended plan kept, for good (billing review 2, F1). ``previous_plan`` and
``previous_plan_ended_at`` keep the plan a payment replaced and when it ended (its period's end,
or the change itself when it still ran). NULL for existing rows: nothing to backfill, a grace
that was already lost cannot be restored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("previous_plan", sa.String(32), nullable=True))
    op.add_column(
        "workspaces",
        sa.Column("previous_plan_ended_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("workspaces", "previous_plan_ended_at")
    op.drop_column("workspaces", "previous_plan")
