"""``billing_payments.amount_refunded``: how much of a payment went back, for its owners.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04

A partial refund changes no plan, so the payment history kept reading "captured" at the full
amount: an owner given part of a payment back saw no trace of it. The refund events' payment
entity says how much of it was refunded so far (``amount_refunded``); ``billing.events`` keeps
the largest figure reported (an older event delivered again takes nothing back). NULL for
payments recorded before (the history reads no refund until the next refund event).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("billing_payments", sa.Column("amount_refunded", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("billing_payments", "amount_refunded")
