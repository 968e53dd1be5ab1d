"""The SQL of the billing domain (the webhook events' rows: ``billing/event_repository.py``).
Callers pass a session whose tenant context is set.

Webhooks arrive without a user: the order (or payment, subscription, event) is first found through
the narrow ``app.lookup`` RLS clause, then the workspace becomes the transaction's tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal_column, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import BillingOrder, BillingPayment, Subscription
from billing.paid_periods import PastPayment
from core.models import utcnow
from core.pagination import newest_first
from workspaces.models import Workspace

# app.lookup value under which the app role sees (only) the pending orders of every workspace.
RECONCILE_LOOKUP = "billing:reconcile-pending"
# Orders a payment may still arrive for: a failed attempt may be followed by a paid one
# (billing/state.py); the RLS policy under RECONCILE_LOOKUP shows these (migration 0013).
PENDING_STATUSES = ("created", "attempted", "failed")
# The sweep of linked Razorpay Subscriptions' waiting cancels (billing/provider_cancels.py): the
# RLS policy under it shows the subscriptions with one waiting, nothing else (migration 0033).
CANCELS_LOOKUP = "billing:provider-cancels"
# A payment's status only moves forward when Razorpay tells us about it again. A capture we
# rejected (amount or currency not the order's) stays `rejected`, for a human to refund, until
# the money went back.
# A payment `held` bought nothing (a lower plan paid while a higher one ran, a plan a later
# payment replaced): kept for a refund, like a rejected one.
_PAYMENT_RANK = (
    "ARRAY['failed', 'authorized', 'captured', 'held', 'rejected', 'refunded', 'chargeback']"
    "::text[]"
)
HELD_FOR_REFUND = ("held", "rejected")
_NOT_TAKEN = ("failed", "authorized")  # a payment's statuses before its money was taken

# --- orders ----------------------------------------------------------------------------------


async def insert_order(session: AsyncSession, order: BillingOrder) -> BillingOrder:
    session.add(order)
    await session.flush()
    return order


async def find_order_by_razorpay_id(
    session: AsyncSession, razorpay_order_id: str
) -> BillingOrder | None:
    """Visible through RLS either in the current workspace or via ``app.lookup``."""
    result = await session.execute(
        select(BillingOrder).where(BillingOrder.razorpay_order_id == razorpay_order_id)
    )
    return result.scalar_one_or_none()


async def lock_order(
    session: AsyncSession, *, workspace_id: uuid.UUID, order_id: uuid.UUID
) -> BillingOrder | None:
    """The order, locked until the transaction ends, fresh from the database."""
    result = await session.execute(
        select(BillingOrder)
        .where(BillingOrder.workspace_id == workspace_id, BillingOrder.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def update_order(session: AsyncSession, order_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(BillingOrder)
        .where(BillingOrder.id == order_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


async def list_pending_orders(
    session: AsyncSession,
    *,
    created_before: datetime,
    created_after: datetime,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID, str, datetime]]:
    """(order id, workspace id, razorpay order id, created at) of pending orders across
    workspaces created in [``created_after``, ``created_before``), oldest first (then by id),
    from after the ``(created_at, id)`` of the last order of the page before.

    The caller sets ``app.lookup`` to ``RECONCILE_LOOKUP``; RLS then shows pending orders only.
    """
    stmt = (
        select(
            BillingOrder.id,
            BillingOrder.workspace_id,
            BillingOrder.razorpay_order_id,
            BillingOrder.created_at,
        )
        .where(
            BillingOrder.status.in_(PENDING_STATUSES),
            BillingOrder.created_at < created_before,
            BillingOrder.created_at >= created_after,
        )
        .order_by(BillingOrder.created_at, BillingOrder.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(tuple_(BillingOrder.created_at, BillingOrder.id) > tuple_(*after))
    result = await session.execute(stmt)
    return [(row[0], row[1], row[2], row[3]) for row in result.all()]


# --- payments --------------------------------------------------------------------------------


async def upsert_payment(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    order_id: uuid.UUID,
    razorpay_payment_id: str,
    amount: int | None,
    currency: str | None,
    status: str,
    method: str | None,
    source: str,
    raw: dict[str, Any],
    paid_at: datetime,
    took_money: bool,
    keep_status: bool = False,
    amount_refunded: int | None = None,
) -> None:
    """Insert the payment or refresh it; a status only moves forward (see ``PAYMENT_RANK``),
    and not at all with ``keep_status`` (a refund we rejected says nothing of the payment).
    ``amount_refunded`` only grows: an older event delivered again takes no refund back.
    ``paid_at`` (the event's time) dates a new payment; the first event that ``took_money``
    (its capture) dates one recorded only authorized or failed so far, and nothing else moves
    it (a refund, the capture's ``order.paid`` seconds later, a retry)."""
    stmt = insert(BillingPayment).values(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        order_id=order_id,
        razorpay_payment_id=razorpay_payment_id,
        amount=amount,
        currency=currency,
        status=status,
        method=method,
        source=source,
        raw=raw,
        amount_refunded=amount_refunded,
        paid_at=paid_at,
    )
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[BillingPayment.razorpay_payment_id],
        set_={
            "status": BillingPayment.status
            if keep_status
            else literal_column(
                f"CASE WHEN array_position({_PAYMENT_RANK}, excluded.status)"
                f" >= coalesce(array_position({_PAYMENT_RANK}, billing_payments.status), 0)"
                " THEN excluded.status ELSE billing_payments.status END"
            ),
            "method": func.coalesce(excluded.method, BillingPayment.method),
            "amount": func.coalesce(BillingPayment.amount, excluded.amount),
            "currency": func.coalesce(BillingPayment.currency, excluded.currency),
            "amount_refunded": func.greatest(
                BillingPayment.amount_refunded, excluded.amount_refunded
            ),
            "raw": BillingPayment.raw.op("||")(excluded.raw),
            "paid_at": case(
                (BillingPayment.status.in_(_NOT_TAKEN), excluded.paid_at),
                else_=BillingPayment.paid_at,
            )
            if took_money
            else BillingPayment.paid_at,
            "updated_at": utcnow(),
        },
        where=BillingPayment.workspace_id == workspace_id,
    )
    await session.execute(stmt)


async def recorded_charge(
    session: AsyncSession, workspace_id: uuid.UUID, razorpay_payment_id: str
) -> tuple[int, str] | None:
    """(amount, currency) a payment of the workspace charged, as recorded; None when unknown."""
    result = await session.execute(
        select(BillingPayment.amount, BillingPayment.currency).where(
            BillingPayment.workspace_id == workspace_id,
            BillingPayment.razorpay_payment_id == razorpay_payment_id,
        )
    )
    row = result.first()
    return (row[0], row[1]) if row and row[0] and row[1] else None


async def mark_held(session: AsyncSession, workspace_id: uuid.UUID, payment_id: str) -> None:
    """An applied payment taken back by a higher plan's payment reported late: ``held`` for a
    refund (a status that moved on, refunded say, stays)."""
    await _move_status(session, workspace_id, payment_id, "captured", "held")


async def mark_captured(session: AsyncSession, workspace_id: uuid.UUID, payment_id: str) -> None:
    """A payment held for a refund that now pays its order (the one that paid it was refunded):
    ``captured`` again (a status that only moves forward otherwise, see ``upsert_payment``)."""
    await _move_status(session, workspace_id, payment_id, "held", "captured")


async def get_payment(
    session: AsyncSession, workspace_id: uuid.UUID, payment_id: str
) -> BillingPayment | None:
    """The workspace's recorded payment, or None."""
    result = await session.execute(
        select(BillingPayment).where(
            BillingPayment.workspace_id == workspace_id,
            BillingPayment.razorpay_payment_id == payment_id[:64],
        )
    )
    return result.scalar_one_or_none()


async def reverse_chargeback(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    payment_id: str,
    status: str,
    *,
    refunded: int,
) -> None:
    """A payment charged back whose dispute was won in a later phase: ``status`` again
    (``captured``, or ``held`` for one that bought nothing; a status that only moves forward
    otherwise, see ``upsert_payment``), ``refunded`` what its refunds (not the chargeback) gave
    back."""
    await session.execute(
        update(BillingPayment)
        .where(
            BillingPayment.workspace_id == workspace_id,
            BillingPayment.razorpay_payment_id == payment_id[:64],
            BillingPayment.status == "chargeback",
        )
        .values(status=status, amount_refunded=refunded, updated_at=utcnow())
    )


async def _move_status(
    session: AsyncSession, workspace_id: uuid.UUID, payment_id: str, was: str, now: str
) -> None:
    await session.execute(
        update(BillingPayment)
        .where(
            BillingPayment.workspace_id == workspace_id,
            BillingPayment.razorpay_payment_id == payment_id[:64],
            BillingPayment.status == was,
        )
        .values(status=now, updated_at=utcnow())
    )


async def payments_with_status(
    session: AsyncSession, workspace_id: uuid.UUID, *statuses: str
) -> list[tuple[str, int | None, str | None]]:
    """(payment id, amount, currency) of the workspace's payments in one of ``statuses``."""
    result = await session.execute(
        select(BillingPayment.razorpay_payment_id, BillingPayment.amount, BillingPayment.currency)
        .where(BillingPayment.workspace_id == workspace_id, BillingPayment.status.in_(statuses))
        .order_by(BillingPayment.created_at)
    )
    return [(str(pid), amount, currency) for pid, amount, currency in result.all()]


async def order_payment_ids(
    session: AsyncSession, workspace_id: uuid.UUID, order_id: uuid.UUID, *statuses: str
) -> frozenset[str]:
    """The ids of the payments recorded on one order of the workspace (with one of
    ``statuses``, when given)."""
    query = select(BillingPayment.razorpay_payment_id).where(
        BillingPayment.workspace_id == workspace_id, BillingPayment.order_id == order_id
    )
    if statuses:
        query = query.where(BillingPayment.status.in_(statuses))
    result = await session.execute(query)
    return frozenset(str(pid) for pid in result.scalars().all())


async def find_payment_order(
    session: AsyncSession, razorpay_payment_id: str
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(workspace id, order id) of a payment we recorded, visible via ``app.lookup`` = the
    payment id. Its order is only visible in its workspace (``order_razorpay_id``)."""
    result = await session.execute(
        select(BillingPayment.workspace_id, BillingPayment.order_id).where(
            BillingPayment.razorpay_payment_id == razorpay_payment_id
        )
    )
    row = result.first()
    return (row[0], row[1]) if row else None


async def order_razorpay_id(session: AsyncSession, order_id: uuid.UUID) -> str | None:
    """The Razorpay order id of our order (the session's tenant must be its workspace)."""
    result = await session.execute(
        select(BillingOrder.razorpay_order_id).where(BillingOrder.id == order_id)
    )
    return result.scalar_one_or_none()


async def list_payments(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    limit: int,
    before: datetime | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[tuple[BillingPayment, BillingOrder]]:
    """Newest paid first by (paid_at, id), after the key ``after``; or (deprecated) those
    paid before ``before``, which skips payments sharing the boundary's moment."""
    stmt = newest_first(
        select(BillingPayment, BillingOrder)
        .join(BillingOrder, BillingOrder.id == BillingPayment.order_id)
        .where(BillingPayment.workspace_id == workspace_id),
        BillingPayment,
        after=after,
        limit=limit,
        by=BillingPayment.paid_at,
    )
    if before is not None:
        stmt = stmt.where(BillingPayment.paid_at < before)
    result = await session.execute(stmt)
    return [(row[0], row[1]) for row in result.all()]


async def applied_payments(
    session: AsyncSession, workspace_id: uuid.UUID, payment_ids: Iterable[str]
) -> list[PastPayment]:
    """What each of ``payment_ids`` bought (its order's plan and period) and when: the time its
    order was paid when the order names it (the event that applied it), else when the customer
    paid it (``paid_at``, migration 0035). Not when we recorded it: a payment recorded late (a
    webhook retried for days, one reconcile found) whose order does not name it (a second
    payment an older release applied on a paid order) was replayed after payments made since,
    swapping periods with them, and refunding it took back another payment's month."""
    paid_at = case(
        (
            (BillingOrder.razorpay_payment_id == BillingPayment.razorpay_payment_id)
            & BillingOrder.paid_at.is_not(None),
            BillingOrder.paid_at,
        ),
        else_=BillingPayment.paid_at,
    )
    result = await session.execute(
        select(BillingPayment.razorpay_payment_id, BillingOrder.plan, BillingOrder.period, paid_at)
        .join(BillingOrder, BillingOrder.id == BillingPayment.order_id)
        .where(
            BillingPayment.workspace_id == workspace_id,
            BillingPayment.razorpay_payment_id.in_(sorted(payment_ids)),
        )
    )
    return [
        PastPayment(payment_id=row[0], plan_code=row[1], period=row[2], paid_at=row[3])
        for row in result.all()
        if row[2] in ("monthly", "yearly")
    ]


# --- subscriptions ---------------------------------------------------------------------------


async def get_subscription(session: AsyncSession, workspace_id: uuid.UUID) -> Subscription | None:
    result = await session.execute(
        select(Subscription).where(Subscription.workspace_id == workspace_id)
    )
    return result.scalar_one_or_none()


async def lock_subscription(session: AsyncSession, workspace_id: uuid.UUID) -> Subscription:
    """The workspace's subscription row (created on first use), locked until the end."""
    await session.execute(
        insert(Subscription)
        .values(workspace_id=workspace_id)
        .on_conflict_do_nothing(index_elements=[Subscription.workspace_id])
    )
    sub = await lock_existing_subscription(session, workspace_id)
    assert sub is not None  # inserted above, or there already
    return sub


async def lock_existing_subscription(
    session: AsyncSession, workspace_id: uuid.UUID
) -> Subscription | None:
    """The workspace's subscription row, locked until the end; None when it has none (a purged
    workspace: no row is made for it)."""
    result = await session.execute(
        select(Subscription)
        .where(Subscription.workspace_id == workspace_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def provider_cancels_due(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[uuid.UUID]:
    """The workspaces whose linked Razorpay Subscription's cancel waits and is due at ``now``
    (``app.lookup`` = ``CANCELS_LOOKUP``), the longest due first."""
    result = await session.execute(
        select(Subscription.workspace_id)
        .where(
            Subscription.provider_cancel.is_not(None),
            or_(
                Subscription.provider_cancel_next_at.is_(None),
                Subscription.provider_cancel_next_at <= now,
            ),
        )
        .order_by(Subscription.provider_cancel_next_at.nulls_first())
        .limit(limit)
    )
    return list(result.scalars().all())


async def update_subscription(
    session: AsyncSession, workspace_id: uuid.UUID, **values: Any
) -> None:
    await session.execute(
        update(Subscription)
        .where(Subscription.workspace_id == workspace_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


async def find_subscription_workspace(
    session: AsyncSession, razorpay_subscription_id: str
) -> uuid.UUID | None:
    """Visible via ``app.lookup`` = the Razorpay subscription id."""
    result = await session.execute(
        select(Subscription.workspace_id).where(
            Subscription.razorpay_subscription_id == razorpay_subscription_id
        )
    )
    return result.scalar_one_or_none()


# --- the workspace's plan (what quotas read) -------------------------------------------------


async def get_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    result = await session.execute(
        select(Workspace)
        .where(Workspace.id == workspace_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def set_workspace_plan(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    plan: str,
    expires_at: datetime | None,
) -> None:
    """``plan`` applies until ``expires_at``; then the workspace's ``fallback_plan`` does.

    A workspace whose plan did not expire (the deployment's ``DEFAULT_PLAN``, say Starter) keeps
    that plan as its fallback: a paid period ends on it, not on free. A paid plan replaced by
    another is kept as ``previous_plan`` with when it ended (its period's end, or now when it
    still ran: a refund that fell back to a lower plan), for its retention's grace.
    """
    now = utcnow()
    replaced = Workspace.plan_expires_at.is_not(None) & (Workspace.plan != plan)
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(
            plan=plan,
            plan_expires_at=expires_at,
            previous_plan=case((replaced, Workspace.plan), else_=Workspace.previous_plan),
            previous_plan_ended_at=case(
                (replaced, func.least(Workspace.plan_expires_at, now)),
                else_=Workspace.previous_plan_ended_at,
            ),
            fallback_plan=case(
                (Workspace.plan_expires_at.is_(None), Workspace.plan),
                else_=Workspace.fallback_plan,
            ),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
