from __future__ import annotations

import html
import uuid
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from api import passwords, verification
from api.deps import (
    AccountDepsDep,
    NoStore,
    OptionalUserDep,
    RuntimeDep,
    SessionDep,
    SessionPolicyDep,
    SettingsDep,
    UserPrincipalDep,
    client_info,
)
from api.login import password_login
from api.openapi import errors
from api.throttling import RateLimitAuth, rate_limit_mail_to, rate_limit_password_reset
from core.config import Settings
from core.errors import NotFound
from lifecycle import deletion
from workspaces import accounts, invitations, profile, sessions, signin
from workspaces import repository as repo
from workspaces.schemas import (
    DeletedWorkspaceOut,
    EmailIn,
    InvitationAcceptedOut,
    InvitationAcceptIn,
    LoginIn,
    MeOut,
    PasswordChangedOut,
    PasswordChangeIn,
    PasswordResetIn,
    ProfileIn,
    RefreshIn,
    SessionOut,
    SignupIn,
    StatusOut,
    TokenOut,
    UserOut,
    VerifyEmailIn,
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
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StatusOut,
    dependencies=[RateLimitAuth],
)
async def signup(body: SignupIn, request: Request, runtime: RuntimeDep) -> StatusOut:
    """Always 202 ``check_your_email``: a new address gets a verification link, an address with
    an account gets a warning with a reset link instead. Then sign in with /auth/login (an
    unverified account may: so the login, not this answer, tells whether the address already
    had an account). Limited per IP and per address (the address's mail budget, shared with
    password resets)."""
    await rate_limit_mail_to(request, str(body.email))
    await passwords.signup(runtime, body)
    return StatusOut(status="check_your_email")


_REFUSED_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<title>This link does not work</title></head><body style="font-family: sans-serif;
max-width: 32rem; margin: 4rem auto;"><h1>This link does not work</h1><p>{text}</p></body>
</html>"""


@router.get("/auth/verify-email", response_class=HTMLResponse, include_in_schema=False)
async def verify_email_link(
    accounts_deps: AccountDepsDep, token: str = Query(max_length=256)
) -> Response:
    """Where verification links mailed before pointed: changes nothing and sends the browser on
    to the dashboard's page, which asks for a click (a mail scanner opening the link must not
    confirm the address for whoever signed up with it)."""
    try:
        accounts.check_verification_link(accounts_deps, token)
    except accounts.LinkRefused as exc:
        page = _REFUSED_PAGE.format(text=html.escape(exc.message))
        return HTMLResponse(page, status_code=exc.status_code)
    return RedirectResponse(
        f"{accounts.VERIFY_PATH}?{urlencode({'token': token})}",
        status_code=status.HTTP_303_SEE_OTHER,
    )


@router.post("/auth/verify-email", response_model=StatusOut, dependencies=[RateLimitAuth])
async def verify_email(
    body: VerifyEmailIn,
    principal: OptionalUserDep,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
) -> StatusOut:
    """The verification link's token, posted by an app, with a bearer token of the link's
    account or the account's ``password`` (whoever signed up with someone else's address must
    not have that person verify it for them): 422 ``password_required`` without either, 403
    ``wrong_password`` (a failed sign-in; 429 once locked out); 400 ``link_invalid`` /
    ``link_expired`` / ``link_used`` when the link does not work."""
    await verification.verify_email(
        request,
        session,
        runtime,
        token=body.token,
        password=body.password,
        signed_in=None if principal is None else principal.user_id,
    )
    return StatusOut(status="ok")


@router.post(
    "/auth/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StatusOut,
    dependencies=[RateLimitAuth],
)
async def resend_verification(
    principal: UserPrincipalDep,
    request: Request,
    session: SessionDep,
    accounts_deps: AccountDepsDep,
) -> StatusOut:
    """A new verification link; limited per IP and by the address's mail budget."""
    assert principal.user_id is not None
    await rate_limit_mail_to(request, await accounts.email_of(session, principal.user_id) or "")
    await accounts.resend_verification(session, accounts_deps, principal.user_id)
    return StatusOut(status="check_your_email")


@router.post("/auth/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=StatusOut)
async def request_password_reset(
    body: EmailIn, request: Request, runtime: RuntimeDep, background: BackgroundTasks
) -> StatusOut:
    """Always 202: a reset link (one hour, single use) goes to the address if it has an account,
    written after this answer (which takes as long either way). Rate limited per IP and per
    address."""
    await rate_limit_password_reset(request, str(body.email))
    passwords.request_reset_after_answer(background, runtime, str(body.email))
    return StatusOut(status="check_your_email")


@router.post("/auth/password-reset/confirm", response_model=StatusOut, dependencies=[RateLimitAuth])
async def confirm_password_reset(body: PasswordResetIn, runtime: RuntimeDep) -> StatusOut:
    """A new password with the reset link's token; every session of the account ends. The link
    is checked before the password is hashed, and used (once) after."""
    await passwords.reset_password(runtime, body)
    return StatusOut(status="ok")


@router.post(
    "/auth/password",
    response_model=PasswordChangedOut,
    dependencies=[RateLimitAuth, NoStore],
)
async def change_password(
    body: PasswordChangeIn,
    request: Request,
    principal: UserPrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    accounts_deps: AccountDepsDep,
) -> PasswordChangedOut:
    """Change my password. Every session of the account ends, this one too: the answer carries
    the tokens of a new session (so a copy of this session's refresh token stops working). A
    wrong current password counts as a failed sign-in (403 ``wrong_password``, 429 once locked
    out); 409 ``password_changed`` when another change or a reset committed meanwhile."""
    assert principal.user_id is not None
    started = await passwords.change_password(
        request, session, runtime, body, user_id=principal.user_id, kind="api"
    )
    return PasswordChangedOut(tokens=_tokens(started, settings, accounts_deps.session_policy))


@router.post(
    "/invitations/accept",
    response_model=InvitationAcceptedOut,
    dependencies=[RateLimitAuth, NoStore],
)
async def accept_invitation(
    body: InvitationAcceptIn,
    principal: OptionalUserDep,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    accounts_deps: AccountDepsDep,
) -> InvitationAcceptedOut:
    """Join the workspace of an invitation: signed in as the invited address (links that
    account), or with a ``password`` for a new account (the answer then carries its tokens).
    401 ``login_required`` when the address has an account and the caller is not signed in.
    ``as_admin``: an invitation as owner joins as an admin (429 ``quota_exceeded`` with
    ``details.join_as`` when the person may own no more free workspaces)."""
    client = client_info(request, settings)
    if principal is not None:
        accepted = await invitations.accept(
            session,
            accounts_deps,
            token=body.token,
            principal=principal,
            client=client,
            as_admin=body.as_admin,
        )
    else:  # a new account: no connection held while its password is hashed
        accepted = await passwords.accept_with_new_account(
            request, session, runtime, body, start_session=True
        )
    tokens = None
    if accepted.started is not None:
        tokens = _tokens(accepted.started, settings, accounts_deps.session_policy)
    return InvitationAcceptedOut(
        workspace_id=accepted.workspace_id,
        role=accepted.role,
        user_id=accepted.user_id,
        created_account=accepted.created_account,
        tokens=tokens,
    )


@router.post(
    "/auth/login",
    response_model=TokenOut,
    responses=errors(401),
    dependencies=[RateLimitAuth, NoStore],
)
async def login(
    body: LoginIn,
    runtime: RuntimeDep,
    settings: SettingsDep,
    policy: SessionPolicyDep,
    request: Request,
) -> TokenOut:
    checked = await password_login(request, runtime, email=body.email, password=body.password)
    async with runtime.db.transaction() as session:
        await signin.confirm_login(session, checked)  # the password is still the one checked
        started = await sessions.start(
            session,
            checked.user.id,
            kind="api",
            client=client_info(request, settings),
            policy=policy,
        )
    return _tokens(started, settings, policy)


@router.post(
    "/auth/refresh",
    response_model=TokenOut,
    responses=errors(401),
    dependencies=[RateLimitAuth, NoStore],
)
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
        deleted_workspaces=[
            DeletedWorkspaceOut.model_validate(ws)
            for ws in await deletion.restorable(session, user.id)
        ],
    )


@router.patch("/me", response_model=UserOut)
async def update_me(body: ProfileIn, principal: UserPrincipalDep, session: SessionDep) -> UserOut:
    """Change my display name (the dashboard's account page does the same)."""
    assert principal.user_id is not None
    await profile.rename(session, principal.user_id, body.name or "")
    user = await repo.get_user(session, principal.user_id)
    if user is None:
        raise NotFound("User not found")
    return UserOut.model_validate(user)
