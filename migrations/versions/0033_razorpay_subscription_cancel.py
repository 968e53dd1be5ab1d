"""A linked Razorpay Subscription's cancel, sent to Razorpay and retried until it answers.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-05

A workspace may be linked to a Razorpay Subscription (``subscriptions.razorpay_subscription_id``,
from the first ``subscription.*`` webhook's signed notes). Cancelling the plan or deleting the
workspace told Razorpay nothing, and the customer's card went on being charged every cycle. Now
the cancel is recorded on the subscription's row in the transaction that decides it, and sent
by a job after the commit, again by a sweep while Razorpay is down:

- ``provider_cancel``: the cancel still to send, ``cycle_end`` (the owner cancelled at period
  end) or ``now`` (the workspace was deleted); NULL when none is waiting;
- ``provider_cancel_requested_at``, ``provider_cancel_attempts`` (sends started),
  ``provider_cancel_next_at`` (the earliest time of the next send: a claim while one runs, a
  backoff after a failure), ``provider_cancel_error`` (the last failure);
- ``provider_cancelled`` (``cycle_end`` or ``now``: what Razorpay confirmed, or ``now`` when it
  answered that the subscription had already ended) and ``provider_cancelled_at``;
- the sweep lists the waiting cancels under ``app.lookup`` = ``billing:provider-cancels``: the
  policy shows it those rows only (a partial index holds them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import rls

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CANCELS_LOOKUP = "billing:provider-cancels"
MODES = "('cycle_end', 'now')"
BY_ID = (
    "workspace_id = tb_current_workspace() OR razorpay_subscription_id = tb_setting('app.lookup')"
)


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.add_column("subscriptions", sa.Column("provider_cancel", sa.String(16), nullable=True))
    op.add_column("subscriptions", sa.Column("provider_cancel_requested_at", ts, nullable=True))
    op.add_column(
        "subscriptions",
        sa.Column("provider_cancel_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("subscriptions", sa.Column("provider_cancel_next_at", ts, nullable=True))
    op.add_column(
        "subscriptions", sa.Column("provider_cancel_error", sa.String(300), nullable=True)
    )
    op.add_column("subscriptions", sa.Column("provider_cancelled", sa.String(16), nullable=True))
    op.add_column("subscriptions", sa.Column("provider_cancelled_at", ts, nullable=True))
    for column in ("provider_cancel", "provider_cancelled"):
        op.execute(
            f"ALTER TABLE subscriptions ADD CONSTRAINT ck_subscriptions_{column}"
            f" CHECK ({column} IN {MODES})"
        )
    op.create_index(
        "ix_subscriptions_provider_cancel_due",
        "subscriptions",
        ["provider_cancel_next_at"],
        postgresql_where=sa.text("provider_cancel IS NOT NULL"),
    )
    rls.enable(
        "subscriptions",
        using=(
            f"{BY_ID} OR (tb_setting('app.lookup') = '{CANCELS_LOOKUP}'"
            " AND provider_cancel IS NOT NULL)"
        ),
    )


def downgrade() -> None:
    rls.enable("subscriptions", using=BY_ID)
    op.drop_index("ix_subscriptions_provider_cancel_due", table_name="subscriptions")
    for column in (
        "provider_cancelled_at",
        "provider_cancelled",
        "provider_cancel_error",
        "provider_cancel_next_at",
        "provider_cancel_attempts",
        "provider_cancel_requested_at",
        "provider_cancel",
    ):
        op.drop_column("subscriptions", column)
