"""Plan and usage: each quota as a meter, the subscription, payment history, and buying through
Razorpay Checkout: extending the running plan or upgrading.

Plans are prepaid per period and nothing renews on its own, so the page offers no "cancel" of
the plan: a paid plan ends on its period's end unless the owner extends it (the same plan again
adds a period after the current one ends). A Razorpay Subscription linked to the workspace does
charge the card every cycle: the owner stops it here (``plan/razorpay/stop``: the JSON API's
cancel, confirmed by a ticked box) and undoes a stop not sent to Razorpay yet
(``plan/razorpay/keep``: its resume); the page says what became of that cancel
(``RAZORPAY_CANCEL_WORDS``), and a refusal comes back on it as a notice.

Buying: our script (static/checkout.js) posts the chosen plan to ``plan/order`` (the billing
service creates the Razorpay order), opens Checkout with it, and posts Checkout's signed answer
to ``plan/verify`` (the same service as the JSON API's verify). Both answer JSON to that script.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.data_lifecycle import cancel_after_commit
from api.deps import SessionDep
from api.throttling import rate_limit_billing_order
from billing import catalog, orders, subscriptions
from billing.held_charges import HeldCharge
from billing.provider import PaymentProvider
from billing.schemas import PaymentOut, PeriodIn, SubscriptionOut, VerifyIn
from billing.signatures import BillingDisabled
from billing.state import HELD_REASONS
from core.errors import Conflict, ValidationFailed
from dashboard.page_route import PageRoute
from dashboard.pages.common import Page, PageDep, form_fields
from dashboard.web import (
    checkout_csp,
    redirect,
    render,
    runtime_of,
    utc_time,
    wants_json,
    with_signed_notice,
)
from rag.chat import faq as faq_service
from rag.knowledge import limits
from workspaces import usage
from workspaces.permissions import Action
from workspaces.plans import PAID_PLANS, PLAN_RANK, PLANS

router = APIRouter(route_class=PageRoute)

METRIC_LABELS = {
    "conversations": "Conversations this month",
    "messages": "Messages this month",
    "documents": "Documents",
    "chunks": "Knowledge chunks",
    "faqs": "FAQs",
    "members": "Team members and open invitations",
    "daily_llm_tokens": "AI answer tokens per day",
}
NO_SCRIPT = "Paying opens Razorpay Checkout, which needs JavaScript in this browser."
# What became of the Razorpay Subscription charging the owner's card (the view's
# ``razorpay_cancel``, billing/provider_cancels.py), in the owner's words.
RAZORPAY_CANCEL_WORDS = {
    "pending": "The Razorpay subscription that charges your card is being cancelled: Razorpay"
    " has not confirmed it yet, and we keep asking until it does. Nothing for you to do.",
    "at_cycle_end": "The Razorpay subscription that charges your card is cancelled: Razorpay"
    " charges your card no more once its current billing cycle ends.",
    "cancelled": "The Razorpay subscription that charged your card is cancelled: Razorpay"
    " charges your card no more.",
    "failed": "Razorpay refused to cancel the subscription that charges your card, so it may"
    " still charge your card. To stop it, contact whoever runs this service for you, or cancel"
    " the payment mandate yourself with Razorpay or your bank or UPI app.",
}
# A linked subscription no cancel was asked for (the view's ``razorpay_subscription`` active).
RAZORPAY_LIVE_WORDS = (
    "This workspace is linked to a Razorpay subscription: Razorpay charges your card every"
    " billing cycle. Cancelling the plan also cancels it at Razorpay at the end of its current"
    " billing cycle; deleting the workspace cancels it at once."
)


def _razorpay_words(subscription: SubscriptionOut) -> str | None:
    """What the page says of the linked Razorpay Subscription, if one is linked."""
    words = RAZORPAY_CANCEL_WORDS.get(subscription.razorpay_cancel or "")
    if words is None and subscription.razorpay_subscription == "active":
        return RAZORPAY_LIVE_WORDS
    return words


class UpgradeForm(BaseModel):
    """The plan an owner wants; the amount always comes from the catalog."""

    model_config = ConfigDict(extra="ignore")

    plan: str = Field(min_length=1, max_length=32)
    period: PeriodIn = "monthly"


def _running(subscription: SubscriptionOut, now: datetime) -> bool:
    """A paid period runs: its plan is the one in effect until ``current_period_end``."""
    end = subscription.current_period_end
    return (
        subscription.plan in PAID_PLANS
        and subscription.effective_plan == subscription.plan
        and end is not None
        and now < end
    )


def _days_left(subscription: SubscriptionOut, now: datetime) -> int:
    """Whole days (rounded up) until the running paid period ends: what an upgrade forfeits."""
    end = subscription.current_period_end
    return max(0, math.ceil((end - now).total_seconds() / 86400)) if end is not None else 0


def _offers(subscription: SubscriptionOut, running: bool) -> list[dict[str, Any]]:
    """What the owner can buy: while a paid period runs, the same plan again ("Extend": it adds
    a period after the current one ends), then the plans above the one in effect, with their
    prices per period. Plans are prepaid; nothing renews on its own."""
    rank = PLAN_RANK.get(subscription.effective_plan, 0)
    offers = []
    for p in catalog.list_plans():
        extends = running and p.code == subscription.plan
        if p.purchasable and (extends or PLAN_RANK.get(p.code, 0) > rank):
            label = f"Extend {p.name}" if extends else f"Upgrade to {p.name}"
            offers.append({"code": p.code, "name": p.name, "prices": p.prices, "label": label})
    return offers


PAYMENTS_PAGE = 20
PaymentsCursor = Annotated[str | None, Query(max_length=200)]
"""A page of the payment history (``core.pagination``'s keyset cursor, as the other lists of the
dashboard): a garbled one, or another list's, is the 422 page (``invalid_cursor``)."""


def _payments_url(page: Page, cursor: str | None) -> str:
    """The plan page at this page of the payment history (None: the newest)."""
    query = "?" + urlencode({"payments_cursor": cursor}) if cursor else ""
    return page.url("plan") + query + "#pay-h"


@router.get("/w/{workspace_id}/plan")
async def plan_page(
    request: Request, page: PageDep, session: SessionDep, payments_cursor: PaymentsCursor = None
) -> Response:
    workspace = page.access.workspace
    stored = await limits.stored_usage(session, workspace.id)
    stored["faqs"] = await faq_service.count(session, workspace.id)
    report = await usage.usage_report(session, workspace, stored)
    settings = request.app.state.runtime.settings
    billing_enabled = settings.billing_enabled
    may_manage = page.may(Action.BILLING_MANAGE)
    subscription = await subscriptions.get_subscription(session, page.access)
    payments: list[PaymentOut] = []
    next_payments: str | None = None
    held_charges: list[HeldCharge] = []
    if billing_enabled and may_manage:
        payments, next_payments = await subscriptions.list_payments(
            session, page.access, limit=PAYMENTS_PAGE, cursor=payments_cursor or None
        )
        if not payments_cursor:  # beside the newest payments
            held_charges = await subscriptions.list_held_charges(session, page.access)
    now = datetime.now(UTC)
    running = _running(subscription, now)
    offers = _offers(subscription, running) if billing_enabled and may_manage else []
    manages_razorpay = billing_enabled and may_manage
    # Stop: a linked subscription still charging, no cancel waiting (one Razorpay refused may
    # be asked again). Keep: a cancel waiting that was never sent.
    stop_razorpay = (
        manages_razorpay
        and subscription.razorpay_subscription == "active"
        and subscription.razorpay_cancel in (None, "failed")
    )
    keep_razorpay = (
        manages_razorpay
        and subscription.razorpay_cancel == "pending"
        and await subscriptions.razorpay_cancel_withdrawable(session, page.access)
    )
    # Checkout's script (another origin) only where it is used: an owner's plan page with
    # something to buy; the CSP of that page alone allows its origin.
    script_url = settings.razorpay_checkout_script_url if offers else None
    return render(
        request,
        "plan.html",
        {
            "page": page,
            "report": report,
            "labels": METRIC_LABELS,
            "plans": catalog.list_plans(),
            "subscription": subscription,
            "razorpay_cancel": _razorpay_words(subscription),
            "stop_razorpay": stop_razorpay,
            "keep_razorpay": keep_razorpay,
            "payments": payments,
            "held_charges": held_charges,
            "payments_first_page": not payments_cursor,
            "payments_first_url": _payments_url(page, None),
            "payments_next_url": _payments_url(page, next_payments) if next_payments else None,
            "offers": offers,
            "checkout_script_url": script_url,
            "billing_enabled": billing_enabled,
            "may_manage": may_manage,
            "running": running,
            "days_left": _days_left(subscription, now) if running else 0,
            "falls_back_to": usage.lasting_plan(workspace),
            "default_plan": settings.default_plan,
            "free_workspaces": settings.free_workspaces_per_account,
        },
        headers={"Content-Security-Policy": checkout_csp(script_url)} if script_url else None,
    )


def _provider(request: Request) -> PaymentProvider:
    payments = runtime_of(request).payments
    if payments is None:
        # The owner's words: the variables to set are the operator's (start line, docs).
        raise BillingDisabled(
            "Upgrading is not available on this server yet. To change plans, contact whoever "
            "runs this service for you."
        )
    return payments


def _invalid(exc: ValidationError) -> ValidationFailed:
    details = [
        {"field": ".".join(str(p) for p in err["loc"]), "message": str(err["msg"])}
        for err in exc.errors()
    ]
    return ValidationFailed(details=details)


def _plan_name(code: str) -> str:
    plan = PLANS.get(code)
    return plan.name if plan is not None else code


def _until(subscription: SubscriptionOut) -> str:
    """When the paid period ends, with its zone ("2026-03-04 14:00 UTC"): a date alone was
    read as the owner's local day."""
    end = subscription.current_period_end
    return utc_time(end) if end is not None else "the end of the period"


def _back(page: Page, notice: str) -> str:
    """The plan page with ``notice`` whole: every notice here is the server's own sentence,
    and the page shows up to 200 characters of one (``dashboard.web._notice``)."""
    return page.url("plan") + "?notice=" + quote(notice)


@router.post("/w/{workspace_id}/plan/order")
async def create_order(request: Request, page: PageDep, session: SessionDep) -> Response:
    """A Razorpay order for the chosen plan, and what Checkout needs to open on it."""
    if not wants_json(request):  # a form posted without our script: no order is created
        return redirect(request, _back(page, NO_SCRIPT))
    provider = _provider(request)
    try:
        wanted = UpgradeForm.model_validate(await form_fields(request))
    except ValidationError as exc:
        raise _invalid(exc) from None
    order = await orders.create_order(
        session,
        page.access,
        plan=wanted.plan,
        period=wanted.period,
        provider=provider,
        admit=lambda: rate_limit_billing_order(request, page.access.workspace.id),
    )
    user = request.state.chrome["user"]
    return JSONResponse(
        {
            "razorpay_order_id": order.razorpay_order_id,
            "key_id": provider.key_id,
            "amount": order.amount,
            "currency": order.currency,
            "name": "TrulyBot",
            "description": f"{_plan_name(order.plan)} plan, {order.period}",
            "prefill": {"email": user.email},
            "verify_url": page.url("plan/verify"),
        }
    )


@router.post("/w/{workspace_id}/plan/verify")
async def verify(request: Request, page: PageDep, session: SessionDep) -> Response:
    """Checkout's answer (payment id, order id, signature): checked by the billing service, which
    grants the plan; a bad signature is 400 ``invalid_signature`` and changes nothing."""
    settings = runtime_of(request).settings
    if not settings.billing_enabled or settings.razorpay_key_secret is None:
        raise BillingDisabled("Billing is not configured on this server")
    try:
        answer = VerifyIn.model_validate(await form_fields(request))
    except ValidationError as exc:
        raise _invalid(exc) from None
    applied, view = await orders.verify_checkout(
        session,
        page.access,
        razorpay_order_id=answer.razorpay_order_id,
        razorpay_payment_id=answer.razorpay_payment_id,
        razorpay_signature=answer.razorpay_signature,
        key_secret=settings.razorpay_key_secret,
        provider=_provider(request),
    )
    notice = f"Payment received: the {_plan_name(view.plan)} plan is active until {_until(view)}."
    if applied.outcome == "rejected":
        notice = (
            "That payment does not match its order, so it changed nothing: it is held for a "
            f"refund. The {_plan_name(view.effective_plan)} plan is in effect."
        )
    elif applied.reason == "authorized_amount_mismatch":
        notice = (
            f"{applied.detail[:80]}: it is not taken, and Razorpay returns it. "
            f"The {_plan_name(view.effective_plan)} plan is in effect."
        )
    elif applied.reason in HELD_REASONS:
        why = {
            "superseded": "a later payment had set it",
            "order_paid_twice": "its order was already paid by another payment",
        }.get(applied.reason, "a lower plan does not replace a higher one that runs")
        notice = (
            f"Your payment did not change your plan ({why}): it is held for a refund. "
            f"The {_plan_name(view.effective_plan)} plan is in effect until {_until(view)}."
        )
    elif applied.reason == "order_refunded":
        notice = (
            "This order's payment was refunded, so this payment is not taken: Razorpay returns "
            "it. Order the plan again to buy it. "
            f"The {_plan_name(view.effective_plan)} plan is in effect."
        )
    elif applied.reason == "order_already_paid":
        notice = (
            "Its order was already paid by another payment, so this payment is not taken: "
            f"Razorpay returns it. The {_plan_name(view.effective_plan)} plan is in effect."
        )
    elif applied.reason == "payment_not_captured":
        notice = (
            "Your payment is authorized but not captured yet: the plan starts once Razorpay "
            f"captures it. The {_plan_name(view.effective_plan)} plan is in effect."
        )
    elif applied.reason == "payment_refunded":
        notice = (
            "That payment has been refunded, so it changed nothing: "
            f"the {_plan_name(view.effective_plan)} plan is in effect."
        )
    url = _back(page, notice)
    if wants_json(request):
        return JSONResponse({"plan": view.plan, "redirect": with_signed_notice(request, url)})
    return redirect(request, url)


STOP_UNCONFIRMED = "Nothing was stopped: tick the box to confirm, then press the button again."
STOP_ASKED = (
    "You asked Razorpay to stop the subscription: it charges your card no more once its current"
    " billing cycle ends. Below: whether Razorpay has confirmed it."
)
KEPT = (
    "The Razorpay subscription goes on: nothing was sent to Razorpay, and it charges your card"
    " every billing cycle."
)


def _require_billing(request: Request) -> None:
    """As the JSON API's billing routes: 503 ``billing_disabled`` while billing is off."""
    if not runtime_of(request).settings.billing_enabled:
        raise BillingDisabled("Billing is not configured on this server")


@router.post("/w/{workspace_id}/plan/razorpay/stop")
async def stop_razorpay(
    request: Request, page: PageDep, session: SessionDep, background: BackgroundTasks
) -> Response:
    """The linked Razorpay Subscription cancelled at its cycle's end: the JSON API's cancel
    (``subscriptions.cancel_at_period_end``, its job enqueued after the commit), once the owner
    ticked the box. A refusal (409) comes back on the plan page with its reason; posting it
    again sends Razorpay nothing more (the service's rule)."""
    _require_billing(request)
    if (await form_fields(request)).get("confirm") != "yes":
        return redirect(request, _back(page, STOP_UNCONFIRMED))
    try:
        async with session.begin_nested():
            view = await subscriptions.cancel_at_period_end(session, page.access, downgrade_to=None)
    except Conflict as exc:
        return redirect(request, _back(page, exc.message))
    if view.razorpay_cancel == "pending":
        cancel_after_commit(background, runtime_of(request).jobs, [page.access.workspace.id])
    return redirect(request, _back(page, STOP_ASKED))


@router.post("/w/{workspace_id}/plan/razorpay/keep")
async def keep_razorpay(request: Request, page: PageDep, session: SessionDep) -> Response:
    """A stop not sent to Razorpay yet taken back: the JSON API's resume. Once sent, Razorpay
    cannot undo it: its 409 comes back on the plan page with the reason."""
    _require_billing(request)
    try:
        async with session.begin_nested():
            await subscriptions.resume(session, page.access)
    except Conflict as exc:
        return redirect(request, _back(page, exc.message))
    return redirect(request, _back(page, KEPT))
