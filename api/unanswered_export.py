"""The unanswered questions' CSV (``rag.chat.unanswered_export``) as a streamed download, for
the JSON API and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.lead_export import EXCEL_BOM
from api.runtime import Runtime
from rag.chat import unanswered_export
from workspaces.service import WorkspaceAccess


async def unanswered_export_response(
    session: AsyncSession,
    runtime: Runtime,
    access: WorkspaceAccess,
    *,
    for_spreadsheets: bool = False,
    head: bool = False,
) -> StreamingResponse:
    """Authorize and audit in the request's transaction, then stream the rows from short
    transactions of their own (on the read replica when it may serve them). ``for_spreadsheets``:
    the body starts with ``EXCEL_BOM`` (the dashboard's). ``head``: the headers alone."""
    await unanswered_export.start_export(session, access, head=head)
    workspace_id = access.workspace.id
    today = datetime.now(UTC).date().isoformat()
    filename = f"unanswered-{access.workspace.slug}-{today}.csv"

    async def body() -> Any:
        if for_spreadsheets:
            yield EXCEL_BOM

        def transaction() -> Any:
            return runtime.reads.transaction(workspace_id=workspace_id)

        async for piece in unanswered_export.export_csv(transaction, workspace_id=workspace_id):
            yield piece

    return StreamingResponse(
        iter(()) if head else body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
