"""The webhook page: the workspace webhook's recent deliveries (what was sent, what failed and
why) and how a receiver checks their signature. Owners and admins, as for the webhook itself.
A webhook paused because the person who set its URL left says so, and an owner resumes it
here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import SessionDep
from dashboard.page_route import PageRoute
from dashboard.pages.common import PageDep
from dashboard.web import redirect, render
from rag.chat import webhook_log
from workspaces import service

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50
StatusQuery = Annotated[str | None, Query(pattern="^(|" + "|".join(webhook_log.STATUSES) + ")$")]


@router.get("/w/{workspace_id}/settings/webhooks")
async def webhooks_page(
    request: Request,
    page: PageDep,
    session: SessionDep,
    status: StatusQuery = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    items, next_cursor = await webhook_log.deliveries_page(
        session, page.access, limit=PAGE_SIZE, cursor=cursor or None, status=status or None
    )
    return render(
        request,
        "webhooks.html",
        {
            "page": page,
            "deliveries": items,
            "next_cursor": next_cursor,
            "status": status or "",
            "statuses": webhook_log.STATUSES,
            "first_page": not cursor,
            "webhook_url": page.access.workspace.webhook_url,
            "paused_at": page.access.workspace.webhook_paused_at,
        },
    )


@router.post("/w/{workspace_id}/settings/webhooks/confirm")
async def confirm(request: Request, page: PageDep, session: SessionDep) -> Response:
    """An owner resumes the paused webhook (``service.confirm_webhook``)."""
    await service.confirm_webhook(session, page.access)
    return redirect(request, page.url("settings/webhooks") + "?notice=Webhook+resumed")
