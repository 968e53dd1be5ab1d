"""A workspace export's zip as a download, for the JSON API and the dashboard."""

from __future__ import annotations

import uuid

from fastapi import Request
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.middleware import is_head
from core.config import Settings
from lifecycle import exports
from workspaces.service import WorkspaceAccess


async def export_zip_response(
    request: Request,
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    export_id: uuid.UUID,
    settings: Settings,
) -> FileResponse:
    """The ready zip (``exports.open_download``: owners, until it expires; audited, a HEAD not:
    nothing leaves), never cached."""
    download = await exports.open_download(
        session, access, export_id=export_id, settings=settings, head=is_head(request.scope)
    )
    return FileResponse(
        download.path,
        media_type="application/zip",
        filename=download.filename,
        headers={"Cache-Control": "no-store"},
    )
