"""A workspace's data over its life: exports, deletion (of a workspace, of an account). Thin: the
rules live in lifecycle/."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, BackgroundTasks, Request, status
from fastapi.responses import FileResponse

from api import passwords
from api.data_lifecycle import (
    after_deletion,
    export_after_commit,
    export_zip_response,
    forget_after_erasure,
    purge_after_commit,
)
from api.deps import (
    DeletedWorkspaceDep,
    LimitDep,
    RuntimeDep,
    SessionDep,
    UserPrincipalDep,
    WorkspaceDep,
)
from api.openapi import errors
from api.throttling import RateLimitAuth
from core.models import utcnow
from lifecycle import deletion, erasure, exports, retention
from lifecycle.models import WorkspaceExport
from lifecycle.schemas import (
    AccountDeleteIn,
    AccountDeletionOut,
    DeletionOut,
    ErasureIn,
    ErasureOut,
    ExportList,
    ExportOut,
    RetentionIn,
    RetentionOut,
    WorkspaceDeleteIn,
)
from workspaces.schemas import WorkspaceOut

router = APIRouter(tags=["lifecycle"])


def _out(export: WorkspaceExport) -> ExportOut:
    out = ExportOut.model_validate(export)
    if export.status == "ready" and export.expires_at is not None and export.expires_at <= utcnow():
        # Past its time, before the cleanup job deleted it: listed as what the download says
        # (410 export_expired), not as ready with a link.
        out.status = "expired"
    elif export.status == "ready":
        out.download_url = f"/api/v1/workspaces/{export.workspace_id}/exports/{export.id}/download"
    return out


@router.post(
    "/workspaces/{workspace_id}/exports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportOut,
    responses=errors(409),
)
async def create_export(
    access: WorkspaceDep, session: SessionDep, runtime: RuntimeDep, background: BackgroundTasks
) -> ExportOut:
    """Start building a zip of the workspace's data. Owners; one at a time."""
    export = await exports.request_export(session, access)
    export_after_commit(background, runtime.db, runtime.jobs, export)
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
    request: Request,
    export_id: uuid.UUID,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> FileResponse:
    """The zip, to owners, until it expires (410 ``export_expired`` after). Audited; a HEAD
    is not (nothing leaves)."""
    return await export_zip_response(
        request, session, access, export_id=export_id, settings=runtime.settings
    )


# --- deletion ------------------------------------------------------------------------------------


@router.delete(
    "/workspaces/{workspace_id}", status_code=status.HTTP_202_ACCEPTED, response_model=DeletionOut
)
async def delete_workspace(
    body: WorkspaceDeleteIn,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> DeletionOut:
    """Delete the workspace: owners, typing its slug in ``confirm``. Access ends at once; the
    data is purged after WORKSPACE_DELETION_GRACE_HOURS (restorable until then)."""
    done = await deletion.delete_workspace(
        session, access, confirm=body.confirm, grace=deletion.grace_of(runtime.settings)
    )
    after_deletion(background, runtime.jobs, done)
    return DeletionOut(
        workspace_id=done.workspace_id, deleted_at=done.deleted_at, purge_after=done.purge_after
    )


@router.post(
    "/workspaces/{workspace_id}/restore", response_model=WorkspaceOut, responses=errors(409)
)
async def restore_workspace(
    access: DeletedWorkspaceDep, session: SessionDep, runtime: RuntimeDep
) -> WorkspaceOut:
    """Undo a deletion during its grace period. Owners, with room for it under
    FREE_WORKSPACES_PER_ACCOUNT (429 ``quota_exceeded``)."""
    restored = await deletion.restore_workspace(session, access, settings=runtime.settings)
    return WorkspaceOut.model_validate(restored)


@router.delete("/me", response_model=AccountDeletionOut, dependencies=[RateLimitAuth])
async def delete_account(
    body: AccountDeleteIn,
    request: Request,
    principal: UserPrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> AccountDeletionOut:
    """Delete the caller's account (their password confirms: 403 ``wrong_password``, and
    guesses count against the sign-in rate limit). 409 ``last_owner`` while they are
    the only owner of a workspace with other members; workspaces they are alone in go with it."""
    assert principal.user_id is not None
    done = await passwords.delete_account(
        request, session, runtime, user_id=principal.user_id, password=body.password
    )
    purge_after_commit(background, runtime.jobs, done.purge)
    return AccountDeletionOut(deleted_workspaces=done.purge, left_workspaces=done.left)


# --- visitor erasure ---------------------------------------------------------------------------


@router.post("/workspaces/{workspace_id}/erasures", response_model=ErasureOut)
async def erase_visitor(
    body: ErasureIn,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> ErasureOut:
    """Erase one visitor's conversations, messages, leads and submissions (owners; audited
    without the erased data). By ``email`` (everything filed under it, and the conversations
    where it was typed), by ``phone`` (the same for a number, however written) or by widget
    ``session_id`` (that session's conversations and the
    submissions sent from them; a lead another visitor also sent to stays), exactly one.
    By email or phone, what is kept (another person's form or lead naming the visitor, the
    owner's notes on any lead) has the address or number replaced by "[erased]"
    (``redacted_leads``, ``redacted_lead_submissions`` in ``erased``).
    After the commit, before the answer, the workspace's response cache is cleared (it holds
    visitors' questions; a chat turn begun before stores no answer after it).
    The workspace's ready and running exports are withdrawn (``withdrawn_exports``: their
    status and error say why; a ready one's zip is deleted); a queued one is built after."""
    erased = await erasure.erase_visitor(
        session, access, email=body.email, session_id=body.session_id, phone=body.phone
    )
    await forget_after_erasure(
        session,
        background,
        cache=runtime.cache,
        mailer=runtime.mailer,
        settings=runtime.settings,
        workspace_id=access.workspace.id,
        erased=erased,
    )
    return ErasureOut(erased=erased.counts, withdrawn_exports=erased.withdrawn_exports)


# --- retention -----------------------------------------------------------------------------------


def _retention_out(value: retention.Retention) -> RetentionOut:
    return RetentionOut(
        conversation_retention_days=value.days,
        plan_default=value.plan_days,
        setting=value.setting,
        grace_until=value.grace_until,
    )


@router.get("/workspaces/{workspace_id}/retention", response_model=RetentionOut)
async def get_retention(access: WorkspaceDep) -> RetentionOut:
    """How long conversations are kept. Any member."""
    return _retention_out(retention.view(access))


@router.put("/workspaces/{workspace_id}/retention", response_model=RetentionOut)
async def set_retention(
    body: RetentionIn, access: WorkspaceDep, session: SessionDep
) -> RetentionOut:
    """Keep conversations for fewer days than the plan does, or (null) as long as it does.
    Owners; audited."""
    return _retention_out(
        await retention.update(session, access, days=body.conversation_retention_days)
    )
