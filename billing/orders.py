"""Buying a plan: a Razorpay order at the catalog price, then Checkout's signed answer grants it.

Services take a session and never commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing import repository as repo
from billing.catalog import CURRENCY, catalog_price
from billing.events import Applied, apply_order_event
from billing.models import BillingOrder, Subscription
from billing.provider import PaymentProvider
from billing.signatures import verify_checkout_signature
from billing.state import BillingEvent
from billing.subscriptions import running_paid_plan
from core.errors import Conflict, NotFound
from workspaces import audit
from workspaces.permissions import Action, authorize
from workspaces.plans import PLAN_RANK, Period
from workspaces.service import WorkspaceAccess, require_verified
from workspaces.usage import effective_plan


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
    Razorpay created it (a 503 from the provider leaves no row behind). An owner whose email
    is unverified cannot buy (403 ``email_unverified``)."""
    authorize(access, Action.BILLING_MANAGE)
    await require_verified(session, access)
    amount = catalog_price(plan, period)
    now = now or datetime.now(UTC)
    workspace_id = access.workspace.id
    if effective_plan(access.workspace, now) == "unlimited":
        # The self-hosted plan: buying a paid plan would lower its limits, then end on free.
        raise Conflict(
            "This workspace is on the unlimited plan: there is no plan to buy",
            code="unlimited_plan",
        )
    running = running_paid_plan(await repo.get_subscription(session, workspace_id), now)
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
    authorize(access, Action.BILLING_MANAGE)
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
    applied = await apply_order_event(
        session,
        workspace_id=workspace_id,
        order_id=order.id,
        event=event,
        payment_entity={},
        source="verify",
        actor=audit.Actor.of(access),
    )
    sub = await repo.lock_subscription(session, workspace_id)
    return applied, sub
