"""Leads: search, filter by status, keyset pages, status and notes, CSV export."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any, get_args

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import RuntimeDep, SessionDep
from api.lead_export import lead_export_response
from api.middleware import is_head
from core.errors import NotFound
from core.text import LineBreaks
from dashboard.list_place import MAX_BACK, Trail, lead_trail, leads_place
from dashboard.page_route import PageRoute, refuse_cross_site
from dashboard.pages.common import (
    InvalidText,
    Page,
    PageDep,
    ReadSessionDep,
    SearchQuery,
    app_errors,
    field_errors,
    form_fields,
)
from dashboard.web import redirect, render
from workspaces import leads
from workspaces.schemas import LeadStatus

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50
STATUSES: tuple[str, ...] = get_args(LeadStatus)
StatusQuery = Annotated[str | None, Query(pattern="^(|new|contacted|qualified|won|lost)$")]


class LeadForm(BaseModel):
    """The lead form; the notes' line breaks count one character each, as the textarea's
    ``maxlength`` counts them (``LineBreaks``: the form posts each as CRLF)."""

    model_config = ConfigDict(extra="ignore")
    status: LeadStatus
    notes: Annotated[str | None, LineBreaks] = Field(default=None, max_length=10_000)


def _filters(status: str | None, q: str | None) -> dict[str, Any]:
    return {
        "status": status or None,
        "q": (q or "").strip() or None,
        "created_after": None,
        "created_before": None,
    }


@router.get("/w/{workspace_id}/leads")
async def leads_page(
    request: Request,
    page: PageDep,
    session: ReadSessionDep,
    status: StatusQuery = None,
    q: SearchQuery = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return await _leads_list(request, page, session, status=status, q=q, cursor=cursor)


async def _leads_list(
    request: Request,
    page: Page,
    session: AsyncSession,
    *,
    status: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    gone: str | None = None,
    status_code: int = 200,
) -> Response:
    """A page of the leads; ``gone``: the notes typed for a lead deleted meanwhile, shown
    above the list."""
    items, total, next_cursor = await leads.list_page(
        session, page.access, limit=PAGE_SIZE, cursor=cursor or None, **_filters(status, q)
    )
    return render(
        request,
        "leads.html",
        {
            "page": page,
            "leads": items,
            "total": total,
            "next_cursor": next_cursor,
            "status": status or "",
            "q": q or "",
            "statuses": STATUSES,
            "first_page": not cursor,
            # This page's place, for its rows' links (``dashboard.list_place``).
            "place": Trail(leads_place(request.url.query)),
            "gone": gone,
        },
        status_code=status_code,
    )


@router.get("/w/{workspace_id}/leads/export")
async def export(
    request: Request,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    status: StatusQuery = None,
    q: SearchQuery = None,
) -> Response:
    """The CSV download (audited). HEAD: the headers alone, no audit entry. Started from
    another site: refused (``refuse_cross_site``)."""
    if (refused := refuse_cross_site(request, page.url("leads"))) is not None:
        return refused
    return await lead_export_response(
        session,
        runtime,
        page.access,
        _filters(status, q),
        for_spreadsheets=True,
        head=is_head(request.scope),
    )


SUBMISSIONS_PAGE = 20


async def _lead_page(
    request: Request,
    page: Page,
    session: AsyncSession,
    lead_id: uuid.UUID,
    *,
    before: str | None = None,
    place: Trail,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    seen: str | None = None,
    status_code: int | None = None,
) -> Response:
    """A lead's page: its details, the form (with what was posted when it was refused, and why;
    ``seen``: the version of the status and notes the form was shown with, when not the lead's
    own)
    and a page of what they sent, newest first, with the way to the earlier ones; ``place``:
    the leads list's place it was opened from, for "← Leads", and the conversations list's when it
    was opened from a conversation (``dashboard.list_place``)."""
    lead = await leads.get(session, page.access, lead_id=lead_id)
    total = await leads.count_submissions(session, page.access, lead_id=lead_id)
    submissions, earlier = await leads.submissions_page(
        session, page.access, lead_id=lead_id, limit=SUBMISSIONS_PAGE, cursor=before
    )
    return render(
        request,
        "lead.html",
        {
            "page": page,
            "lead": lead,
            "submissions": submissions,
            "submission_total": total,
            "earlier": earlier,
            "latest": before is None,
            "place": place,
            "statuses": STATUSES,
            "values": values or {"status": lead.status, "notes": lead.notes or ""},
            "errors": errors or {},
            "seen": seen if seen is not None else _version(lead.status, lead.notes),
        },
        status_code=status_code or (422 if errors else 200),
    )


def _version(status: str, notes: str | None) -> str:
    """The lead's status and notes as a form showed them: a save of an older version is told
    (a visitor's new message changes the lead, not these)."""
    return hashlib.sha256(f"{status}\0{notes or ''}".encode()).hexdigest()[:16]


LEAD_CHANGED = (
    "This lead's status or notes were changed meanwhile (by a teammate, or in another tab), so "
    "your changes were not saved. Saved now: status {status}, notes “{notes}”. Save again to "
    "replace them with what is below."
)


@router.get("/w/{workspace_id}/leads/{lead_id}")
async def lead_detail(
    request: Request,
    lead_id: uuid.UUID,
    page: PageDep,
    session: SessionDep,
    before: Annotated[str | None, Query(max_length=200)] = None,
    back: Annotated[str | None, Query(max_length=MAX_BACK)] = None,
    other: Annotated[str | None, Query(max_length=MAX_BACK)] = None,
) -> Response:
    place = lead_trail(back, other)
    return await _lead_page(request, page, session, lead_id, before=before or None, place=place)


@router.post("/w/{workspace_id}/leads/{lead_id}")
async def update_lead(
    request: Request, lead_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    """Status and notes; refused, the form comes back with what was typed and why. Either way
    the lead's page keeps the list's place (``back``)."""
    fields: dict[str, Any] = {}
    try:
        fields = await form_fields(request)
        form = LeadForm.model_validate(fields)
    except InvalidText as exc:
        return await _lead_page(
            request,
            page,
            session,
            lead_id,
            place=lead_trail(exc.fields.get("back"), exc.fields.get("other")),
            values=exc.fields,
            errors=app_errors(exc),
            seen=str(exc.fields.get("seen") or ""),
        )
    except ValidationError as exc:
        values = {"status": fields.get("status"), "notes": fields.get("notes")}
        errors = field_errors(exc)
        place = lead_trail(fields.get("back"), fields.get("other"))
        seen = str(fields.get("seen") or "")
        return await _lead_page(
            request, page, session, lead_id, place=place, values=values, errors=errors, seen=seen
        )
    place = lead_trail(fields.get("back"), fields.get("other"))
    seen = str(fields.get("seen") or "")
    try:
        lead = await leads.get(session, page.access, lead_id=lead_id)
        if seen and seen != _version(lead.status, lead.notes):
            # Saved over, the other tab's or teammate's status and notes were lost without a
            # word: what was typed comes back beside the saved ones; a second Save replaces them.
            said = LEAD_CHANGED.format(status=lead.status, notes=lead.notes or "")
            return await _lead_page(
                request,
                page,
                session,
                lead_id,
                place=place,
                values={"status": form.status, "notes": form.notes},
                errors={"_form": said},
                seen=_version(lead.status, lead.notes),
                status_code=409,
            )
        async with session.begin_nested():
            await leads.update(session, page.access, lead_id=lead_id, values=form.model_dump())
    except NotFound:
        # Deleted since its page was shown (a teammate, another tab): the list of leads
        # says so, with the notes typed (the generic 404 page lost them).
        return await _leads_list(request, page, session, gone=form.notes or "", status_code=404)
    return redirect(request, page.url(f"leads/{lead_id}") + place.after("notice=Saved"))


@router.post("/w/{workspace_id}/leads/{lead_id}/delete")
async def delete_lead(
    request: Request,
    lead_id: uuid.UUID,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    """The lead and what they sent deleted; back to the list's place it was opened from."""
    place = leads_place((await form_fields(request)).get("back"))
    mail_ids = await leads.delete(session, page.access, lead_id=lead_id)
    background.add_task(runtime.mailer.forget_files, mail_ids)  # after the commit
    return redirect(request, page.url("leads") + place.to_list)
