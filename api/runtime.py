"""Resolving the real components a process uses: the database (embedded or configured) and Redis."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core import migrate
from core.config import Settings
from core.embedded import EmbeddedPostgres, embedded_postgres

log = logging.getLogger("trulybot")


@dataclass
class DatabaseTarget:
    app_url: str
    owner_url: str | None
    embedded: EmbeddedPostgres | None


async def resolve_database(settings: Settings, *, apply_migrations: bool) -> DatabaseTarget:
    """With DATABASE_URL unset: start the embedded PostgreSQL + pgvector under data_dir, create
    the app role, migrate, and connect as the app role. Otherwise use what is configured."""
    if settings.database_url:
        owner = settings.migration_database_url
        if apply_migrations:
            if not owner:
                raise SystemExit(
                    "MIGRATION_DATABASE_URL (the owner role) is needed to apply migrations"
                )
            await migrate.upgrade(owner, app_role=settings.app_db_role)
        return DatabaseTarget(app_url=settings.database_url, owner_url=owner, embedded=None)
    pg = await embedded_postgres(settings.data_dir)
    await migrate.ensure_app_role(pg.owner_url(), settings.app_db_role)
    if apply_migrations:
        await migrate.upgrade(pg.owner_url(), app_role=settings.app_db_role)
    return DatabaseTarget(
        app_url=pg.app_url(settings.app_db_role), owner_url=pg.owner_url(), embedded=pg
    )


def describe_defaults(settings: Settings, target: DatabaseTarget) -> list[str]:
    lines: list[str] = []
    if target.embedded is not None:
        lines.append(
            f"database: embedded PostgreSQL + pgvector under {settings.data_dir}/pgdata "
            f"(connected as role {settings.app_db_role})"
        )
    else:
        lines.append("database: DATABASE_URL")
    lines.append(
        "redis: REDIS_URL" if settings.redis_url else "redis: not set, in-process cache/limits/jobs"
    )
    model = {"local": "all-MiniLM-L6-v2", "hash": "zero-cost hashing, for tests"}.get(
        settings.embedding_provider, settings.embedding_model
    )
    lines.append(f"embeddings: {settings.embedding_provider} ({model})")
    lines.append(
        f"generation: {settings.chat_model} via OpenAI-compatible API"
        if settings.openai_api_key
        else "generation: no OPENAI_API_KEY, extractive answers from retrieved passages"
    )
    lines.append(
        "payments: Razorpay"
        if settings.billing_enabled
        else "payments: disabled (503) until keys are set"
    )
    lines.append(f"new workspaces start on plan: {settings.default_plan}")
    return lines


def redact(value: Any) -> str:
    return "***" if value else "-"
