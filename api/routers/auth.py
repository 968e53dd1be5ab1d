from __future__ import annotations

from fastapi import APIRouter, Request, status

from api.deps import RuntimeDep, SessionDep, SettingsDep, UserPrincipalDep
from api.login import password_login
from api.throttling import RateLimitAuth
from core.errors import NotFound
from workspaces import repository as repo
from workspaces import security, service
from workspaces.schemas import (
    LoginIn,
    MeOut,
    SignupIn,
    SignupOut,
    TokenOut,
    UserOut,
    WorkspaceOut,
    WorkspaceWithRole,
)

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupOut,
    dependencies=[RateLimitAuth],
)
async def signup(body: SignupIn, session: SessionDep, settings: SettingsDep) -> SignupOut:
    user, workspace = await service.signup(
        session,
        email=str(body.email),
        password=body.password,
        workspace_name=body.workspace_name,
        name=body.name,
        plan=settings.default_plan,
    )
    token, expires_in = security.create_access_token(
        user.id, secret=settings.jwt_key, ttl_minutes=settings.jwt_ttl_minutes
    )
    return SignupOut(
        access_token=token,
        expires_in=expires_in,
        user=UserOut.model_validate(user),
        workspace=WorkspaceOut.model_validate(workspace),
    )


@router.post("/auth/login", response_model=TokenOut, dependencies=[RateLimitAuth])
async def login(
    body: LoginIn, runtime: RuntimeDep, settings: SettingsDep, request: Request
) -> TokenOut:
    user = await password_login(request, runtime, email=body.email, password=body.password)
    token, expires_in = security.create_access_token(
        user.id, secret=settings.jwt_key, ttl_minutes=settings.jwt_ttl_minutes
    )
    return TokenOut(access_token=token, expires_in=expires_in)


@router.get("/me", response_model=MeOut)
async def me(principal: UserPrincipalDep, session: SessionDep) -> MeOut:
    assert principal.user_id is not None
    from core.db import set_tenant

    await set_tenant(session, user_id=principal.user_id)
    user = await repo.get_user(session, principal.user_id)
    if user is None:
        raise NotFound("User not found")
    rows = await repo.list_user_workspaces(session, user.id)
    return MeOut(
        user=UserOut.model_validate(user),
        workspaces=[
            WorkspaceWithRole.model_validate(
                {**WorkspaceOut.model_validate(ws).model_dump(), "role": role}
            )
            for ws, role in rows
        ],
    )
