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
    # One transaction per revision: a revision's locks (0015 and 0016 lock `messages`) are
    # released when it commits, not held until the last revision is done. A connection already
    # in a transaction (the plain `alembic` command's, a downgrade's) runs them all in it.
    context.configure(
        connection=connection, target_metadata=target_metadata, transaction_per_migration=True
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    url = os.environ.get("MIGRATION_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set MIGRATION_DATABASE_URL or DATABASE_URL, or use `trulybot migrate`")
    engine = create_engine(url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    async with engine.connect() as conn:
        await conn.run_sync(_do_run)
        await conn.commit()
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
