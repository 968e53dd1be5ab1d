"""Orders, checkout verification, webhook processing, subscriptions and reconciliation.

Services take a session and never commit; the request (or the reconcile loop's own unit of work)
commits or rolls back. Lock order everywhere: event row, then order, then subscription.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy.ext.asyncio import AsyncSession

from billing import repository as repo
from billing.models import BillingOrder, BillingPayment, Subscription
from billing.provider import PaymentProvider, PaymentProviderError
from billing.schemas import PaymentOut, PlanOut, SubscriptionOut
from billing.signatures import (
    PaymentProviderUnavailable,
    verify_checkout_signature,
    verify_webhook_signature,
)
from billing.state import (
    ORDER_EVENTS,
    PAYMENT_SUCCESS_EVENTS,
    SUBSCRIPTION_EVENTS,
    BillingEvent,
    Decision,
    ExpectedOrder,
    SubscriptionState,
    apply_event,
    event_from_webhook,
    next_order_status,
    webhook_ids,
)
from core.db import Database, set_tenant
from core.errors import Conflict, NotFound, ValidationFailed
from workspaces import audit
from workspaces.plans import PAID_PLANS, PLAN_RANK, PLANS, Period, get_plan
from workspaces.service import WorkspaceAccess
from workspaces.usage import effective_plan

log = logging.getLogger("trulybot.billing")

CURRENCY = "INR"
MAX_EVENT_ID = 200
_MAX_AMOUNT = 2**62

EventStatus = Literal["applied", "ignored", "rejected", "duplicate"]


# --- plans -----------------------------------------------------------------------------------


def purchasable(plan_code: str) -> bool:
    plan = PLANS.get(plan_code)
    if plan is None or not plan.public:
        return False
    return any(price > 0 for price in plan.prices.values())


def list_plans() -> list[PlanOut]:
    return [
        PlanOut(
            code=plan.code,
            name=plan.name,
            limits=dict(plan.limits),
            prices=dict(plan.prices),
            purchasable=purchasable(plan.code),
        )
        for plan in PLANS.values()
        if plan.public
    ]


def _catalog_price(plan_code: str, period: Period) -> int:
    """The amount to charge, from the catalog; 422 for plans that cannot be bought."""
    plan = PLANS.get(plan_code)
    price = plan.price(period) if plan is not None and plan.public else None
    if price is None or price <= 0:
        raise ValidationFailed(
            f"The plan {plan_code!r} cannot be bought",
            code="plan_not_purchasable",
            details=[{"field": "plan", "message": "choose one of " + ", ".join(PAID_PLANS)}],
        )
    return price


# --- subscription state <-> row ------------------------------------------------------------


def _state(sub: Subscription) -> SubscriptionState:
    return SubscriptionState(
        plan_code=sub.plan,
        status=cast(Any, sub.status),
        period=cast(Any, sub.period),
        current_period_end=sub.current_period_end,
        plan_changed_at=sub.plan_changed_at,
        status_changed_at=sub.status_changed_at,
        applied_payment_ids=frozenset(sub.applied_payment_ids or ()),
        refunded_payment_ids=frozenset(sub.refunded_payment_ids or ()),
    )


def _running_paid_plan(sub: Subscription | None, now: datetime) -> str | None:
    if sub is None or sub.plan not in PAID_PLANS or sub.current_period_end is None:
        return None
    return sub.plan if now < sub.current_period_end else None


async def _save_state(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    old: SubscriptionState,
    new: SubscriptionState,
    *,
    payment_applied: bool,
) -> None:
    values: dict[str, Any] = {
        "plan": new.plan_code,
        "status": new.status,
        "period": new.period,
        "current_period_end": new.current_period_end,
        "plan_changed_at": new.plan_changed_at,
        "status_changed_at": new.status_changed_at,
        "applied_payment_ids": sorted(new.applied_payment_ids),
        "refunded_payment_ids": sorted(new.refunded_payment_ids),
    }
    if payment_applied:  # paying again is the opposite of cancelling
        values.update(cancel_at_period_end=False, pending_plan=None)
    await repo.update_subscription(session, workspace_id, **values)
    if new.plan_code in PAID_PLANS and (
        new.plan_code != old.plan_code or new.current_period_end != old.current_period_end
    ):
        # What the quota checks read: this plan until the period ends, then the fallback.
        await repo.set_workspace_plan(
            session,
            workspace_id,
            plan=new.plan_code,
            expires_at=new.current_period_end,
        )
        await audit.record(
            session,
            workspace_id=workspace_id,
            action=audit.PLAN_CHANGED,
            target_type="subscription",
            details={
                "from": old.plan_code,
                "to": new.plan_code,
                "current_period_end": (
                    new.current_period_end.isoformat() if new.current_period_end else None
                ),
            },
        )


def subscription_view(
    sub: Subscription | None, workspace_plan: str, now: datetime
) -> SubscriptionOut:
    if sub is None or sub.plan not in PAID_PLANS:
        return SubscriptionOut(
            plan=workspace_plan,
            effective_plan=workspace_plan,
            status=cast(Any, sub.status if sub else "active"),
            period=None,
            current_period_end=None,
            cancel_at_period_end=False,
            pending_plan=None,
        )
    state = _state(sub)
    status = state.status
    ended = sub.current_period_end is not None and now >= sub.current_period_end
    if ended and sub.cancel_at_period_end:
        status = "cancelled"
    return SubscriptionOut(
        plan=sub.plan,
        effective_plan=state.effective_plan(now),
        status=status,
        period=sub.period,
        current_period_end=sub.current_period_end,
        cancel_at_period_end=sub.cancel_at_period_end,
        pending_plan=sub.pending_plan,
    )


# --- orders ----------------------------------------------------------------------------------


async def create_order(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    plan: str,
    period: Period,
    provider: PaymentProvider,
    now: datetime | None = None,
) -> BillingOrder:
    """A Razorpay order for ``plan``/``period`` at the catalog price; nothing is written unless
    Razorpay created it (a 503 from the provider leaves no row behind)."""
    access.require("owner")
    amount = _catalog_price(plan, period)
    now = now or datetime.now(UTC)
    workspace_id = access.workspace.id
    running = _running_paid_plan(await repo.get_subscription(session, workspace_id), now)
    if running is not None and PLAN_RANK[plan] < PLAN_RANK[running]:
        raise Conflict(
            f"The {running} plan runs until the end of its period; downgrades take effect then. "
            "Cancel at period end (with downgrade_to) and buy the lower plan once it has ended.",
            code="downgrade_at_period_end",
        )
    order_id = uuid.uuid4()
    created = await provider.create_order(
        amount=amount,
        currency=CURRENCY,
        receipt=str(order_id),
        notes={
            "workspace_id": str(workspace_id),
            "plan": plan,
            "period": period,
            "order_id": str(order_id),
        },
    )
    order = BillingOrder(
        id=order_id,
        workspace_id=workspace_id,
        plan=plan,
        period=period,
        amount=amount,
        currency=CURRENCY,
        razorpay_order_id=created["id"],
        status="created",
        created_by=access.principal.user_id,
        created_at=now,
        updated_at=now,
    )
    return await repo.insert_order(session, order)


# --- applying a payment-related event ----------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What one event (webhook, reconcile finding or checkout verification) did."""

    outcome: Literal["applied", "ignored", "rejected"]
    reason: str
    detail: str = ""
    workspace_id: uuid.UUID | None = None
    razorpay_order_id: str | None = None
    razorpay_payment_id: str | None = None
    order_status: str | None = None
    order_id: uuid.UUID | None = None


def _payment_status(event_name: str, decision: Decision, entity: Mapping[str, Any]) -> str:
    if decision.outcome == "rejected":
        return "rejected"
    if event_name == "refund.processed":
        return (
            "refunded" if decision.reason in ("refund_recorded", "period_revoked") else "captured"
        )
    if event_name in PAYMENT_SUCCESS_EVENTS:
        return "captured"
    if event_name == "payment.failed":
        return "failed"
    status = entity.get("status")
    return status if isinstance(status, str) and len(status) <= 16 else "authorized"


def _safe_amount(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_AMOUNT:
        return value
    return None


def _short(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


async def _apply_order_event(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    order_id: uuid.UUID,
    event: BillingEvent,
    payment_entity: Mapping[str, Any],
    source: str,
) -> Applied:
    """Apply one payment/order/refund event to a locked order and the locked subscription."""
    order = await repo.lock_order(session, workspace_id=workspace_id, order_id=order_id)
    if order is None:  # pragma: no cover - found a moment ago in the same transaction
        raise NotFound("Order not found")
    sub = await repo.lock_subscription(session, workspace_id)
    expected = ExpectedOrder(
        order_id=order.razorpay_order_id,
        plan_code=order.plan,
        period=cast(Period, order.period),
        amount=order.amount,
        currency=order.currency,
    )
    old = _state(sub)
    new, decision = apply_event(old, replace(event, expected=expected))
    if new != old:
        await _save_state(
            session,
            workspace_id,
            old,
            new,
            payment_applied=event.name in PAYMENT_SUCCESS_EVENTS and decision.outcome == "applied",
        )

    # The order's own forward-only status.
    status = order.status
    if event.name in ORDER_EVENTS and decision.outcome != "rejected":
        moves = event.name != "refund.processed" or decision.reason in (
            "refund_recorded",
            "period_revoked",
        )
        if moves:
            status = next_order_status(order.status, event.name)
    order_changed = status != order.status
    if order_changed:
        values: dict[str, Any] = {"status": status}
        if status == "paid":
            values.update(paid_at=event.occurred_at, razorpay_payment_id=event.payment_id)
        await repo.update_order(session, order.id, **values)

    if event.payment_id:
        raw = dict(payment_entity) if payment_entity else {}
        amount = event.amount if event.name != "refund.processed" else None
        await repo.upsert_payment(
            session,
            workspace_id=workspace_id,
            order_id=order.id,
            razorpay_payment_id=event.payment_id[:64],
            amount=_safe_amount(amount if amount is not None else payment_entity.get("amount")),
            currency=_short(event.currency if amount is not None else None, 3)
            or _short(payment_entity.get("currency"), 3),
            status=_payment_status(event.name, decision, payment_entity),
            method=_short(payment_entity.get("method"), 32),
            source=source,
            raw=raw,
        )

    outcome: Literal["applied", "ignored", "rejected"] = decision.outcome
    reason = decision.reason
    if outcome == "ignored" and order_changed:
        outcome, reason = "applied", f"order_{status}"
    return Applied(
        outcome=outcome,
        reason=reason,
        detail=decision.detail,
        workspace_id=workspace_id,
        razorpay_order_id=order.razorpay_order_id,
        razorpay_payment_id=event.payment_id,
        order_status=status,
        order_id=order.id,
    )


async def _apply_subscription_event(
    session: AsyncSession, event: BillingEvent, payload: Mapping[str, Any], event_key: str
) -> Applied:
    sub_id = event.subscription_id
    if not sub_id:
        return Applied("ignored", "unknown_subscription")
    await set_tenant(session, lookup=sub_id)
    workspace_id = await repo.find_subscription_workspace(session, sub_id)
    link = False
    if workspace_id is None:
        # First event of a Razorpay subscription created with notes.workspace_id (signed body).
        section = payload.get("payload")
        wrapper = section.get("subscription") if isinstance(section, Mapping) else None
        entity = wrapper.get("entity") if isinstance(wrapper, Mapping) else None
        notes = entity.get("notes") if isinstance(entity, Mapping) else None
        candidate = notes.get("workspace_id") if isinstance(notes, Mapping) else None
        try:
            workspace_id = uuid.UUID(str(candidate)) if candidate else None
        except ValueError:
            workspace_id = None
        if workspace_id is not None:
            await set_tenant(session, workspace_id=workspace_id, lookup=event_key)
            if await repo.get_workspace(session, workspace_id) is None:
                workspace_id = None
        if workspace_id is None:
            return Applied("ignored", "unknown_subscription", sub_id)
        link = True
    await set_tenant(session, workspace_id=workspace_id, lookup=event_key)
    sub = await repo.lock_subscription(session, workspace_id)
    if link:
        if sub.razorpay_subscription_id not in (None, sub_id):
            return Applied("rejected", "subscription_conflict", sub_id, workspace_id=workspace_id)
        await repo.update_subscription(session, workspace_id, razorpay_subscription_id=sub_id)
    old = _state(sub)
    new, decision = apply_event(old, event)
    if new != old:
        await _save_state(session, workspace_id, old, new, payment_applied=False)
    return Applied(decision.outcome, decision.reason, decision.detail, workspace_id=workspace_id)


async def _apply(
    session: AsyncSession, payload: Mapping[str, Any] | None, event_key: str, source: str
) -> Applied:
    if payload is None:
        return Applied("rejected", "invalid_payload", "body is not a JSON object")
    try:
        event = event_from_webhook(payload, event_id=event_key)
    except (ValueError, OverflowError, OSError):
        return Applied("rejected", "invalid_payload", "no event name or created_at")
    ids = webhook_ids(payload)
    if event.name in SUBSCRIPTION_EVENTS:
        return await _apply_subscription_event(session, event, payload, event_key)
    if event.name not in ORDER_EVENTS and event.name not in PAYMENT_SUCCESS_EVENTS:
        return Applied("ignored", "unsupported_event", event.name[:100])

    order_rzp = ids["order_id"]
    payment_id = ids["payment_id"]
    if order_rzp is None and payment_id:
        await set_tenant(session, lookup=payment_id)
        order_rzp = await repo.find_payment_order_id(session, payment_id)
    if order_rzp is None:
        return Applied(
            "ignored", "unknown_order", "no order of ours", razorpay_payment_id=payment_id
        )
    await set_tenant(session, lookup=order_rzp)
    order = await repo.find_order_by_razorpay_id(session, order_rzp)
    if order is None:
        return Applied(
            "ignored",
            "unknown_order",
            "no order of ours",
            razorpay_order_id=order_rzp[:64],
            razorpay_payment_id=payment_id,
        )
    await set_tenant(session, workspace_id=order.workspace_id, lookup=event_key)
    section = payload.get("payload")
    wrapper = section.get("payment") if isinstance(section, Mapping) else None
    entity = wrapper.get("entity") if isinstance(wrapper, Mapping) else None
    return await _apply_order_event(
        session,
        workspace_id=order.workspace_id,
        order_id=order.id,
        event=event,
        payment_entity=entity if isinstance(entity, Mapping) else {},
        source=source,
    )


async def record_and_apply(
    session: AsyncSession,
    payload: Mapping[str, Any] | None,
    *,
    event_key: str,
    source: str = "webhook",
) -> tuple[EventStatus, Applied]:
    """Store the event (deduplicated on ``event_key``) and apply it, in the caller's transaction.

    Returns ``("duplicate", ...)`` when the event id was seen before: nothing else happens.
    """
    name = payload.get("event") if payload is not None else None
    event_type = name[:100] if isinstance(name, str) and name else "unknown"
    await set_tenant(session, lookup=event_key)
    row_id = await repo.claim_event(
        session,
        event_id=event_key,
        event_type=event_type,
        payload=dict(payload) if payload is not None else {},
        source=source,
    )
    if row_id is None:
        return "duplicate", Applied("ignored", "duplicate_event")
    result = await _apply(session, payload, event_key, source)
    await set_tenant(session, workspace_id=result.workspace_id, lookup=event_key)
    await repo.finish_event(
        session,
        row_id,
        outcome=result.outcome,
        reason=result.reason,
        detail=result.detail or None,
        workspace_id=result.workspace_id,
        razorpay_order_id=result.razorpay_order_id,
        razorpay_payment_id=result.razorpay_payment_id[:64] if result.razorpay_payment_id else None,
    )
    if result.outcome == "rejected":
        log.warning("billing event %s rejected: %s %s", event_key, result.reason, result.detail)
    return result.outcome, result


# --- webhooks --------------------------------------------------------------------------------


def _finite_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):  # jsonb stores no Infinity
        raise ValueError("non-finite number")
    return number


def _no_constant(value: str) -> float:
    raise ValueError(f"{value} is not JSON")


def _parse_body(raw_body: bytes) -> dict[str, Any] | None:
    """The JSON object in the body, or ``None`` (also for what jsonb cannot store)."""
    try:
        text = raw_body.decode("utf-8")
        if "\\u0000" in text or "\x00" in text:
            return None
        value = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _event_key(event_id_header: str | None, raw_body: bytes) -> str:
    value = (event_id_header or "").strip()
    if value and value.isascii() and value.isprintable() and len(value) <= MAX_EVENT_ID:
        return value
    # No usable X-Razorpay-Event-Id: the body itself identifies the delivery.
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()


@dataclass(frozen=True)
class WebhookResult:
    status: EventStatus
    event_id: str
    reason: str


async def process_webhook(
    session: AsyncSession,
    *,
    raw_body: bytes,
    signature: str | None,
    event_id: str | None,
    secrets: Sequence[str],
) -> WebhookResult:
    """Verify the signature over the raw bytes, then store and apply the event exactly once."""
    verify_webhook_signature(raw_body, signature, secrets)
    payload = _parse_body(raw_body)
    key = _event_key(event_id, raw_body)
    status, result = await record_and_apply(session, payload, event_key=key, source="webhook")
    return WebhookResult(status=status, event_id=key, reason=result.reason)


# --- checkout verification -------------------------------------------------------------------


async def verify_checkout(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    razorpay_order_id: str,
    razorpay_payment_id: str,
    razorpay_signature: str,
    key_secret: str,
    now: datetime | None = None,
) -> tuple[Applied, Subscription]:
    """Check Checkout's signature over our stored order id and the payment id, then grant the plan.

    The signature is Razorpay's statement that this payment succeeded for this order, whose amount
    we fixed from the catalog; the plan is granted now. The webhook for the same payment later
    finds the payment id already applied and changes nothing (and the other way round).
    """
    access.require("owner")
    workspace_id = access.workspace.id
    order = await repo.find_order_by_razorpay_id(session, razorpay_order_id)
    if order is None or order.workspace_id != workspace_id:
        raise NotFound("Order not found", code="order_not_found")
    verify_checkout_signature(
        order.razorpay_order_id, razorpay_payment_id, razorpay_signature, key_secret
    )
    event = BillingEvent(
        name="payment.captured",
        occurred_at=now or datetime.now(UTC),
        payment_id=razorpay_payment_id,
        amount=order.amount,
        currency=order.currency,
    )
    applied = await _apply_order_event(
        session,
        workspace_id=workspace_id,
        order_id=order.id,
        event=event,
        payment_entity={},
        source="verify",
    )
    sub = await repo.lock_subscription(session, workspace_id)
    return applied, sub


# --- subscription ----------------------------------------------------------------------------


async def get_subscription(
    session: AsyncSession, access: WorkspaceAccess, now: datetime | None = None
) -> SubscriptionOut:
    now = now or datetime.now(UTC)
    sub = await repo.get_subscription(session, access.workspace.id)
    return subscription_view(sub, effective_plan(access.workspace, now), now)


async def cancel_at_period_end(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    downgrade_to: str | None,
    now: datetime | None = None,
) -> SubscriptionOut:
    """Keep the paid plan until ``current_period_end``; then quotas fall back to the free plan.

    ``downgrade_to`` records the lower plan the owner intends to buy then (shown as pending).
    """
    access.require("owner")
    now = now or datetime.now(UTC)
    workspace_id = access.workspace.id
    sub = await repo.lock_subscription(session, workspace_id)
    running = _running_paid_plan(sub, now)
    if running is None:
        raise Conflict("There is no paid period to cancel", code="nothing_to_cancel")
    if downgrade_to is not None and (
        downgrade_to not in PLANS
        or not get_plan(downgrade_to).public
        or PLAN_RANK[downgrade_to] >= PLAN_RANK[running]
    ):
        raise ValidationFailed(
            f"downgrade_to must be a plan below {running}",
            code="invalid_downgrade",
            details=[{"field": "downgrade_to", "message": "a lower public plan"}],
        )
    await repo.update_subscription(
        session, workspace_id, cancel_at_period_end=True, pending_plan=downgrade_to
    )
    sub = await repo.lock_subscription(session, workspace_id)
    return subscription_view(sub, effective_plan(access.workspace, now), now)


async def resume(
    session: AsyncSession, access: WorkspaceAccess, now: datetime | None = None
) -> SubscriptionOut:
    access.require("owner")
    now = now or datetime.now(UTC)
    workspace_id = access.workspace.id
    sub = await repo.lock_subscription(session, workspace_id)
    if _running_paid_plan(sub, now) is None:
        raise Conflict("There is no paid period to resume", code="nothing_to_resume")
    await repo.update_subscription(
        session, workspace_id, cancel_at_period_end=False, pending_plan=None
    )
    sub = await repo.lock_subscription(session, workspace_id)
    return subscription_view(sub, effective_plan(access.workspace, now), now)


async def list_payments(
    session: AsyncSession, access: WorkspaceAccess, *, limit: int, before: datetime | None
) -> tuple[list[PaymentOut], datetime | None]:
    access.require("owner")
    rows = await repo.list_payments(
        session, workspace_id=access.workspace.id, limit=limit, before=before
    )
    items = [_payment_out(payment, order) for payment, order in rows]
    next_before = items[-1].created_at if len(items) == limit else None
    return items, next_before


def _payment_out(payment: BillingPayment, order: BillingOrder) -> PaymentOut:
    return PaymentOut(
        razorpay_payment_id=payment.razorpay_payment_id,
        order_id=order.id,
        plan=order.plan,
        period=order.period,
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status,
        method=payment.method,
        source=payment.source,
        created_at=payment.created_at,
    )


# --- reconcile -------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    orders_checked: int = 0
    payments_seen: int = 0
    applied: int = 0
    ignored: int = 0
    rejected: int = 0
    duplicates: int = 0
    provider_errors: int = 0
    details: list[str] = field(default_factory=list)


_RECONCILE_EVENTS = {
    "captured": "payment.captured",
    "failed": "payment.failed",
    "authorized": "payment.authorized",
}


async def reconcile(
    db: Database,
    provider: PaymentProvider,
    *,
    older_than: timedelta = timedelta(minutes=30),
    limit: int = 500,
    now: datetime | None = None,
) -> ReconcileReport:
    """For orders pending longer than ``older_than``, fetch their payments and apply what was
    missed, through the same deduplicated path as webhooks (one transaction per payment)."""
    now = now or datetime.now(UTC)
    report = ReconcileReport()
    async with db.transaction(lookup=repo.RECONCILE_LOOKUP) as session:
        pending = await repo.list_pending_orders(
            session, created_before=now - older_than, limit=limit
        )
    for _order_id, _workspace_id, razorpay_order_id in pending:
        report.orders_checked += 1
        try:
            payments = await provider.fetch_order_payments(razorpay_order_id)
        except (PaymentProviderUnavailable, PaymentProviderError):
            report.provider_errors += 1
            report.details.append(f"{razorpay_order_id}: provider unavailable")
            continue
        for payment in sorted(payments, key=lambda p: _safe_amount(p.get("created_at")) or 0):
            status = payment.get("status")
            payment_id = payment.get("id")
            name = _RECONCILE_EVENTS.get(status) if isinstance(status, str) else None
            if name is None or not isinstance(payment_id, str) or not payment_id:
                continue
            report.payments_seen += 1
            entity = {**payment, "order_id": razorpay_order_id}
            payload = {
                "entity": "event",
                "event": name,
                "contains": ["payment"],
                "payload": {"payment": {"entity": entity}},
                "created_at": payment.get("created_at"),
            }
            key = f"reconcile:{payment_id}:{status}"[:MAX_EVENT_ID]
            async with db.transaction() as session:
                outcome, result = await record_and_apply(
                    session, payload, event_key=key, source="reconcile"
                )
            if outcome == "duplicate":
                report.duplicates += 1
            elif outcome == "applied":
                report.applied += 1
                report.details.append(f"{razorpay_order_id}: {payment_id} {result.reason}")
            elif outcome == "rejected":
                report.rejected += 1
                report.details.append(f"{razorpay_order_id}: {payment_id} rejected {result.reason}")
            else:
                report.ignored += 1
    return report
