"""SQL of what an export holds of the workspace's records (lifecycle/archive_records.py): its
audit log and its billing rows, streamed like the rest (``export_repository.stream_rows``), each
filtered by the workspace explicitly besides row-level security.

The payment provider's raw bodies (``billing_payments.raw``, ``billing_events.payload``) are not
read: they carry the payer's contact and card details and the provider's notes, and what the
workspace needs of them is in the columns."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import BillingEventRow, BillingOrder, BillingPayment, Subscription
from lifecycle.export_repository import stream_rows
from workspaces.models import AuditEntry

AUDIT_COLUMNS = (
    AuditEntry.id,
    AuditEntry.created_at,
    AuditEntry.action,
    AuditEntry.actor_user_id,
    AuditEntry.actor_api_key_id,
    AuditEntry.target_type,
    AuditEntry.target_id,
    AuditEntry.details,
    AuditEntry.ip,
    AuditEntry.user_agent,
    AuditEntry.request_id,
)
ORDER_COLUMNS = (
    BillingOrder.id,
    BillingOrder.plan,
    BillingOrder.period,
    BillingOrder.amount,
    BillingOrder.currency,
    BillingOrder.status,
    BillingOrder.razorpay_order_id,
    BillingOrder.razorpay_payment_id,
    BillingOrder.created_by,
    BillingOrder.paid_at,
    BillingOrder.created_at,
    BillingOrder.updated_at,
)
PAYMENT_COLUMNS = (
    BillingPayment.id,
    BillingPayment.order_id,
    BillingPayment.razorpay_payment_id,
    BillingPayment.amount,
    BillingPayment.amount_refunded,
    BillingPayment.currency,
    BillingPayment.status,
    BillingPayment.method,
    BillingPayment.source,
    BillingPayment.paid_at,
    BillingPayment.created_at,
    BillingPayment.updated_at,
)
EVENT_COLUMNS = (
    BillingEventRow.id,
    BillingEventRow.event_id,
    BillingEventRow.event_type,
    BillingEventRow.source,
    BillingEventRow.outcome,
    BillingEventRow.reason,
    BillingEventRow.detail,
    BillingEventRow.razorpay_order_id,
    BillingEventRow.razorpay_payment_id,
    BillingEventRow.received_at,
    BillingEventRow.processed_at,
)
SUBSCRIPTION_COLUMNS = (
    Subscription.plan,
    Subscription.status,
    Subscription.period,
    Subscription.current_period_end,
    Subscription.plan_changed_at,
    Subscription.status_changed_at,
    Subscription.cancel_at_period_end,
    Subscription.pending_plan,
    Subscription.razorpay_subscription_id,
    Subscription.applied_payment_ids,
    Subscription.refunded_payment_ids,
    Subscription.paid_periods,
    Subscription.created_at,
    Subscription.updated_at,
)


def names(columns: tuple[Any, ...]) -> tuple[str, ...]:
    """The columns' names, as the rows and the CSV header carry them."""
    return tuple(column.key for column in columns)


def _rows(
    session: AsyncSession,
    model: Any,
    columns: tuple[Any, ...],
    *order: Any,
    workspace_id: uuid.UUID,
) -> AsyncIterator[Mapping[str, Any]]:
    stmt = select(*columns).where(model.workspace_id == workspace_id).order_by(*order, model.id)
    return stream_rows(session, stmt)


def stream_audit(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    """Oldest first (``ix_audit_log_workspace_created`` serves the order)."""
    return _rows(
        session, AuditEntry, AUDIT_COLUMNS, AuditEntry.created_at, workspace_id=workspace_id
    )


def stream_orders(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    return _rows(
        session, BillingOrder, ORDER_COLUMNS, BillingOrder.created_at, workspace_id=workspace_id
    )


def stream_payments(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    return _rows(
        session,
        BillingPayment,
        PAYMENT_COLUMNS,
        BillingPayment.created_at,
        workspace_id=workspace_id,
    )


def stream_events(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    """The provider's events resolved to the workspace (one that belongs to none is no
    workspace's), oldest received first."""
    return _rows(
        session,
        BillingEventRow,
        EVENT_COLUMNS,
        BillingEventRow.received_at,
        workspace_id=workspace_id,
    )


async def subscription(session: AsyncSession, *, workspace_id: uuid.UUID) -> dict[str, Any] | None:
    """The workspace's subscription row (one at most), None if it never had one."""
    row = (
        (
            await session.execute(
                select(*SUBSCRIPTION_COLUMNS).where(Subscription.workspace_id == workspace_id)
            )
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None
