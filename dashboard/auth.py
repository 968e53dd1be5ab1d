"""Who is signed in to the dashboard, their access to a workspace, and the CSRF tokens.

The one place that knows how a browser session is kept. A page route asks for ``WebUserDep``
(the signed-in user; otherwise the page redirects to the login page); workspace pages ask for
``dashboard.pages.common.PageDep`` (that user's access to the URL's workspace; 404 without).

The session cookie is HttpOnly and ``SameSite=Lax``; over HTTPS it is ``__Host-tb_session``
(Secure, Path=/, no Domain), which no sibling subdomain can set: a plain ``tb_session`` planted
for the parent domain with Path=/ came after the browser's own in the Cookie header, the last
value of a name won, and the browser was signed in to the planter's account. Over plain HTTP
(``make run``) it is ``tb_session`` (Path=/app). Over HTTPS a ``tb_session`` is never read (a
planted one looks like one from before the upgrade: the upgrade signs each browser out once)
and a sign-in clears it and ends its session.
Every state-changing request carries a CSRF token bound to the session cookie (an HMAC of it
under the server's secret): in the ``X-CSRF-Token`` header (htmx, from the page's meta tag) or
the ``csrf_token`` form field. Before sign-in, the login and signup forms use a double-submit
cookie the same way: ``__Host-tb_csrf`` over HTTPS (Secure, Path=/, no Domain: no sibling
subdomain can plant one and sign a browser in to an account of its choosing), ``tb_csrf`` over
plain HTTP (``make run``; a browser keeps no ``__Host-`` cookie without TLS). A form from this
site whose token a sign-out and sign-in since outdated comes back with what was typed
(``dashboard.stale_form``), never applied.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.client_address import scope_client_scheme
from api.deps import RuntimeDep, SessionDep, client_info
from api.runtime import Runtime
from core.config import Settings
from core.errors import AppError
from workspaces import sessions
from workspaces.security import same_secret

SESSION_COOKIE = "tb_session"
"""The session cookie over plain HTTP; before this release, over HTTPS too."""
HOST_SESSION_COOKIE = "__Host-tb_session"
"""The session cookie over HTTPS."""
ANON_CSRF_COOKIE = "tb_csrf"
"""The signed-out forms' cookie over plain HTTP; before this release, over HTTPS too."""
HOST_ANON_CSRF_COOKIE = "__Host-tb_csrf"
"""The signed-out forms' cookie over HTTPS."""
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
LOGOUT_PATH = "/app/logout"


class LoginRequired(AppError):
    """No valid session: pages redirect to the login page, htmx requests get HX-Redirect."""

    code = "login_required"
    status_code = 401
    message = "Sign in to continue"


class CsrfFailed(AppError):
    code = "csrf_failed"
    status_code = 403
    message = "The form expired or did not come from this site; reload the page and try again"


@dataclass(frozen=True)
class WebUser:
    user_id: uuid.UUID
    session_id: uuid.UUID
    cookie: str
    """The session cookie's value (the CSRF token is bound to it)."""


# --- sessions (workspaces.sessions, kind "web") ------------------------------------------------


def _policy(settings: Settings) -> sessions.SessionPolicy:
    return sessions.SessionPolicy.from_settings(settings)


async def start_session(
    runtime: Runtime, session: AsyncSession, user_id: uuid.UUID, request: Request
) -> str:
    """A new web session for the user; returns the cookie's value (shown once, stored hashed)."""
    settings = runtime.settings
    started = await sessions.start(
        session,
        user_id,
        kind="web",
        client=client_info(request, settings),
        policy=_policy(settings),
    )
    return started.secret


async def authenticate(runtime: Runtime, session: AsyncSession, request: Request) -> WebUser | None:
    """The signed-in user of this browser, or None (no cookie, unknown, expired or revoked: a
    revocation takes effect at the next request)."""
    return await _web_user(runtime, session, session_cookie(request, runtime.settings))


async def _web_user(runtime: Runtime, session: AsyncSession, cookie: str | None) -> WebUser | None:
    principal = await sessions.authenticate(session, cookie, policy=_policy(runtime.settings))
    if principal is None or principal.user_id is None or principal.session_id is None:
        return None
    assert cookie is not None
    return WebUser(user_id=principal.user_id, session_id=principal.session_id, cookie=cookie)


async def end_session(session: AsyncSession, user: WebUser) -> None:
    """Sign out: the session ends on the server (the cookie is cleared by the caller)."""
    await sessions.revoke(session, user.user_id, user.session_id, reason="logout")


async def end_previous_session(runtime: Runtime, session: AsyncSession, request: Request) -> None:
    """At sign-in: the session of the cookie this browser still sends ends on the server (the
    new cookie only overwrote it in this browser: a copy of the old one went on working, for
    whichever account it was)."""
    previous = [await authenticate(runtime, session, request)]
    if _over_https(request, runtime.settings):
        # The cookie of before the upgrade (never read over HTTPS) is replaced here too: its
        # session ends as well (a planted one's is the planter's own: ending it harms no one).
        previous.append(await _web_user(runtime, session, request.cookies.get(SESSION_COOKIE)))
    for user in previous:
        if user is not None:
            await sessions.revoke(session, user.user_id, user.session_id, reason="logout")


@dataclass(frozen=True)
class _CookieSpot:
    """A cookie's name, path and Secure flag for this browser (``_cookie_spot``)."""

    name: str
    path: str
    secure: bool


def _cookie_spot(request: Request, settings: Settings, plain: str, host: str) -> _CookieSpot:
    """Where one of our cookies lives for this browser: over HTTPS its ``__Host-`` name (Secure,
    Path=/, no Domain: no sibling subdomain can set it), over plain HTTP its plain name on
    /app (production always counts as HTTPS, ``_over_https``)."""
    if _over_https(request, settings):
        return _CookieSpot(host, "/", True)
    return _CookieSpot(plain, "/app", False)


def session_cookie(request: Request, settings: Settings) -> str | None:
    """This browser's session cookie: ``__Host-tb_session`` over HTTPS, ``tb_session`` else."""
    spot = _cookie_spot(request, settings, SESSION_COOKIE, HOST_SESSION_COOKIE)
    return request.cookies.get(spot.name) or None


def set_session_cookie(
    request: Request, response: Response, value: str, settings: Settings
) -> None:
    spot = _session_spot_replacing_legacy(request, response, settings)
    response.set_cookie(
        spot.name,
        value,
        httponly=True,
        secure=spot.secure,
        samesite="lax",
        path=spot.path,
        # The server slides the session's expiry with use; the browser keeps the cookie for the
        # longest a session may last.
        max_age=int(_policy(settings).max_age.total_seconds()),
    )


def clear_session_cookie(request: Request, response: Response, settings: Settings) -> None:
    spot = _session_spot_replacing_legacy(request, response, settings)
    response.delete_cookie(
        spot.name, path=spot.path, httponly=True, secure=spot.secure, samesite="lax"
    )


def _session_spot_replacing_legacy(
    request: Request, response: Response, settings: Settings
) -> _CookieSpot:
    """The session cookie's spot; over HTTPS, the ``tb_session`` this host set before the
    release (Path=/app) is deleted by the same response, so the browser stops sending it (a
    sibling's planted one, for the parent domain, only it can clear)."""
    spot = _cookie_spot(request, settings, SESSION_COOKIE, HOST_SESSION_COOKIE)
    if spot.name == HOST_SESSION_COOKIE and request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(
            SESSION_COOKIE, path="/app", httponly=True, secure=True, samesite="lax"
        )
    return spot


SEEN_NOTICES_COOKIE = "tb_notices"
"""The notices this browser was shown (their ids), over plain HTTP."""
HOST_SEEN_NOTICES_COOKIE = "__Host-tb_notices"
"""The same over HTTPS."""
SEEN_NOTICES_KEPT = 16
NOTICE_ID = re.compile(r"[A-Za-z0-9_-]{8}")
"""A notice's id (``secrets.token_urlsafe(6)``, ``dashboard.web.with_signed_notice``)."""


def new_notice_id() -> str:
    return secrets.token_urlsafe(6)


def seen_notices(request: Request, settings: Settings) -> list[str]:
    """The ids of the last notices this browser was shown (``dashboard.web``: each shows once).
    Only ids are read, so only ids are written back: other text in the cookie (planted for the
    parent domain over plain HTTP, or corrupted) grew it past what a browser keeps."""
    spot = _cookie_spot(request, settings, SEEN_NOTICES_COOKIE, HOST_SEEN_NOTICES_COOKIE)
    seen = (request.cookies.get(spot.name) or "").split(".")
    return [n for n in seen if NOTICE_ID.fullmatch(n)][-SEEN_NOTICES_KEPT:]


def remember_seen_notice(
    request: Request, response: Response, settings: Settings, notice_id: str
) -> None:
    """Add ``notice_id`` to the notices this browser was shown (the last few are kept)."""
    spot = _cookie_spot(request, settings, SEEN_NOTICES_COOKIE, HOST_SEEN_NOTICES_COOKIE)
    kept = [*seen_notices(request, settings), notice_id][-SEEN_NOTICES_KEPT:]
    response.set_cookie(
        spot.name, ".".join(kept), httponly=True, secure=spot.secure, samesite="lax", path=spot.path
    )


# --- CSRF ------------------------------------------------------------------------------------


def _sign(settings: Settings, value: str) -> str:
    return hmac.new(
        settings.jwt_key.encode(), b"csrf:" + value.encode(), hashlib.sha256
    ).hexdigest()


def _over_https(request: Request, settings: Settings) -> bool:
    """Whether this browser reached us over TLS (through a trusted proxy's X-Forwarded-Proto
    too); production counts as HTTPS whatever the request says (its cookies are Secure)."""
    if settings.environment == "production":
        return True
    return scope_client_scheme(request.scope, settings.trusted_proxies) == "https"


def _anon_cookie(request: Request, settings: Settings) -> str:
    return _cookie_spot(request, settings, ANON_CSRF_COOKIE, HOST_ANON_CSRF_COOKIE).name


def csrf_token(request: Request, settings: Settings) -> str:
    """The token this browser's forms carry: bound to its session cookie when signed in, to its
    signed-out cookie before (``ensure_anon_csrf`` sets that one)."""
    cookie = session_cookie(request, settings)
    if cookie:
        return _sign(settings, "session:" + cookie)
    anon = request.cookies.get(_anon_cookie(request, settings)) or getattr(
        request.state, "anon_csrf", None
    )
    return _sign(settings, "anon:" + anon) if anon else ""


DOWNLOAD_FIELD = "dl"
"""The query parameter of the dashboard's download links holding ``download_token``."""


def download_token(request: Request, settings: Settings) -> str:
    """What the dashboard's download links carry (``DOWNLOAD_FIELD``): bound to the session
    cookie as the forms' token is, but another value, since a link's query may be kept (the
    history, a proxy's log) and must not pass the forms' check. Empty when signed out."""
    cookie = session_cookie(request, settings)
    return _sign(settings, "download:" + cookie)[:32] if cookie else ""


def ensure_anon_csrf(request: Request, response: Response, settings: Settings) -> None:
    """Give a signed-out browser its double-submit cookie (before its first form)."""
    spot = _cookie_spot(request, settings, ANON_CSRF_COOKIE, HOST_ANON_CSRF_COOKIE)
    if request.cookies.get(spot.name):
        return
    value = getattr(request.state, "anon_csrf", None) or secrets.token_urlsafe(24)
    request.state.anon_csrf = value
    response.set_cookie(
        spot.name, value, httponly=True, secure=spot.secure, samesite="strict", path=spot.path
    )


def prepare_anon_csrf(request: Request, settings: Settings) -> None:
    """Choose the double-submit value before the page renders its token."""
    chosen = getattr(request.state, "anon_csrf", None)
    if not request.cookies.get(_anon_cookie(request, settings)) and chosen is None:
        request.state.anon_csrf = secrets.token_urlsafe(24)


def _upgrading_form(request: Request, settings: Settings, sent: str) -> bool:
    """A signed-out form shown over HTTPS before this release: its token is bound to the plain
    ``tb_csrf`` cookie, which a sibling subdomain could have planted. Accepted only when the
    browser says the request came from this very origin (``Sec-Fetch-Site: same-origin``, a
    header no page can set; a sibling's page is ``same-site``), so the forms open during the
    upgrade still sign in, and a planted cookie signs no one in."""
    legacy = request.cookies.get(ANON_CSRF_COOKIE)
    if not legacy or not _over_https(request, settings) or session_cookie(request, settings):
        return False
    if (request.headers.get("sec-fetch-site") or "").lower() != "same-origin":
        return False
    return same_secret(sent, _sign(settings, "anon:" + legacy))


async def check_csrf(request: Request, settings: Settings) -> None:
    """403 ``csrf_failed`` unless the request carries this browser's token. Logging out with
    no session cookie left (cleared in another tab) changes nothing, so it needs none."""
    if request.url.path == LOGOUT_PATH and not session_cookie(request, settings):
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    expected = csrf_token(request, settings)
    if not sent or not expected or not same_secret(sent, expected):
        if sent and _upgrading_form(request, settings, sent):
            return
        if not session_cookie(request, settings) and "/w/" in request.url.path:
            # Signed out since the page was shown (in another tab, say): a workspace's form
            # needs a login first, which is what to say, not "the form expired".
            raise LoginRequired()
        raise CsrfFailed()


# --- dependencies ----------------------------------------------------------------------------


async def get_web_user(request: Request, runtime: RuntimeDep, session: SessionDep) -> WebUser:
    user = await authenticate(runtime, session, request)
    if user is None:
        raise LoginRequired()
    return user


WebUserDep = Annotated[WebUser, Depends(get_web_user)]
