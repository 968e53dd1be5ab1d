"""The data lifecycle's HTTP side that the JSON API and the dashboard share: an export's zip as
a download, the purge a deletion enqueues after its commit, and what an erasure clears after
its commit (the response cache, the file outbox's copies of the mails it deleted, the zips of
the exports it withdrew)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from fastapi import BackgroundTasks, Request
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.middleware import is_head
from core.config import Settings
from core.jobs import JobQueue
from core.mail import Mailer
from lifecycle import deletion, erasure, exports
from rag.chat.cache import ResponseCache
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


def purge_after_commit(
    background: BackgroundTasks, jobs: JobQueue, workspace_ids: Iterable[uuid.UUID]
) -> None:
    """``deletion.PURGE_JOB`` for each workspace once the request's transaction has committed
    (a response's background tasks run after it)."""
    for workspace_id in workspace_ids:
        background.add_task(
            jobs.enqueue,
            deletion.PURGE_JOB,
            _job_id=deletion.purge_job_id(workspace_id),
            workspace_id=str(workspace_id),
        )


def forget_after_erasure(
    background: BackgroundTasks,
    *,
    cache: ResponseCache,
    mailer: Mailer,
    settings: Settings,
    workspace_id: uuid.UUID,
    erased: erasure.Erased,
) -> None:
    """Once the erasure has committed (a response's background tasks run after it): the
    workspace's response cache, which keeps visitors' questions under digests no erasure can
    pick out, the files the file outbox wrote for the mails the erasure deleted, and the zips
    of the exports it withdrew."""
    background.add_task(cache.forget_workspace, workspace_id)
    background.add_task(mailer.forget_files, erased.mail_ids)
    background.add_task(erasure.remove_export_files, settings, erased.export_files)
