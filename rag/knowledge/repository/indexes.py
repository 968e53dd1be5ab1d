"""DDL of the chunks' vector indexes and embedding column.

Two privileged paths, because the app role owns no table and so may not create indexes:
- the owner connection (``owner_url``: MIGRATION_DATABASE_URL, or the embedded cluster's owner)
  runs ``CREATE INDEX CONCURRENTLY``: no lock against writers;
- otherwise the SECURITY DEFINER functions of the migration (``tb_build_workspace_indexes``,
  ``tb_drop_workspace_indexes``), granted to the app role: a typed uuid in, fixed DDL out; they
  build non-concurrently (writers to chunks wait for the build).

Index names and the statements' numbers come from a ``uuid.UUID`` and ints, never from text.
Changing the embedding column's dimension is an operator action (``trulybot reindex
--change-dimension``): nothing here runs it on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.db import Database, create_engine, lock_workspace

INDEX_PREFIX = "ix_chunks_hnsw_"
MAINTENANCE_WORK_MEM = "1GB"
EMBEDDED_TEXT_TABLES = ("faq_questions", "unanswered_questions")
"""The answer pipeline's vectors live in the same space as the chunks'."""


def index_name(workspace_id: uuid.UUID) -> str:
    if not isinstance(workspace_id, uuid.UUID):
        raise TypeError("workspace_id must be a uuid.UUID")
    return INDEX_PREFIX + workspace_id.hex


@asynccontextmanager
async def owner_connection(owner_url: str, *, autocommit: bool) -> AsyncIterator[AsyncConnection]:
    """One connection as the owner, without a statement timeout: autocommit for the concurrent
    index statements (they may not run in a transaction), else one transaction."""
    engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    try:
        if autocommit:
            async with engine.connect() as conn:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            async with engine.begin() as conn:
                yield conn
    finally:
        await engine.dispose()


async def index_state(db: AsyncSession | AsyncConnection, workspace_id: uuid.UUID) -> str | None:
    """'valid', 'invalid' (a failed concurrent build) or None when the index does not exist."""
    result = await db.execute(
        text(
            "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
            " WHERE c.relname = :name AND c.relkind = 'i'"
        ),
        {"name": index_name(workspace_id)},
    )
    valid = result.scalar_one_or_none()
    if valid is None:
        return None
    return "valid" if valid else "invalid"


MAINTENANCE_LOCK = "vector_index_maintenance"
_TRY_SESSION_LOCK = "SELECT pg_try_advisory_lock(hashtext(:purpose), hashtext(:ws))"
"""``core.db.lock_workspace``'s key (without ``wait``), held by the session: the owner path."""


@asynccontextmanager
async def maintenance_lock(
    db: Database, owner_url: str | None, workspace_id: uuid.UUID
) -> AsyncIterator[bool]:
    """Whether the workspace's index-maintenance lock (an advisory lock, one key whichever the
    path) is held for the block: tried, never waited for. On the owner path a session lock on
    an owner connection outside any transaction: an open transaction keeps an xmin, which the
    holder's own ``CREATE INDEX CONCURRENTLY`` would wait for. Else (the definer path, whose
    DDL waits for no snapshot; DATABASE_URL may be a transaction-mode pooler) a transaction
    lock held by a transaction that touches no table (``DROP INDEX`` locks ``chunks``) and
    may stay idle for the build."""
    if owner_url:
        params = {"purpose": MAINTENANCE_LOCK, "ws": str(workspace_id)}
        async with owner_connection(owner_url, autocommit=True) as conn:
            held = bool((await conn.execute(text(_TRY_SESSION_LOCK), params)).scalar())
            yield held  # the connection's end releases the session lock
        return
    async with db.transaction(workspace_id=workspace_id) as session:
        await session.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
        yield await lock_workspace(session, MAINTENANCE_LOCK, workspace_id, wait=False)


DEFAULT_OPTIONS = {"m": 16, "ef_construction": 64}
"""pgvector's HNSW storage parameters when an index names none."""


async def build_parameters(
    db: AsyncSession | AsyncConnection, workspace_id: uuid.UUID
) -> tuple[int, int] | None:
    """(m, ef_construction) the workspace's index was built with (its ``pg_class.reloptions``),
    None when it has no index."""
    result = await db.execute(
        text("SELECT c.reloptions FROM pg_class c WHERE c.relname = :name AND c.relkind = 'i'"),
        {"name": index_name(workspace_id)},
    )
    row = result.one_or_none()
    if row is None:
        return None
    options = dict(DEFAULT_OPTIONS)
    for item in row[0] or ():
        key, _, value = str(item).partition("=")
        if key in options:
            options[key] = int(value)
    return options["m"], options["ef_construction"]


def _create_sql(workspace_id: uuid.UUID, *, m: int, ef_construction: int) -> str:
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index_name(workspace_id)}"
        " ON chunks USING hnsw (embedding vector_cosine_ops)"
        f" WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
        f" WHERE workspace_id = '{workspace_id}'::uuid"
    )


async def build_concurrently(
    owner_url: str, workspace_id: uuid.UUID, *, m: int, ef_construction: int
) -> None:
    """The workspace's partial HNSW index, built without locking writers. ``IF NOT EXISTS``
    keeps whatever index has the name: a leftover of a build that died half way (invalid) or
    one with other parameters is dropped by the caller first (``indexing.maintain``, for both
    paths)."""
    async with owner_connection(owner_url, autocommit=True) as conn:
        await conn.execute(text(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'"))
        await conn.execute(text(_create_sql(workspace_id, m=m, ef_construction=ef_construction)))


async def build_as_definer(
    session: AsyncSession, workspace_id: uuid.UUID, *, m: int, ef_construction: int
) -> None:
    """The same index through the migration's SECURITY DEFINER function (app role)."""
    await session.execute(text("SET LOCAL statement_timeout = 0"))
    await session.execute(
        text("SELECT tb_build_workspace_indexes(:ws, :m, :efc)"),
        {"ws": workspace_id, "m": m, "efc": ef_construction},
    )


async def drop_concurrently(owner_url: str, workspace_id: uuid.UUID) -> None:
    async with owner_connection(owner_url, autocommit=True) as conn:
        await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {index_name(workspace_id)}"))


async def drop_as_definer(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    await session.execute(text("SELECT tb_drop_workspace_indexes(:ws)"), {"ws": workspace_id})


async def drop_all(owner_url: str) -> int:
    """Drop every workspace's HNSW index; returns how many there were."""
    async with owner_connection(owner_url, autocommit=True) as conn:
        names = (
            await conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'chunks'"
                    " AND indexname LIKE :p"
                ),
                {"p": INDEX_PREFIX + "%"},
            )
        ).scalars()
        dropped = 0
        for name in list(names):
            workspace_id = uuid.UUID(str(name)[len(INDEX_PREFIX) :])  # validates the name
            await conn.execute(
                text(f"DROP INDEX CONCURRENTLY IF EXISTS {index_name(workspace_id)}")
            )
            dropped += 1
    return dropped


# --- the embedding column's dimension --------------------------------------------------------


async def column_dimensions(session: AsyncSession) -> int:
    """The declared dimension of chunks.embedding (pgvector stores it as the type modifier)."""
    result = await session.execute(
        text(
            "SELECT atttypmod FROM pg_attribute"
            " WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'"
        )
    )
    return int(result.scalar_one())


async def column_allows_null(session: AsyncSession) -> bool:
    """True while a dimension change has not finished: ``change_dimensions`` lets
    chunks.embedding be NULL until ``restore_not_null``."""
    result = await session.execute(
        text(
            "SELECT NOT attnotnull FROM pg_attribute"
            " WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'"
        )
    )
    return bool(result.scalar_one())


async def change_dimensions(owner_url: str, dimensions: int) -> None:
    """chunks.embedding (and the FAQ and unanswered questions' vectors) become
    ``vector(dimensions)``; every stored vector is cleared, so chunks.embedding allows NULL
    until ``restore_not_null`` (after everything is re-embedded)."""
    dims = int(dimensions)
    if not 1 <= dims <= 16000:
        raise ValueError("dimensions out of range")
    async with owner_connection(owner_url, autocommit=False) as conn:
        await conn.execute(text("ALTER TABLE chunks ALTER COLUMN embedding DROP NOT NULL"))
        for table in ("chunks", *EMBEDDED_TEXT_TABLES):
            await conn.execute(
                text(f"ALTER TABLE {table} ALTER COLUMN embedding TYPE vector({dims}) USING NULL")
            )


async def restore_not_null(owner_url: str) -> None:
    async with owner_connection(owner_url, autocommit=False) as conn:
        await conn.execute(text("ALTER TABLE chunks ALTER COLUMN embedding SET NOT NULL"))
