"""``billing_events``: a recurring charge held for a refund is found by its payment id.

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-05

A recurring charge Razorpay took after the owner's cancel is recorded ``charged_after_cancel``
on its webhook's row, with its workspace and payment id; it has no order of ours. Razorpay's
``refund.processed`` for it names only the payment (its payment entity carries Razorpay's
invoice order, not the subscription), and the policy admitted a row only by its event id or in
its workspace: the refund could not be told from a stranger's and was recorded with no
workspace (``unknown_order``), so the owner's plan page could not say the charge was refunded.

The policy now also admits, under ``app.lookup`` = a payment id (the value the webhook already
sets to find a payment of ours, as ``billing_payments``' policy admits its row), the rows naming
that payment and a workspace, for reading only: the WITH CHECK expression is unchanged.

The ``refund.processed`` rows the previous release recorded for such a charge (``ignored`` /
``unknown_order``, no workspace) are given the workspace that held it and the reason the webhook
now records (``held_charge_refunded``), so the plan page reads "refunded" for a charge refunded
before the upgrade, not "held for a refund". Few rows (the hold is a day old): one statement,
with the forced policy lifted for this transaction only (it binds the owner role too, which
sees no row with no workspace set). Downgrade restores the earlier policy and leaves the rows.
"""

from collections.abc import Sequence

from alembic import op

from migrations import billing_events_policy, rls

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK = billing_events_policy.CHECK
_BEFORE = billing_events_policy.BEFORE_0043


# A refund of a charge some workspace held, recorded with none (reasons: billing/held_charges.py).
_ATTRIBUTE = """
UPDATE billing_events r
   SET workspace_id = h.workspace_id, reason = 'held_charge_refunded',
       detail = 'a recurring charge held for a refund, refunded'
  FROM (SELECT DISTINCT ON (razorpay_payment_id) razorpay_payment_id, workspace_id
          FROM billing_events
         WHERE reason IN ('charged_after_cancel', 'charge_kept') AND workspace_id IS NOT NULL
         ORDER BY razorpay_payment_id, received_at) h
 WHERE r.event_type = 'refund.processed' AND r.workspace_id IS NULL
   AND r.reason = 'unknown_order' AND r.razorpay_payment_id = h.razorpay_payment_id
"""


def upgrade() -> None:
    op.execute("ALTER TABLE billing_events NO FORCE ROW LEVEL SECURITY")
    op.execute(_ATTRIBUTE)
    op.execute("ALTER TABLE billing_events FORCE ROW LEVEL SECURITY")
    rls.enable(
        "billing_events",
        using=f"{_BEFORE} OR ({billing_events_policy.BY_PAYMENT})",
        check=_CHECK,
    )


def downgrade() -> None:
    rls.enable("billing_events", using=_BEFORE, check=_CHECK)
