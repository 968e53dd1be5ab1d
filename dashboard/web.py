"""The dashboard's HTTP plumbing: templates, the page route class (CSRF, error pages, CSP) and
``render``.

Every page route is a ``PageRoute``: before the handler it refuses a state-changing request
without the browser's CSRF token (403 ``csrf_failed``); a domain error becomes an HTML page with
the same status (404 for an id that is not this workspace's, whatever the reason), or the API's
JSON error envelope for our own script's requests (``Accept: application/json``); a missing
session redirects to the login page. Each answer carries the dashboard's CSP.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.deps import ROLLBACK_STATE
from api.errors import (
    DATABASE_BUSY_RETRY_AFTER,
    DATABASE_RETRY_AFTER,
    database_error_code,
    is_unstorable_text,
)
from api.middleware import BodyTooLarge
from api.runtime import Runtime
from core.errors import AppError
from dashboard import auth, charts
from dashboard.answers import answered_by
from dashboard.pages.form_messages import plain_message
from workspaces.security import same_secret

log = logging.getLogger("trulybot.dashboard")

PREFIX = "/app"
HERE = Path(__file__).resolve().parent
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Razorpay Checkout's script origin and the frames its script opens (the plan page only).
RAZORPAY_CHECKOUT_ORIGIN = "https://checkout.razorpay.com"
RAZORPAY_FRAME_ORIGINS = ("https://api.razorpay.com", "https://checkout.razorpay.com")


def content_security_policy(
    script_origins: tuple[str, ...] = (), frame_origins: tuple[str, ...] = ()
) -> str:
    """No inline script or style anywhere: every script and stylesheet is a file we serve, plus
    (on the plan page only) the payment provider's script and frames."""
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(("script-src 'self'", *script_origins)),
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            " ".join(("frame-src 'self'", *frame_origins)),
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


CSP = content_security_policy()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def checkout_csp(script_url: str) -> str:
    """The CSP of a page that loads Checkout from ``script_url``: exactly that script's origin,
    and Razorpay's checkout frames when it is Razorpay's own script (a local stand-in opens no
    frame)."""
    origin = origin_of(script_url)
    frames = RAZORPAY_FRAME_ORIGINS if origin == RAZORPAY_CHECKOUT_ORIGIN else ()
    return content_security_policy(script_origins=(origin,), frame_origins=frames)


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals["answered_by"] = answered_by
templates.globals["usage_bar"] = charts.usage_bar
templates.globals["bar_chart"] = charts.bar_chart
templates.globals["share_bar"] = charts.share_bar
templates.filters["percent"] = charts.percent


def utc_time(value: datetime) -> str:
    """A time as an owner reads it, naming its zone: "2026-03-04 14:00 UTC" (the database
    gives UTC; an owner in India would otherwise read 19:30 IST as "14:00")."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.filters["utc"] = utc_time


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_json(request: Request) -> bool:
    """A request from our own script (fetch) that reads errors as the API's JSON envelope."""
    return request.headers.get("accept", "").startswith("application/json")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The template with the page's common context: the CSRF token, the path, the chrome.

    A page answered with an error status rolls back what its request wrote before it: a form
    that catches a service's refusal and shows it (a reset link's password refused after the
    link was taken, an invitation past the plan's members) must not keep half of the change."""
    if status_code >= 400:
        setattr(request.state, ROLLBACK_STATE, True)
    html = render_text(request, template, context)
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))


def render_text(request: Request, template: str, context: Mapping[str, Any] | None = None) -> str:
    """``render``'s HTML as a string (a fragment sent inside a stream)."""
    settings = runtime_of(request).settings
    chrome: dict[str, Any] = getattr(request.state, "chrome", None) or {}
    values: dict[str, Any] = {
        "request": request,
        "csrf_token": auth.csrf_token(request, settings),
        "path": request.url.path,
        "prefix": PREFIX,
        "notice": _notice(request),
        **chrome,
    }
    values.update(context or {})
    return templates.get_template(template).render(values)


def _notice_mac(request: Request, path: str, notice: str) -> str:
    """The notice's signature, bound to the page it is for and to this browser (its session
    cookie, or "anonymous" before sign-in): a signed notice copied into a link shows on no
    other page and in no other browser."""
    key = runtime_of(request).settings.jwt_key.encode()
    holder = request.cookies.get(auth.SESSION_COOKIE) or "anonymous"
    message = b"notice:" + json.dumps([path, holder, notice]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:20]


NOTICE_FIELDS = frozenset({"notice", "ns"})


def without_notice(url: str) -> str:
    """``url`` without a notice or its signature (a ``next`` someone else may have chosen)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in query if name not in NOTICE_FIELDS]
    if len(kept) == len(query):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def with_signed_notice(request: Request, url: str) -> str:
    """``url`` with its ``notice`` signed (``ns``): a page shows a notice only when this server
    wrote it for that page and this browser, so a link from anyone else cannot put their words
    on our pages ("your account is locked, call ..."). Only this server's own words go in a
    notice: never a ``next`` from the query string, never a name the user chose."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    notice = next((value for name, value in query if name == "notice"), None)
    if notice is None:
        return url
    signature = _notice_mac(request, parts.path, notice)
    query = [(n, v) for n, v in query if n != "ns"] + [("ns", signature)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _notice(request: Request) -> str:
    """The query's notice when this server signed it for this page and browser, else nothing."""
    notice = request.query_params.get("notice", "")
    signature = request.query_params.get("ns", "")
    if not notice:
        return ""
    expected = _notice_mac(request, request.url.path, notice)
    if not same_secret(signature, expected):
        return ""
    return notice[:200]


def redirect(request: Request, url: str) -> Response:
    """After a form post: 303 to ``url`` (htmx follows HX-Redirect instead); its notice signed."""
    url = with_signed_notice(request, url)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _error_page(
    request: Request,
    status_code: int,
    title: str,
    message: str,
    action: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"status": status_code, "title": title, "message": message, "action": action},
        status_code=status_code,
    )


ERROR_HEADER = "X-Error-Message"
"""On an htmx request's error page: the reason, percent-encoded (app.js shows it in the flash
box; htmx does not swap an error's page in)."""


UNVERIFIED = "Confirm your email address first: open the link we sent you."
"""The dashboard's words for ``email_unverified`` (the API's name the API's resend; the page
links to the account page's)."""


def error_response(request: Request, exc: AppError) -> Response:
    response = _error_response(request, exc)
    message = UNVERIFIED if exc.code == "email_unverified" else exc.message
    if is_htmx(request) and message:
        response.headers[ERROR_HEADER] = quote(message[:300], safe=" .,;:!?()'")
    return response


def safe_next(value: str | None) -> str | None:
    """Only a path inside the dashboard (never another site), without a notice: the next page
    may be someone else's choice (a login link from elsewhere), and the server signs only the
    notices it writes itself."""
    if value and value.startswith(PREFIX + "/") and "\\" not in value:
        return without_notice(value)
    return None


WORKSPACE_PATH = re.compile(r"^/app/w/([0-9a-fA-F-]{36})(?:/|$)")


def _same_origin_path(request: Request, url: str | None) -> str | None:
    """The path and query of ``url`` when it is a page of this site (a Referer, htmx's
    HX-Current-URL), else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.url.netloc:
        return None
    return parts.path + ("?" + parts.query if parts.query else "")


def _came_from(request: Request) -> str:
    """The page to go back to after signing in again: the page the user was on. A page's own
    address for a plain GET; for htmx (a poll, a button) the page that sent it; for a form
    posted the page the form was on (the POST-only address would be "Page not found"), else the
    workspace's home."""
    if is_htmx(request):
        candidate = _same_origin_path(request, request.headers.get("hx-current-url"))
    elif request.method in SAFE_METHODS:
        query = request.url.query
        candidate = request.url.path + ("?" + query if query else "")
    else:
        candidate = _same_origin_path(request, request.headers.get("referer"))
    found = safe_next(candidate)
    if found:
        return found
    workspace = WORKSPACE_PATH.match(request.url.path)
    return workspace_url(workspace.group(1)) if workspace else PREFIX + "/"


def is_navigation(request: Request) -> bool:
    """Whether the browser shows the answer as a page (a link, a form) rather than handing it to
    a script (fetch: the playground's stream), which cannot follow a redirect to a login page."""
    mode = request.headers.get("sec-fetch-mode")
    if mode:
        return mode == "navigate"
    accept = request.headers.get("accept", "")
    return not accept or "text/html" in accept or "*/*" in accept


def login_required(request: Request, exc: AppError) -> Response:
    """No live session: the login page, back to the page the user was on afterwards; htmx gets
    HX-Redirect to it; a script's request a 401 it can explain ("signed out: reload")."""
    login = f"{PREFIX}/login?next={quote(_came_from(request), safe='/')}"
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": login})
    if not is_navigation(request):
        return PlainTextResponse(exc.message, status_code=401)
    return RedirectResponse(login, status_code=303)


def _error_response(request: Request, exc: AppError) -> Response:
    if isinstance(exc, auth.LoginRequired):
        return login_required(request, exc)
    if exc.status_code == 404:
        return not_found(request)
    if exc.code == "email_unverified":  # the API's message names the API's resend
        action = {"url": PREFIX + "/account", "label": "Send the link again"}
        return _error_page(request, 403, "Confirm your email first", UNVERIFIED, action)
    if exc.status_code == 403:
        return _error_page(request, 403, "Not allowed", exc.message)
    if exc.status_code == 429:
        title = "Plan limit reached" if exc.code == "quota_exceeded" else "Too many requests"
        response = _error_page(request, 429, title, exc.message)
        response.headers.update(exc.headers)
        return response
    return _error_page(request, exc.status_code, "Something is not right", exc.message)


def not_found(request: Request) -> HTMLResponse:
    return _error_page(
        request,
        404,
        "Page not found",
        "There is nothing here, or it belongs to a workspace you are not a member of.",
    )


def secure_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class PageRoute(APIRoute):
    """A dashboard page: CSRF on every state-changing request, HTML errors, the CSP."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                if request.method not in SAFE_METHODS:
                    await auth.check_csrf(request, runtime_of(request).settings)
                try:
                    response = await handler(request)
                except (AppError, RequestValidationError, DBAPIError, PoolTimeout):
                    # Answered below, so the exception never reaches the request's transaction
                    # (it ends after this handler returns): roll back what the page wrote
                    # before it failed (half an FAQ import, say), as the API does.
                    setattr(request.state, ROLLBACK_STATE, True)
                    raise
            except BodyTooLarge as exc:
                response = too_large(request, exc)
            except (DBAPIError, PoolTimeout) as exc:
                answered = database_refusal(request, exc)
                if answered is None:
                    raise
                response = answered
            except AppError as exc:
                if wants_json(request):
                    response = JSONResponse(
                        exc.to_dict(), status_code=exc.status_code, headers=exc.headers
                    )
                else:
                    response = error_response(request, exc)
            except RequestValidationError as exc:
                # A malformed id in the URL is an unknown page, like a foreign one.
                if any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
                    response = not_found(request)
                elif wants_json(request):
                    body = {"code": "validation_error", "message": _first_error(exc)}
                    response = JSONResponse({"error": body}, status_code=422)
                else:
                    response = _error_page(request, 422, "Invalid input", _first_error(exc))
            return secure_headers(response)

        return page_handler


def _first_error(exc: RequestValidationError) -> str:
    """The first refused value in plain words (``form_messages``), named by its field: never
    pydantic's own wording, which quotes the pattern a value failed."""
    errors = exc.errors()
    if not errors:
        return "Invalid input"
    err = errors[0]
    where = ".".join(str(p) for p in err.get("loc", ())[1:])
    if "\x00" in str(err.get("input") or ""):
        said = "Remove the NUL character (an invisible control character): no text may hold one."
    elif err.get("type") == "string_pattern_mismatch":
        said = "This is not a value this page takes."
    else:
        said = plain_message(err)
    return f"{where}: {said}" if where else said


def _size(limit: int) -> str:
    """A byte limit as an owner reads it: whole MB, else KB."""
    mib = 1024 * 1024
    return f"{limit // mib} MB" if limit >= mib else f"{max(1, limit // 1024)} KB"


def too_large(request: Request, exc: BodyTooLarge) -> Response:
    """A form or upload over its route's body limit (``api.middleware.BodySizeLimitMiddleware``
    hands the dashboard's requests on to be answered here): the dashboard's 413 page, with the
    way back to the form, or the JSON envelope for our own script. The rest of the body is not
    read, so the connection closes after the answer."""
    limit = exc.limit
    headers = {"Connection": "close"}
    if wants_json(request):
        details = {"limit_bytes": limit}
        body = {"code": "payload_too_large", "message": exc.detail, "details": details}
        return JSONResponse({"error": body}, status_code=413, headers=headers)
    took = f": this form takes at most {_size(limit)}"
    action = {"url": _came_from(request), "label": "Back to the form"}
    response = _error_page(
        request,
        413,
        "Too large to send",
        f"What you sent is too large{took}. Send a smaller file, or less text.",
        action,
    )
    response.headers.update(headers)
    if is_htmx(request):
        response.headers[ERROR_HEADER] = quote(f"What you sent is too large{took}.", safe=" .,:")
    return response


DATABASE_PAGE_MESSAGES = {
    "database_busy": "The service is busy for a moment: try again shortly.",
    "database_unavailable": "The database is unavailable for a moment: try again shortly.",
}
DATABASE_PAGE_RETRY_AFTER = {
    "database_busy": DATABASE_BUSY_RETRY_AFTER,
    "database_unavailable": DATABASE_RETRY_AFTER,
}


def database_refusal(request: Request, exc: DBAPIError | PoolTimeout) -> Response | None:
    """What the database refused on a page, as the dashboard's page: text it cannot store (a
    NUL, a lone surrogate) is the input's fault, 422; a database out of reach, or no pooled
    connection free within DB_POOL_TIMEOUT_SECONDS, is 503 (``database_unavailable``,
    ``database_busy``: the API's codes and Retry-After). Any other error is None: raised on, a
    500 with its traceback logged."""
    database_code = database_error_code(exc)
    if is_unstorable_text(exc):
        message = (
            "The text you sent holds a character that cannot be stored (a NUL, say):"
            " remove it and try again."
        )
        code, status, title = "invalid_text", 422, "Invalid input"
        headers: dict[str, str] = {}
    elif database_code is not None:
        log.warning("%s on %s %s: %s", database_code, request.method, request.url.path, exc)
        message = DATABASE_PAGE_MESSAGES[database_code]
        code, status, title = database_code, 503, "Try again shortly"
        headers = {"Retry-After": DATABASE_PAGE_RETRY_AFTER[database_code]}
    else:
        return None
    if wants_json(request):
        body = {"code": code, "message": message, "details": None}
        return JSONResponse({"error": body}, status_code=status, headers=headers)
    response = _error_page(request, status, title, message)
    response.headers.update(headers)
    if is_htmx(request):
        response.headers[ERROR_HEADER] = quote(message, safe=" .,;:!?()'")
    return response


def refuse_cross_site(request: Request, back: str) -> Response | None:
    """A download that writes an audit entry, started from another site (a link or a redirect
    there: ``Sec-Fetch-Site: cross-site``): refused with a 403 page, so no site can make a
    signed-in owner's browser download the data and fill the audit log. None when the request
    came from the dashboard itself, or from a browser that sends no such header."""
    if request.headers.get("sec-fetch-site", "").lower() != "cross-site":
        return None
    return _error_page(
        request,
        403,
        "Download not started",
        "This download was started from another website. Downloads start from the dashboard"
        " only: open the page and download from there.",
        {"url": back, "label": "Open the page"},
    )


def workspace_url(workspace_id: uuid.UUID | str, page: str = "") -> str:
    return f"{PREFIX}/w/{workspace_id}{'/' + page if page else ''}"
