"""Pure ASGI middleware: request ids, body-size limits and security headers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from html.parser import HTMLParser

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.client_address import scope_client_scheme

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
"""A whole X-Request-ID that is kept (``fullmatch``: ``$`` matched before a final line break)."""


class RequestIdMiddleware:
    """Accepts a well-formed X-Request-ID (1-128 letters, digits and ``._:-``, as a proxy or
    load balancer makes them) or makes one; echoes it on the response. It goes into every log
    line and audit entry of the request, so nothing else is kept: no line break, markup or
    long value from a client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        well_formed = incoming is not None and _SAFE_REQUEST_ID.fullmatch(incoming)
        request_id = incoming if incoming is not None and well_formed else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            try:
                return str(value.decode("latin-1"))
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
                return None
    return None


class StartTracking:
    """``send`` that notes whether the response has started: once it has, a middleware can no
    longer answer with an error of its own."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive``; an HTTPException so body parsers re-raise it unchanged."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"Request body exceeds {limit} bytes")
        self.limit = limit


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed.
    ``limit_for(method, path)`` gives a request's limit.

    ``app_answers(path)``: the app answers that path's 413 itself (the dashboard's pages: an
    HTML page with the way back, not the API's JSON). Its request goes on with a ``receive``
    that raises ``BodyTooLarge`` where the body is read; none of an announced body over the
    limit is read. A ``BodyTooLarge`` the app leaves unanswered gets the JSON 413."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_for: Callable[[str, str], int],
        app_answers: Callable[[str], bool] = lambda path: False,
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.app_answers = app_answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("method", ""), scope.get("path", ""))
        length = _header(scope, b"content-length")
        announced_too_big = False
        if length is not None:
            try:
                announced_too_big = int(length) > limit
            except ValueError:
                announced_too_big = False
            if announced_too_big and not self.app_answers(scope.get("path", "")):
                await _send_413(send, limit)
                return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if announced_too_big:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        tracking_send = StartTracking(send)
        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not tracking_send.started:
                await _send_413(send, limit)


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: object = None,
    *,
    close: bool = False,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """The house error shape, sent straight from ASGI middleware."""
    body = json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_413(send: Send, limit: int) -> None:
    await send_error(
        send,
        413,
        "payload_too_large",
        f"Request body exceeds {limit} bytes",
        {"limit_bytes": limit},
        close=True,
    )


# --- security headers --------------------------------------------------------------------------

HSTS_VALUE = "max-age=31536000; includeSubDomains"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
_BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)


class _InlineCode(HTMLParser):
    """Collects inline <script> bodies and on* event-handler attributes of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.handlers: list[str] = []
        self._in_inline_script = False
        self._buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.lower().startswith("on") and value is not None:
                self.handlers.append(value)
        if tag.lower() == "script" and not any(n.lower() == "src" for n, _ in attrs):
            self._in_inline_script = True
            self._buffer = []

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self._buffer.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag.lower() == "script" and self._in_inline_script:
            self._in_inline_script = False
            self.scripts.append("".join(self._buffer))


def _sha256_source(value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def html_csp(html: str, *, connect_src: Iterable[str] = (), img_src: Iterable[str] = ()) -> str:
    """A Content-Security-Policy for one HTML page served by this API (the demo page).

    Scripts come from this origin only (``/widget.js``); the page's own inline scripts and
    inline event handlers (``onclick="..."``) are allowed by their SHA-256 hashes, so pass the
    final HTML (placeholders filled in). Styles may be inline (the page's <style> block and the
    widget's Shadow-DOM stylesheet); the widget calls the API on this origin, plus
    ``connect_src`` when the API lives elsewhere; avatars may be any https image.
    """
    parser = _InlineCode()
    parser.feed(html)
    parser.close()
    script_src = ["'self'"]
    if parser.handlers:
        script_src.append("'unsafe-hashes'")
    script_src.extend(sorted({_sha256_source(s) for s in parser.scripts + parser.handlers}))
    directives = [
        "default-src 'self'",
        "script-src " + " ".join(script_src),
        "style-src 'self' 'unsafe-inline'",
        "img-src " + " ".join(["'self'", "data:", "https:", *img_src]),
        "connect-src " + " ".join(["'self'", *connect_src]),
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
    return "; ".join(directives)


def html_security_headers(html: str, *, connect_src: Iterable[str] = ()) -> dict[str, str]:
    """Headers for an HTML page response: its CSP. Use as
    ``HTMLResponse(html, headers=html_security_headers(html))``; the middleware adds the rest."""
    return {"Content-Security-Policy": html_csp(html, connect_src=connect_src)}


class SecurityHeadersMiddleware:
    """nosniff and Referrer-Policy everywhere; X-Frame-Options DENY and a deny-all CSP on API
    answers (not on ``frameable_paths``: the widget script and the demo page); HSTS only when the
    request came over https (the ASGI scheme, or the X-Forwarded-Proto value a trusted proxy
    wrote for the client's hop: ``api.client_address.client_scheme``), and
    then the layers inside see the scheme https. Headers a handler set itself are kept."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: str = "",
        frameable_paths: Iterable[str] = ("/", "/widget.js", "/demo/hostile"),
    ) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies
        self.frameable_paths = frozenset(frameable_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope_client_scheme(scope, self.trusted_proxies) == "https"
        if https and scope.get("scheme") != "https":
            # What a trusted proxy says the client used: every URL built from the request
            # (request.url, a redirect's) says https too, never http://. Set in the request's
            # own scope: the router writes the matched route there, and the access log and
            # the metrics outside this layer read it (a copy left them `<unmatched>` for
            # every request behind a TLS-terminating balancer).
            scope["scheme"] = "https"
        frameable = scope.get("path", "") in self.frameable_paths

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                extra = list(_BASE_HEADERS)
                if not frameable:
                    extra.append((b"x-frame-options", b"DENY"))
                    if content_type.startswith(b"application/json"):
                        extra.append((b"content-security-policy", API_CSP.encode()))
                if https:
                    extra.append((b"strict-transport-security", HSTS_VALUE.encode()))
                headers.extend((k, v) for k, v in extra if k not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestTimeoutMiddleware:
    """Ends a request that runs past ``seconds`` before its response starts: 504
    ``request_timeout``, and its transaction rolls back. Once the response has started, the
    limit is on stalls instead: each part sent gives the next ``seconds`` more, and a response
    that sends nothing for that long is cut off where it is (that last send has ``seconds``
    too: a client that stopped reading held it for ever). Once the answer has ended, what the
    application does after it (background tasks) is not timed here. A download of a large
    export at a client's pace (minutes) was cut at ``seconds`` from the start, the archive
    truncated."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        started = ended = False
        loop = asyncio.get_running_loop()
        deadline: asyncio.Timeout | None = None

        async def tracking_send(message: Message) -> None:
            nonlocal started, ended
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                ended = True
            await send(message)
            if started and deadline is not None and not deadline.expired():
                # The next part has as long; the work after the answer's end (background
                # tasks: a reset link's, a job's enqueue) is not the answer's and has its own
                # bounds (statement and pool timeouts). Cut, it was lost without a word, and
                # the answer's end was sent a second time (uvicorn's "Unexpected ASGI
                # message" error, the kept-alive connection closed).
                deadline.reschedule(None if ended else loop.time() + self.seconds)

        try:
            async with asyncio.timeout(self.seconds) as deadline:
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if ended:  # the answer was whole
                return
            if started:  # end the stream where it is, if the client takes its end in time
                with contextlib.suppress(TimeoutError):
                    # Bounded too: a client that stopped reading made the cut-off stream's
                    # last send wait on the full buffer for ever. Left unended, the server
                    # closes the connection (``api.http_protocol`` aborts it past its stall).
                    async with asyncio.timeout(self.seconds):
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send_error(
                send, 504, "request_timeout", f"The request took longer than {self.seconds:g} s"
            )


HEAD_AS_GET = "trulybot.head_as_get"
"""Set in the scope of a HEAD request that the routes see as GET (``is_head``)."""


def is_head(scope: Scope) -> bool:
    """Whether this GET is a HEAD request (``HeadAsGetMiddleware``): a route whose GET does
    something besides reading (the leads export writes an audit entry) answers it with its
    headers alone."""
    return bool(scope.get(HEAD_AS_GET))


class HeadAsGetMiddleware:
    """HEAD is answered wherever GET is (RFC 9110: uptime monitors and balancers probe with
    it): the route runs as GET and the response goes out with its status and headers,
    Content-Length included, and no body. Inside every other middleware, which see HEAD.
    ``is_head`` tells a route it runs for a HEAD."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def without_body(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body":
                if finished or message.get("more_body", False):
                    return
                finished = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            # The server reads the method from this scope as the response goes out: as GET it
            # waited for Content-Length bytes of body, got none, logged "unhandled error on
            # HEAD" and dropped the kept-alive connection (the request after it failed: every
            # load balancer's HEAD probe).
            scope["method"] = "HEAD"
            try:
                await send(message)
            finally:
                scope["method"] = "GET"

        # The same scope (the route found is read from it by the access log), HEAD again after.
        scope["method"] = "GET"
        scope[HEAD_AS_GET] = True
        try:
            await self.app(scope, receive, without_body)
        finally:
            scope["method"] = "HEAD"
            del scope[HEAD_AS_GET]
