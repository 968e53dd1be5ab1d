"""Database engine and tenant-scoped units of work.

Every transaction the app opens sets the tenant context with ``set_config(..., true)`` so that
row-level security (see migrations) applies to the running role. The context is local to the
transaction: a pooled connection never carries one tenant's context into another request.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# The settings row-level-security policies read. Values are strings; '' means unset.
TENANT_SETTINGS = (
    "app.workspace_id",
    "app.user_id",
    "app.api_key_prefix",
    "app.public_key",
    "app.lookup",
)


def async_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` URLs and use the asyncpg driver."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in ("postgresql", "postgres"):
        scheme = "postgresql+asyncpg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    statement_timeout_ms: int = 15000,
    application_name: str = "trulybot",
) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
            "timeout": 10,
        },
    )


async def set_tenant(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID | str | None = None,
    user_id: uuid.UUID | str | None = None,
    api_key_prefix: str | None = None,
    public_key: str | None = None,
    lookup: str | None = None,
) -> None:
    """Set (or clear) the tenant context for the rest of the current transaction."""
    values = {
        "ws": str(workspace_id) if workspace_id else "",
        "uid": str(user_id) if user_id else "",
        "akp": api_key_prefix or "",
        "pk": public_key or "",
        "lk": lookup or "",
    }
    await session.execute(
        text(
            "SELECT set_config('app.workspace_id', :ws, true),"
            " set_config('app.user_id', :uid, true),"
            " set_config('app.api_key_prefix', :akp, true),"
            " set_config('app.public_key', :pk, true),"
            " set_config('app.lookup', :lk, true)"
        ),
        values,
    )


class Database:
    """The app's engine plus units of work. One per process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(create_engine(url, **kwargs))

    @asynccontextmanager
    async def transaction(
        self,
        *,
        workspace_id: uuid.UUID | str | None = None,
        user_id: uuid.UUID | str | None = None,
        api_key_prefix: str | None = None,
        public_key: str | None = None,
        lookup: str | None = None,
    ) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends normally, rolls back on an exception."""
        async with self.sessionmaker() as session, session.begin():
            await set_tenant(
                session,
                workspace_id=workspace_id,
                user_id=user_id,
                api_key_prefix=api_key_prefix,
                public_key=public_key,
                lookup=lookup,
            )
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
