"""Request and response bodies of the billing API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PeriodIn = Literal["monthly", "yearly"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PlanOut(BaseModel):
    code: str
    name: str
    limits: dict[str, int | None]
    prices: dict[str, int] = Field(description="INR in paise, per period")
    currency: str = "INR"
    purchasable: bool


class PlansOut(BaseModel):
    items: list[PlanOut]


class OrderIn(BaseModel):
    """What the owner wants to buy. The amount is never taken from the client."""

    model_config = ConfigDict(extra="forbid")

    plan: str = Field(min_length=1, max_length=32)
    period: PeriodIn = "monthly"


class OrderOut(BaseModel):
    """Everything Razorpay Checkout needs."""

    order_id: uuid.UUID
    razorpay_order_id: str
    amount: int
    currency: str
    key_id: str
    plan: str
    period: str
    status: str


class VerifyIn(BaseModel):
    # Deliberately lenient, the one body that is: a client passes on the object Razorpay's
    # checkout handed its callback, which may carry more keys than these three (and the
    # dashboard's form carries its CSRF token). Every other body refuses unknown fields (422).
    model_config = ConfigDict(extra="ignore")

    razorpay_order_id: str = Field(min_length=1, max_length=64)
    razorpay_payment_id: str = Field(min_length=1, max_length=64)
    razorpay_signature: str = Field(min_length=1, max_length=256)


class SubscriptionOut(BaseModel):
    plan: str
    effective_plan: str = Field(description="the plan whose quotas apply now")
    status: Literal["active", "past_due", "cancelled"]
    period: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    pending_plan: str | None
    razorpay_cancel: Literal["pending", "at_cycle_end", "cancelled", "failed"] | None = Field(
        default=None,
        description="the linked Razorpay Subscription's cancel: pending (to be sent, retried"
        " while Razorpay is down), at_cycle_end or cancelled (Razorpay took it; cancelled also"
        " when Razorpay ended the subscription itself), failed"
        " (Razorpay refused it); null when no subscription is linked or no cancel was asked",
    )
    razorpay_subscription: Literal["none", "active", "ending", "ended"] = Field(
        default="none",
        description="the Razorpay Subscription linked to the workspace (made in Razorpay's"
        " dashboard with notes.workspace_id): none; active (Razorpay charges the card every"
        " cycle, also while a cancel is pending or failed); ending (Razorpay took a cancel at"
        " the end of the current cycle: no charge after it); ended (cancelled or completed)",
    )


class VerifyOut(BaseModel):
    order_id: uuid.UUID
    order_status: str
    applied: bool = Field(description="true when this call granted the plan")
    reason: str
    subscription: SubscriptionOut


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    downgrade_to: str | None = Field(
        default=None,
        max_length=32,
        description="a lower plan to buy once the current period ends (default: free)",
    )


class PaymentOut(_Out):
    razorpay_payment_id: str
    order_id: uuid.UUID
    plan: str
    period: str
    amount: int | None
    currency: str | None
    amount_refunded: int = Field(
        default=0, description="how much of it was refunded so far, in paise (same currency)"
    )
    status: str
    method: str | None
    source: str
    paid_at: datetime = Field(
        description="when the customer paid: Razorpay's time of the capture (the history's order)"
    )
    created_at: datetime = Field(description="when this server recorded the payment")


class HeldChargeOut(BaseModel):
    """A recurring charge of a linked Razorpay Subscription taken after the owner's cancel and
    held for a refund (no order of ours: not a payment of ``items``)."""

    razorpay_payment_id: str
    amount: int | None = Field(description="paise, in `currency`")
    currency: str | None
    charged_at: datetime | None = Field(description="when Razorpay took it")
    status: Literal["held", "part_refunded", "refunded", "kept"] = Field(
        description="held for a refund; part of it refunded, the rest held; refunded; kept"
        " (the owner kept the subscription: it pays for its cycle)"
    )
    amount_refunded: int = Field(
        default=0, description="how much of it Razorpay reported refunded, in paise"
    )


class PaymentPage(BaseModel):
    items: list[PaymentOut]
    held_charges: list[HeldChargeOut] = Field(
        default_factory=list,
        description="recurring charges held after the owner's cancel, newest first; on the first"
        " page only (no `cursor`, no `before`)",
    )
    next_cursor: str | None = Field(
        default=None, description="the `cursor` of the next page; null on the last one"
    )
    next_before: datetime | None = Field(
        default=None, description="deprecated: send as `before` (skips ties; use next_cursor)"
    )


class WebhookAck(BaseModel):
    status: Literal["applied", "ignored", "rejected", "duplicate"]
    event_id: str
    reason: str
