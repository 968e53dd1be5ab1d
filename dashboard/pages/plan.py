"""Plan and usage: each quota as a meter, the subscription, payment history, cancel/resume."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from api.deps import SessionDep
from billing import catalog, subscriptions
from billing.schemas import PaymentOut
from dashboard.pages.common import PageDep
from dashboard.web import PageRoute, redirect, render
from workspaces import usage
from workspaces.permissions import Action, allowed, kind_of

router = APIRouter(route_class=PageRoute)

METRIC_LABELS = {
    "conversations": "Conversations this month",
    "messages": "Messages this month",
    "documents": "Documents",
    "chunks": "Knowledge chunks",
}


@router.get("/w/{workspace_id}/plan")
async def plan_page(request: Request, page: PageDep, session: SessionDep) -> Response:
    report = await usage.usage_report(session, page.access.workspace)
    billing_enabled = request.app.state.runtime.settings.billing_enabled
    may_manage = allowed(
        Action.BILLING_MANAGE,
        kind=kind_of(page.access),
        role=page.access.role,  # type: ignore[arg-type]
    )
    subscription = await subscriptions.get_subscription(session, page.access)
    payments: list[PaymentOut] = []
    if billing_enabled and may_manage:
        payments, _ = await subscriptions.list_payments(session, page.access, limit=20, before=None)
    return render(
        request,
        "plan.html",
        {
            "page": page,
            "report": report,
            "labels": METRIC_LABELS,
            "plans": catalog.list_plans(),
            "subscription": subscription,
            "payments": payments,
            "billing_enabled": billing_enabled,
            "may_manage": may_manage,
            "now": datetime.now(UTC),
            "notice": request.query_params.get("notice", "")[:100],
        },
    )


@router.post("/w/{workspace_id}/plan/cancel")
async def cancel(request: Request, page: PageDep, session: SessionDep) -> Response:
    await subscriptions.cancel_at_period_end(session, page.access, downgrade_to=None)
    return redirect(request, page.url("plan") + "?notice=Cancelled+at+the+end+of+the+period")


@router.post("/w/{workspace_id}/plan/resume")
async def resume(request: Request, page: PageDep, session: SessionDep) -> Response:
    await subscriptions.resume(session, page.access)
    return redirect(request, page.url("plan") + "?notice=Subscription+resumed")
