"""The data lifecycle's HTTP side that the JSON API and the dashboard share: an export's build
enqueued after the commit and its zip as a download, the purge a deletion enqueues after its
commit, and what an erasure clears after its commit (the response cache, before the answer;
the file outbox's copies of the mails it deleted, the zips of the exports it withdrew)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from fastapi import BackgroundTasks, Request
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import end_transaction
from api.middleware import is_head
from billing import provider_cancels
from core.config import Settings
from core.db import Database
from core.jobs import JobQueue
from core.mail import Mailer
from lifecycle import deletion, erasure, exports
from lifecycle.models import WorkspaceExport
from rag.chat.cache import ResponseCache
from workspaces.service import WorkspaceAccess


def export_after_commit(
    background: BackgroundTasks, db: Database, jobs: JobQueue, export: WorkspaceExport
) -> None:
    """The build of the export ``exports.request_export`` recorded, enqueued once the request's
    transaction has committed (``exports.enqueue_export``: retried, else the export fails)."""
    background.add_task(
        exports.enqueue_export, db, jobs, workspace_id=export.workspace_id, export_id=export.id
    )


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
    _after_commit(background, jobs, deletion.PURGE_JOB, deletion.purge_job_id, workspace_ids)


def cancel_after_commit(
    background: BackgroundTasks, jobs: JobQueue, workspace_ids: Iterable[uuid.UUID]
) -> None:
    """``provider_cancels.CANCEL_JOB`` for each workspace once the request's transaction has
    committed: its linked Razorpay Subscription's cancel is sent (retried by the
    ``razorpay_cancels`` sweep while Razorpay is down)."""
    _after_commit(
        background, jobs, provider_cancels.CANCEL_JOB, provider_cancels.cancel_job_id, workspace_ids
    )


def _after_commit(
    background: BackgroundTasks,
    jobs: JobQueue,
    job: str,
    job_id: Callable[[uuid.UUID], str],
    workspace_ids: Iterable[uuid.UUID],
) -> None:
    """The keyed ``job`` for each workspace, enqueued once the request has committed."""
    for workspace_id in workspace_ids:
        background.add_task(
            jobs.enqueue, job, _job_id=job_id(workspace_id), workspace_id=str(workspace_id)
        )


def after_deletion(background: BackgroundTasks, jobs: JobQueue, deleted: deletion.Deletion) -> None:
    """After a workspace's deletion has committed: its purge when no grace is left (which
    sends a waiting Razorpay cancel first), else that cancel's job."""
    if deleted.purge_now:
        purge_after_commit(background, jobs, [deleted.workspace_id])
    elif deleted.cancel_at_razorpay:
        cancel_after_commit(background, jobs, [deleted.workspace_id])


async def forget_after_erasure(
    session: AsyncSession,
    background: BackgroundTasks,
    *,
    cache: ResponseCache,
    mailer: Mailer,
    settings: Settings,
    workspace_id: uuid.UUID,
    erased: erasure.Erased,
) -> None:
    """The erasure committed now (``end_transaction``: the request's session is not used
    again), then, before the answer is sent, the workspace's response cache cleared: it keeps
    visitors' questions under digests no erasure can pick out, and a turn begun before the
    clearing stores nothing after it (``rag.chat.cache_fence``). Before, a background task
    cleared it after the answer was sent (never, when the process stopped in between): the
    owner was told the visitor was erased while the cache still gave their question's answer.
    After the answer: the files the file outbox wrote for the mails the erasure deleted, and
    the zips of the exports it withdrew."""
    await end_transaction(session)
    await cache.forget_workspace(workspace_id)
    background.add_task(mailer.forget_files, erased.mail_ids)
    background.add_task(erasure.remove_export_files, settings, erased.export_files)
