from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from api.deps import (
    RuntimeDep,
    SessionDep,
    SessionPolicyDep,
    SettingsDep,
    UserPrincipalDep,
    client_info,
)
from api.throttling import RateLimitAuth, login_attempt
from core.config import Settings
from core.errors import NotFound, Unauthorized
from workspaces import repository as repo
from workspaces import service, sessions
from workspaces.schemas import (
    LoginIn,
    MeOut,
    RefreshIn,
    SessionOut,
    SignupIn,
    SignupOut,
    TokenOut,
    UserOut,
    WorkspaceOut,
    WorkspaceWithRole,
)

router = APIRouter(tags=["auth"])


def _tokens(
    started: sessions.Started,
    settings: Settings,
    policy: sessions.SessionPolicy,
) -> TokenOut:
    pair = sessions.access_token(
        started, jwt_key=settings.jwt_key, algorithm=settings.jwt_algorithm, policy=policy
    )
    return TokenOut(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_at=pair.refresh_expires_at,
        session_id=pair.session_id,
    )


@router.post(
    "/auth/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupOut,
    dependencies=[RateLimitAuth],
)
async def signup(
    body: SignupIn,
    session: SessionDep,
    settings: SettingsDep,
    policy: SessionPolicyDep,
    request: Request,
) -> SignupOut:
    user, workspace = await service.signup(
        session,
        email=str(body.email),
        password=body.password,
        workspace_name=body.workspace_name,
        name=body.name,
        plan=settings.default_plan,
    )
    started = await sessions.start(
        session, user.id, kind="api", client=client_info(request, settings), policy=policy
    )
    return SignupOut(
        **_tokens(started, settings, policy).model_dump(),
        user=UserOut.model_validate(user),
        workspace=WorkspaceOut.model_validate(workspace),
    )


@router.post("/auth/login", response_model=TokenOut, dependencies=[RateLimitAuth])
async def login(
    body: LoginIn,
    runtime: RuntimeDep,
    settings: SettingsDep,
    policy: SessionPolicyDep,
    request: Request,
) -> TokenOut:
    attempt = await login_attempt(request, email=body.email)
    # Short transactions around the password check, not one across it: a login waiting for
    # the hashing pool holds no database connection.
    async with runtime.db.transaction() as session:
        user = await service.find_login(session, email=body.email)
    try:
        new_hash = await service.authenticate(user, password=body.password)
    except Unauthorized:
        await attempt.failed()
        raise
    assert user is not None
    await attempt.succeeded()
    async with runtime.db.transaction() as session:
        if new_hash is not None:
            await service.store_password_hash(session, user, new_hash)
        started = await sessions.start(
            session, user.id, kind="api", client=client_info(request, settings), policy=policy
        )
    return _tokens(started, settings, policy)


@router.post("/auth/refresh", response_model=TokenOut, dependencies=[RateLimitAuth])
async def refresh(
    body: RefreshIn,
    runtime: RuntimeDep,
    settings: SettingsDep,
    policy: SessionPolicyDep,
    request: Request,
) -> TokenOut:
    """A new access token and refresh token for a refresh token, which stops working. Using a
    refresh token twice ends its session (401 ``refresh_token_reused``)."""
    # Its own transaction: a reuse revokes the session and must commit before the 401.
    async with runtime.db.transaction() as session:
        rotation = await sessions.rotate(
            session, body.refresh_token, client=client_info(request, settings), policy=policy
        )
    if rotation.refusal is not None:
        raise rotation.refusal
    assert rotation.started is not None
    return _tokens(rotation.started, settings, policy)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: UserPrincipalDep, session: SessionDep) -> Response:
    """End the session of this access token (its refresh token stops working too)."""
    assert principal.user_id is not None
    assert principal.session_id is not None
    await sessions.revoke(session, principal.user_id, principal.session_id, reason="logout")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/sessions", response_model=list[SessionOut])
async def list_sessions(principal: UserPrincipalDep, session: SessionDep) -> list[SessionOut]:
    """My live sessions, the current one marked."""
    assert principal.user_id is not None
    infos = await sessions.list_sessions(session, principal.user_id, current=principal.session_id)
    return [SessionOut.model_validate(info) for info in infos]


@router.delete("/auth/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(
    session_id: uuid.UUID, principal: UserPrincipalDep, session: SessionDep
) -> Response:
    """End one of my sessions; 404 for one that is not mine (or already ended)."""
    assert principal.user_id is not None
    if not await sessions.revoke(session, principal.user_id, session_id):
        raise NotFound("Session not found", code="session_not_found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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
