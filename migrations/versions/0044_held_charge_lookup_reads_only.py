"""``billing_events``: the payment-id lookup of 0043 reads, and only reads.

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-05

0043 let ``app.lookup`` = a payment id admit the rows naming that payment and a workspace, "for
reading only", by widening the table's one policy, which is for every command: its USING also
chose the rows an UPDATE or a DELETE may touch. Under that lookup a DELETE removed another
workspace's row, and an UPDATE with a workspace set moved the row into it (the WITH CHECK
looks only at the row written). No code did either; the policy was to make sure none could.

``tenant_isolation`` is back to the policy before 0043 (its workspace, or its event id), and
the payment-id arm is its own policy, ``billing_events_by_payment``, FOR SELECT: an UPDATE or a
DELETE must pass every command's USING and the SELECT ones, so it sees no more than before
0043. Downgrade restores 0043's single policy.
"""

from collections.abc import Sequence

from alembic import op

from migrations import billing_events_policy, rls

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK = billing_events_policy.CHECK
_BEFORE = billing_events_policy.BEFORE_0043
_BY_PAYMENT = billing_events_policy.BY_PAYMENT


def upgrade() -> None:
    rls.enable("billing_events", using=_BEFORE, check=_CHECK)
    op.execute("DROP POLICY IF EXISTS billing_events_by_payment ON billing_events")
    op.execute(
        f"CREATE POLICY billing_events_by_payment ON billing_events FOR SELECT USING ({_BY_PAYMENT})"
    )


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS billing_events_by_payment ON billing_events")
    rls.enable("billing_events", using=f"{_BEFORE} OR ({_BY_PAYMENT})", check=_CHECK)
