from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from api.deps import (
    AccountDepsDep,
    CursorDep,
    NoStore,
    SessionDep,
    SettingsDep,
    UserPrincipalDep,
    WorkspaceDep,
    free_room,
    page_limit,
)
from api.openapi import errors
from api.throttling import rate_limit_invitation
from core.db import set_tenant
from core.errors import NotFound
from rag.chat import faq as faq_service
from rag.knowledge import limits
from rag.knowledge.addresses import check_new_webhook_url
from workspaces import invitations, more_workspaces, service, team, usage
from workspaces import repository as repo
from workspaces.models import Workspace
from workspaces.schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    InvitationOut,
    MemberIn,
    MemberOut,
    MemberRoleIn,
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
    workspace = await more_workspaces.create_another_workspace(
        session,
        owner=user,
        name=body.name.strip(),
        default_plan=settings.default_plan,
        free_limit=settings.free_workspaces_per_account,
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
    body: WorkspaceUpdateIn, access: WorkspaceDep, session: SessionDep, settings: SettingsDep
) -> WorkspaceWithRole:
    values = body.model_dump(exclude_unset=True)
    check_new_webhook_url(
        values.get("webhook_url"),
        current=access.workspace.webhook_url,
        allow_private=settings.allow_private_urls,
    )
    workspace = await service.update_workspace(session, access, values)
    return WorkspaceWithRole.model_validate(
        {**WorkspaceOut.model_validate(workspace).model_dump(), "role": access.role}
    )


class WebhookOut(BaseModel):
    url: str | None
    secret: str | None = Field(description="Verifies X-TrulyBot-Signature; owners and admins only")
    set_by: uuid.UUID | None = Field(
        default=None,
        description="Who set the URL (an API key's maker for a key); null when unknown",
    )
    paused: bool = Field(
        default=False,
        description="No event is sent: the person who set the URL left the workspace (or was"
        " made a member). An owner resumes it with POST .../webhook/confirm or sets another URL",
    )
    paused_at: datetime | None = None

    @classmethod
    def of(cls, workspace: Workspace) -> WebhookOut:
        return cls(
            url=workspace.webhook_url,
            secret=workspace.webhook_secret,
            set_by=workspace.webhook_set_by,
            paused=workspace.webhook_paused_at is not None,
            paused_at=workspace.webhook_paused_at,
        )


@router.get("/workspaces/{workspace_id}/webhook", response_model=WebhookOut, dependencies=[NoStore])
async def get_webhook(access: WorkspaceDep, session: SessionDep) -> WebhookOut:
    await service.webhook(session, access)
    return WebhookOut.of(access.workspace)


@router.post(
    "/workspaces/{workspace_id}/webhook/confirm", response_model=WebhookOut, dependencies=[NoStore]
)
async def confirm_webhook(access: WorkspaceDep, session: SessionDep) -> WebhookOut:
    """An owner resumes a webhook paused because the person who set its URL left: events are
    sent to it again, and the URL counts as this owner's. Owners only; audited."""
    return WebhookOut.of(await service.confirm_webhook(session, access))


@router.post(
    "/workspaces/{workspace_id}/webhook/rotate-secret",
    response_model=WebhookOut,
    dependencies=[NoStore],
)
async def rotate_webhook_secret(access: WorkspaceDep, session: SessionDep) -> WebhookOut:
    return WebhookOut.of(await service.rotate_webhook_secret(session, access))


@router.post(
    "/workspaces/{workspace_id}/members",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=InvitationOut,
)
async def invite_member(
    body: MemberIn,
    request: Request,
    access: WorkspaceDep,
    session: SessionDep,
    accounts_deps: AccountDepsDep,
) -> Any:
    """Invite someone by email with a role: they get a link valid for INVITATION_TTL_DAYS and
    join when they accept it. The same answer whether or not the address has an account.
    Owners only, signed in and verified; audited. RATE_LIMIT_INVITATIONS per workspace and
    RATE_LIMIT_INVITATIONS_ADDRESS per address invited (429 ``rate_limited``)."""
    invitation = await invitations.invite(
        session, access, accounts_deps, email=str(body.email), role=body.role
    )
    await rate_limit_invitation(request, access.workspace.id, str(body.email))
    return invitation


@router.patch("/workspaces/{workspace_id}/members/{user_id}", response_model=MemberOut)
async def change_member_role(
    user_id: uuid.UUID,
    body: MemberRoleIn,
    access: WorkspaceDep,
    session: SessionDep,
    settings: SettingsDep,
) -> MemberOut:
    """Change a member's role (owners only; 409 ``last_owner`` for the only owner; 429
    ``quota_exceeded`` making owner someone who owns FREE_WORKSPACES_PER_ACCOUNT free
    workspaces already, when this one is free too)."""
    await team.change_role(session, access, user_id, role=body.role, room=free_room(settings))
    return await _member_out(session, access, user_id)


@router.delete(
    "/workspaces/{workspace_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(409),
)
async def remove_member(user_id: uuid.UUID, access: WorkspaceDep, session: SessionDep) -> Response:
    """Remove a member (owners only; 409 ``last_owner`` for the only owner). Your own user id
    is leaving the workspace, as ``POST .../leave``."""
    await team.remove_member(session, access, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/workspaces/{workspace_id}/leave",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(409),
)
async def leave_workspace(access: WorkspaceDep, session: SessionDep) -> Response:
    """Leave the workspace yourself, whatever your role: your access ends, the API keys you
    made stop working and your pending invitations are withdrawn. Audited ``member.left``.
    409 ``last_owner`` for its only owner (make someone else owner first); 403 for an API
    key."""
    await team.leave(session, access)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/workspaces/{workspace_id}/invitations", response_model=list[InvitationOut])
async def list_invitations(access: WorkspaceDep, session: SessionDep) -> Any:
    """Pending invitations (not accepted, withdrawn or expired), newest first."""
    return await invitations.list_pending(session, access)


@router.delete(
    "/workspaces/{workspace_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def revoke_invitation(
    invitation_id: uuid.UUID, access: WorkspaceDep, session: SessionDep
) -> Response:
    await invitations.revoke(session, access, invitation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _member_out(session: SessionDep, access: WorkspaceDep, user_id: uuid.UUID) -> MemberOut:
    rows = await team.list_members(session, access)
    [row] = [r for r in rows if r.id == user_id]
    return MemberOut(
        user_id=row.id, email=row.email, name=row.name, role=row.role, created_at=row.created_at
    )


@router.get("/workspaces/{workspace_id}/members", response_model=list[MemberOut])
async def list_members(access: WorkspaceDep, session: SessionDep) -> list[MemberOut]:
    rows = await team.list_members(session, access)
    return [
        MemberOut(user_id=r.id, email=r.email, name=r.name, role=r.role, created_at=r.created_at)
        for r in rows
    ]


@router.post(
    "/workspaces/{workspace_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreatedOut,
    dependencies=[NoStore],
)
async def create_api_key(body: ApiKeyIn, access: WorkspaceDep, session: SessionDep) -> Any:
    row, secret = await team.create_api_key(session, access, name=body.name)
    return ApiKeyCreatedOut.model_validate(
        {**ApiKeyOut.model_validate(row).model_dump(), "key": secret}
    )


NEXT_CURSOR_HEADER = "X-Next-Cursor"


@router.get(
    "/workspaces/{workspace_id}/api-keys",
    response_model=list[ApiKeyOut],
    responses={
        200: {
            "headers": {
                NEXT_CURSOR_HEADER: {
                    "description": "the `cursor` of the next page; absent on the last one",
                    "schema": {"type": "string"},
                },
                "Link": {
                    "description": 'the next page\'s URL, rel="next"; absent on the last one',
                    "schema": {"type": "string"},
                },
            }
        }
    },
)
async def list_api_keys(
    request: Request,
    response: Response,
    access: WorkspaceDep,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            description=f"keys per page; by default {team.MAX_LIVE_API_KEYS} (the most live"
            " keys a workspace holds) or MAX_PAGE_SIZE if lower",
        ),
    ] = None,
    cursor: CursorDep = None,
    revoked: Annotated[
        bool, Query(description="true: the revoked keys instead of the live ones")
    ] = False,
) -> Any:
    """The live keys newest first (`revoked=true`: the revoked ones). A JSON array; when more
    follow, the `X-Next-Cursor` header (and `Link`) says where the next page starts."""
    if limit is None:
        limit = min(team.MAX_LIVE_API_KEYS, settings.max_page_size)
    else:
        limit = await page_limit(settings, limit)
    rows, next_cursor = await team.api_keys_page(
        session, access, revoked=revoked, limit=limit, cursor=cursor
    )
    if next_cursor is not None:
        response.headers[NEXT_CURSOR_HEADER] = next_cursor
        url = request.url.include_query_params(cursor=next_cursor, limit=limit)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return rows


@router.delete(
    "/workspaces/{workspace_id}/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def revoke_api_key(key_id: uuid.UUID, access: WorkspaceDep, session: SessionDep) -> Response:
    await team.revoke_api_key(session, access, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/workspaces/{workspace_id}/usage", response_model=UsageOut)
async def get_usage(access: WorkspaceDep, session: SessionDep) -> UsageOut:
    stored = await limits.stored_usage(session, access.workspace.id)
    stored["faqs"] = await faq_service.count(session, access.workspace.id)
    return await usage.usage_report(session, access.workspace, stored)
