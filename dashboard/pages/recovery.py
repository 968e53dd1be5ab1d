"""The pages the account mails link to: forgotten password, the reset link, an invitation, and
the address's verification (its page asks for a click: opening a link changes nothing, as mail
scanners open them all).

Each calls the same services as the JSON API (``workspaces.accounts``, ``workspaces.invitations``)
with the same rate limits; none of them tells whether an address has an account.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api import passwords, verification
from api.deps import AccountDepsDep, RuntimeDep, SessionDep, account_deps, client_info
from api.throttling import rate_limit_auth, rate_limit_password_reset
from core.errors import AppError
from dashboard import auth
from dashboard.page_route import PageRoute, nothing_left_to_do
from dashboard.pages.common import app_errors, field_errors, form_fields
from dashboard.web import PREFIX, redirect, render, runtime_of, workspace_url
from workspaces import accounts, invitations, service
from workspaces.accounts import AccountDeps
from workspaces.schemas import EmailIn, InvitationAcceptIn, PasswordResetIn

router = APIRouter(route_class=PageRoute)

RateLimitAuth = Depends(rate_limit_auth)
TokenQuery = Annotated[str, Query(max_length=256)]


def _page(
    request: Request, template: str, context: dict[str, object], status: int = 200
) -> Response:
    auth.prepare_anon_csrf(request, request.app.state.runtime.settings)
    response = render(request, template, {"errors": {}, **context}, status_code=status)
    auth.ensure_anon_csrf(request, response, request.app.state.runtime.settings)
    return response


@router.get("/forgot-password")
async def forgot_page(request: Request) -> Response:
    return _page(request, "forgot_password.html", {"email": ""})


@router.post("/forgot-password")
async def forgot(request: Request, runtime: RuntimeDep, background: BackgroundTasks) -> Response:
    """The same answer whether or not the address has an account (and the same rate limits);
    the link is written after it (``passwords.request_reset_after_answer``)."""
    fields = await form_fields(request)
    email = str(fields.get("email", ""))[:320]
    try:
        data = EmailIn.model_validate({"email": email})
    except ValidationError as exc:
        return _page(
            request, "forgot_password.html", {"email": email, "errors": field_errors(exc)}, 422
        )
    await rate_limit_password_reset(request, str(data.email))
    passwords.request_reset_after_answer(background, runtime, str(data.email))
    return _page(request, "forgot_password_sent.html", {"email": str(data.email)})


@router.get("/reset-password")
async def reset_page(
    request: Request, session: SessionDep, deps: AccountDepsDep, token: TokenQuery = ""
) -> Response:
    """The mailed link's form; a link that cannot be used (used, by this or a newer link,
    expired, not one this server sent) says so at once, with no password to type."""
    try:
        await accounts.reset_link_usable(session, deps, token)
    except AppError as exc:
        return _page(request, "reset_password.html", {"link_error": exc.message}, 400)
    return _page(request, "reset_password.html", {"token": token})


def _link_token(fields: dict[str, Any]) -> str:
    """The mailed link's token as a form posted it (cut to a length no token exceeds)."""
    return str(fields.get("token", ""))[:256]


@router.post("/reset-password", dependencies=[RateLimitAuth])
async def reset(request: Request, runtime: RuntimeDep) -> Response:
    """A new password from the mailed link; every session of the account ends. As the API's:
    the link checked, the password hashed with no connection held, then the link used."""
    fields = await form_fields(request)
    token = _link_token(fields)
    try:
        data = PasswordResetIn.model_validate(
            {"token": token, "password": fields.get("password", "")}
        )
        await passwords.reset_password(runtime, data)
    except ValidationError as exc:
        errors = field_errors(exc)
    except accounts.LinkRefused as exc:
        # The link cannot be used, whatever is typed: no form again, only the way to a new one.
        return _page(request, "reset_password.html", {"link_error": exc.message}, 422)
    except AppError as exc:
        errors = app_errors(exc)
    else:
        done = "/login?notice=Password+changed.+Log+in+with+the+new+one."
        return redirect(request, PREFIX + done)
    return _page(request, "reset_password.html", {"token": token, "errors": errors}, 422)


@router.get("/verify-email")
async def verification_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    deps: AccountDepsDep,
    token: TokenQuery = "",
) -> Response:
    """The verification mail's link: a button, and nothing confirmed until it is pressed. Not
    signed in as the link's account, the button asks for its password too
    (``workspaces.accounts``). A link that cannot be used says so at once, before a password
    is typed: expired, not one this server sent, or used (expired or used, its account's
    address confirmed, the page says so, as the button pressed again does)."""
    user = await auth.authenticate(runtime, session, request)
    try:
        accounts.check_verification_link(deps, token)
        account_id = await accounts.verification_link_usable(session, deps, token)
    except AppError as exc:
        if exc.code in _SPENT:
            confirmed = await accounts.verified_link_account(session, deps, token)
            if confirmed is not None:
                return _confirmed_page(request, confirmed, user)
        return _verification(request, error=exc.message, status=400)
    # Signed in as another account (a second one, a shared computer), the password is asked
    # for too: the button alone would only be refused with 422 password_required.
    own = user is not None and user.user_id == account_id
    return _verification(request, token=token, ask_password=not own)


def _verification(
    request: Request,
    *,
    token: str = "",
    error: str = "",
    done: bool = False,
    signed_in: bool = False,
    ask_password: bool = False,
    password_error: str = "",
    status: int = 200,
) -> Response:
    context: dict[str, object] = {
        "token": token,
        "error": error,
        "done": done,
        "signed_in": signed_in,
        "ask_password": ask_password,
        "password_error": password_error,
    }
    return _page(request, "verify_email.html", context, status)


_SPENT = ("link_used", "link_expired")
"""A verification link refused for these, its account's address confirmed (by it, or by a
newer link before it expired), says so: no error, nor a new link to ask for."""


def _confirmed_page(request: Request, confirmed: uuid.UUID, user: auth.WebUser | None) -> Response:
    """The used link's address is confirmed. What the account may now do (invite, buy, export)
    is told to a browser signed in as it only: signed in as another, its own address may be
    unconfirmed still."""
    return _verification(
        request, done=True, signed_in=user is not None and user.user_id == confirmed
    )


async def _confirmed(request: Request, deps: AccountDeps, token: str) -> Response | None:
    """The page saying the address is confirmed when the used link's account has it confirmed
    (the button pressed again: a double click, Back and again), else None; nothing is changed.
    Whether this browser is signed in as that account is read here (the press before may
    have signed it in)."""
    runtime = runtime_of(request)
    async with runtime.db.transaction() as reading:
        confirmed = await accounts.verified_link_account(reading, deps, token)
        if confirmed is None:
            return None
        user = await auth.authenticate(runtime, reading, request)
    return _confirmed_page(request, confirmed, user)


async def _confirmed_already(request: Request) -> Response | None:
    """The confirm button pressed again after the first press signed the browser in (its
    token is the signed-out page's): ``_confirmed``."""
    token = _link_token(await form_fields(request))
    return await _confirmed(request, account_deps(runtime_of(request)), token)


@router.post("/verify-email", dependencies=[RateLimitAuth])
@nothing_left_to_do(_confirmed_already)
async def verify(
    request: Request, runtime: RuntimeDep, session: SessionDep, deps: AccountDepsDep
) -> Response:
    """Signed in as the link's account, the click confirms; otherwise the account's password
    does (a wrong one is a failed sign-in; the link stays unused). A signed-out browser whose
    password confirmed is signed in as that account, as the login form would have done next."""
    fields = await form_fields(request)
    token = _link_token(fields)
    password = str(fields.get("password") or "")[:256] or None
    user = await auth.authenticate(runtime, session, request)
    cookie: list[str] = []

    async def sign_in(verifying: AsyncSession, user_id: uuid.UUID) -> None:
        cookie.append(await auth.start_session(runtime, verifying, user_id, request))

    try:
        await verification.verify_email(
            request,
            session,
            runtime,
            token=token,
            password=password,
            signed_in=None if user is None else user.user_id,
            then=sign_in if user is None else None,
        )
    except AppError as exc:
        if exc.code.startswith("link_"):
            if exc.code in _SPENT:
                done = await _confirmed(request, deps, token)
                if done is not None:
                    return done
            return _verification(request, error=exc.message, status=exc.status_code)
        return _verification(
            request,
            token=token,
            ask_password=True,
            password_error=exc.message,
            status=exc.status_code,
        )
    response = _verification(request, done=True, signed_in=user is not None or bool(cookie))
    if cookie:
        auth.set_session_cookie(request, response, cookie[0], runtime.settings)
    return response


async def _invitation(
    session: AsyncSession, deps: AccountDeps, token: str
) -> tuple[invitations.InvitationView | None, dict[str, str]]:
    """What the page says of the link's invitation (the workspace, who sent it, the address),
    or why the link does not work: only its holder learns whose invitation it is."""
    try:
        return await invitations.describe(session, deps, token=token), {}
    except AppError as exc:
        return None, {"_form": exc.message}


@router.get("/accept-invitation")
async def invitation_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    deps: AccountDepsDep,
    token: TokenQuery = "",
) -> Response:
    user = await auth.authenticate(runtime, session, request)
    invitation, errors = await _invitation(session, deps, token)
    context = {"token": token, "signed_in": user is not None}
    return _page(
        request, "accept_invitation.html", {**context, "invitation": invitation, "errors": errors}
    )


@router.post("/accept-invitation", dependencies=[RateLimitAuth])
async def accept(
    request: Request, runtime: RuntimeDep, session: SessionDep, deps: AccountDepsDep
) -> Response:
    """Join: signed in as the invited address (links that account), or with a password for a new
    account (then signed in here)."""
    fields = await form_fields(request)
    token = _link_token(fields)
    user = await auth.authenticate(runtime, session, request)
    principal = service.Principal(user_id=user.user_id) if user is not None else None
    # Described first: a refusal after the link was used in this (rolled back) transaction
    # would read as "already accepted", and the page would lose what it offers instead.
    invitation, _ = await _invitation(session, deps, token)
    offer_admin = False
    try:
        data = InvitationAcceptIn.model_validate(
            {
                "token": token,
                "password": (fields.get("password") or None) if user is None else None,
                "name": fields.get("name") or None,
                "as_admin": fields.get("as_admin") == "1",
            }
        )
        client = client_info(request, runtime.settings)
        if principal is not None:  # links the signed-in account: no password to hash
            accepted = await invitations.accept(
                session,
                deps,
                token=data.token,
                principal=principal,
                client=client,
                as_admin=data.as_admin,
            )
        else:  # a new account: no connection held while its password is hashed
            accepted = await passwords.accept_with_new_account(
                request, session, runtime, data, start_session=False
            )
    except ValidationError as exc:
        errors = field_errors(exc)
    except AppError as exc:
        errors = app_errors(exc)
        # One who may own no more free workspaces: the same link joins as an admin.
        offer_admin = isinstance(exc.details, dict) and exc.details.get("join_as") == "admin"
    else:
        response = redirect(request, workspace_url(accepted.workspace_id))
        if user is None:  # a new account, its password just chosen: signed in here
            async with runtime.db.transaction() as starting:
                cookie = await auth.start_session(runtime, starting, accepted.user_id, request)
            auth.set_session_cookie(request, response, cookie, runtime.settings)
        return response
    return _page(
        request,
        "accept_invitation.html",
        {
            "token": token,
            "signed_in": user is not None,
            "invitation": invitation,
            "errors": errors,
            "offer_admin": offer_admin,
            "name": str(fields.get("name") or ""),  # what they typed, kept; never the password
        },
        422,
    )
