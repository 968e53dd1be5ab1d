"""Reconcile also checks orders whose last attempt failed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

A Razorpay order whose payment attempt failed may still be paid by a later attempt (a second
card, a late UPI confirmation): billing/state.py allows failed -> paid. `trulybot billing
reconcile` listed only created and attempted orders, and the row-level-security policy under
its lookup key showed it nothing else, so a captured payment on a failed order whose webhook was
lost was never applied (a tester's finding). The policy and the partial index of pending orders
now include ``failed``; the reconcile run looks back a bounded number of days
(``--within-days``), so abandoned orders are not checked forever.
"""

from collections.abc import Sequence

from alembic import op

from migrations import rls

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECONCILE_LOOKUP = "billing:reconcile-pending"


def _policy(statuses: str) -> None:
    rls.enable(
        "billing_orders",
        using=(
            "workspace_id = tb_current_workspace()"
            " OR razorpay_order_id = tb_setting('app.lookup')"
            f" OR (tb_setting('app.lookup') = '{RECONCILE_LOOKUP}'"
            f"     AND status IN ({statuses}))"
        ),
    )
    op.execute("DROP INDEX IF EXISTS ix_billing_orders_pending")
    op.execute(
        "CREATE INDEX ix_billing_orders_pending ON billing_orders (created_at)"
        f" WHERE status IN ({statuses})"
    )


def upgrade() -> None:
    _policy("'created', 'attempted', 'failed'")


def downgrade() -> None:
    _policy("'created', 'attempted'")
