"""Scheduled runs: one lease row per periodic job (core/scheduler.py).

Revision ID: 0006b1
Revises: 0006a1
Create Date: 2026-12-01

Not a tenant table (no workspace_id, no RLS): a row names a periodic job of the whole deployment
(purge expired exports, retention...), when it is next due, and which process holds its lease.
Every API replica and worker claims a due job with one UPDATE ... WHERE the lease is free or
expired, so exactly one of them runs it; a run whose process died is claimed again once its
lease has expired.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006b1"
down_revision: str | None = "0006a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "scheduled_runs",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_by", sa.String(200), nullable=True),
        _ts("lease_until"),
        _ts("last_started_at"),
        _ts("last_finished_at"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("runs", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("scheduled_runs")
