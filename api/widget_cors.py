"""CORS for the public widget API: per-workspace allowlists, never with credentials.

A preflight carries no widget key, so it is answered for any origin; the real request is then
checked against the workspace's ``allowed_origins`` (403 ``origin_not_allowed`` otherwise) and
only an allowed origin gets ``Access-Control-Allow-Origin`` back with an answer. An error is
readable by any origin (it holds no workspace data): the widget shows why it was refused.
The dashboard's CORS (``DASHBOARD_ORIGINS``, with credentials) is kept off widget paths
(``DashboardCorsMiddleware``): a site that is both a dashboard origin and a widget origin gets
one ``Access-Control-Allow-Origin`` there, the widget's.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WIDGET_PATHS = ("/api/v1/chat", "/api/v1/widget/")
EXPOSED = b"Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-Request-ID"
STATE_KEY = "widget_cors_origin"


def is_widget_path(path: str) -> bool:
    return path == WIDGET_PATHS[0] or path.startswith(WIDGET_PATHS[1])


def _origin(scope: Scope) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == b"origin":
            return bytes(value)
    return None


class DashboardCorsMiddleware:
    """The owners' dashboard's CORS (``origins``, with credentials) on every path but the
    widget's, which pass straight through to ``app``: Starlette's ``CORSMiddleware`` would
    add its own ``Access-Control-Allow-Origin`` (and ``Allow-Credentials: true``) beside the
    widget's for an origin that is in both lists, and a browser refuses a response whose
    header holds several values."""

    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_widget_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        await self.cors(scope, receive, send)


class WidgetCorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_widget_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        origin = _origin(scope)
        if scope["method"] == "OPTIONS" and origin is not None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        (b"access-control-allow-origin", origin),
                        (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                        (
                            b"access-control-allow-headers",
                            b"Content-Type, Accept, X-Widget-Key, X-Request-ID",
                        ),
                        (b"access-control-max-age", b"600"),
                        (b"vary", b"Origin"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        scope.setdefault("state", {})

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(cors_headers(scope, message["status"]))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)


def cors_headers(scope: Scope, status: int) -> list[tuple[bytes, bytes]]:
    """The CORS headers of a response with ``status`` to a widget-path request: the origin the
    route allowed (``STATE_KEY``) may read it; an error is readable by the page that sent it.
    Sent by ``WidgetCorsMiddleware``, and by the handler of unhandled errors
    (``api.errors``), whose 500 leaves outside every middleware (Starlette's
    ServerErrorMiddleware)."""
    headers = [(b"vary", b"Origin")]
    allowed = scope.get("state", {}).get(STATE_KEY)
    readable = allowed.encode("latin-1") if allowed else None
    origin = _origin(scope)
    if readable is None and origin is not None and status >= 400:
        # A refusal is readable by the page that was refused (origin_not_allowed,
        # invalid_widget_key, a 422's reason, a 5xx): it carries no workspace data, and without
        # it the widget could only say "connection problem".
        readable = origin
    if readable is not None:
        headers.append((b"access-control-allow-origin", readable))
        headers.append((b"access-control-expose-headers", EXPOSED))
    return headers
