"""The FastAPI application: create_app() wires routers, middleware and the real components."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.container import Container
from api.errors import install_error_handlers
from api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from api.routers import auth, health, leads, workspaces
from api.runtime import describe_defaults, resolve_database
from core.config import Settings, get_settings
from core.db import Database
from core.redis import create_redis

log = logging.getLogger("trulybot")

API_PREFIX = "/api/v1"
UPLOAD_OVERHEAD = 64 * 1024  # multipart framing around an uploaded file


def body_limit_for(settings: Settings) -> Callable[[str], int]:
    def limit(path: str) -> int:
        if path.endswith("/documents"):
            return settings.max_upload_bytes + UPLOAD_OVERHEAD
        return settings.max_body_bytes

    return limit


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    settings = settings or (container.settings if container else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        if container is None:
            target = await resolve_database(settings, apply_migrations=True)
            db = Database.from_url(
                target.app_url,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                statement_timeout_ms=settings.db_statement_timeout_ms,
            )
            redis = create_redis(settings.redis_url) if settings.redis_url else None
            app.state.container = Container(
                settings=settings, db=db, redis=redis, embedded=target.embedded
            )
            for line in describe_defaults(settings, target):
                log.info(line)
                print(f"  {line}", flush=True)
        else:
            app.state.container = container
        try:
            yield
        finally:
            if owned:
                await app.state.container.close()

    app = FastAPI(
        title="TrulyBot",
        version="0.1.0",
        description="Multi-tenant AI chatbot backend: workspaces, knowledge, chat, leads, billing.",
        lifespan=lifespan,
    )
    if container is not None:
        app.state.container = container
    install_error_handlers(app)
    if settings.dashboard_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.dashboard_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(BodySizeLimitMiddleware, limit_for=body_limit_for(settings))
    app.add_middleware(RequestIdMiddleware)

    app.include_router(health.router)
    for router in (auth.router, workspaces.router, leads.router):
        app.include_router(router, prefix=API_PREFIX)
    return app
