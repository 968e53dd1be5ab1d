from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from api.deps import (
    LimitDep,
    QueryDatetime,
    ReadSessionDep,
    RuntimeDep,
    SessionDep,
    WorkspaceDep,
)
from api.lead_export import lead_export_response
from api.middleware import is_head
from api.openapi import answers
from core.errors import ValidationFailed, refuse_nul
from workspaces import leads
from workspaces.schemas import (
    LeadIn,
    LeadOut,
    LeadPage,
    LeadStatus,
    LeadSubmissionOut,
    LeadSubmissionPage,
    LeadUpdateIn,
)

router = APIRouter(tags=["leads"])


def _filters(
    status: LeadStatus | None,
    q: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
) -> dict[str, Any]:
    """422 ``invalid_date_range`` for a range that ends before it starts (it listed, and
    exported, nothing), as analytics and the conversation export answer; 422 ``invalid_text``
    for a search with a NUL, before the export's audit entry (the list had it from the
    database; the export answered 200 and its body broke off)."""
    if q is not None:
        refuse_nul(q, "q")
    if created_after and created_before and created_before < created_after:
        raise ValidationFailed(
            "'created_before' is before 'created_after'",
            code="invalid_date_range",
            details=[{"field": "created_before"}],
        )
    return {
        "status": status,
        "q": q,
        "created_after": created_after,
        "created_before": created_before,
    }


QDep = Annotated[str | None, Query(max_length=200)]


@router.post(
    "/workspaces/{workspace_id}/leads",
    status_code=status.HTTP_201_CREATED,
    response_model=LeadOut,
    responses=answers(
        status.HTTP_200_OK, LeadOut, "A lead with this email exists: it is updated and returned"
    ),
)
async def create_lead(
    body: LeadIn, access: WorkspaceDep, session: SessionDep, response: Response
) -> Any:
    lead, created = await leads.capture(session, access, values=body.model_dump())
    if not created:
        response.status_code = status.HTTP_200_OK
    return lead


@router.get("/workspaces/{workspace_id}/leads", response_model=LeadPage)
async def list_leads(
    access: WorkspaceDep,
    session: ReadSessionDep,
    limit: LimitDep,
    status: LeadStatus | None = None,
    q: QDep = None,
    created_after: QueryDatetime | None = None,
    created_before: QueryDatetime | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LeadPage:
    items, total, next_cursor = await leads.list_page(
        session,
        access,
        limit=limit,
        cursor=cursor,
        **_filters(status, q, created_after, created_before),
    )
    return LeadPage(
        items=[LeadOut.model_validate(x) for x in items], total=total, next_cursor=next_cursor
    )


@router.get("/workspaces/{workspace_id}/leads/export", response_class=StreamingResponse)
async def export_leads(
    request: Request,
    access: WorkspaceDep,
    runtime: RuntimeDep,
    session: SessionDep,
    status: LeadStatus | None = None,
    q: QDep = None,
    created_after: QueryDatetime | None = None,
    created_before: QueryDatetime | None = None,
) -> Response:
    """The leads as CSV (audited). HEAD: the headers alone, no audit entry."""
    filters = _filters(status, q, created_after, created_before)
    return await lead_export_response(
        session, runtime, access, filters, head=is_head(request.scope)
    )


@router.get("/workspaces/{workspace_id}/leads/{lead_id:uuid}", response_model=LeadOut)
async def get_lead(lead_id: uuid.UUID, access: WorkspaceDep, session: SessionDep) -> Any:
    return await leads.get(session, access, lead_id=lead_id)


@router.patch("/workspaces/{workspace_id}/leads/{lead_id:uuid}", response_model=LeadOut)
async def update_lead(
    lead_id: uuid.UUID,
    body: LeadUpdateIn,
    access: WorkspaceDep,
    session: SessionDep,
) -> Any:
    """Work a lead (status, notes, details). Any member; audited (fields, never values)."""
    values = body.model_dump(exclude_unset=True)
    return await leads.update(session, access, lead_id=lead_id, values=values)


@router.delete(
    "/workspaces/{workspace_id}/leads/{lead_id:uuid}", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_lead(
    lead_id: uuid.UUID,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    """Delete a lead and its personal data (its submissions, the owners' mails quoting it).
    Owners and admins; audited."""
    mail_ids = await leads.delete(session, access, lead_id=lead_id)
    background.add_task(runtime.mailer.forget_files, mail_ids)  # after the commit
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/workspaces/{workspace_id}/leads/{lead_id:uuid}/submissions", response_model=LeadSubmissionPage
)
async def lead_submissions(
    lead_id: uuid.UUID,
    access: WorkspaceDep,
    session: SessionDep,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LeadSubmissionPage:
    """What visitors sent through the widget for this lead, newest first."""
    items, next_cursor = await leads.submissions_page(
        session, access, lead_id=lead_id, limit=limit, cursor=cursor
    )
    return LeadSubmissionPage(
        items=[LeadSubmissionOut.model_validate(x) for x in items], next_cursor=next_cursor
    )
