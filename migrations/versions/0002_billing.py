"""Billing: orders, payments, subscriptions, webhook events; the plan a workspace falls back to.

Revision ID: 0002b
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from migrations import rls

revision: str = "0002b"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = pg.UUID(as_uuid=True)
NOW = sa.text("now()")

# The one value of app.lookup that lists pending orders across workspaces (`billing reconcile`).
RECONCILE_LOOKUP = "billing:reconcile-pending"


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=None if nullable else NOW,
    )


def _workspace_fk() -> sa.Column:
    return sa.Column(
        "workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    # Quotas follow the subscription: `plan` applies until `plan_expires_at`, then `fallback_plan`.
    op.add_column("workspaces", sa.Column("plan_expires_at", sa.DateTime(timezone=True)))
    op.add_column(
        "workspaces",
        sa.Column("fallback_plan", sa.String(32), nullable=False, server_default="free"),
    )

    op.create_table(
        "billing_orders",
        sa.Column("id", UUID, primary_key=True),
        _workspace_fk(),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("razorpay_order_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="created"),
        sa.Column("razorpay_payment_id", sa.String(64), nullable=True),
        sa.Column("created_by", UUID, sa.ForeignKey("users.id", ondelete="SET NULL")),
        _ts("paid_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("razorpay_order_id", name="uq_billing_orders_razorpay_order_id"),
        sa.CheckConstraint(
            "status IN ('created', 'attempted', 'paid', 'failed', 'refunded')", name="status"
        ),
        sa.CheckConstraint("period IN ('monthly', 'yearly')", name="period"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )
    op.create_index(
        "ix_billing_orders_workspace_created", "billing_orders", ["workspace_id", "created_at"]
    )
    op.create_index(
        "ix_billing_orders_pending",
        "billing_orders",
        ["created_at"],
        postgresql_where=sa.text("status IN ('created', 'attempted')"),
    )

    op.create_table(
        "billing_payments",
        sa.Column("id", UUID, primary_key=True),
        _workspace_fk(),
        sa.Column(
            "order_id", UUID, sa.ForeignKey("billing_orders.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("razorpay_payment_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("raw", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("razorpay_payment_id", name="uq_billing_payments_razorpay_payment_id"),
    )
    op.create_index(
        "ix_billing_payments_workspace_created",
        "billing_payments",
        ["workspace_id", "created_at"],
    )
    op.create_index("ix_billing_payments_order_id", "billing_payments", ["order_id"])

    op.create_table(
        "subscriptions",
        sa.Column(
            "workspace_id",
            UUID,
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("plan", sa.String(32), nullable=False, server_default="free"),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("period", sa.String(16), nullable=True),
        _ts("current_period_end", nullable=True),
        _ts("plan_changed_at", nullable=True),
        _ts("status_changed_at", nullable=True),
        sa.Column(
            "applied_payment_ids",
            pg.ARRAY(sa.String(64)),
            nullable=False,
            server_default=sa.text("'{}'::varchar[]"),
        ),
        sa.Column(
            "refunded_payment_ids",
            pg.ARRAY(sa.String(64)),
            nullable=False,
            server_default=sa.text("'{}'::varchar[]"),
        ),
        sa.Column("cancel_at_period_end", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("pending_plan", sa.String(32), nullable=True),
        sa.Column("razorpay_subscription_id", sa.String(64), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint(
            "razorpay_subscription_id", name="uq_subscriptions_razorpay_subscription_id"
        ),
        sa.CheckConstraint("status IN ('active', 'past_due', 'cancelled')", name="status"),
    )

    # The webhook dedupe table. The event row is inserted (ON CONFLICT DO NOTHING) before the
    # tenant is known, so workspace_id is nullable: filled in once the event is resolved to a
    # workspace, NULL for events that belong to none. RLS still applies: a row is visible to the
    # transaction handling that very event id (app.lookup) or to its workspace.
    op.create_table(
        "billing_events",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("workspace_id", UUID, sa.ForeignKey("workspaces.id", ondelete="CASCADE")),
        sa.Column("source", sa.String(16), nullable=False, server_default="webhook"),
        sa.Column("outcome", sa.String(16), nullable=False, server_default="processing"),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("razorpay_order_id", sa.String(64), nullable=True),
        sa.Column("razorpay_payment_id", sa.String(64), nullable=True),
        sa.Column("payload", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _ts("received_at"),
        _ts("processed_at", nullable=True),
        sa.UniqueConstraint("event_id", name="uq_billing_events_event_id"),
        sa.CheckConstraint(
            "outcome IN ('processing', 'applied', 'ignored', 'rejected')", name="outcome"
        ),
    )
    op.create_index(
        "ix_billing_events_workspace_received", "billing_events", ["workspace_id", "received_at"]
    )

    rls.enable(
        "billing_orders",
        using=(
            "workspace_id = tb_current_workspace()"
            " OR razorpay_order_id = tb_setting('app.lookup')"
            f" OR (tb_setting('app.lookup') = '{RECONCILE_LOOKUP}'"
            "     AND status IN ('created', 'attempted'))"
        ),
    )
    rls.enable(
        "billing_payments",
        using="workspace_id = tb_current_workspace() OR razorpay_payment_id = tb_setting('app.lookup')",
    )
    rls.enable(
        "subscriptions",
        using=(
            "workspace_id = tb_current_workspace()"
            " OR razorpay_subscription_id = tb_setting('app.lookup')"
        ),
    )
    rls.enable(
        "billing_events",
        using="workspace_id = tb_current_workspace() OR event_id = tb_setting('app.lookup')",
        check=(
            "(workspace_id IS NULL OR workspace_id = tb_current_workspace())"
            " AND (event_id = tb_setting('app.lookup') OR workspace_id = tb_current_workspace())"
        ),
    )


def downgrade() -> None:
    for table in ("billing_events", "subscriptions", "billing_payments", "billing_orders"):
        op.drop_table(table)
    op.drop_column("workspaces", "fallback_plan")
    op.drop_column("workspaces", "plan_expires_at")
