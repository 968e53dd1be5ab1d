"""Notification preferences (a form on the team page, each member their own) and the page the
unsubscribe link of a notification mail opens (no sign-in: the signed link is the proof; it
asks first, so a mail scanner that opens links changes nothing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import RuntimeDep, SessionDep
from core.errors import AppError
from dashboard import auth
from dashboard.page_route import PageRoute
from dashboard.pages.common import PageDep, form_fields
from dashboard.web import redirect, render
from workspaces import notifications

router = APIRouter(route_class=PageRoute)

TokenQuery = Annotated[str, Query(max_length=256)]


@router.post("/w/{workspace_id}/team/notifications")
async def save_preferences(request: Request, page: PageDep, session: SessionDep) -> Response:
    """One select per kind (name = the kind, value = the mode); the service validates."""
    fields = await form_fields(request)
    changes: dict[str, str] = {
        kind: str(fields[kind])[:20] for kind in notifications.KINDS if kind in fields
    }
    if changes:
        await notifications.update_preferences(session, page.access, changes)
    return redirect(request, page.url("team") + "?notice=Notification+settings+saved#notifications")


def _unsubscribe_page(request: Request, context: dict[str, object], status: int = 200) -> Response:
    auth.prepare_anon_csrf(request, request.app.state.runtime.settings)
    response = render(request, "unsubscribe.html", context, status_code=status)
    auth.ensure_anon_csrf(request, response, request.app.state.runtime.settings)
    return response


@router.get("/unsubscribe")
async def unsubscribe_page(
    request: Request, runtime: RuntimeDep, token: TokenQuery = ""
) -> Response:
    try:
        target = notifications.check_unsubscribe(runtime.settings.jwt_key, token)
    except AppError as exc:
        return _unsubscribe_page(
            request, {"token": "", "title": "", "done": False, "error": exc.message}, 400
        )
    return _unsubscribe_page(
        request, {"token": token, "title": target.title, "done": False, "error": ""}
    )


@router.post("/unsubscribe")
async def unsubscribe(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    fields = await form_fields(request)
    token = str(fields.get("token", ""))[:256]
    try:
        target = await notifications.unsubscribe(session, runtime.settings.jwt_key, token)
    except AppError as exc:
        return _unsubscribe_page(
            request, {"token": "", "title": "", "done": False, "error": exc.message}, 400
        )
    return _unsubscribe_page(
        request, {"token": "", "title": target.title, "done": True, "error": ""}
    )
