"""``billing_events``: reconcile lists the recurring charges whose cycle is not known yet.

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-05

A recurring charge's ``payment.captured`` delivered while the owner's cancel waits names no
cycle: it is recorded ``charge_cycle_unknown`` and its ``subscription.charged`` decides (held
for a refund, or the owner's cycle). Should that never come (Razorpay gave up retrying), the
charge was never held, listed or mailed. ``trulybot billing reconcile`` now settles such a
charge from Razorpay's invoices of the subscription; to find them in every workspace it reads,
under ``app.lookup`` = ``billing:deferred-charges``, the rows recorded ``charge_cycle_unknown``
with a workspace, and nothing else: a policy of its own, FOR SELECT (an UPDATE or a DELETE
must pass ``tenant_isolation`` too, so it touches nothing more than before). A partial index on
those rows (few: one per such charge) keeps the listing off a scan of the table, built
``CONCURRENTLY`` outside a transaction: webhooks go on meanwhile.

The previous release sets no such lookup and reads nothing through it: a rolling upgrade is
safe. Downgrade drops the policy and the index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFERRED_LOOKUP = "billing:deferred-charges"
REASON = "charge_cycle_unknown"
POLICY = "billing_events_deferred_charges"
INDEX = "ix_billing_events_deferred_charges"


def upgrade() -> None:
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON billing_events")
    op.execute(
        f"CREATE POLICY {POLICY} ON billing_events FOR SELECT USING ("
        f"tb_setting('app.lookup') = '{DEFERRED_LOOKUP}' AND reason = '{REASON}'"
        " AND workspace_id IS NOT NULL)"
    )
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        op.execute(
            f"CREATE INDEX CONCURRENTLY {INDEX} ON billing_events (received_at)"
            f" WHERE reason = '{REASON}'"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON billing_events")
