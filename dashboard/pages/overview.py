"""Getting started: the checklist that ticks itself."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import SessionDep
from dashboard.page_route import PageRoute
from dashboard.pages.common import PageDep
from dashboard.web import render
from rag.chat import onboarding

router = APIRouter(route_class=PageRoute)


@router.get("/w/{workspace_id}")
async def getting_started(request: Request, page: PageDep, session: SessionDep) -> Response:
    settings = request.app.state.runtime.settings
    steps = await onboarding.checklist(
        session, page.access, sites_required=not settings.is_development
    )
    return render(
        request,
        "getting_started.html",
        {"steps": steps, "done": sum(s.done for s in steps), "page": page},
    )
