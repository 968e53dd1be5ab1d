"""Billing tables. The schema itself is defined by migrations/versions/0002_billing.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, new_id, utcnow


class BillingOrder(Base):
    __tablename__ = "billing_orders"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    plan: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    razorpay_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="created")
    razorpay_payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class BillingPayment(Base):
    __tablename__ = "billing_payments"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("billing_orders.id", ondelete="CASCADE")
    )
    razorpay_payment_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    # How much of it went back so far (paise), the largest figure a refund reported (0031).
    amount_refunded: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    method: Mapped[str | None] = mapped_column(String(32), nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # When the customer paid: Razorpay's time of the event that took the money (0035), the
    # history's date and order; created_at is when we recorded it.
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Subscription(Base):
    """A workspace's subscription: the persisted ``billing.state.SubscriptionState`` plus intent."""

    __tablename__ = "subscriptions"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    plan: Mapped[str] = mapped_column(String(32), default="free")
    status: Mapped[str] = mapped_column(String(16), default="active")
    period: Mapped[str | None] = mapped_column(String(16), nullable=True)
    current_period_end: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    plan_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    applied_payment_ids: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    refunded_payment_ids: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    # billing.state.PaidPeriod of each applied payment (migration 0017), as JSON objects.
    paid_periods: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    pending_plan: Mapped[str | None] = mapped_column(String(32), nullable=True)
    razorpay_subscription_id: Mapped[str | None] = mapped_column(
        String(64), unique=True, nullable=True
    )
    # The linked Razorpay Subscription's cancel (migration 0033, billing/provider_cancels.py):
    # the one still to send (``cycle_end`` or ``now``), and what Razorpay confirmed.
    provider_cancel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    provider_cancel_requested_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    provider_cancel_attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_cancel_next_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    provider_cancel_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    provider_cancelled: Mapped[str | None] = mapped_column(String(16), nullable=True)
    provider_cancelled_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # The end of the linked subscription's cycle after which Razorpay charges nothing more
    # (migration 0040): Razorpay's ``current_end`` when it took our cancel at the cycle's end
    # (the renewed cycle's start when the cancel reached it after a renewal), or the end of the
    # period the owner cancelled for one linked after it ended; kept when Razorpay then says
    # the subscription ended. A charge of a cycle from then on is held.
    provider_cycle_end: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class BillingEventRow(Base):
    """One received webhook (or reconcile finding), unique on Razorpay's event id."""

    __tablename__ = "billing_events"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    # The SHA-256 (hex) of a webhook's raw body, which its signature covers (0053): the same
    # body under another event id is the same delivery. NULL for reconcile's findings.
    body_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    event_type: Mapped[str] = mapped_column(String(100))
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="webhook")
    outcome: Mapped[str] = mapped_column(String(16), default="processing")
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    razorpay_order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    razorpay_payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
