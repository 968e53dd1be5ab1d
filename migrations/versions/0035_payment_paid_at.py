"""``billing_payments.paid_at``: when the customer paid, for the owners' payment history.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-05

The history (API and plan page) was dated and ordered by ``created_at``, when our server
recorded the payment: a webhook Razorpay retried for hours, or a payment reconcile found a day
later, was dated then on what is the owner's receipt, and listed after payments made since.
``paid_at`` is Razorpay's time of the event that took the money (``billing.events`` stores the
event time the payment was applied at, the time its paid period starts from).

Payments recorded before are backfilled, workspace by workspace under the table's forced
row-level security (``app.workspace_id`` set, the workspaces listed through ``owner_reads``,
0006f), from the earliest stored capture event of the payment (``payment.captured`` or
``order.paid``: the webhook's ``created_at``, or the payment's own for a reconcile finding),
else the order's ``paid_at`` when the order names the payment (a verify stores no event), else
the stored payment entity's ``created_at``, else when it was recorded. A time that is not an
integer from 1970 to 2100 is no time of Razorpay's and is skipped. Then the column gets
``DEFAULT now()`` (a replica of the previous release, still inserting during the deploy, dates
its payments when recorded) and ``NOT NULL``, and the history's index ``(workspace_id, paid_at,
id)``. The table is small (a few payments a workspace): no ``CONCURRENTLY``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_billing_payments_workspace_paid"

# Every workspace (owner_reads), then in each its payments: the rows RLS shows the migration
# role with app.workspace_id set. An epoch is taken only as an integer within 1970..2100.
_BACKFILL = """
DO $$
DECLARE ws uuid;
BEGIN
  FOR ws IN SELECT id FROM workspaces LOOP
    PERFORM set_config('app.workspace_id', ws::text, true);
    UPDATE billing_payments p SET paid_at = coalesce(
        (SELECT min(to_timestamp((e.payload->>'created_at')::bigint)) FROM billing_events e
          WHERE e.workspace_id = ws AND e.razorpay_payment_id = p.razorpay_payment_id
            AND e.event_type IN ('payment.captured', 'order.paid')
            AND CASE WHEN e.payload->>'created_at' ~ '^[0-9]{1,10}$'
                     THEN (e.payload->>'created_at')::bigint < 4102444800 ELSE false END),
        (SELECT o.paid_at FROM billing_orders o
          WHERE o.id = p.order_id AND o.razorpay_payment_id = p.razorpay_payment_id),
        CASE WHEN p.raw->>'created_at' !~ '^[0-9]{1,10}$' THEN NULL
             WHEN (p.raw->>'created_at')::bigint < 4102444800
             THEN to_timestamp((p.raw->>'created_at')::bigint) END,
        p.created_at)
     WHERE p.workspace_id = ws AND p.paid_at IS NULL;
  END LOOP;
  PERFORM set_config('app.workspace_id', '', true);
END $$
"""


def upgrade() -> None:
    op.add_column(
        "billing_payments", sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(_BACKFILL)
    op.alter_column("billing_payments", "paid_at", server_default=sa.text("now()"))
    op.alter_column("billing_payments", "paid_at", nullable=False)
    op.create_index(INDEX, "billing_payments", ["workspace_id", "paid_at", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="billing_payments")
    op.drop_column("billing_payments", "paid_at")
