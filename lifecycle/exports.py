"""Workspace exports: one zip of JSON and CSV files with everything a workspace holds about its
knowledge and its visitors (what the zip holds: lifecycle/archive.py), built by a job,
downloadable by its owners until it expires. The file is ``DATA_DIR/exports/<random>.zip``,
never served by name. While it is being written it is ``<export id>.<random>.part``: a build that
fails or is cancelled (a job timeout, a shutdown) deletes it; one killed outright leaves it, and
the workspace's purge (by its export ids) or the periodic sweep (once older than
``PART_MAX_AGE``) deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.db import Database, lock_workspace, set_tenant
from core.errors import AppError, Conflict, NotFound
from core.jobs import JobQueue, enqueue_retried
from core.models import utcnow
from lifecycle import archive as archive_writer
from lifecycle import export_repository as repo
from lifecycle.models import WorkspaceExport
from lifecycle.zip_sink import ZipSink
from rag.knowledge import requeue
from workspaces import repository as ws_repo
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess, require_verified

log = logging.getLogger(__name__)

EXPORTS_DIR = "exports"
EXPORT_JOB = "build_workspace_export"
ERROR_MAX = 500
# An export still queued this long after it was requested lost its job (a process died before
# enqueueing it): it is failed when the workspace's exports are listed or another is requested.
STALE_AFTER = timedelta(hours=2)
# A running build says it is alive every HEARTBEAT (``started_at``); one silent this long lost
# its process (killed, out of memory: no handler ran). A live build keeps its export however long
# it runs (the in-process queue has no job timeout; a worker's --job-timeout may be long), and a
# cancelled build fails its export itself.
HEARTBEAT = timedelta(minutes=1)
SILENT_TOO_LONG = timedelta(minutes=10)
INTERRUPTED = (
    "interrupted: the export stopped before it finished (a job timeout, or the process"
    " building it was stopped); request a new one"
)
UNQUEUED = (
    "queue_unavailable: the export could not be queued (the job queue did not answer);"
    " request a new one"
)
LOST = (
    "interrupted: the export's job stopped before it finished (the process building it was"
    " stopped or killed); request a new one"
)
FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.zip$")
PART_SUFFIX = ".part"
# A part file this old belongs to a build that no longer runs (a job is cancelled after the
# worker's --job-timeout, 30 minutes by default): the sweep deletes it.
PART_MAX_AGE = STALE_AFTER
# Requests for an export of one workspace take this lock in turn (``request_export``).
REQUEST_LOCK = "workspace_exports:request"


class ExportGone(AppError):
    code = "export_expired"
    status_code = 410


def exports_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / EXPORTS_DIR


def part_path(settings: Settings, export_id: uuid.UUID) -> Path:
    """Where a build of ``export_id`` writes before the zip is complete (one per build: two
    runs of the same job never write the same file)."""
    return exports_dir(settings) / f"{export_id}.{secrets.token_urlsafe(12)}{PART_SUFFIX}"


def remove_part_files(
    settings: Settings, *, export_ids: Sequence[uuid.UUID] = (), older_than: datetime | None = None
) -> int:
    """Delete the part files of these exports, and (with ``older_than``) every part file last
    written before then; how many went."""
    directory = exports_dir(settings)
    if not directory.is_dir():
        return 0
    doomed: set[Path] = set()
    for export_id in export_ids:
        doomed.update(directory.glob(f"{export_id}.*{PART_SUFFIX}"))
    if older_than is not None:
        cutoff = older_than.timestamp()
        for path in directory.glob(f"*{PART_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    doomed.add(path)
    removed = 0
    for path in doomed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def export_path(settings: Settings, file_name: str) -> Path:
    if not FILE_NAME.match(file_name):  # only names this module made
        raise ValueError(f"not an export file name: {file_name!r}")
    return exports_dir(settings) / file_name


# --- requests (the HTTP side) ------------------------------------------------------------------


async def fail_lost(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """The workspace's exports whose job is gone (queued past ``STALE_AFTER``, running with no
    heartbeat for ``SILENT_TOO_LONG``) become ``failed`` with ``LOST``: a killed process cleans
    up nothing, so this runs wherever an owner looks (the list, one export, a new request)."""
    now = utcnow()
    return await repo.fail_stale_exports(
        session,
        workspace_id=workspace_id,
        queued_before=now - STALE_AFTER,
        started_before=now - SILENT_TOO_LONG,
        error=LOST,
    )


async def request_export(session: AsyncSession, access: WorkspaceAccess) -> WorkspaceExport:
    """A new export, queued; one at a time per workspace (409 ``export_in_progress``; one whose
    job is gone is failed instead, ``fail_lost``). Audited. The caller commits, then enqueues
    ``EXPORT_JOB``.

    Requests for one workspace take a transaction lock in turn before they look: the next one
    looks once the first has committed and sees its export (several at once, on one replica or
    many, all passed the check and each built a full read of the workspace)."""
    permit = authorize(access, Action.EXPORT_CREATE)
    await require_verified(session, access)  # 403 email_unverified (workspaces/service.py)
    workspace_id = access.workspace.id
    await lock_workspace(session, REQUEST_LOCK, workspace_id)
    await fail_lost(session, workspace_id)
    if await repo.count_active_exports(session, workspace_id=workspace_id):
        raise Conflict(
            "An export of this workspace is already being built", code="export_in_progress"
        )
    export = await repo.insert_export(
        session,
        WorkspaceExport(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            requested_by=access.principal.user_id,
            status="queued",
            created_at=utcnow(),
        ),
    )
    await permit.record(session, target_type="export", target_id=export.id)
    return export


async def get_export(
    session: AsyncSession, access: WorkspaceAccess, *, export_id: uuid.UUID
) -> WorkspaceExport:
    authorize(access, Action.EXPORT_READ)
    await fail_lost(session, access.workspace.id)
    export = await repo.get_export(session, workspace_id=access.workspace.id, export_id=export_id)
    if export is None:
        raise NotFound("Export not found")
    return export


async def list_exports(
    session: AsyncSession, access: WorkspaceAccess, *, limit: int
) -> Sequence[WorkspaceExport]:
    authorize(access, Action.EXPORT_READ)
    await fail_lost(session, access.workspace.id)
    return await repo.list_exports(session, workspace_id=access.workspace.id, limit=limit)


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    size: int


async def open_download(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    export_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
    head: bool = False,
) -> Download:
    """The ready zip of an export (409 ``export_not_ready`` while it is being built, 410
    ``export_expired`` once expired). Audited: who downloaded which export (not for ``head``,
    a HEAD request: nothing leaves)."""
    permit = authorize(access, Action.EXPORT_DOWNLOAD)
    await require_verified(session, access)
    export = await repo.get_export(session, workspace_id=access.workspace.id, export_id=export_id)
    if export is None:
        raise NotFound("Export not found")
    now = now or utcnow()
    expired = export.status == "expired" or (
        export.expires_at is not None and export.expires_at <= now
    )
    if expired:
        withdrawn = export.status == "expired" and (export.error or "").startswith("withdrawn")
        raise ExportGone(
            f"This export was {export.error}"
            if withdrawn
            else "This export has expired; request a new one"
        )
    if export.status != "ready" or not export.file_name:
        raise Conflict(
            f"This export is {export.status}, not ready to download",
            code="export_not_ready",
            details={"status": export.status},
        )
    path = export_path(settings, export.file_name)
    if not path.is_file():
        # Ready and unexpired, but not on this process's disk: the worker that wrote it has
        # another DATA_DIR (nothing above info level said so; every new export did the same).
        log.warning(
            "export file missing: is DATA_DIR shared between the API and the workers?"
            " (export %s of workspace %s, expected at %s)",
            export.id,
            access.workspace.id,
            path,
        )
        raise ExportGone("This export's file is gone; request a new one")
    if not head:
        await permit.record(session, target_type="export", target_id=export.id)
    stamp = export.created_at.strftime("%Y%m%d-%H%M%S")
    return Download(
        path=path,
        filename=f"trulybot-{access.workspace.slug}-{stamp}.zip",
        size=path.stat().st_size,
    )


# --- the job -----------------------------------------------------------------------------------


async def build_export(
    db: Database,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    export_id: uuid.UUID,
    now: datetime | None = None,
) -> str:
    """Build the zip of a queued export; ``ready`` (with its expiry), or ``failed``. Idempotent:
    an export that is no longer queued or running is left alone; a crashed run starts over.

    A cancelled build (the worker's job timeout, a shutdown: no ``except Exception`` sees it)
    leaves the export ``failed`` with ``INTERRUPTED``, not ``running`` for good behind a
    spinner; its owner may request another at once."""
    try:
        return await _build(db, settings, workspace_id=workspace_id, export_id=export_id, now=now)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await asyncio.shield(interrupted(db, workspace_id=workspace_id, export_id=export_id))
        raise


async def enqueue_export(
    db: Database, jobs: JobQueue, *, workspace_id: uuid.UUID, export_id: uuid.UUID
) -> bool:
    """Enqueue the build ``request_export`` recorded (after the request's commit), tried again
    while the queue is unreachable (``requeue.ENQUEUE_DELAYS``). When it still fails, the export
    becomes ``failed`` with ``UNQUEUED``: queued with no job behind it, it answered 409
    ``export_in_progress`` to every new request for two hours. Whether it was enqueued."""
    enqueued = await enqueue_retried(
        lambda: jobs.enqueue(EXPORT_JOB, workspace_id=str(workspace_id), export_id=str(export_id)),
        requeue.ENQUEUE_DELAYS,
        what=f"export {export_id}",
    )
    if not enqueued:
        await _fail(db, workspace_id, export_id, UNQUEUED, only_status=("queued",))
    return enqueued


async def interrupted(db: Database, *, workspace_id: uuid.UUID, export_id: uuid.UUID) -> None:
    """The export's job was cancelled, or dropped unrun by a stopping in-process queue: an
    export still queued or running becomes ``failed`` with ``INTERRUPTED``."""
    await _fail(db, workspace_id, export_id, INTERRUPTED, only_status=("queued", "running"))


async def _fail(
    db: Database,
    workspace_id: uuid.UUID,
    export_id: uuid.UUID,
    error: str,
    *,
    only_status: Sequence[str],
) -> None:
    values = {"status": "failed", "error": error, "finished_at": utcnow()}
    await _set(db, workspace_id, export_id, values, only_status=only_status)


async def _set(
    db: Database,
    workspace_id: uuid.UUID,
    export_id: uuid.UUID,
    values: dict[str, object],
    *,
    only_status: Sequence[str],
) -> bool:
    """``values`` on the export while its status is one of ``only_status``, in a transaction
    of its own; whether it was."""
    async with db.transaction(workspace_id=workspace_id) as session:
        return await repo.update_export(
            session,
            workspace_id=workspace_id,
            export_id=export_id,
            values=values,
            only_status=only_status,
        )


async def _build(
    db: Database,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    export_id: uuid.UUID,
    now: datetime | None,
) -> str:
    values = {"status": "running", "started_at": utcnow()}
    claimed = await _set(db, workspace_id, export_id, values, only_status=("queued", "running"))
    if not claimed:
        return "skipped"
    beat = asyncio.create_task(_heartbeat(db, workspace_id=workspace_id, export_id=export_id))
    try:
        return await _write(db, settings, workspace_id=workspace_id, export_id=export_id, now=now)
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat


async def _heartbeat(db: Database, *, workspace_id: uuid.UUID, export_id: uuid.UUID) -> None:
    """Every ``HEARTBEAT`` while the build runs: its export's ``started_at`` is now, so
    ``fail_lost`` tells it from one whose process died."""
    while True:
        await asyncio.sleep(HEARTBEAT.total_seconds())
        with contextlib.suppress(Exception):  # a missed beat is not the build's failure
            await _set(
                db, workspace_id, export_id, {"started_at": utcnow()}, only_status=("running",)
            )


async def _write(
    db: Database,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    export_id: uuid.UUID,
    now: datetime | None,
) -> str:
    directory = exports_dir(settings)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    file_name = f"{secrets.token_urlsafe(24)}.zip"
    final = export_path(settings, file_name)
    partial = part_path(settings, export_id)
    try:
        try:
            async with db.transaction(workspace_id=workspace_id) as session:
                workspace = await ws_repo.get_workspace(session, workspace_id)
                if workspace is None:
                    raise NotFound("Workspace not found")
                async with ZipSink(partial) as archive:  # written by a thread of its own
                    await archive_writer.write_archive(archive, session, workspace)
            os.replace(partial, final)
        finally:
            # Whatever stopped the build (an error, or a cancellation: a job timeout, a
            # shutdown, which no ``except Exception`` sees) leaves no readable part behind.
            partial.unlink(missing_ok=True)
    except Exception as exc:
        log.exception("export %s of workspace %s failed", export_id, workspace_id)
        # Only while still running: an erasure that withdrew the build meanwhile set its own
        # reason ("withdrawn: ..."), which the owner must go on seeing.
        error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
        await _fail(db, workspace_id, export_id, error, only_status=("running",))
        return "failed"
    finished = now or utcnow()
    async with db.transaction(workspace_id=workspace_id) as session:
        kept = await repo.update_export(
            session,
            workspace_id=workspace_id,
            export_id=export_id,
            values={
                "status": "ready",
                "file_name": file_name,
                "size_bytes": final.stat().st_size,
                "finished_at": finished,
                "expires_at": finished + timedelta(hours=settings.export_ttl_hours),
                "error": None,
            },
            only_status=("running",),
        )
    if not kept:  # deleted meanwhile (the workspace went): leave no file behind
        final.unlink(missing_ok=True)
        return "skipped"
    return "ready"


async def delete_expired(db: Database, settings: Settings, *, now: datetime) -> int:
    """Delete the files of exports past their expiry and mark them expired (every workspace's:
    the scheduled job), the part files of builds that died (older than ``PART_MAX_AGE``), and
    zips no export row names once older than an export lives (``remove_orphan_zips``). Returns
    how many exports expired."""
    remove_part_files(settings, older_than=now - PART_MAX_AGE)
    await remove_orphan_zips(
        db, settings, older_than=now - timedelta(hours=settings.export_ttl_hours) - PART_MAX_AGE
    )
    total = 0
    while True:
        async with db.transaction(lookup=repo.EXPORT_SWEEP_LOOKUP) as session:
            rows = await repo.expired_exports(session, now=now, limit=200)
            for _, _, file_name in rows:
                if file_name:
                    with contextlib.suppress(FileNotFoundError, ValueError):
                        export_path(settings, file_name).unlink()
            for export_id, workspace_id, _ in rows:
                # RLS admits the update in the export's own workspace only.
                await set_tenant(
                    session, workspace_id=workspace_id, lookup=repo.EXPORT_SWEEP_LOOKUP
                )
                await repo.mark_expired(session, workspace_id=workspace_id, export_id=export_id)
        total += len(rows)
        if len(rows) < 200:
            return total


async def remove_orphan_zips(db: Database, settings: Settings, *, older_than: datetime) -> int:
    """Delete the zips last written before ``older_than`` that no export row names (every
    ready export's file expires before then): a safeguard for a file whose row went without
    it. How many went."""
    directory = exports_dir(settings)
    if not directory.is_dir():
        return 0
    cutoff = older_than.timestamp()
    old: dict[str, Path] = {}
    for path in directory.glob("*.zip"):
        with contextlib.suppress(FileNotFoundError):
            if FILE_NAME.match(path.name) and path.stat().st_mtime < cutoff:
                old[path.name] = path
    removed = 0
    names = sorted(old)
    for start in range(0, len(names), 500):
        page = names[start : start + 500]
        async with db.transaction(lookup=repo.EXPORT_SWEEP_LOOKUP) as session:
            held = await repo.held_file_names(session, names=page)
        for name in page:
            if name not in held:
                log.warning("export file %s belongs to no export: deleted", name)
                old[name].unlink(missing_ok=True)
                removed += 1
    return removed


async def remove_workspace_exports(
    session: AsyncSession, settings: Settings, *, workspace_id: uuid.UUID
) -> int:
    """Delete a workspace's export rows (the purge's first transaction) and every file of them,
    the part files of its unfinished builds among them; how many files went.

    The rows go first and their file names are those of the deleted rows: a build that
    finishes meanwhile either committed ``ready`` before (its file name is deleted here) or
    finds its row gone and deletes its own zip. Read before the rows went, a build finishing in
    between left its zip on disk with no row (a reviewer's finding)."""
    rows = await repo.delete_exports(session, workspace_id=workspace_id)
    names = [name for _, name in rows if name]
    for name in names:
        with contextlib.suppress(FileNotFoundError, ValueError):
            export_path(settings, name).unlink()
    return len(names) + remove_part_files(settings, export_ids=[i for i, _ in rows])
