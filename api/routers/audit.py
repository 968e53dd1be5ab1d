"""The workspace audit log over HTTP, and the helper routers use to write to it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import LimitDep, SessionDep, WorkspaceDep
from api.throttling import request_client_ip
from workspaces import audit
from workspaces.service import WorkspaceAccess

router = APIRouter(tags=["audit"])


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    action: str
    actor_user_id: uuid.UUID | None
    actor_api_key_id: uuid.UUID | None
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    ip: str | None
    request_id: str | None
    created_at: datetime


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


def audit_actor(request: Request, access: WorkspaceAccess) -> audit.Actor:
    """The acting user or API key, with the client IP and the request id."""
    request_id = getattr(request.state, "request_id", None)
    return audit.Actor.of(access, ip=request_client_ip(request), request_id=request_id)


async def record_action(
    request: Request,
    session: AsyncSession,
    access: WorkspaceAccess,
    action: str,
    *,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an audit entry for an owner action in this request's unit of work."""
    await audit.record(
        session,
        workspace_id=access.workspace.id,
        actor=audit_actor(request, access),
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )


@router.get("/workspaces/{workspace_id}/audit", response_model=AuditPage)
async def list_audit(
    access: WorkspaceDep,
    session: SessionDep,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    """Owner actions in this workspace, newest first. Owners and admins only."""
    access.require("admin")
    rows, next_cursor = await audit.list_page(
        session, workspace_id=access.workspace.id, limit=limit, cursor=cursor, action=action
    )
    return AuditPage(items=[AuditEntryOut.model_validate(r) for r in rows], next_cursor=next_cursor)
