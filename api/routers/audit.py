"""The workspace audit log over HTTP. Entries are written by the services, through
``workspaces.permissions`` (see workspaces/audit.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from api.deps import LimitDep, SessionDep, WorkspaceDep
from workspaces import service

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
    user_agent: str | None
    request_id: str | None
    created_at: datetime


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


@router.get("/workspaces/{workspace_id}/audit", response_model=AuditPage)
async def list_audit(
    access: WorkspaceDep,
    session: SessionDep,
    limit: LimitDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    """What people and keys did in this workspace, newest first. Owners and admins."""
    rows, next_cursor = await service.audit_log_page(
        session, access, limit=limit, cursor=cursor, action=action
    )
    return AuditPage(items=[AuditEntryOut.model_validate(r) for r in rows], next_cursor=next_cursor)
