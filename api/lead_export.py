"""The leads' CSV export as a streamed download, for the JSON API and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.runtime import Runtime
from workspaces import leads
from workspaces.service import WorkspaceAccess

EXCEL_BOM = "\ufeff"
"""Starts the dashboard's download: without it a spreadsheet program on Windows reads UTF-8 as
its local code page, and a lead named "Priya Śarma" or "प्रिया" shows as mojibake. The API's
export has none (a program reading the CSV would find it in its first column's name)."""


async def lead_export_response(
    session: AsyncSession,
    runtime: Runtime,
    access: WorkspaceAccess,
    filters: dict[str, Any],
    *,
    for_spreadsheets: bool = False,
    head: bool = False,
) -> StreamingResponse:
    """Authorize and audit the export in the request's transaction, then stream the rows from
    short transactions of their own, a page each (the response outlives the request's, and a
    client reading slowly must hold no connection), on the read replica when it may serve
    them. ``for_spreadsheets``: the body starts with ``EXCEL_BOM``. ``head`` (a HEAD request,
    ``api.middleware.is_head``): authorized, and the headers alone; no rows are read and no
    audit entry is written, as nothing leaves."""
    workspace_id = access.workspace.id
    user_id = access.principal.user_id
    # The UTC date, as every date the dashboard and the API show (not the server's local date).
    today = datetime.now(UTC).date().isoformat()
    filename = f"leads-{access.workspace.slug}-{today}.csv"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    media_type = "text/csv; charset=utf-8"
    if head:
        await leads.check_export(session, access)
        # Streamed like the GET's (no Content-Length), of nothing.
        return StreamingResponse(iter(()), media_type=media_type, headers=headers)
    await leads.start_export(session, access, filters)

    async def body() -> Any:
        if for_spreadsheets:
            yield EXCEL_BOM

        def transaction() -> Any:
            return runtime.reads.transaction(workspace_id=workspace_id, user_id=user_id)

        rows = leads.paged_rows(transaction, workspace_id=workspace_id, **filters)
        async for piece in leads.export_csv(rows):
            yield piece

    return StreamingResponse(body(), media_type=media_type, headers=headers)
