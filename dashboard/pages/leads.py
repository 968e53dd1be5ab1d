"""Leads: search, filter by status, keyset pages, status and notes, CSV export."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.deps import RuntimeDep, SessionDep
from api.lead_export import lead_export_response
from api.middleware import is_head
from core.errors import ValidationFailed
from dashboard.pages.common import PageDep, ReadSessionDep, field_errors, form_fields
from dashboard.web import PageRoute, redirect, render
from workspaces import leads
from workspaces.schemas import LeadStatus

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50
STATUSES: tuple[str, ...] = get_args(LeadStatus)
StatusQuery = Annotated[str | None, Query(pattern="^(|new|contacted|qualified|won|lost)$")]
SearchQuery = Annotated[str | None, Query(max_length=200, pattern="^[^\x00]*$")]
"""No NUL: the database refuses one, and the export would break after its audit entry."""


class LeadForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: LeadStatus
    notes: str | None = Field(default=None, max_length=10_000)


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
        },
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
    """The CSV download (audited). HEAD: the headers alone, no audit entry."""
    return await lead_export_response(
        session,
        runtime,
        page.access,
        _filters(status, q),
        for_spreadsheets=True,
        head=is_head(request.scope),
    )


@router.get("/w/{workspace_id}/leads/{lead_id}")
async def lead_detail(
    request: Request, lead_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    lead = await leads.get(session, page.access, lead_id=lead_id)
    submissions, _ = await leads.submissions_page(
        session, page.access, lead_id=lead_id, limit=20, cursor=None
    )
    return render(
        request,
        "lead.html",
        {
            "page": page,
            "lead": lead,
            "submissions": submissions,
            "statuses": STATUSES,
        },
    )


@router.post("/w/{workspace_id}/leads/{lead_id}")
async def update_lead(
    request: Request, lead_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    try:
        form = LeadForm.model_validate(await form_fields(request))
    except ValidationError as exc:
        raise ValidationFailed("Choose a status", details=field_errors(exc)) from exc
    await leads.update(session, page.access, lead_id=lead_id, values=form.model_dump())
    return redirect(request, page.url(f"leads/{lead_id}") + "?notice=Saved")


@router.post("/w/{workspace_id}/leads/{lead_id}/delete")
async def delete_lead(
    request: Request, lead_id: uuid.UUID, page: PageDep, session: SessionDep
) -> Response:
    await leads.delete(session, page.access, lead_id=lead_id)
    return redirect(request, page.url("leads"))
