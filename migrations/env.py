"""Alembic environment (async). The only way the schema changes.

``trulybot migrate`` passes an open connection (run as the owner role). The plain ``alembic``
command works too and reads MIGRATION_DATABASE_URL or DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection

from core.db import create_engine

config = context.config
target_metadata = None


def _do_run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = os.environ.get("MIGRATION_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set MIGRATION_DATABASE_URL or DATABASE_URL, or use `trulybot migrate`")
    engine = create_engine(url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    async with engine.begin() as conn:
        await conn.run_sync(_do_run)
    await engine.dispose()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _do_run(connection)
    elif context.is_offline_mode():
        context.configure(url=os.environ.get("DATABASE_URL", ""), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_run_async())


run()
