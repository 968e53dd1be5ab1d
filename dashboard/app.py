"""``install(app)``: the dashboard's routes and static files under /app, mounted by the app
factory."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match

from dashboard.page_route import PageRoute, unknown_address
from dashboard.pages import (
    account,
    analytics,
    conversations,
    data,
    faqs,
    knowledge,
    leads,
    notifications,
    overview,
    plan,
    playground,
    recovery,
    settings,
    team,
    webhooks,
    widget,
)
from dashboard.web import HERE, PREFIX, secure_headers


class DashboardStatic(StaticFiles):
    """The vendored and own static files, revalidated by ETag."""


# Every page router, mounted under PREFIX (the tests sweep their routes).
PAGE_ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        account,
        recovery,
        overview,
        knowledge,
        faqs,
        playground,
        widget,
        conversations,
        leads,
        analytics,
        plan,
        team,
        settings,
        data,
        notifications,
        webhooks,
    )
)


def _page_without_slash(request: Request, catch_all: object) -> str | None:
    """Where an address one trailing slash away from a page leads (``/app/w/<id>/`` to
    ``/app/w/<id>``): the path as sent (still percent-encoded) without its slashes at the end,
    with the query, relative (the scheme and host stay the browser's, as ``api.slashes``
    does for the rest of the app); None when no page but this catch-all serves it."""
    raw = (request.scope.get("raw_path") or request.url.path.encode()).split(b"?", 1)[0]
    target = raw.rstrip(b"/")
    if target == raw or not target.startswith(PREFIX.encode() + b"/"):
        return None
    scope = {**request.scope, "path": request.url.path.rstrip("/")}
    served = any(
        route.matches(scope)[0] is Match.FULL
        for route in request.app.router.routes
        if getattr(route, "endpoint", None) is not catch_all
    )
    if not served:
        return None
    query = request.url.query
    return target.decode("latin-1") + (f"?{query}" if query else "")


def install(app: FastAPI) -> None:
    app.mount(
        f"{PREFIX}/static", DashboardStatic(directory=HERE / "static"), name="dashboard-static"
    )
    for router in PAGE_ROUTERS:
        app.include_router(router, prefix=PREFIX, include_in_schema=False)
    fallback = APIRouter(route_class=PageRoute)

    @fallback.api_route("", methods=["GET"])
    async def bare(request: Request) -> Response:
        return Response(status_code=307, headers={"Location": f"{PREFIX}/"})

    @fallback.api_route("/{rest:path}", methods=["GET", "HEAD"])
    async def unknown(request: Request, rest: str) -> Response:
        page = _page_without_slash(request, unknown)
        if page is not None:
            return secure_headers(Response(status_code=307, headers={"Location": page}))
        return secure_headers(unknown_address(request))

    app.include_router(fallback, prefix=PREFIX, include_in_schema=False)
