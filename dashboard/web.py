"""The dashboard's HTTP plumbing: the CSP, templates, ``render``, signed notices and
``redirect``, the dashboard's paths (``safe_next``, ``workspace_url``).

Every page route is a ``dashboard.page_route.PageRoute`` (CSRF before a state-changing handler,
refusals answered as the dashboard's error pages), which renders with this module.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.deps import ROLLBACK_STATE
from api.runtime import Runtime
from dashboard import auth, charts
from dashboard.answers import answered_by
from workspaces.security import same_secret

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

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
"""The dashboard speaks English (``<html lang="en">``): its month names, whatever the host's
locale."""


def month_name(key: str) -> str:
    """A usage month as an owner reads it: "2026-12" (the counters' key) is "December 2026"; a
    value that is no such key stays as it came."""
    year, _, month = key.partition("-")
    if year.isdigit() and month.isdigit() and 1 <= int(month) <= 12:
        return f"{MONTHS[int(month) - 1]} {year}"
    return key


templates.filters["month_name"] = month_name


def counted(number: int, word: str, plural: str | None = None) -> str:
    """``number`` of ``word`` as a sentence says it: "1 file", "0 files", "3 documents" (not
    "1 file(s)", which a new owner's walk met on their first pages)."""
    return f"{number:,} {word if number == 1 else plural or word + 's'}"


templates.globals["counted"] = counted


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
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    shown = getattr(request.state, NOTICE_SHOWN_STATE, None)
    if shown:
        auth.remember_seen_notice(request, response, runtime_of(request).settings, shown)
    return response


def render_refused(
    request: Request, template: str, context: Mapping[str, Any], *, status_code: int
) -> HTMLResponse:
    """A page drawn again around a refused form (what was given and why beside it): with the
    refusal's status for a browser's post; for htmx, which swaps no error answer in, a 200 that
    replaces the page's main part. Either way what the request wrote is rolled back."""
    if not is_htmx(request):
        return render(request, template, context, status_code=status_code)
    setattr(request.state, ROLLBACK_STATE, True)
    swap = {"HX-Retarget": "#main", "HX-Reswap": "outerHTML", "HX-Reselect": "#main"}
    return render(request, template, context, headers=swap)


def render_text(request: Request, template: str, context: Mapping[str, Any] | None = None) -> str:
    """``render``'s HTML as a string (a fragment sent inside a stream)."""
    settings = runtime_of(request).settings
    chrome: dict[str, Any] = getattr(request.state, "chrome", None) or {}
    values: dict[str, Any] = {
        "request": request,
        "csrf_token": auth.csrf_token(request, settings),
        "download_token": auth.download_token(request, settings),
        "path": request.url.path,
        "prefix": PREFIX,
        "notice": _notice(request),
        **chrome,
    }
    values.update(context or {})
    return templates.get_template(template).render(values)


def _notice_mac(
    request: Request, path: str, notice: str, notice_id: str, cookie: str | None = None
) -> str:
    """The notice's signature, bound to the page it is for and to this browser (its session
    cookie, or "anonymous" before sign-in; ``cookie`` when the answer gives it a new one): a
    signed notice copied into a link shows on no other page and in no other browser."""
    key = runtime_of(request).settings.jwt_key.encode()
    holder = cookie or auth.session_cookie(request, runtime_of(request).settings) or "anonymous"
    message = b"notice:" + json.dumps([path, holder, notice, notice_id]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:20]


NOTICE_FIELDS = frozenset({"notice", "ns"})
NOTICE_SHOWN_STATE = "notice_shown"
"""The request state naming the notice a page showed (``render`` remembers it in a cookie)."""


def without_notice(url: str) -> str:
    """``url`` without a notice or its signature (a ``next`` someone else may have chosen)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in query if name not in NOTICE_FIELDS]
    if len(kept) == len(query):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def with_signed_notice(request: Request, url: str, *, cookie: str | None = None) -> str:
    """``url`` with its ``notice`` signed (``ns``: the notice's own id and the signature): a
    page shows a notice only when this server wrote it for that page and this browser, so a
    link from anyone else cannot put their words on our pages ("your account is locked, call
    ..."). Only this server's own words go in a notice: never a ``next`` from the query
    string, never a name the user chose. ``cookie``: the session cookie the answer gives this
    browser (a password change's new session), which it shows the page with."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    notice = next((value for name, value in query if name == "notice"), None)
    if notice is None:
        return url
    notice_id = auth.new_notice_id()
    signature = f"{notice_id}.{_notice_mac(request, parts.path, notice, notice_id, cookie)}"
    query = [(n, v) for n, v in query if n != "ns"] + [("ns", signature)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _notice(request: Request) -> str:
    """The query's notice when this server signed it for this page and browser and this
    browser was not shown it yet, else nothing: a notice says what the form just did, so a
    reload of its page, or the page found again in the history, shows none (the ids of the
    notices shown are kept in a cookie, ``auth.remember_seen_notice``)."""
    notice = request.query_params.get("notice", "")
    notice_id, _, signature = request.query_params.get("ns", "").partition(".")
    if not notice or not notice_id:
        return ""
    expected = _notice_mac(request, request.url.path, notice, notice_id)
    if not same_secret(signature, expected):
        return ""
    if notice_id in auth.seen_notices(request, runtime_of(request).settings):
        return ""
    setattr(request.state, NOTICE_SHOWN_STATE, notice_id)
    return notice[:300]  # a visitor's erasure says what went, was redacted and withdrawn


def redirect(request: Request, url: str, *, cookie: str | None = None) -> Response:
    """After a form post: 303 to ``url`` (htmx follows HX-Redirect instead); its notice signed
    (for ``cookie`` when the answer sets this browser a new session cookie)."""
    url = with_signed_notice(request, url, cookie=cookie)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str | None:
    """Only a path inside the dashboard (never another site), without a notice: the next page
    may be someone else's choice (a login link from elsewhere), and the server signs only the
    notices it writes itself."""
    if value and value.startswith(PREFIX + "/") and "\\" not in value:
        return without_notice(value)
    return None


def secure_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def workspace_url(workspace_id: uuid.UUID | str, page: str = "") -> str:
    return f"{PREFIX}/w/{workspace_id}{'/' + page if page else ''}"
