"""Billing over HTTP: the public plan list and Razorpay webhook, and each workspace's billing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request, status

from api.data_lifecycle import cancel_after_commit
from api.deps import (
    CursorDep,
    LimitDep,
    QueryDatetime,
    RuntimeDep,
    SessionDep,
    SettingsDep,
    WorkspaceDep,
)
from api.openapi import errors
from api.throttling import rate_limit_billing_order
from billing import catalog, orders, subscriptions, webhooks
from billing.provider import PaymentProvider
from billing.schemas import (
    CancelIn,
    OrderIn,
    OrderOut,
    PaymentPage,
    PlansOut,
    SubscriptionOut,
    VerifyIn,
    VerifyOut,
    WebhookAck,
)
from billing.signatures import BillingDisabled, InvalidSignature
from core.config import Settings

router = APIRouter(tags=["billing"])


def require_billing(settings: SettingsDep) -> Settings:
    if not settings.billing_enabled:
        raise BillingDisabled(
            "Billing is not configured on this server: set RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET"
        )
    return settings


BillingSettingsDep = Annotated[Settings, Depends(require_billing)]


def get_provider(settings: BillingSettingsDep, runtime: RuntimeDep) -> PaymentProvider:
    """The runtime's provider (tests point it at a local fake through RAZORPAY_BASE_URL)."""
    if runtime.payments is None:  # billing is configured, so the runtime built one
        raise BillingDisabled("Billing is not configured on this server")
    return runtime.payments


ProviderDep = Annotated[PaymentProvider, Depends(get_provider)]


@router.get("/billing/plans", response_model=PlansOut)
async def list_plans() -> PlansOut:
    return PlansOut(items=catalog.list_plans())


@router.post("/billing/webhooks/razorpay", response_model=WebhookAck, responses=errors(400))
async def razorpay_webhook(
    request: Request,
    runtime: RuntimeDep,
    settings: SettingsDep,
    x_razorpay_event_id: Annotated[str | None, Header()] = None,
) -> WebhookAck:
    """Signed with the webhook secret over the raw body; stored once per event id; always 2xx
    for a valid signature (unknown events are stored as ignored). The body is read and its
    signature checked before any database work: only a verified event takes a connection."""
    signatures = request.headers.getlist("x-razorpay-signature")
    if len(signatures) > 1:
        raise InvalidSignature(details={"reason": "multiple"})
    verified = webhooks.verify_webhook(
        raw_body=await request.body(),
        signature=signatures[0] if signatures else None,
        event_id=x_razorpay_event_id,
        secrets=settings.razorpay_webhook_secret,
    )
    async with runtime.db.transaction() as session:
        result = await webhooks.process_webhook(session, verified)
    return WebhookAck(
        status=result.status,
        event_id=result.event_id,
        reason=result.reason,
    )


@router.post(
    "/workspaces/{workspace_id}/billing/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
)
async def create_order(
    request: Request,
    body: OrderIn,
    access: WorkspaceDep,
    settings: BillingSettingsDep,
    session: SessionDep,
    provider: ProviderDep,
) -> OrderOut:
    order = await orders.create_order(
        session,
        access,
        plan=body.plan,
        period=body.period,
        provider=provider,
        admit=lambda: rate_limit_billing_order(request, access.workspace.id),
    )
    return OrderOut(
        order_id=order.id,
        razorpay_order_id=order.razorpay_order_id,
        amount=order.amount,
        currency=order.currency,
        key_id=provider.key_id,
        plan=order.plan,
        period=order.period,
        status=order.status,
    )


@router.post("/workspaces/{workspace_id}/billing/verify", response_model=VerifyOut)
async def verify_payment(
    body: VerifyIn,
    access: WorkspaceDep,
    settings: BillingSettingsDep,
    session: SessionDep,
    provider: ProviderDep,
) -> VerifyOut:
    assert settings.razorpay_key_secret is not None
    applied, view = await orders.verify_checkout(
        session,
        access,
        razorpay_order_id=body.razorpay_order_id,
        razorpay_payment_id=body.razorpay_payment_id,
        razorpay_signature=body.razorpay_signature,
        key_secret=settings.razorpay_key_secret,
        provider=provider,
    )
    assert applied.order_id is not None
    return VerifyOut(
        order_id=applied.order_id,
        order_status=applied.order_status or "created",
        applied=applied.outcome == "applied",
        reason=applied.reason,
        subscription=view,
    )


@router.get("/workspaces/{workspace_id}/billing/subscription", response_model=SubscriptionOut)
async def get_subscription(
    access: WorkspaceDep, settings: BillingSettingsDep, session: SessionDep
) -> SubscriptionOut:
    return await subscriptions.get_subscription(session, access)


@router.post(
    "/workspaces/{workspace_id}/billing/subscription/cancel", response_model=SubscriptionOut
)
async def cancel_subscription(
    access: WorkspaceDep,
    settings: BillingSettingsDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
    body: CancelIn | None = None,
) -> SubscriptionOut:
    """Cancel at period end; a linked Razorpay Subscription is cancelled at the end of its
    cycle (``razorpay_cancel`` reads ``pending`` until Razorpay took it)."""
    out = await subscriptions.cancel_at_period_end(
        session, access, downgrade_to=body.downgrade_to if body else None
    )
    if out.razorpay_cancel == "pending":
        cancel_after_commit(background, runtime.jobs, [access.workspace.id])
    return out


@router.post(
    "/workspaces/{workspace_id}/billing/subscription/resume",
    response_model=SubscriptionOut,
    responses=errors(409),
)
async def resume_subscription(
    access: WorkspaceDep, settings: BillingSettingsDep, session: SessionDep
) -> SubscriptionOut:
    return await subscriptions.resume(session, access)


@router.get("/workspaces/{workspace_id}/billing/payments", response_model=PaymentPage)
async def list_payments(
    access: WorkspaceDep,
    settings: BillingSettingsDep,
    session: SessionDep,
    limit: LimitDep,
    cursor: CursorDep = None,
    before: Annotated[
        QueryDatetime | None,
        Query(
            deprecated=True,
            description="deprecated: payments paid before this moment; skips those that"
            " share the last one's moment. Follow `next_cursor` instead",
        ),
    ] = None,
) -> PaymentPage:
    """Newest paid first (`paid_at`); `next_cursor` continues after the last payment of the page."""
    items, next_cursor = await subscriptions.list_payments(
        session, access, limit=limit, before=before, cursor=cursor
    )
    # Beside the newest payments, as on the plan page.
    first = not cursor and before is None
    held = await subscriptions.list_held_charges(session, access) if first else []
    return PaymentPage(
        items=items,
        held_charges=[subscriptions.held_charge_out(charge) for charge in held],
        next_cursor=next_cursor,
        next_before=items[-1].paid_at if next_cursor else None,
    )
