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

BUILD_THRESHOLD = 5_000  # docs/retrieval.md, sixteenth session (was 10,000 and 5,000)
DROP_THRESHOLD = 2_500
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200  # docs/retrieval.md, fifteenth session (was 64)
EF_SEARCH = 100


@dataclass(frozen=True)
class IndexPolicy:
    build_threshold: int = BUILD_THRESHOLD
    drop_threshold: int = DROP_THRESHOLD
    m: int = HNSW_M
    ef_construction: int = HNSW_EF_CONSTRUCTION


DEFAULT_POLICY = IndexPolicy()


def decision(count: int, state: str | None, policy: IndexPolicy = DEFAULT_POLICY) -> str:
    """'build', 'drop' or 'unchanged' for a workspace of ``count`` chunks and index ``state``
    ('valid', 'invalid', 'outdated': valid but built with other parameters than the policy's,
    or None). An outdated index that stays (at or above the drop threshold) is built again, and
    so is an invalid one (a rebuild between the thresholds that died half way: left so, it was
    never used by a search and never repaired until the workspace reached the build
    threshold)."""
    if count >= policy.build_threshold and state != "valid":
        return "build"
    if count < policy.drop_threshold and state is not None:
        return "drop"
    if state in ("outdated", "invalid"):
        return "build"
    return "unchanged"


async def index_state(
    session: AsyncSession, workspace_id: uuid.UUID, policy: IndexPolicy = DEFAULT_POLICY
) -> str | None:
    """``indexes.index_state``, and 'outdated' for a valid index whose m or ef_construction
    (``pg_class.reloptions``) is not the policy's."""
    state = await indexes.index_state(session, workspace_id)
    if state == "valid":
        built = await indexes.build_parameters(session, workspace_id)
        if built != (policy.m, policy.ef_construction):
            return "outdated"
    return state


async def maintenance_due(
    session: AsyncSession, workspace_id: uuid.UUID, policy: IndexPolicy = DEFAULT_POLICY
) -> bool:
    """Whether the workspace's index should be built or dropped now."""
    count = await chunk_repo.count_chunks(session, workspace_id)
    state = await index_state(session, workspace_id, policy)
    return decision(count, state, policy) != "unchanged"


async def maintain(
    workspace_id: uuid.UUID,
    *,
    db: Database,
    owner_url: str | None,
    policy: IndexPolicy = DEFAULT_POLICY,
) -> str:
    """Bring the workspace's index in line with its size and the policy's parameters: 'built',
    'rebuilt' (an outdated index dropped and built again; the workspace is searched exactly
    meanwhile), 'dropped', 'unchanged', or 'busy' when another maintenance of the workspace
    (a job, `trulybot reindex`, any process) holds its lock: that one does the work, and two
    at once would drop each other's index mid-build (a deadlock of the concurrent DDL, or two
    builds of one name)."""
    async with indexes.maintenance_lock(db, owner_url, workspace_id) as held:
        if not held:
            log.info("index maintenance of workspace %s skipped: another is running", workspace_id)
            return "busy"
        return await _maintain(workspace_id, db=db, owner_url=owner_url, policy=policy)


async def _maintain(
    workspace_id: uuid.UUID, *, db: Database, owner_url: str | None, policy: IndexPolicy
) -> str:
    async with db.transaction(workspace_id=workspace_id) as session:
        count = await chunk_repo.count_chunks(session, workspace_id)
        state = await index_state(session, workspace_id, policy)
    action = decision(count, state, policy)
    if action == "build":
        if state in ("outdated", "invalid"):  # both paths' CREATE ... IF NOT EXISTS would
            await _drop(workspace_id, db=db, owner_url=owner_url)  # keep the index as it is
        shape = {"m": policy.m, "ef_construction": policy.ef_construction}
        if owner_url:
            await indexes.build_concurrently(owner_url, workspace_id, **shape)
        else:
            async with db.transaction(workspace_id=workspace_id) as session:
                await indexes.build_as_definer(session, workspace_id, **shape)
        path = "concurrently" if owner_url else "definer"
        done = "rebuilt" if state == "outdated" else "built"
        log.info(
            "%s HNSW index for workspace %s (%d chunks, %s, m %d, ef_construction %d)",
            done,
            workspace_id,
            count,
            path,
            policy.m,
            policy.ef_construction,
        )
        return done
    if action == "drop":
        await _drop(workspace_id, db=db, owner_url=owner_url)
        log.info("dropped HNSW index for workspace %s (%d chunks)", workspace_id, count)
        return "dropped"
    return "unchanged"


async def _drop(workspace_id: uuid.UUID, *, db: Database, owner_url: str | None) -> None:
    if owner_url:
        await indexes.drop_concurrently(owner_url, workspace_id)
    else:
        async with db.transaction(workspace_id=workspace_id) as session:
            await indexes.drop_as_definer(session, workspace_id)
