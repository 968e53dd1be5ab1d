"""``install(app)``: the dashboard's routes and static files under /app, mounted by the app
factory."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

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
        return secure_headers(unknown_address(request))

    app.include_router(fallback, prefix=PREFIX, include_in_schema=False)
