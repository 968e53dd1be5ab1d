"""What the bot is doing: analytics over a date range, and the export of conversations.

Registered before the chat router: ``/conversations/export`` must not be read as a
conversation id.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import ReadSessionDep, RuntimeDep, SessionDep, WorkspaceDep
from api.middleware import is_head
from core.models import utcnow
from rag.chat import analytics
from rag.chat.schemas import AnalyticsOut

router = APIRouter(tags=["analytics"])

FromDate = Annotated[date | None, Query(alias="from", description="First day (UTC), inclusive")]
ToDate = Annotated[date | None, Query(alias="to", description="Last day (UTC), inclusive")]


@router.get("/workspaces/{workspace_id}/analytics", response_model=AnalyticsOut)
async def workspace_analytics(
    access: WorkspaceDep, session: ReadSessionDep, first: FromDate = None, last: ToDate = None
) -> Any:
    """Figures per day and over the range (at most 366 days; default the last 30), read from
    the daily rollup; top questions from the range's latest questions. Any member."""
    span = analytics.date_range(first, last, today=utcnow().date())
    return await analytics.report(session, access, span=span)


@router.get("/workspaces/{workspace_id}/conversations/export", response_class=StreamingResponse)
async def export_conversations(
    request: Request,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    first: FromDate = None,
    last: ToDate = None,
    format: Literal["csv", "jsonl"] = "csv",
    channel: Annotated[
        analytics.ExportChannel,
        Query(
            description="Whose conversations: visitors' (widget, the ones the analytics count),"
            " the owners' own test chats (owner), or all"
        ),
    ] = "widget",
) -> StreamingResponse:
    """The conversations started in the range (at most 366 days; default the last 30) with
    their messages, streamed as CSV or JSON lines: the visitors' by default, as the analytics
    count them. Owners and admins; audited (a HEAD: the headers alone, no rows read, nothing
    audited)."""
    span = analytics.date_range(first, last, today=utcnow().date())
    head = is_head(request.scope)
    await analytics.start_export(session, access, span=span, fmt=format, channel=channel, head=head)
    workspace_id = access.workspace.id
    body: Any = iter(())
    if not head:

        def transaction() -> Any:
            # Each page on the replica when it may serve it, else (or when its connection
            # fails) the primary, as the leads export (api/lead_export.py).
            return runtime.reads.transaction(workspace_id=workspace_id)

        body = analytics.export_lines(
            transaction, workspace_id=workspace_id, span=span, fmt=format, channel=channel
        )
    stamp = f"{span.first.isoformat()}-{span.last.isoformat()}"
    filename = f"conversations-{access.workspace.slug}-{stamp}.{format}"
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
