from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from api.deps import SessionDep, SettingsDep, UserPrincipalDep, WorkspaceDep
from api.routers.audit import record_action
from core.db import set_tenant
from core.errors import NotFound, ValidationFailed
from workspaces import audit, security, service, usage
from workspaces import repository as repo
from workspaces.schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    MemberIn,
    MemberOut,
    UsageOut,
    WorkspaceCreateIn,
    WorkspaceOut,
    WorkspaceUpdateIn,
    WorkspaceWithRole,
)

router = APIRouter(tags=["workspaces"])


@router.post("/workspaces", status_code=status.HTTP_201_CREATED, response_model=WorkspaceWithRole)
async def create_workspace(
    body: WorkspaceCreateIn,
    principal: UserPrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> WorkspaceWithRole:
    assert principal.user_id is not None
    await set_tenant(session, user_id=principal.user_id)
    user = await repo.get_user(session, principal.user_id)
    if user is None:
        raise NotFound("User not found")
    workspace = await service.create_workspace(
        session, owner=user, name=body.name.strip(), plan=settings.default_plan
    )
    return WorkspaceWithRole.model_validate(
        {**WorkspaceOut.model_validate(workspace).model_dump(), "role": "owner"}
    )


@router.get("/workspaces/{workspace_id}", response_model=WorkspaceWithRole)
async def get_workspace(access: WorkspaceDep) -> WorkspaceWithRole:
    return WorkspaceWithRole.model_validate(
        {**WorkspaceOut.model_validate(access.workspace).model_dump(), "role": access.role}
    )


@router.patch("/workspaces/{workspace_id}", response_model=WorkspaceWithRole)
async def update_workspace(
    body: WorkspaceUpdateIn, access: WorkspaceDep, session: SessionDep, request: Request
) -> WorkspaceWithRole:
    access.require("admin")
    values: dict[str, Any] = body.model_dump(exclude_unset=True)
    if "name" in values and (values["name"] is None or not values["name"].strip()):
        raise ValidationFailed("name must not be blank", details=[{"field": "name"}])
    if values.get("webhook_url") and not str(values["webhook_url"]).startswith(
        ("https://", "http://")
    ):
        raise ValidationFailed(
            "webhook_url must be an http(s) URL", details=[{"field": "webhook_url"}]
        )
    if "persona" in values and values["persona"] is None:
        values["persona"] = ""
    if values.get("webhook_url") and not access.workspace.webhook_secret:
        values["webhook_secret"] = security.generate_webhook_secret()
    workspace = await repo.update_workspace(session, access.workspace.id, values)
    assert workspace is not None
    await record_action(
        request,
        session,
        access,
        audit.WORKSPACE_UPDATED,
        target_type="workspace",
        target_id=access.workspace.id,
        details={"fields": sorted(values)},
    )
    return WorkspaceWithRole.model_validate(
        {**WorkspaceOut.model_validate(workspace).model_dump(), "role": access.role}
    )


class WebhookOut(BaseModel):
    url: str | None
    secret: str | None = Field(description="Verifies X-TrulyBot-Signature; owners and admins only")


@router.get("/workspaces/{workspace_id}/webhook", response_model=WebhookOut)
async def get_webhook(access: WorkspaceDep) -> WebhookOut:
    access.require("admin")
    return WebhookOut(url=access.workspace.webhook_url, secret=access.workspace.webhook_secret)


@router.post("/workspaces/{workspace_id}/webhook/rotate-secret", response_model=WebhookOut)
async def rotate_webhook_secret(
    request: Request, access: WorkspaceDep, session: SessionDep
) -> WebhookOut:
    access.require("admin")
    workspace = await repo.update_workspace(
        session, access.workspace.id, {"webhook_secret": security.generate_webhook_secret()}
    )
    assert workspace is not None
    await record_action(request, session, access, "webhook_secret.rotated", target_type="webhook")
    return WebhookOut(url=workspace.webhook_url, secret=workspace.webhook_secret)


@router.post(
    "/workspaces/{workspace_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberOut,
)
async def add_member(
    body: MemberIn, access: WorkspaceDep, session: SessionDep, request: Request
) -> MemberOut:
    known = await repo.get_user_by_email(session, str(body.email))
    before = (
        await repo.get_membership(session, workspace_id=access.workspace.id, user_id=known.id)
        if known is not None
        else None
    )
    role_before = before.role if before is not None else None
    user, membership = await service.add_member(
        session, access, email=str(body.email), role=body.role
    )
    if role_before is None:
        await record_action(
            request,
            session,
            access,
            audit.MEMBER_ADDED,
            target_type="user",
            target_id=user.id,
            details={"role": membership.role},
        )
    elif role_before != membership.role:
        await record_action(
            request,
            session,
            access,
            audit.MEMBER_ROLE_CHANGED,
            target_type="user",
            target_id=user.id,
            details={"from": role_before, "to": membership.role},
        )
    return MemberOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=membership.role,
        created_at=membership.created_at,
    )


@router.get("/workspaces/{workspace_id}/members", response_model=list[MemberOut])
async def list_members(access: WorkspaceDep, session: SessionDep) -> list[MemberOut]:
    rows = await repo.list_members(session, access.workspace.id)
    return [
        MemberOut(user_id=r.id, email=r.email, name=r.name, role=r.role, created_at=r.created_at)
        for r in rows
    ]


@router.post(
    "/workspaces/{workspace_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreatedOut,
)
async def create_api_key(
    body: ApiKeyIn, access: WorkspaceDep, session: SessionDep, request: Request
) -> Any:
    row, secret = await service.create_api_key(session, access, name=body.name)
    await record_action(
        request,
        session,
        access,
        audit.API_KEY_CREATED,
        target_type="api_key",
        target_id=row.id,
        details={"name": row.name, "prefix": row.prefix},
    )
    return ApiKeyCreatedOut.model_validate(
        {**ApiKeyOut.model_validate(row).model_dump(), "key": secret}
    )


@router.get("/workspaces/{workspace_id}/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(access: WorkspaceDep, session: SessionDep) -> Any:
    access.require("admin")
    return await repo.list_api_keys(session, access.workspace.id)


@router.delete(
    "/workspaces/{workspace_id}/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def revoke_api_key(
    key_id: uuid.UUID, access: WorkspaceDep, session: SessionDep, request: Request
) -> Response:
    key = await service.revoke_api_key(session, access, key_id)
    await record_action(
        request,
        session,
        access,
        audit.API_KEY_REVOKED,
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name, "prefix": key.prefix},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/workspaces/{workspace_id}/usage", response_model=UsageOut)
async def get_usage(access: WorkspaceDep, session: SessionDep) -> UsageOut:
    return await usage.usage_report(session, access.workspace)
