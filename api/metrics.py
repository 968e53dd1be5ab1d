"""Prometheus ``GET /metrics`` and the per-request access log + HTTP metrics middleware.

The metric functions live in ``core.metrics`` (any layer may call them; domains must, since they
never import ``api``) and are re-exported here: ``observe_stage(stage, seconds)``,
``count_cache(result)``, ``count_faq(hit)``, ``count_answer(source)``,
``count_llm_tokens(model, prompt=, completion=)``, ``observe_llm(model, seconds, outcome)``,
``observe_ingestion(kind, seconds, outcome)``, ``count_rate_limited(route_class)``.

``/metrics`` is served only when METRICS_TOKEN is set (404 otherwise) and answers 401 unless the
request carries ``Authorization: Bearer <METRICS_TOKEN>``.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Annotated, Final

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import SettingsDep, bearer_token
from core import heap
from core.errors import NotFound, Unauthorized
from core.logging import bind_workspace, workspace_id_var
from core.metrics import (
    CONTENT_TYPE,
    HTTP_IN_PROGRESS,
    count_answer,
    count_cache,
    count_cross_tenant_miss,
    count_faq,
    count_llm_tokens,
    count_rate_limited,
    observe_http,
    observe_ingestion,
    observe_llm,
    observe_stage,
    render,
    sample,
)
from workspaces.security import same_secret

__all__ = [
    "AccessLogMiddleware",
    "bind_workspace",
    "count_answer",
    "count_cache",
    "count_cross_tenant_miss",
    "count_faq",
    "count_llm_tokens",
    "count_rate_limited",
    "observe_ingestion",
    "observe_llm",
    "observe_stage",
    "route_template",
    "router",
    "sample",
]

access_log = logging.getLogger("trulybot.access")
UNMATCHED: Final = "<unmatched>"
PROBE_ROUTES: Final = frozenset({"/healthz", "/readyz"})
"""Health checks whose passing answers are logged at DEBUG, not INFO (still counted)."""
_WORKSPACE_IN_PATH = re.compile(
    r"/workspaces/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:/|$)"
)

router = APIRouter(tags=["metrics"], include_in_schema=False)


@router.get("/metrics")
async def metrics_endpoint(
    request: Request, settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    if not settings.metrics_token:
        raise NotFound("Not found")
    token = bearer_token(authorization) or ""
    if not same_secret(token, settings.metrics_token):
        raise Unauthorized(
            "Send `Authorization: Bearer <METRICS_TOKEN>`", headers={"WWW-Authenticate": "Bearer"}
        )
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        runtime.db.report_pool()
    heap.drain_pauses()  # the collections timed since the monitor's last tick
    return Response(render(), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/workspaces/{workspace_id}``), never the raw
    path: labels and log fields stay bounded."""
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        # FastAPI keeps the effective route (router prefix included) here.
        context = fastapi_scope.get("effective_route_context")
        path_format = getattr(context, "path_format", None)
        if isinstance(path_format, str) and path_format:
            return str(scope.get("root_path", "") or "") + path_format
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str) and path:
        return str(scope.get("root_path", "") or "") + path
    return UNMATCHED


class AccessLogMiddleware:
    """One access-log line and one duration observation per HTTP request; binds the workspace id
    found in the path for every log line of the request; counts 404s for ids the caller cannot
    see (``request.state.cross_tenant_miss``, set by the error handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        match = _WORKSPACE_IN_PATH.search(scope.get("path", ""))
        token = workspace_id_var.set(match.group(1).lower() if match else None)

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        HTTP_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, tracking_send)
        finally:
            HTTP_IN_PROGRESS.dec()
            seconds = time.perf_counter() - start
            route = route_template(scope)
            method = str(scope.get("method", ""))
            observe_http(method, route, status, seconds)
            state = scope.get("state", {})
            if status == 404 and state.get("cross_tenant_miss"):
                count_cross_tenant_miss(route)
            # A passing probe at DEBUG: balancers and orchestrators check every few seconds.
            quiet = status == 200 and route in PROBE_ROUTES
            access_log.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %s %.1fms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "http_method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            workspace_id_var.reset(token)
