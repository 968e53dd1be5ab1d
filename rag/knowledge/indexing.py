"""Per-workspace vector index management (DDL).

There is no shared ANN index on ``chunks.embedding``. A workspace below ``BUILD_THRESHOLD``
chunks is searched exactly (btree on workspace_id, then a sort of its rows); a workspace at or
above it gets its own partial HNSW index ``WHERE workspace_id = '<uuid>'``, which holds only its
rows, so an index scan returns k rows from that workspace with the recall of an unfiltered HNSW
search (no post-filtering loss, on pgvector 0.6 as on 0.8). Below ``DROP_THRESHOLD`` (hysteresis)
the index is dropped again. See docs/retrieval.md for the measurements behind the numbers.

Two privileged paths, because the app role owns no table and so may not create indexes:
- an owner connection (``owner_url``: MIGRATION_DATABASE_URL, or the embedded cluster's owner)
  runs ``CREATE INDEX CONCURRENTLY``: no lock against writers; used whenever it is configured;
- otherwise the SECURITY DEFINER functions from the migration (``tb_build_workspace_indexes``,
  ``tb_drop_workspace_indexes``), granted to the app role: typed uuid in, fixed DDL out; they
  build non-concurrently (writers to chunks wait for the build).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.db import Database, create_engine
from rag.knowledge.repository import count_chunks

log = logging.getLogger(__name__)

INDEX_PREFIX = "ix_chunks_hnsw_"
BUILD_THRESHOLD = 10_000
DROP_THRESHOLD = 5_000
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
EF_SEARCH = 100
MAINTENANCE_WORK_MEM = "1GB"


@dataclass(frozen=True)
class IndexPolicy:
    build_threshold: int = BUILD_THRESHOLD
    drop_threshold: int = DROP_THRESHOLD
    m: int = HNSW_M
    ef_construction: int = HNSW_EF_CONSTRUCTION


DEFAULT_POLICY = IndexPolicy()


def index_name(workspace_id: uuid.UUID) -> str:
    if not isinstance(workspace_id, uuid.UUID):
        raise TypeError("workspace_id must be a uuid.UUID")
    return INDEX_PREFIX + workspace_id.hex


async def index_state(session: AsyncSession, workspace_id: uuid.UUID) -> str | None:
    """'valid', 'invalid' (a failed concurrent build) or None when the index does not exist."""
    result = await session.execute(
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


async def indexed_workspaces(session: AsyncSession) -> list[str]:
    result = await session.execute(
        text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'chunks'"
            " AND indexname LIKE :prefix ORDER BY 1"
        ),
        {"prefix": INDEX_PREFIX + "%"},
    )
    return [str(name)[len(INDEX_PREFIX) :] for name in result.scalars()]


def _create_sql(workspace_id: uuid.UUID, policy: IndexPolicy, *, concurrently: bool) -> str:
    m, efc = int(policy.m), int(policy.ef_construction)
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS"
        f" {index_name(workspace_id)} ON chunks USING hnsw (embedding vector_cosine_ops)"
        f" WITH (m = {m}, ef_construction = {efc}) WHERE workspace_id = '{workspace_id}'::uuid"
    )


async def build_index(
    workspace_id: uuid.UUID,
    *,
    db: Database,
    owner_url: str | None,
    policy: IndexPolicy = DEFAULT_POLICY,
) -> str:
    """Build the workspace's partial HNSW index; returns the path used."""
    if owner_url:
        engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
        try:
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'"))
                state = await _state_on(auto, workspace_id)
                if state == "invalid":  # a concurrent build died half way
                    await auto.execute(
                        text(f"DROP INDEX CONCURRENTLY IF EXISTS {index_name(workspace_id)}")
                    )
                await auto.execute(text(_create_sql(workspace_id, policy, concurrently=True)))
        finally:
            await engine.dispose()
        return "concurrently"
    async with db.transaction(workspace_id=workspace_id) as session:
        await session.execute(text("SET LOCAL statement_timeout = 0"))
        await session.execute(
            text("SELECT tb_build_workspace_indexes(:ws, :m, :efc)"),
            {"ws": workspace_id, "m": policy.m, "efc": policy.ef_construction},
        )
    return "definer"


async def drop_index(workspace_id: uuid.UUID, *, db: Database, owner_url: str | None) -> None:
    if owner_url:
        engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
        try:
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(
                    text(f"DROP INDEX CONCURRENTLY IF EXISTS {index_name(workspace_id)}")
                )
        finally:
            await engine.dispose()
        return
    async with db.transaction(workspace_id=workspace_id) as session:
        await session.execute(text("SELECT tb_drop_workspace_indexes(:ws)"), {"ws": workspace_id})


async def _state_on(conn: AsyncConnection, workspace_id: uuid.UUID) -> str | None:
    result = await conn.execute(
        text(
            "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
            " WHERE c.relname = :name"
        ),
        {"name": index_name(workspace_id)},
    )
    valid = result.scalar_one_or_none()
    return None if valid is None else ("valid" if valid else "invalid")


def decision(count: int, state: str | None, policy: IndexPolicy = DEFAULT_POLICY) -> str:
    """'build', 'drop' or 'unchanged' for a workspace of ``count`` chunks and index ``state``."""
    if count >= policy.build_threshold and state != "valid":
        return "build"
    if count < policy.drop_threshold and state is not None:
        return "drop"
    return "unchanged"


async def maintenance_due(
    session: AsyncSession, workspace_id: uuid.UUID, policy: IndexPolicy = DEFAULT_POLICY
) -> bool:
    """Whether the workspace's index should be built or dropped now."""
    count = await count_chunks(session, workspace_id)
    state = await index_state(session, workspace_id)
    return decision(count, state, policy) != "unchanged"


async def maintain(
    workspace_id: uuid.UUID,
    *,
    db: Database,
    owner_url: str | None,
    policy: IndexPolicy = DEFAULT_POLICY,
) -> str:
    """Bring the workspace's index in line with its size: 'built', 'dropped' or 'unchanged'."""
    async with db.transaction(workspace_id=workspace_id) as session:
        count = await count_chunks(session, workspace_id)
        state = await index_state(session, workspace_id)
    action = decision(count, state, policy)
    if action == "build":
        path = await build_index(workspace_id, db=db, owner_url=owner_url, policy=policy)
        log.info("built HNSW index for workspace %s (%d chunks, %s)", workspace_id, count, path)
        return "built"
    if action == "drop":
        await drop_index(workspace_id, db=db, owner_url=owner_url)
        log.info("dropped HNSW index for workspace %s (%d chunks)", workspace_id, count)
        return "dropped"
    return "unchanged"


# --- embedding column (``trulybot reindex`` after a model change) ------------------------------


async def column_dimensions(session: AsyncSession) -> int:
    """The declared dimension of chunks.embedding (pgvector stores it as the type modifier)."""
    result = await session.execute(
        text(
            "SELECT atttypmod FROM pg_attribute"
            " WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'"
        )
    )
    return int(result.scalar_one())


async def drop_all_indexes(owner_url: str) -> int:
    engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    try:
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            names = (
                await auto.execute(
                    text(
                        "SELECT indexname FROM pg_indexes WHERE tablename = 'chunks'"
                        " AND indexname LIKE :p"
                    ),
                    {"p": INDEX_PREFIX + "%"},
                )
            ).scalars()
            dropped = 0
            for name in list(names):
                suffix = uuid.UUID(str(name)[len(INDEX_PREFIX) :])  # validates the name
                await auto.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {index_name(suffix)}"))
                dropped += 1
    finally:
        await engine.dispose()
    return dropped


async def alter_dimensions(owner_url: str, dimensions: int) -> None:
    """Change chunks.embedding to vector(dimensions); stored vectors are cleared (re-embed next)."""
    dims = int(dimensions)
    if not 1 <= dims <= 16000:
        raise ValueError("dimensions out of range")
    engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE chunks ALTER COLUMN embedding DROP NOT NULL"))
            await conn.execute(
                text(f"ALTER TABLE chunks ALTER COLUMN embedding TYPE vector({dims}) USING NULL")
            )
            # The answer pipeline's vectors live in the same space: FAQ questions and
            # unanswered questions are re-embedded by `trulybot reindex` as well.
            for table in ("faq_questions", "unanswered_questions"):
                await conn.execute(
                    text(
                        f"ALTER TABLE {table} ALTER COLUMN embedding TYPE vector({dims}) USING NULL"
                    )
                )
    finally:
        await engine.dispose()


async def restore_not_null(owner_url: str) -> None:
    engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE chunks ALTER COLUMN embedding SET NOT NULL"))
    finally:
        await engine.dispose()


async def all_workspace_ids(owner_url: str) -> list[uuid.UUID]:
    """Every workspace (an operator-side query on the owner connection, past RLS)."""
    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id FROM workspaces ORDER BY created_at"))
            return [uuid.UUID(str(r[0])) for r in rows]
    finally:
        await engine.dispose()


async def workspace_id_by_slug(owner_url: str, slug: str) -> uuid.UUID | None:
    """The operator's narrow lookup of a workspace by slug (owner connection)."""
    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            value = (
                await conn.execute(text("SELECT id FROM workspaces WHERE slug = :s"), {"s": slug})
            ).scalar_one_or_none()
            return None if value is None else uuid.UUID(str(value))
    finally:
        await engine.dispose()
