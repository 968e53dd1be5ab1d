"""A workspace's data over its life: exports (and, below, deletion and erasure). Thin: the rules
live in lifecycle/."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, BackgroundTasks, status
from fastapi.responses import FileResponse

from api.deps import LimitDep, RuntimeDep, SessionDep, WorkspaceDep
from lifecycle import exports
from lifecycle.models import WorkspaceExport
from lifecycle.schemas import ExportList, ExportOut

router = APIRouter(tags=["lifecycle"])


def _out(export: WorkspaceExport) -> ExportOut:
    out = ExportOut.model_validate(export)
    if export.status == "ready":
        out.download_url = f"/api/v1/workspaces/{export.workspace_id}/exports/{export.id}/download"
    return out


@router.post(
    "/workspaces/{workspace_id}/exports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportOut,
)
async def create_export(
    access: WorkspaceDep, session: SessionDep, runtime: RuntimeDep, background: BackgroundTasks
) -> ExportOut:
    """Start building a zip of the workspace's data. Owners; one at a time."""
    export = await exports.request_export(session, access)
    # Background tasks run after the response, i.e. after the request's commit.
    background.add_task(
        runtime.jobs.enqueue,
        exports.EXPORT_JOB,
        workspace_id=str(export.workspace_id),
        export_id=str(export.id),
    )
    return _out(export)


@router.get("/workspaces/{workspace_id}/exports", response_model=ExportList)
async def list_exports(access: WorkspaceDep, session: SessionDep, limit: LimitDep) -> ExportList:
    rows = await exports.list_exports(session, access, limit=limit)
    return ExportList(items=[_out(row) for row in rows])


@router.get("/workspaces/{workspace_id}/exports/{export_id}", response_model=ExportOut)
async def get_export(export_id: uuid.UUID, access: WorkspaceDep, session: SessionDep) -> ExportOut:
    return _out(await exports.get_export(session, access, export_id=export_id))


@router.get("/workspaces/{workspace_id}/exports/{export_id}/download", response_class=FileResponse)
async def download_export(
    export_id: uuid.UUID, access: WorkspaceDep, session: SessionDep, runtime: RuntimeDep
) -> FileResponse:
    """The zip, to owners, until it expires (410 ``export_expired`` after)."""
    download = await exports.open_download(
        session, access, export_id=export_id, settings=runtime.settings
    )
    return FileResponse(
        download.path,
        media_type="application/zip",
        filename=download.filename,
        headers={"Cache-Control": "no-store"},
    )
