"""Settings' "Your data" section, for owners: export the workspace (request, list, download
until it expires), erase one visitor (by email or widget session id) and choose how long
conversations are kept, through the same services as the JSON API (lifecycle/exports.py,
lifecycle/erasure.py, lifecycle/retention.py)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Request, Response

from api.data_lifecycle import export_zip_response, forget_after_erasure
from api.deps import RuntimeDep, SessionDep
from core.errors import Conflict, ValidationFailed
from core.models import utcnow
from dashboard.page_route import PageRoute, refuse_cross_site
from dashboard.pages.common import PageDep, form_fields
from dashboard.web import redirect
from lifecycle import erasure, exports, retention
from workspaces.permissions import Action, allowed, kind_of

router = APIRouter(route_class=PageRoute)

ERASED_KINDS = (
    ("conversations", "conversations"),
    ("messages", "messages"),
    ("leads", "leads"),
    ("lead_submissions", "lead submissions"),
    ("unanswered_questions", "unanswered questions"),
    ("webhook_deliveries", "webhook deliveries"),
    ("notification_mails", "notification mails"),
)


_EXPORT_SAYS = {
    "queued": "waiting to start",
    "running": "being built",
    "ready": "ready",
    "failed": "failed",
    "expired": "expired",
}
"""An export's status as the owner reads it."""


def _why(status: str, error: str | None) -> str | None:
    """Why an export failed or went before its time, in words for the owner: withdrawn by a
    visitor's erasure (``lifecycle.erasure.WITHDRAWN_*``, which say so), its job stopped
    (``exports.LOST``), or it could not be built (the exception's own text, with a server's
    paths, stays in the log). None for an export that simply expired or has not failed."""
    if error and error.startswith("withdrawn:"):
        return error[0].upper() + error[1:] + "."
    if status != "failed":
        return None
    if error == exports.LOST:
        return (
            "Its job stopped before it finished (the server was restarted, say). Request a new one."
        )
    return "It could not be built. Request a new one."


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{max(1, size // 1000)} KB"


def _may(page: PageDep, action: Action) -> bool:
    return allowed(action, kind=kind_of(page.access), role=page.access.role)  # type: ignore[arg-type]


async def data_context(page: PageDep, session: SessionDep) -> dict[str, Any]:
    """What the Settings page shows of the section (nothing to whoever may not export)."""
    if not _may(page, Action.EXPORT_READ):
        # Every flag the template reads, false: a missing one is an error there (a 500 for
        # every admin and member who opened Settings).
        return {"may_manage_data": False, "may_erase": False, "may_set_retention": False}
    now = utcnow()
    rows = []
    for export in await exports.list_exports(session, page.access, limit=5):
        expired = export.status == "expired" or (
            export.expires_at is not None and export.expires_at <= now
        )
        ready = export.status == "ready" and not expired
        status = "expired" if expired else export.status
        rows.append(
            {
                "created_at": export.created_at,
                "status": status,
                "says": _EXPORT_SAYS.get(status, status),
                "why": _why(status, export.error),
                "size": _megabytes(export.size_bytes) if ready and export.size_bytes else None,
                "expires_at": export.expires_at if ready else None,
                "download": page.url(f"settings/exports/{export.id}/download") if ready else None,
            }
        )
    kept = retention.view(page.access)
    return {
        "may_manage_data": True,
        "may_erase": _may(page, Action.VISITOR_ERASE),
        "exports": rows,
        "may_set_retention": _may(page, Action.RETENTION_UPDATE),
        "retention": kept,
        "retention_choices": [
            d for d in retention.CHOICES if kept.plan_days is None or d <= kept.plan_days
        ],
    }


@router.post("/w/{workspace_id}/settings/exports")
async def request_export(
    request: Request,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    """Start an export (owners; one at a time); its job is enqueued after the commit."""
    try:
        async with session.begin_nested():
            export = await exports.request_export(session, page.access)
    except Conflict as exc:
        return redirect(request, page.url("settings") + "?notice=" + quote(exc.message))
    background.add_task(
        exports.enqueue_export,
        runtime.db,
        runtime.jobs,
        workspace_id=export.workspace_id,
        export_id=export.id,
    )
    notice = "The export is being built: reload this page to download it"
    return redirect(request, page.url("settings") + "?notice=" + quote(notice))


@router.get("/w/{workspace_id}/settings/exports/{export_id}/download")
async def download_export(
    request: Request,
    export_id: uuid.UUID,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """The zip, to owners, until it expires (audited, as over the API; a HEAD is not). Started
    from another site: refused (``refuse_cross_site``)."""
    if (refused := refuse_cross_site(request, page.url("settings"))) is not None:
        return refused
    return await export_zip_response(
        request, session, page.access, export_id=export_id, settings=runtime.settings
    )


@router.post("/w/{workspace_id}/settings/erasures")
async def erase_visitor(
    request: Request,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    """Erase one visitor (owners; audited without the erased data); the counts in the notice.
    The response cache and the deleted mails' files are cleared after the commit, as over the
    API."""
    fields = await form_fields(request)
    key = str(fields.get("key") or "")
    value = str(fields.get("value") or "").strip()
    try:
        done = await erasure.erase_visitor(
            session,
            page.access,
            email=value if key == "email" else None,
            session_id=value if key == "session_id" else None,
        )
    except ValidationFailed:
        notice = "Give the visitor's email address or their widget session id"
        return redirect(request, page.url("settings") + "?notice=" + quote(notice))
    forget_after_erasure(
        background,
        cache=runtime.cache,
        mailer=runtime.mailer,
        settings=runtime.settings,
        workspace_id=page.access.workspace.id,
        erased=done,
    )
    erased = ", ".join(f"{done.counts.get(name, 0)} {label}" for name, label in ERASED_KINDS)
    notice = f"Visitor erased: {erased}"
    if withdrawn := len(done.withdrawn_exports):
        exports_word = "export" if withdrawn == 1 else "exports"
        notice += f"; {withdrawn} {exports_word} of this workspace withdrawn (request a new one)"
    return redirect(request, page.url("settings") + "?notice=" + quote(notice))


def _retention_refused(exc: ValidationFailed) -> str:
    """A retention the plan does not allow, in the settings' own words (the service's message
    names the API's field and ``null``): what may be chosen instead."""
    details = exc.details if isinstance(exc.details, list) else []
    allowed = next((d.get("allowed") for d in details if isinstance(d, dict)), None)
    if not isinstance(allowed, list):
        return "Choose how long to keep conversations from the list."
    choices = [f"{days} days" for days in allowed] + ["as long as the plan does"]
    listed = ", ".join(choices[:-1]) + " or " + choices[-1]
    return f"Nothing changed: on this plan, keep conversations for {listed}."


def _kept_for(days: int | None) -> str:
    return "for good" if days is None else f"for {days} days after their last message"


@router.post("/w/{workspace_id}/settings/retention")
async def set_retention(request: Request, page: PageDep, session: SessionDep) -> Response:
    """Keep conversations for fewer days than the plan does, or as long as the plan does (owners;
    audited). A choice the plan does not allow comes back as the notice, nothing changed."""
    fields = await form_fields(request)
    raw = str(fields.get("days") or "").strip()
    try:
        days = None if raw in ("", "plan") else int(raw)
    except ValueError:
        days = -1  # refused by the service, with what is allowed
    try:
        async with session.begin_nested():
            kept = await retention.update(session, page.access, days=days)
    except ValidationFailed as exc:
        notice = _retention_refused(exc)
        return redirect(request, page.url("settings") + "?notice=" + quote(notice))
    notice = f"Conversations are now kept {_kept_for(kept.days)}"
    return redirect(request, page.url("settings") + "?notice=" + quote(notice))
