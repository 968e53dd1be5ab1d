"""The FastAPI application: create_app() wires routers, middleware and the real components."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.demo.seed import demo_login, ensure_demo
from api.errors import UnhandledErrorMiddleware, install_error_handlers
from api.input_guard import JsonInputGuardMiddleware
from api.metrics import AccessLogMiddleware
from api.metrics import router as metrics_router
from api.middleware import (
    BodySizeLimitMiddleware,
    HeadAsGetMiddleware,
    RequestIdMiddleware,
    RequestTimeoutMiddleware,
    SecurityHeadersMiddleware,
    request_id_var,
)
from api.openapi import install_openapi
from api.routers import (
    analytics,
    audit,
    auth,
    billing,
    chat,
    documents,
    health,
    leads,
    lifecycle,
    notifications,
    sources,
    webhooks,
    widget,
    widget_chat,
    workspaces,
)
from api.runtime import Runtime, build_runtime, describe_defaults
from api.schedule import resume_queued_documents
from api.slashes import install_slash_handling
from api.start_checks import (
    StartRefusalMiddleware,
    StartRefusals,
    check_schema,
    check_vector_column,
    redis_problem,
)
from api.throttling import RateLimitMiddleware
from api.widget_cors import DashboardCorsMiddleware, WidgetCorsMiddleware
from core import heap
from core.config import Settings, get_settings
from core.logging import announce, configure_logging
from core.models import utcnow
from core.observability import init_sentry
from core.urls import base_url, local_base_url
from dashboard.app import install as install_dashboard
from rag.chat import faq_import
from workspaces import security

log = logging.getLogger("trulybot")

API_PREFIX = "/api/v1"
UPLOAD_OVERHEAD = 64 * 1024  # multipart framing around an uploaded file
UPLOAD_FILES = 10  # files in one upload from the dashboard


# The routes that take a document (multipart upload or JSON text): POST .../documents and
# PUT .../documents/{document_id}. Every other route gets the JSON body limit.
UPLOAD_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(rf"^{API_PREFIX}/workspaces/[^/]+/documents$")),
    ("PUT", re.compile(rf"^{API_PREFIX}/workspaces/[^/]+/documents/[^/]+$")),
)
# The dashboard's upload form sends up to UPLOAD_FILES files in one request.
DASHBOARD_UPLOAD = re.compile(r"^/app/w/[^/]+/knowledge/upload$")
# The dashboard's FAQ import: one CSV file of up to faq_import.MAX_BYTES.
DASHBOARD_FAQ_IMPORT = re.compile(r"^/app/w/[^/]+/knowledge/faqs/import$")
DASHBOARD_PREFIX = "/app/"


def body_limit_for(settings: Settings) -> Callable[[str, str], int]:
    """(method, path) -> the largest body that request may send."""

    def limit(method: str, path: str) -> int:
        if any(method == m and pattern.match(path) for m, pattern in UPLOAD_ROUTES):
            return settings.max_upload_bytes + UPLOAD_OVERHEAD
        if method == "POST" and DASHBOARD_UPLOAD.match(path):
            return UPLOAD_FILES * (settings.max_upload_bytes + UPLOAD_OVERHEAD)
        if method == "POST" and DASHBOARD_FAQ_IMPORT.match(path):
            return faq_import.MAX_BYTES + UPLOAD_OVERHEAD
        return settings.max_body_bytes

    return limit


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The API. With ``runtime`` (tests, embedding callers) the app uses it as it is; without,
    its lifespan builds the process's runtime from ``settings`` (migrating the database) and
    closes it at shutdown."""
    settings = runtime.settings if runtime is not None else settings or get_settings()
    # The JWT secret: configured, or generated once under DATA_DIR and shared by every process.
    settings = settings.with_jwt_secret()
    security.configure_hashing(settings.password_hash_concurrency)

    refusals = StartRefusals()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            yield
            return
        configure_logging(settings, context={"request_id": request_id_var})
        # The embedded database is migrated here; a configured one when the owner's connection
        # is given too. API replicas that have only the app role's DATABASE_URL (the production
        # layout: `trulybot migrate` runs once per deploy) start without it.
        migrating = settings.database_url is None or bool(settings.migration_database_url)
        lines = [f"jwt secret: {settings.jwt_secret_source}"]
        if not migrating:
            lines.append("migrations: not applied at start (no MIGRATION_DATABASE_URL)")
        async with build_runtime(settings, apply_migrations=migrating) as built:
            with refusals.refusing():
                await check_schema(built.db)
                await check_vector_column(built)
            lines.extend(describe_defaults(built))
            for line in lines:
                announce(settings, f"  {line}")
            with refusals.refusing():  # a password or database Redis refuses
                problem = await redis_problem(built.redis, settings.redis_url)
            if problem:
                # A warning: the server runs short of what was configured (/readyz says
                # "degraded" meanwhile), as it would if Redis went away while it ran.
                announce(settings, f"  {problem}", level="warning")
            if settings.seed_demo and settings.is_development:
                demo = await ensure_demo(built)
                built.demo_public_key = demo["public_key"]
                base = base_url(settings)
                announce(settings, f"  demo site: {base}/")
                announce(settings, f"  dashboard: {base}/app")
                login = demo_login(settings.data_dir)
                if login is not None:
                    announce(
                        settings,
                        f"    log in as {login['email']} with password {login['password']}"
                        f" (also in {settings.data_dir}/demo-owner.json)",
                    )
            app.state.runtime = built
            await built.mailer.kick()  # messages a previous process left in the outbox
            if not settings.redis_url and settings.workers == 1:
                # What the last run left in its in-process queue (with several processes the
                # `requeue_queued_documents` sweep takes it, once, within 15 minutes).
                resumed = await resume_queued_documents(built.lifecycle, built.ingestion, utcnow())
                if resumed:
                    announce(settings, f"  documents left queued by the last run: {resumed}")
            if settings.scheduler_enabled and not settings.redis_url:
                # With REDIS_URL, `trulybot worker` drives the periodic jobs (docs/deploy.md).
                built.scheduler.start(settings.scheduler_poll_seconds)
            # Start-up is over: its objects leave the collector's walks (core.heap).
            heap.install_pause_metrics()
            frozen = heap.freeze_startup_heap()
            log.debug("garbage collector: %d start-up objects frozen", frozen)
            # Said once start-up succeeded: it was said first, and then came a traceback.
            docs = "docs at /docs" if settings.api_docs_enabled else "API docs off (API_DOCS)"
            announce(
                settings,
                f"TrulyBot listening on {local_base_url(settings)}  (API under /api/v1, {docs})",
            )
            yield

    app = FastAPI(
        title="TrulyBot",
        version="0.1.0",
        description="Multi-tenant AI chatbot backend: workspaces, knowledge, chat, leads, billing.",
        lifespan=lifespan,
        # API_DOCS: the interactive docs and the schema are off in production unless asked for.
        docs_url="/docs" if settings.api_docs_enabled else None,
        redoc_url="/redoc" if settings.api_docs_enabled else None,
        openapi_url="/openapi.json" if settings.api_docs_enabled else None,
    )
    if runtime is not None:
        app.state.runtime = runtime
    init_sentry(settings)
    install_error_handlers(app)
    install_openapi(app, settings)  # the error shape and limits the API really answers
    # HEAD wherever GET is served, innermost: the other layers see (and log) HEAD.
    app.add_middleware(HeadAsGetMiddleware)
    # JSON nested too deep or with lone surrogates: 422 before any route parses it.
    app.add_middleware(JsonInputGuardMiddleware)
    # Inside both CORS layers, so a 429 still carries CORS headers.
    app.add_middleware(RateLimitMiddleware)
    if settings.dashboard_origins:
        # Not on widget paths: those have their own CORS, never with credentials.
        app.add_middleware(DashboardCorsMiddleware, origins=settings.dashboard_origins)
    app.add_middleware(RequestTimeoutMiddleware, seconds=settings.request_timeout_seconds)
    # The dashboard's pages answer their own 413 (an HTML page: dashboard.page_route.too_large).
    app.add_middleware(
        BodySizeLimitMiddleware,
        limit_for=body_limit_for(settings),
        app_answers=lambda path: path.startswith(DASHBOARD_PREFIX),
    )
    # An unexpected error's 500 is answered here, inside the layers that add the request id,
    # the security headers, the widget's CORS and the access log line (api.errors).
    app.add_middleware(UnhandledErrorMiddleware)
    # The widget's CORS sits outside the dashboard's, which skips widget paths (they never get
    # credentials, nor a second Access-Control-Allow-Origin), and
    # outside the timeout and the body limit, so that their 504 and 413 reach the widget
    # readable.
    app.add_middleware(WidgetCorsMiddleware)
    app.add_middleware(
        SecurityHeadersMiddleware,
        trusted_proxies=settings.trusted_proxies,
    )
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(StartRefusalMiddleware, refusals=refusals)  # the lifespan's only

    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(widget.static_router)
    for router in (
        widget_chat.public_router,
        auth.router,
        workspaces.router,
        leads.router,
        documents.router,
        billing.router,
        analytics.router,
        chat.router,
        widget.router,
        audit.router,
        lifecycle.router,
        sources.router,
        notifications.router,
        webhooks.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    install_dashboard(app)
    # A path one slash away from a served one: never an absolute http:// redirect (api.slashes).
    install_slash_handling(app, api_prefix=API_PREFIX)
    return app
