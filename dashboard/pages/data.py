"""Settings' "Your data" section's forms, for owners: export the workspace (request, download
until it expires), erase one visitor (by email, phone or widget session id) and choose how long
conversations are kept, through the same services as the JSON API (lifecycle/exports.py,
lifecycle/erasure.py, lifecycle/retention.py). The section's lists are drawn with the rest of
the page by dashboard/pages/settings.py."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Request, Response

from api.data_lifecycle import export_after_commit, export_zip_response, forget_after_erasure
from api.deps import RuntimeDep, SessionDep
from core.errors import Conflict, ValidationFailed
from dashboard.page_route import PageRoute, refuse_cross_site
from dashboard.pages import settings
from dashboard.pages.common import NUL_REFUSED, InvalidText, PageDep, form_fields
from dashboard.web import redirect, render_refused
from lifecycle import erasure, exports, retention

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
REDACTED_KINDS = (("redacted_leads", "leads"), ("redacted_lead_submissions", "lead submissions"))
"""The rows kept with the visitor's address or number replaced by "[erased]" (an erasure by
email or phone): named in the notice when there are any."""
REDACTED_IN_CONVERSATIONS = (
    ("redacted_messages", "messages"),
    ("redacted_unanswered_questions", "unanswered questions"),
)
"""The same in the conversations an erasure by phone keeps (the number typed there only as an
order's, an invoice's... beside the visitor's own): named after those when there are any."""


ERASURE_KEY_MISSING = (
    "Give the visitor's email address, their phone number or their widget session id."
)


async def _posted(request: Request) -> tuple[dict[str, Any], InvalidText | None]:
    """The posted form, and its refusal when a field holds a NUL (the form as posted without
    the NULs, for the page to show again)."""
    try:
        return await form_fields(request), None
    except InvalidText as exc:
        return exc.fields, exc


async def _section_refused(
    request: Request, page: PageDep, session: SessionDep, forms: dict[str, Any], status: int
) -> Response:
    """The Settings page again with a refused data form's input and reason beside it."""
    context = {**await settings.settings_context(page, session), **forms}
    return render_refused(request, "settings.html", context, status_code=status)


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
    export_after_commit(background, runtime.db, runtime.jobs, export)
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
    The response cache (before the answer) and the deleted mails' files are cleared after the
    commit, as over the API. Refused (no key, one that is no address, number or session id, a
    NUL in it): the Settings page
    again with the key chosen and what was typed beside the reason."""
    fields, refused = await _posted(request)
    key = str(fields.get("key") or "")
    value = str(fields.get("value") or "").strip()
    try:
        if refused is not None:
            raise refused
        done = await erasure.erase_visitor(
            session,
            page.access,
            email=value if key == "email" else None,
            session_id=value if key == "session_id" else None,
            phone=value if key == "phone" else None,
        )
    except ValidationFailed as exc:
        reason = NUL_REFUSED if isinstance(exc, InvalidText) else ERASURE_KEY_MISSING
        if key in ("email", "phone", "session_id") and value and not isinstance(exc, InvalidText):
            reason = exc.message + "."
        forms = {"erase_values": {"key": key, "value": value}, "erase_errors": {"value": reason}}
        return await _section_refused(request, page, session, forms, exc.status_code)
    await forget_after_erasure(
        session,
        background,
        cache=runtime.cache,
        mailer=runtime.mailer,
        settings=runtime.settings,
        workspace_id=page.access.workspace.id,
        erased=done,
    )
    erased = ", ".join(f"{done.counts.get(name, 0)} {label}" for name, label in ERASED_KINDS)
    notice = f"Visitor erased: {erased}"
    if any(done.counts.get(name) for name, _ in REDACTED_KINDS + REDACTED_IN_CONVERSATIONS):
        kinds = REDACTED_KINDS + tuple(
            kind for kind in REDACTED_IN_CONVERSATIONS if done.counts.get(kind[0])
        )
        kept = ", ".join(f"{done.counts.get(name, 0)} {label}" for name, label in kinds)
        notice += f"; {kept} redacted"
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
    audited). A choice the plan does not allow comes back beside the form, nothing changed."""
    fields, refused = await _posted(request)
    raw = str(fields.get("days") or "").strip()
    try:
        days = None if raw in ("", "plan") else int(raw)
    except ValueError:
        days = -1  # refused by the service, with what is allowed
    try:
        if refused is not None:
            raise refused
        async with session.begin_nested():
            kept = await retention.update(session, page.access, days=days)
    except ValidationFailed as exc:
        reason = NUL_REFUSED if isinstance(exc, InvalidText) else _retention_refused(exc)
        forms = {"retention_error": reason}
        return await _section_refused(request, page, session, forms, exc.status_code)
    notice = f"Conversations are now kept {_kept_for(kept.days)}"
    return redirect(request, page.url("settings") + "?notice=" + quote(notice))
