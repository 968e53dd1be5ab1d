"""Per-workspace vector indexes: when a workspace gets its own HNSW index, and keeping it so.

There is no shared ANN index on ``chunks.embedding``. A workspace below ``BUILD_THRESHOLD``
chunks is searched exactly (btree on workspace_id, then a sort of its rows); a workspace at or
above it gets its own partial HNSW index ``WHERE workspace_id = '<uuid>'``, which holds only its
rows, so an index scan returns k rows from that workspace with the recall of an unfiltered HNSW
search (no post-filtering loss, on pgvector 0.6 as on 0.8). Below ``DROP_THRESHOLD`` (hysteresis)
the index is dropped again. See docs/retrieval.md for the measurements behind the numbers.

The DDL lives in ``rag.knowledge.repository.indexes``: on the owner connection (concurrently)
when one is configured, else through the migration's SECURITY DEFINER functions.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import indexes

log = logging.getLogger(__name__)

BUILD_THRESHOLD = 10_000
DROP_THRESHOLD = 5_000
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
EF_SEARCH = 100


@dataclass(frozen=True)
class IndexPolicy:
    build_threshold: int = BUILD_THRESHOLD
    drop_threshold: int = DROP_THRESHOLD
    m: int = HNSW_M
    ef_construction: int = HNSW_EF_CONSTRUCTION


DEFAULT_POLICY = IndexPolicy()


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
    count = await chunk_repo.count_chunks(session, workspace_id)
    state = await indexes.index_state(session, workspace_id)
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
        count = await chunk_repo.count_chunks(session, workspace_id)
        state = await indexes.index_state(session, workspace_id)
    action = decision(count, state, policy)
    if action == "build":
        shape = {"m": policy.m, "ef_construction": policy.ef_construction}
        if owner_url:
            await indexes.build_concurrently(owner_url, workspace_id, **shape)
        else:
            async with db.transaction(workspace_id=workspace_id) as session:
                await indexes.build_as_definer(session, workspace_id, **shape)
        path = "concurrently" if owner_url else "definer"
        log.info("built HNSW index for workspace %s (%d chunks, %s)", workspace_id, count, path)
        return "built"
    if action == "drop":
        if owner_url:
            await indexes.drop_concurrently(owner_url, workspace_id)
        else:
            async with db.transaction(workspace_id=workspace_id) as session:
                await indexes.drop_as_definer(session, workspace_id)
        log.info("dropped HNSW index for workspace %s (%d chunks)", workspace_id, count)
        return "dropped"
    return "unchanged"
