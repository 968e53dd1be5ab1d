"""``billing_events.body_sha256``: the SHA-256 of a webhook's signed body, unique.

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-06

Razorpay signs the body, not the ``X-Razorpay-Event-Id`` header that deliveries were deduplicated
on: whoever saw one delivery could post its body again under a new id, and it was judged afresh
against what had changed since (a recurring charge of the owner's own cycle, replayed once the
workspace was deleted, was held for a refund). Each webhook now also claims the hash of its raw
body (``billing.event_repository.claim_event``): a body stored before is a duplicate under any
id. Reconcile's findings have no body of Razorpay's: NULL, as every row stored before this
revision (their raw bytes were not kept), which the unique index lets repeat. The downgrade
drops the column and its index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0053"
down_revision: str | None = "0052"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("billing_events", sa.Column("body_sha256", sa.String(64), nullable=True))
    op.create_index("uq_billing_events_body_sha256", "billing_events", ["body_sha256"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_billing_events_body_sha256", table_name="billing_events")
    op.drop_column("billing_events", "body_sha256")
