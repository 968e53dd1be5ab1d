"""What the workspace's people are told about a payment event: ``payment.captured`` /
``payment.failed`` (``notify_payment``), a payment held for a refund (``notify_held``) and
``plan.revoked`` when a refund or a lost chargeback took the plan away (``notify_revoked``).
Called by billing/events.py in the event's transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing import repository as repo
from billing.provider_events import bounded_int, short
from billing.state import (
    HELD_REASONS,
    PAYMENT_SUCCESS_EVENTS,
    BillingEvent,
    Decision,
    SubscriptionState,
)
from core.models import utcnow
from workspaces import notifications
from workspaces.plans import plan_in_effect

log = logging.getLogger("trulybot.billing")


async def notify_payment(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    event: BillingEvent,
    decision: Decision,
    payment_entity: Mapping[str, Any],
    plan: str,
    *,
    paid: bool = False,
) -> None:
    """``payment.captured`` / ``payment.failed`` for the workspace's people, keyed by the payment
    id: a retried webhook, the same payment seen through ``order.paid`` or the checkout's
    verification, and reconcile all record one event (one mail). No ``payment.failed`` for an
    order already ``paid``: a failure delivered after the capture (Razorpay's late
    authorization, or an earlier attempt's webhook) mailed "Payment failed" for a plan paid."""
    if not event.payment_id or decision.outcome == "rejected":
        return
    if decision.reason == "payment_refunded":  # no money was kept: nothing was received
        return
    if decision.reason in HELD_REASONS:  # kept, bought nothing: ``notify_held`` says so
        return
    if event.name in PAYMENT_SUCCESS_EVENTS:
        kind: notifications.Kind = "payment.captured"
    elif event.name == "payment.failed" and not paid:
        kind = "payment.failed"
    else:
        return
    data: dict[str, Any] = {
        "payment_id": event.payment_id[:64],
        "amount": bounded_int(event.amount if event.amount is not None else None)
        or bounded_int(payment_entity.get("amount")),
        "currency": short(event.currency, 3) or short(payment_entity.get("currency"), 3),
        "plan": plan,
    }
    if kind == "payment.failed":
        data["reason"] = short(payment_entity.get("error_description"), 300)
    await notifications.emit(session, workspace_id, kind, event.payment_id[:64], data)


async def notify_revoked(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    event: BillingEvent,
    old: SubscriptionState,
    new: SubscriptionState,
) -> None:
    """``plan.revoked`` for the workspace's people when a refund or a lost chargeback took the
    plan in effect away (it ended at once, or fell back to an earlier payment's plan), keyed by
    the payment id: a payment's money goes back once, however often its webhook is delivered.
    A refund that only shortened a plan still running says nothing here (``plan.expiring`` tells
    the owners before the new end)."""
    at, end = event.occurred_at, new.current_period_end
    if new.plan_code == old.plan_code and end is not None and end > at:
        return
    workspace = await repo.get_workspace(session, workspace_id)  # as the refund left it
    if workspace is None or not event.payment_id:  # pragma: no cover - locked a moment ago
        return
    now_plan = plan_in_effect(
        workspace.plan, workspace.plan_expires_at, workspace.fallback_plan, max(at, utcnow())
    )
    until = workspace.plan_expires_at if workspace.plan == now_plan else None
    data: dict[str, Any] = {
        "payment_id": event.payment_id[:64],
        "amount": bounded_int(event.amount),
        "currency": short(event.currency, 3),
        "plan": old.plan_code,
        "cause": "chargeback" if event.name == "payment.dispute.lost" else "refund",
        "now_plan": now_plan,
        "now_until": until.isoformat() if until is not None else None,
    }
    await notifications.emit(session, workspace_id, "plan.revoked", event.payment_id[:64], data)


async def notify_held(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    payment_id: str,
    reason: str,
    plan: str,
    now: SubscriptionState,
) -> None:
    """The money of a payment that bought nothing is held for a refund: a ``payment.captured``
    mail that says so (``held``: one of ``HELD_REASONS``), with the plan that
    runs and until when. Keyed apart from "Payment received" (``held:<payment id>``): a payment
    applied first and taken back by a higher plan's payment reported late was told both.
    Logged at WARNING too, for whoever refunds (the history lists it ``held``)."""
    log.warning(
        "billing: payment %s (%s plan) of workspace %s held for a refund: %s",
        payment_id[:64],
        plan,
        workspace_id,
        reason,
    )
    recorded = await repo.recorded_charge(session, workspace_id, payment_id[:64])
    end = now.current_period_end
    data: dict[str, Any] = {
        "payment_id": payment_id[:64],
        "amount": recorded[0] if recorded else None,
        "currency": recorded[1] if recorded else None,
        "plan": plan,
        "held": reason,
        "running_plan": now.plan_code,
        "running_until": end.isoformat() if end is not None else None,
    }
    key = f"held:{payment_id[:64]}"
    await notifications.emit(session, workspace_id, "payment.captured", key, data)


async def notify_reinstated(
    session: AsyncSession, workspace_id: uuid.UUID, payment_id: str, new: SubscriptionState
) -> None:
    """``plan.revoked``'s sequel: a lost chargeback reversed (a later phase of its dispute won)
    gave the plan back. The owners told it ended are told it runs again and until when; once
    per payment (``reversed:<payment id>``)."""
    end = new.current_period_end
    data: dict[str, Any] = {
        "payment_id": payment_id[:64],
        "plan": new.plan_code,
        "cause": "chargeback_reversed",
        "now_plan": new.plan_code,
        "now_until": end.isoformat() if end is not None else None,
    }
    key = f"reversed:{payment_id[:64]}"
    await notifications.emit(session, workspace_id, "plan.revoked", key, data)
