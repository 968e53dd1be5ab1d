"""Every dashboard page's route (``PageRoute``) and the pages it answers with when a request is
refused.

Before the handler, ``PageRoute`` refuses a state-changing request whose form holds text no page
can show (422 ``invalid_text``, ``api.form_text``) or without the browser's CSRF token
(403 ``csrf_failed``); a domain error becomes an HTML page with the same status (404 for
an id that is not this workspace's, whatever the reason), or the API's JSON error envelope for
our own script's requests (``Accept: application/json``); a missing session redirects to the
login page; a body over its limit is the 413 page; text the database refuses, or a database out
of reach, the 422 or 503 page. Each answer carries the dashboard's CSP. ``refuse_cross_site``
is the 403 page of an audited download started from another site.

The templates, ``render`` and the signed notices are ``dashboard.web``'s.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.routing import Match

from api.deps import ROLLBACK_STATE
from api.errors import (
    DATABASE_BUSY_RETRY_AFTER,
    DATABASE_RETRY_AFTER,
    database_error_code,
    is_unstorable_text,
)
from api.form_text import refuse_lone_surrogates
from api.middleware import BodyTooLarge, is_head
from core.errors import AppError
from dashboard import auth
from dashboard.pages.form_messages import plain_message
from dashboard.stale_form import session_changed
from dashboard.web import (
    PREFIX,
    SAFE_METHODS,
    is_htmx,
    render,
    runtime_of,
    safe_next,
    secure_headers,
    wants_json,
    workspace_url,
)
from workspaces.security import same_secret

log = logging.getLogger("trulybot.dashboard")


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
"""On the error page answering a script (``explained_by_header``): the reason, percent-encoded
(app.js shows it in the flash box, or beside the playground's answer; htmx does not swap an
error's page in, and a fetch cannot show one)."""


def explained_by_header(request: Request) -> bool:
    """Whether an error page's reason also goes in ``ERROR_HEADER``: for htmx's requests and
    our own script's fetches (the playground's stream), which show no page."""
    return is_htmx(request) or not is_navigation(request)


UNVERIFIED = "Confirm your email address first: open the link we sent you."
"""The dashboard's words for ``email_unverified`` (the API's name the API's resend; the page
links to the account page's)."""


def error_response(request: Request, exc: AppError) -> Response:
    response = _error_response(request, exc)
    message = UNVERIFIED if exc.code == "email_unverified" else exc.message
    if explained_by_header(request) and message:
        response.headers[ERROR_HEADER] = quote(message[:300], safe=" .,;:!?()'")
    return response


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


def unknown_address(request: Request) -> Response:
    """An address no page answers (none at all, or an id that is no id): the 404 page; one only
    a form posts to, opened, leads to the form's page (``form_page``)."""
    page = form_page(request) if request.method in ("GET", "HEAD") else None
    if page is not None:
        return RedirectResponse(page, status_code=303)
    return not_found(request)


def not_found(request: Request) -> HTMLResponse:
    return _error_page(
        request,
        404,
        "Page not found",
        "There is nothing here, or it belongs to a workspace you are not a member of.",
    )


def _served(request: Request, path: str, method: str) -> bool:
    """Whether a dashboard page (not the 404 page's catch-all) answers ``method`` at ``path``
    (under PREFIX)."""
    from dashboard.app import PAGE_ROUTERS  # the page modules import this one

    scope = {**request.scope, "path": path.removeprefix(PREFIX), "root_path": "", "method": method}
    return any(
        route.matches(scope)[0] == Match.FULL for router in PAGE_ROUTERS for route in router.routes
    )


def form_page(request: Request) -> str | None:
    """Opened at an address only a form posts to (the page a form answered there, a new API
    key or a refused CSV import, opened again from the address bar, a restored tab or a
    bookmark): the nearest page above it, the form's own (``/w/{id}/team/api-keys`` leads to
    ``/w/{id}/team``). None for an address no form posts to."""
    path = request.url.path
    if not _served(request, path, "POST"):
        return None
    while path.count("/") > 2:  # never above /app/...
        path = path.rsplit("/", 1)[0]
        if _served(request, path, "GET"):
            return path
    return None


class PageRoute(APIRoute):
    """A dashboard page: CSRF on every state-changing request, HTML errors, the CSP."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                if request.method not in SAFE_METHODS:
                    # Before the CSRF check: its stale-form page shows the form's text again.
                    await refuse_lone_surrogates(request)
                    resent = await _checked_csrf(request)
                    if resent is not None:
                        return secure_headers(resent)
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
                    response = unknown_address(request)
                elif wants_json(request):
                    body = {"code": "validation_error", "message": _first_error(exc)}
                    response = JSONResponse({"error": body}, status_code=422)
                else:
                    response = _error_page(
                        request,
                        422,
                        "Invalid input",
                        _first_error(exc),
                        _without_query(request, exc),
                    )
            return secure_headers(response)

        return page_handler


# A page's answer to its own form refused for its token when nothing is left to do (the
# confirm button pressed twice: the first press signed the browser in, so the second carries
# the token of the page before). It may only read: the request is not the browser's own.
NothingLeft = Callable[[Request], Awaitable[Response | None]]
_NOTHING_LEFT: dict[Callable[..., Any], NothingLeft] = {}


def nothing_left_to_do(answer: NothingLeft) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers ``answer`` for the decorated endpoint (``_checked_csrf``)."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        _NOTHING_LEFT[endpoint] = answer
        return endpoint

    return register


async def _checked_csrf(request: Request) -> Response | None:
    """None when the request carries this browser's CSRF token; a form sent from this site
    by a browser that signed out and in again since its page was shown: that form again, with
    what was typed (``stale_form``), or the page's answer when it has nothing left to do;
    else the refusal raised."""
    try:
        await auth.check_csrf(request, runtime_of(request).settings)
    except auth.CsrfFailed:
        endpoint = getattr(request.scope.get("route"), "endpoint", None)
        answer = None if endpoint is None else _NOTHING_LEFT.get(endpoint)
        done = None if answer is None else await answer(request)
        if done is not None:
            return done
        navigation = is_navigation(request)
        resent = await session_changed(request, back=_came_from(request), navigation=navigation)
        if resent is None:
            raise
        return resent
    return None


def _without_query(request: Request, exc: RequestValidationError) -> dict[str, str] | None:
    """For a page refused for a value in its address (an old or edited link: a list's filter,
    page or search), the way to the page itself without any (its first page), beside the way
    to the dashboard's home."""
    if request.method not in ("GET", "HEAD") or not any(
        err.get("loc", ("",))[0] == "query" for err in exc.errors()
    ):
        return None
    return {"url": request.url.path, "label": "Open the page without it"}


def _first_error(exc: RequestValidationError) -> str:
    """The first refused value in plain words (``form_messages``), named by its field (and, for
    a value of the address, said so): never pydantic's own wording, which quotes the pattern a
    value failed."""
    errors = exc.errors()
    if not errors:
        return "Invalid input"
    err = errors[0]
    where = ".".join(str(p) for p in err.get("loc", ())[1:])
    if where and err.get("loc", ("",))[0] == "query":
        where += " in the page's address"
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
    if explained_by_header(request):
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
    if explained_by_header(request):
        response.headers[ERROR_HEADER] = quote(message, safe=" .,;:!?()'")
    return response


DOWNLOAD_SITES = frozenset({"same-origin", "none"})
"""The ``Sec-Fetch-Site`` of a download that goes on: this site's page, or no site (typed, a
bookmark). ``same-site`` is another site under the same domain, which SameSite=Lax cookies
reach too."""


def refuse_cross_site(request: Request, back: str) -> Response | None:
    """A download that writes an audit entry, started from another site (a link or a redirect
    there): refused, 403 ``cross_site_download`` (a page, or the error's JSON for a script), so
    no site can make a signed-in owner's browser download the data and fill the audit log.
    None when the browser says it came from this site or from none (``DOWNLOAD_SITES``); a
    browser that says nothing (no ``Sec-Fetch-Site``: Safari before 16.4) must follow the
    dashboard's own link, which carries the session's ``auth.download_token``. A HEAD, which
    writes nothing and carries no data, is never refused."""
    site = request.headers.get("sec-fetch-site", "").strip().lower()
    if site in DOWNLOAD_SITES or is_head(request.scope):
        return None
    if not site:
        sent = request.query_params.get(auth.DOWNLOAD_FIELD, "")
        expected = auth.download_token(request, runtime_of(request).settings)
        if sent and expected and same_secret(sent, expected):
            return None
    message = (
        "This download was started from another website. Downloads start from the dashboard"
        " only: open the page and download from there."
    )
    if wants_json(request):
        body = {"code": "cross_site_download", "message": message, "details": None}
        return JSONResponse({"error": body}, status_code=403)
    return _error_page(
        request, 403, "Download not started", message, {"url": back, "label": "Open the page"}
    )
