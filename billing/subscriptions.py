"""A workspace's subscription as the owner sees it: the view, cancel at period end, resume, and
the payment history.

Services take a session and never commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, cast

from sqlalchemy.ext.asyncio import AsyncSession

from billing import event_repository, held_charges, provider_cancels
from billing import repository as repo
from billing.catalog import purchasable
from billing.models import BillingOrder, BillingPayment, Subscription
from billing.provider_events import bounded_int, short, webhook_entity
from billing.schemas import HeldChargeOut, PaymentOut, SubscriptionOut
from billing.state import PaidPeriod, SubscriptionState
from core.errors import Conflict, ValidationFailed
from core.pagination import cursor_scope, decode_cursor, encode_key
from workspaces import audit, notifications
from workspaces.models import Workspace
from workspaces.permissions import Action, authorize
from workspaces.plans import PAID_PLANS, PLAN_RANK
from workspaces.service import WorkspaceAccess
from workspaces.usage import effective_plan, lasting_plan

# How long before a paid period ends its owners are told (plans are prepaid: nothing renews).
EXPIRY_NOTICES: Final = (timedelta(days=7), timedelta(days=1))


def subscription_state(sub: Subscription) -> SubscriptionState:
    """The stored row as the state machine's ``SubscriptionState``."""
    return SubscriptionState(
        plan_code=sub.plan,
        status=cast(Any, sub.status),
        period=cast(Any, sub.period),
        current_period_end=sub.current_period_end,
        plan_changed_at=sub.plan_changed_at,
        status_changed_at=sub.status_changed_at,
        applied_payment_ids=frozenset(sub.applied_payment_ids or ()),
        refunded_payment_ids=frozenset(sub.refunded_payment_ids or ()),
        paid_periods=frozenset(PaidPeriod.from_json(p) for p in sub.paid_periods or ()),
    )


def running_paid_plan(sub: Subscription | None, now: datetime) -> str | None:
    """The paid plan whose period is still running at ``now``, if any."""
    if sub is None or sub.plan not in PAID_PLANS or sub.current_period_end is None:
        return None
    return sub.plan if now < sub.current_period_end else None


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
            razorpay_cancel=provider_cancels.view(sub),
            razorpay_subscription=provider_cancels.linked(sub),
        )
    state = subscription_state(sub)
    status = state.status
    ended = sub.current_period_end is not None and now >= sub.current_period_end
    if ended and sub.cancel_at_period_end:
        status = "cancelled"
    return SubscriptionOut(
        plan=sub.plan,
        # Once the period has ended: the workspace's own plan (free, or the non-expiring plan
        # it had before it paid).
        effective_plan=workspace_plan if ended else state.effective_plan(now),
        status=status,
        period=sub.period,
        current_period_end=sub.current_period_end,
        cancel_at_period_end=sub.cancel_at_period_end,
        pending_plan=sub.pending_plan,
        razorpay_cancel=provider_cancels.view(sub),
        razorpay_subscription=provider_cancels.linked(sub),
    )


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
    A linked Razorpay Subscription is cancelled at the end of its cycle (its ``razorpay_cancel``
    reads ``pending`` until Razorpay took it: the caller enqueues ``CANCEL_JOB`` after the
    commit), also when no paid period of ours runs (its charges grant none).

    ``downgrade_to`` records the lower plan the owner intends to buy then (shown as pending).
    """
    authorize(access, Action.BILLING_MANAGE)
    now = now or datetime.now(UTC)
    workspace_id = access.workspace.id
    sub = await repo.lock_subscription(session, workspace_id)
    running = running_paid_plan(sub, now)
    # A linked subscription Razorpay ended (``provider_cancelled`` now) has nothing to stop.
    charging = sub.razorpay_subscription_id is not None and sub.provider_cancelled != "now"
    if running is None and not charging:
        raise Conflict("There is no paid period to cancel", code="nothing_to_cancel")
    # A plan to buy once the period has ended: one that can be bought, below the running plan
    # and above the one the workspace falls back to anyway (free, or its DEFAULT_PLAN).
    fallback = lasting_plan(access.workspace)
    if downgrade_to is not None and (
        running is None
        or not purchasable(downgrade_to)
        or PLAN_RANK[downgrade_to] >= PLAN_RANK[running]
        or PLAN_RANK[downgrade_to] <= PLAN_RANK.get(fallback, 0)
    ):
        raise ValidationFailed(
            f"downgrade_to must be a plan to buy below {running} and above {fallback}, the plan"
            " the workspace returns to when the period ends",
            code="invalid_downgrade",
            details=[{"field": "downgrade_to", "message": "a lower plan that can be bought"}],
        )
    before = _cancel_asked(sub)
    await repo.update_subscription(
        session, workspace_id, cancel_at_period_end=True, pending_plan=downgrade_to
    )
    await provider_cancels.request(session, workspace_id, sub, "cycle_end", now)
    end = sub.current_period_end
    sub = await repo.lock_subscription(session, workspace_id)
    if _cancel_asked(sub) != before:  # the same cancel again changes nothing: no second entry
        await _audit(
            session,
            access,
            CANCEL_REQUESTED,
            plan=running,
            current_period_end=end.isoformat() if running and end else None,
            downgrade_to=downgrade_to,
        )
    return subscription_view(sub, effective_plan(access.workspace, now), now)


async def resume(
    session: AsyncSession, access: WorkspaceAccess, now: datetime | None = None
) -> SubscriptionOut:
    """Undo ``cancel_at_period_end``: the paid period's cancel, and a linked Razorpay
    Subscription's cancel not sent yet, also when no paid period of ours runs (as the cancel
    was allowed then). One Razorpay took, or may have, is 409
    ``razorpay_subscription_cancelled``."""
    authorize(access, Action.BILLING_MANAGE)
    now = now or datetime.now(UTC)
    workspace_id = access.workspace.id
    sub = await repo.lock_subscription(session, workspace_id)
    asked_razorpay = sub.razorpay_subscription_id is not None and (
        sub.provider_cancel is not None or sub.provider_cancelled is not None
    )
    if running_paid_plan(sub, now) is None and not asked_razorpay:
        raise Conflict("There is no paid period to resume", code="nothing_to_resume")
    # A linked Razorpay Subscription's cancel, once sent, cannot be undone: 409.
    withdrawn = sub.cancel_at_period_end or provider_cancels.withdrawable(sub)
    dropped = sub.pending_plan
    await provider_cancels.withdraw(session, workspace_id, sub)
    await repo.update_subscription(
        session, workspace_id, cancel_at_period_end=False, pending_plan=None
    )
    if withdrawn:  # resuming what was not cancelled changes nothing: no entry
        await _audit(
            session, access, RESUMED, plan=running_paid_plan(sub, now), downgrade_to=dropped
        )
    sub = await repo.lock_subscription(session, workspace_id)
    return subscription_view(sub, effective_plan(access.workspace, now), now)


def _cancel_asked(sub: Subscription) -> tuple[object, ...]:
    """What a cancel at period end sets: a cancel that changes none of it is no new entry."""
    return (sub.cancel_at_period_end, sub.pending_plan, sub.provider_cancel)


CANCEL_REQUESTED: Final = "billing.cancel_requested"
"""Audit event: an owner cancelled at the period's end (the API's cancel, the plan page's stop
of a linked Razorpay Subscription)."""
RESUMED: Final = "billing.resumed"
"""Audit event: an owner took that cancel back."""


async def _audit(
    session: AsyncSession, access: WorkspaceAccess, action: str, **details: str | None
) -> None:
    """The owner's billing ``action`` in the workspace's audit log, with who and from where."""
    await audit.record(
        session,
        workspace_id=access.workspace.id,
        action=action,
        actor=audit.Actor.of(access),
        target_type="subscription",
        details=details,
    )


async def razorpay_cancel_withdrawable(session: AsyncSession, access: WorkspaceAccess) -> bool:
    """Whether ``resume`` would take back a cancel of the linked Razorpay Subscription that
    waits and was never sent (the plan page offers the owner to undo it)."""
    sub = await repo.get_subscription(session, access.workspace.id)
    return sub is not None and provider_cancels.withdrawable(sub)


async def list_payments(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    limit: int,
    before: datetime | None = None,
    cursor: str | None = None,
) -> tuple[list[PaymentOut], str | None]:
    """A page of the workspace's payments, newest first, after ``cursor`` (or, deprecated,
    recorded before ``before``), and the cursor of the next page: None when no more exist."""
    authorize(access, Action.PAYMENTS_READ)
    if cursor and before is not None:
        raise ValidationFailed(
            "Pass cursor or before, not both (before is deprecated: follow next_cursor)",
            details=[{"field": "before", "message": "not with cursor"}],
        )
    scope = cursor_scope("payments", access.workspace.id)
    rows = await repo.list_payments(
        session,
        workspace_id=access.workspace.id,
        limit=limit + 1,  # one more says whether a next page holds anything
        before=before,
        after=decode_cursor(cursor, scope=scope) if cursor else None,
    )
    page = rows[:limit]
    last = page[-1][0] if len(rows) > limit else None  # paged on (paid_at, id)
    next_cursor = encode_key(last.paid_at, last.id, scope=scope) if last else None
    return [_payment_out(payment, order) for payment, order in page], next_cursor


async def list_held_charges(
    session: AsyncSession, access: WorkspaceAccess
) -> list[held_charges.HeldCharge]:
    """The recurring charges Razorpay took after the owner's cancel, held for a refund, with
    what became of them (``held``, ``refunded``, ``kept``), newest first: no order of ours, so
    not in ``list_payments``."""
    authorize(access, Action.PAYMENTS_READ)
    return await held_charges.of_workspace(session, access.workspace.id)


def held_charge_out(charge: held_charges.HeldCharge) -> HeldChargeOut:
    """A held charge as ``GET /billing/payments`` lists it: its state as the plan page words
    it (``part_refunded``: refunded in part, the rest held)."""
    refunded = charge.partly_refunded or 0
    status: Literal["held", "part_refunded", "refunded", "kept"] = charge.state
    if charge.state == "refunded":
        refunded = charge.amount or 0
    elif charge.state == "held" and charge.partly_refunded is not None:
        status = "part_refunded"
    return HeldChargeOut(
        razorpay_payment_id=charge.payment_id,
        amount=charge.amount,
        currency=charge.currency,
        charged_at=charge.charged_at,
        status=status,
        amount_refunded=refunded,
    )


def _payment_out(payment: BillingPayment, order: BillingOrder) -> PaymentOut:
    return PaymentOut(
        razorpay_payment_id=payment.razorpay_payment_id,
        order_id=order.id,
        plan=order.plan,
        period=order.period,
        amount=payment.amount,
        currency=payment.currency,
        amount_refunded=payment.amount_refunded or 0,
        status=payment.status,
        method=payment.method,
        source=payment.source,
        paid_at=payment.paid_at,
        created_at=payment.created_at,
    )


async def end_with_workspace(
    session: AsyncSession, workspace_id: uuid.UUID, now: datetime | None = None
) -> bool:
    """The workspace is being deleted: its paid plan ends with the current period and no
    change is pending (our plans are prepaid per period), and a linked Razorpay Subscription
    is to be cancelled at once. True when that cancel waits to be sent (the caller enqueues
    ``provider_cancels.CANCEL_JOB`` after the commit, or the purge sends it)."""
    sub = await repo.lock_existing_subscription(session, workspace_id)
    if sub is None:
        return False
    await repo.update_subscription(
        session, workspace_id, cancel_at_period_end=True, pending_plan=None
    )
    return await provider_cancels.request(
        session, workspace_id, sub, "now", now or datetime.now(UTC)
    )


async def held_for_refund(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[tuple[str, int | None, str | None]]:
    """The workspace's payments recorded ``rejected`` or ``held`` (money taken that granted
    nothing: an amount that did not match its order, a payment after the workspace was deleted,
    a lower plan paid while a higher one ran, a plan a later payment replaced), then the
    recurring charges of a linked Razorpay Subscription held as ``charged_after_cancel`` (no
    order of ours: only their event rows, which a purge deletes, named them): (payment id,
    amount, currency), for a human to refund. One entry per payment: a build before
    ``charge_already_held`` flagged both webhooks of a charge."""
    held = await repo.payments_with_status(session, workspace_id, *repo.HELD_FOR_REFUND)
    named = {payment_id for payment_id, _, _ in held}
    for payment_id, payload in await event_repository.payloads_with_reason(
        session, workspace_id, provider_cancels.CHARGED_AFTER_CANCEL
    ):
        if payment_id in named:
            continue
        named.add(payment_id)
        payment = webhook_entity(payload, "payment")
        held.append(
            (payment_id, bounded_int(payment.get("amount")), short(payment.get("currency"), 3))
        )
    return held


def expiry_notice_due(workspace: Workspace, now: datetime) -> timedelta | None:
    """The nearest of ``EXPIRY_NOTICES`` the workspace's paid period is within at ``now``, or
    ``None`` (no paid period, ended, or further away than all of them)."""
    end = workspace.plan_expires_at
    if end is None or now >= end or workspace.plan not in PAID_PLANS:
        return None
    due = [before for before in EXPIRY_NOTICES if end - before <= now]
    return min(due) if due else None


async def notify_expiring(session: AsyncSession, workspace: Workspace, now: datetime) -> bool:
    """``plan.expiring`` for the workspace's owners when its paid period ends within one of
    ``EXPIRY_NOTICES``: once per notice and period end (extending moves the end, so the new end
    is told again). True when a new event was recorded."""
    before = expiry_notice_due(workspace, now)
    if before is None:
        return False
    end = workspace.plan_expires_at
    assert end is not None  # checked by expiry_notice_due
    return await notifications.emit(
        session,
        workspace.id,
        "plan.expiring",
        f"{end.isoformat()}:{before.days}d",
        {"plan": workspace.plan, "ends_at": end.isoformat(), "fallback": lasting_plan(workspace)},
    )
