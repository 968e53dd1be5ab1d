"""A path that differs from a served one by its trailing slash.

Starlette's own answer is a 307 to an absolute URL built from the ASGI scheme, which is
``http`` behind a TLS proxy (uvicorn runs without proxy headers): a client that followed it
re-sent the body (a lead's personal data) in cleartext, or dropped its token on the switch to
http and got 401. Here, instead:

- GET and HEAD get a 307 whose ``Location`` is relative (path and query only), so the client
  stays on the scheme, host and port it used, whatever the proxy in front;
- any other method on an API path gets the 404 ``not_found`` envelope naming the path without
  the slash: a write is never redirected, nor its body sent twice. API paths take no trailing
  slash (README.md, "Try it with curl");
- under /app the dashboard's catch-all answers first (``dashboard.app``): a GET or HEAD of a
  page with a trailing slash gets the same relative 307, any other method there 405
  ``method_not_allowed`` (a form's post is refused, never redirected or applied).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.routing import Match, Router, get_route_path
from starlette.types import Receive, Scope, Send

from core.errors import NotFound

_SAFE = frozenset({"GET", "HEAD"})


def _served(router: Router, scope: Scope, path: str) -> bool:
    other = {**scope, "path": path}
    return any(route.matches(other)[0] is not Match.NONE for route in router.routes)


def _location(scope: Scope, route_path: str) -> str | None:
    """The path and query to send the client to: the path as it sent it (still percent-
    encoded), with its trailing slash dropped or one added. None for one that would read as
    another host (``//host``, ``/\\host``)."""
    raw = scope.get("raw_path") or scope["path"].encode()
    raw = raw.split(b"?", 1)[0]
    target = raw.rstrip(b"/") if route_path.endswith("/") else raw + b"/"
    if not target.startswith(b"/") or target[1:2] in (b"/", b"\\"):
        return None
    query = scope.get("query_string", b"")
    return (target + (b"?" + query if query else b"")).decode("latin-1")


def install_slash_handling(app: FastAPI, *, api_prefix: str) -> None:
    """Answer a path one slash away from a served one as above, instead of Starlette's
    absolute redirect. Runs only when no route matched (the router's fallback)."""
    router = app.router
    router.redirect_slashes = False
    fallback = router.default

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        route_path = get_route_path(scope) if scope["type"] == "http" else "/"
        if route_path not in ("/", ""):
            ends = route_path.endswith("/")
            path = scope["path"].rstrip("/") if ends else scope["path"] + "/"
            api = route_path.startswith(api_prefix + "/")
            location = _location(scope, route_path)
            # An API path is only ever offered without its slash, never with one added.
            if location is not None and (ends or not api) and _served(router, scope, path):
                if api and scope["method"] not in _SAFE:
                    target = location.split("?", 1)[0]
                    raise NotFound(
                        f"API paths take no trailing slash: send this request to {target}",
                        details=[{"path": target}],
                    )
                await Response(status_code=307, headers={"location": location})(
                    scope, receive, send
                )
                return
        await fallback(scope, receive, send)

    router.default = default
