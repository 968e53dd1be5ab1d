"""Sign up, log in, log out, the workspace switcher and the user's sessions."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote_plus

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api import passwords
from api.data_lifecycle import purge_after_commit
from api.deps import (
    AccountDepsDep,
    RuntimeDep,
    SessionDep,
    client_info,
    mark_write,
)
from api.login import password_login
from api.runtime import Runtime
from api.throttling import rate_limit_auth, rate_limit_mail_to
from core.errors import AppError, NotFound, Unauthorized
from dashboard import auth
from dashboard.page_route import PageRoute
from dashboard.pages.common import (
    SECTIONS,
    app_errors,
    field_errors,
    form_fields,
    refusal,
    set_chrome,
    sign_in_refusal,
)
from dashboard.web import PREFIX, counted, redirect, render, safe_next, workspace_url
from lifecycle import deletion
from workspaces import accounts, more_workspaces, profile, service, sessions, signin
from workspaces.schemas import PasswordChangeIn, SignupIn, WorkspaceCreateIn

router = APIRouter(route_class=PageRoute)

RateLimitAuth = Depends(rate_limit_auth)


class LoginForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


def _anon_page(
    request: Request, template: str, context: dict[str, object], status: int = 200
) -> Response:
    auth.prepare_anon_csrf(request, request.app.state.runtime.settings)
    response = render(request, template, context, status_code=status)
    auth.ensure_anon_csrf(request, response, request.app.state.runtime.settings)
    return response


@router.get("/login", name="login")
async def login_page(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    return _anon_page(
        request, "login.html", {"next": safe_next(next) or "", "errors": {}, "email": ""}
    )


@router.post("/login")
async def login(request: Request, runtime: RuntimeDep) -> Response:
    """As the API's sign-in: short transactions around the password check, none held while
    argon2 runs (the request's own transaction, begun before the form was read, held a
    connection while ``password_login`` took a second one: as many sign-ins at once as the pool
    has connections ran it dry). The browser's previous session, if any, ends: its cookie is
    replaced here, and a copy of it must not go on working elsewhere."""
    fields = await form_fields(request)
    next_url = safe_next(str(fields.get("next") or "")) or ""
    headers: dict[str, str] = {}
    try:
        await rate_limit_auth(request)  # here, not as a dependency: refused, the form again
        form = LoginForm.model_validate(fields)
        checked = await password_login(request, runtime, email=form.email, password=form.password)
        async with runtime.db.transaction() as session:
            await signin.confirm_login(session, checked)  # the password is still the one checked
            await auth.end_previous_session(runtime, session, request)
            cookie = await auth.start_session(runtime, session, checked.user.id, request)
    except ValidationError as exc:
        errors = field_errors(exc)
    except Unauthorized as exc:
        errors = {"_form": exc.message}
    except AppError as exc:
        # Past the per-address limit or the login guard's lock: the form again with the
        # address typed and when to try again (the error page it was left the owner nowhere
        # to go but "Back to the dashboard", which led to the login page).
        if exc.status_code != 429:
            raise
        errors, headers = {"_form": sign_in_refusal(exc)}, dict(exc.headers)
    else:
        response = redirect(request, next_url or PREFIX + "/")
        auth.set_session_cookie(request, response, cookie, runtime.settings)
        return response
    status = 429 if headers else 422 if "_form" not in errors else 401
    response = _anon_page(
        request,
        "login.html",
        {"next": next_url, "errors": errors, "email": str(fields.get("email", ""))[:320]},
        status=status,
    )
    response.headers.update(headers)
    return response


@router.get("/signup")
async def signup_page(request: Request) -> Response:
    return _anon_page(request, "signup.html", {"errors": {}, "values": {}})


@router.post("/signup")
async def signup(request: Request, runtime: RuntimeDep) -> Response:
    """The same service as the API: an unverified account and its workspace, and a mail; the
    answer is "check your email" whether or not the address already had an account. The
    password is hashed before the transaction (no connection held while argon2 runs)."""
    fields = await form_fields(request)
    values = {k: str(fields.get(k, "")) for k in ("email", "name", "workspace_name")}
    headers: dict[str, str] = {}
    try:
        await rate_limit_auth(request)  # refused, the form again (as the login's)
        data = SignupIn.model_validate(
            {**values, "name": values["name"] or None, "password": fields.get("password", "")}
        )
        await rate_limit_mail_to(request, str(data.email))
        await passwords.signup(runtime, data)
    except ValidationError as exc:
        errors = field_errors(exc)
    except AppError as exc:
        if exc.code == "rate_limited":
            errors, headers = {"_form": sign_in_refusal(exc)}, dict(exc.headers)
        else:
            errors = app_errors(exc)
    else:
        return _anon_page(request, "signup_done.html", {"email": str(data.email)})
    status = 429 if headers else 422
    response = _anon_page(
        request, "signup.html", {"errors": errors, "values": values}, status=status
    )
    response.headers.update(headers)
    return response


@router.post("/logout")
async def logout(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Sign out, and clear the cookie whether or not its session is still live (ended from
    another browser, expired): a stale tab's Log out leads to the login page either way."""
    user = await auth.authenticate(runtime, session, request)
    if user is not None:
        await auth.end_session(session, user)
    response = redirect(request, PREFIX + "/login")
    auth.clear_session_cookie(request, response, runtime.settings)
    return response


@router.get("/")
async def home(session: SessionDep, user: auth.WebUserDep, request: Request) -> Response:
    """The user's first workspace (or the one they came from); with none, a form to create one."""
    _, rows = await service.user_workspaces(session, user.user_id)
    if not rows:
        return await _new_workspace_page(request, session, user)
    return redirect(request, workspace_url(rows[0][0].id))


async def _new_workspace_page(
    request: Request,
    session: AsyncSession,
    user: auth.WebUser,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The new-workspace form: the page of someone with no workspace, or a further one."""
    await set_chrome(request, session, user, None)
    context = {
        "values": values or {"name": ""},
        "errors": errors or {},
        "restorable": bool(await deletion.restorable(session, user.user_id)),
    }
    template = "new_workspace.html" if request.state.chrome["workspaces"] else "no_workspace.html"
    return render(request, template, context, status_code=status)


UNVERIFIED_NEW_WORKSPACE = (
    "Confirm your email address before creating another workspace: open the link we sent you"
    " (your Account page sends it again)."
)


@router.get("/workspaces/new")
async def new_workspace_page(
    request: Request, session: SessionDep, user: auth.WebUserDep
) -> Response:
    return await _new_workspace_page(request, session, user)


@router.post("/workspaces")
async def create_workspace(
    request: Request, runtime: RuntimeDep, session: SessionDep, user: auth.WebUserDep
) -> Response:
    """A new workspace owned by the signed-in user, on the default plan: the same service and
    name rules as the API's POST /api/v1/workspaces."""
    fields = await form_fields(request)
    values = {"name": str(fields.get("name") or "").strip()}
    try:
        data = WorkspaceCreateIn.model_validate(values)
        account, _ = await service.user_workspaces(session, user.user_id)
        async with session.begin_nested():
            workspace = await more_workspaces.create_another_workspace(
                session,
                owner=account,
                name=data.name.strip(),
                default_plan=runtime.settings.default_plan,
                free_limit=runtime.settings.free_workspaces_per_account,
            )
    except (ValidationError, AppError) as exc:
        if isinstance(exc, AppError) and exc.code == "email_unverified":
            errors, status = {"_form": UNVERIFIED_NEW_WORKSPACE}, exc.status_code
        else:
            errors, status = refusal(exc)  # over the workspaces limit: the form says why
        return await _new_workspace_page(request, session, user, values, errors, status)
    return redirect(request, workspace_url(workspace.id) + "?notice=Workspace+created")


@router.post("/switch")
async def switch(request: Request, session: SessionDep, user: auth.WebUserDep) -> Response:
    """The workspace switcher's form (it works without script)."""
    fields = await form_fields(request)
    try:
        workspace_id = uuid.UUID(str(fields.get("workspace_id", "")))
    except ValueError:
        workspace_id = uuid.UUID(int=0)
    # 404 unless a member: never reveals whether the workspace exists.
    await service.access_workspace(session, service.Principal(user_id=user.user_id), workspace_id)
    # The same section of the other workspace (the form names the one shown), else its overview.
    page = str(fields.get("page", ""))
    return redirect(request, workspace_url(workspace_id, page if page in SECTIONS else ""))


@router.get("/account")
async def account_page(request: Request, session: SessionDep, user: auth.WebUserDep) -> Response:
    """The signed-in user's email (and its confirmation) and password."""
    return await _account(request, session, user, {})


async def _account(
    request: Request,
    session: AsyncSession,
    user: auth.WebUser,
    errors: dict[str, str],
    status: int = 200,
    *,
    typed_name: str | None = None,
) -> Response:
    await set_chrome(request, session, user, None)
    account = request.state.chrome["user"]
    deleted = await deletion.restorable(session, user.user_id)
    name = (account.name or "") if typed_name is None else typed_name
    context = {
        "account": account,
        "errors": errors,
        "deleted_workspaces": deleted,
        "name_value": name,
    }
    return render(request, "account.html", context, status_code=status)


async def _account_again(
    request: Request,
    runtime: Runtime,
    user: auth.WebUser,
    errors: dict[str, str],
    status: int,
) -> Response:
    """The account page with ``errors``, in a transaction of its own: the request's ended
    before a password was checked."""
    async with runtime.db.transaction() as session:
        return await _account(request, session, user, errors, status)


@router.post("/account/password", dependencies=[RateLimitAuth])
async def change_password(
    request: Request, runtime: RuntimeDep, session: SessionDep, user: auth.WebUserDep
) -> Response:
    """The same service as the API's: the current password, then a new one. Every session of
    the account ends, this browser's too, which gets a new one (a new cookie): a copy of the
    old cookie, the usual reason to change a password, no longer works. No connection is held
    while argon2 runs (the request's transaction ends first; the change has its own)."""
    fields = await form_fields(request)
    try:
        data = PasswordChangeIn.model_validate(
            {
                "current_password": fields.get("current_password", ""),
                "new_password": fields.get("new_password", ""),
            }
        )
        started = await passwords.change_password(
            request, session, runtime, data, user_id=user.user_id, kind="web"
        )
    except ValidationError as exc:
        return await _account(request, session, user, field_errors(exc), 422)
    except AppError as exc:
        if exc.status_code == 429:
            raise  # locked out, as at the sign-in form: the error page says until when
        if exc.code == "wrong_password":
            errors = {"current_password": exc.message}
        else:  # the policy's reasons, by field (new_password: workspaces.accounts)
            errors = app_errors(exc)
        return await _account_again(request, runtime, user, errors, 422)
    done = "?notice=Password+changed.+You+were+signed+out+everywhere+else."
    response = redirect(request, PREFIX + "/account" + done, cookie=started.secret)
    auth.set_session_cookie(request, response, started.secret, runtime.settings)
    return response


@router.post("/account/name")
async def change_name(request: Request, session: SessionDep, user: auth.WebUserDep) -> Response:
    """The account's display name (``workspaces.profile``); an empty one removes it. A refused
    name comes back in its field with the reason."""
    fields = await form_fields(request)
    typed = fields.get("name", "")
    try:
        saved = await profile.rename(session, user.user_id, typed if isinstance(typed, str) else "")
    except AppError as exc:
        errors, status = refusal(exc)
        errors = {"name" if key == "_form" else key: value for key, value in errors.items()}
        return await _account(request, session, user, errors, status, typed_name=str(typed))
    notice = "?notice=" + quote_plus("Name saved" if saved else "Name removed")
    return redirect(request, PREFIX + "/account" + notice)


@router.post("/account/verify-email", dependencies=[RateLimitAuth])
async def resend_verification(
    request: Request, session: SessionDep, deps: AccountDepsDep, user: auth.WebUserDep
) -> Response:
    """A new confirmation link for the signed-in user's address (the API's resend)."""
    await rate_limit_mail_to(request, await accounts.email_of(session, user.user_id) or "")
    await accounts.resend_verification(session, deps, user.user_id)
    sent = "?notice=We+sent+a+new+link.+Open+it+from+your+email."
    return redirect(request, PREFIX + "/account" + sent)


@router.get("/sessions")
async def sessions_page(
    request: Request,
    session: SessionDep,
    user: auth.WebUserDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Where the user is signed in (dashboard and API), each one revocable; a page at a time,
    the most recently used first."""
    await set_chrome(request, session, user, None)
    live, next_cursor = await sessions.sessions_page(
        session, user.user_id, current=user.session_id, cursor=cursor or None
    )
    context = {
        "sessions": live,
        "next_cursor": next_cursor,
        "others": len(live) > 1 or bool(next_cursor or cursor),
    }
    return render(request, "sessions.html", context)


@router.post("/sessions/revoke-others")
async def revoke_other_sessions(
    request: Request, session: SessionDep, user: auth.WebUserDep
) -> Response:
    """Sign out everywhere but this browser (dashboard and API sessions alike)."""
    ended = await sessions.revoke_all(session, user.user_id, keep=user.session_id)
    notice = f"{counted(ended, 'other session')} ended" if ended else "No other session was open"
    return redirect(request, PREFIX + "/sessions?notice=" + quote_plus(notice))


@router.post("/sessions/{session_id}/revoke")
async def revoke_session(
    request: Request,
    session_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    user: auth.WebUserDep,
) -> Response:
    if not await sessions.revoke(session, user.user_id, session_id):
        raise NotFound("Session not found")
    if session_id == user.session_id:  # signing this browser out
        response = redirect(request, PREFIX + "/login")
        auth.clear_session_cookie(request, response, runtime.settings)
        return response
    return redirect(request, PREFIX + "/sessions?notice=Session+ended")


@router.post("/account/delete", dependencies=[RateLimitAuth])
async def delete_account(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: auth.WebUserDep,
    background: BackgroundTasks,
) -> Response:
    """The API's account deletion (DELETE /api/v1/me): the password confirms, and wrong guesses
    count as failed sign-ins; refused while the person is the only owner of a workspace with
    other members (the reason beside the form). Then this browser is signed out."""
    fields = await form_fields(request)
    try:
        done = await passwords.delete_account(
            request,
            session,
            runtime,
            user_id=user.user_id,
            password=str(fields.get("password") or ""),
        )
    except AppError as exc:
        if exc.status_code == 429:
            raise  # locked out, as at the sign-in form: the error page says until when
        errors = {"delete": exc.message}
        return await _account_again(request, runtime, user, errors, exc.status_code)
    purge_after_commit(background, runtime.jobs, done.purge)
    # The sign-in page says it was done (it was a bare sign-in form): signed for this browser
    # as it will be, signed out.
    response = redirect(
        request, PREFIX + "/login?notice=" + quote_plus(ACCOUNT_DELETED), cookie="anonymous"
    )
    auth.clear_session_cookie(request, response, runtime.settings)
    return response


ACCOUNT_DELETED = "Your account is deleted"


@router.post("/workspaces/{workspace_id}/restore")
async def restore_workspace(
    request: Request,
    workspace_id: uuid.UUID,
    runtime: RuntimeDep,
    session: SessionDep,
    user: auth.WebUserDep,
) -> Response:
    """The API's restore (owners, during the grace period, with room for it under
    FREE_WORKSPACES_PER_ACCOUNT): the workspace opens again; a refusal is shown on the account
    page beside the list."""
    try:
        access = await service.access_workspace(
            session,
            service.Principal(user_id=user.user_id),
            workspace_id,
            client=client_info(request, runtime.settings),
            include_deleted=True,
        )
        async with session.begin_nested():
            await deletion.restore_workspace(session, access, settings=runtime.settings)
    except AppError as exc:
        if exc.status_code == 404:
            raise
        return await _account(request, session, user, {"restore": exc.message}, exc.status_code)
    await mark_write(request, runtime, workspace_id)
    return redirect(request, workspace_url(workspace_id) + "?notice=Workspace+restored")
