"""Two maintenances of one workspace's vector index at once (a job and `trulybot reindex`, or
two jobs with JOBS_PER_WORKSPACE above 1) while the index is rebuilt: one does the work, the
other is a no-op ('busy'), never an error (before: "deadlock detected" between the concurrent
drop and build on the owner path, a duplicate pg_class name on the definer path)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sqlalchemy import text

from core.db import Database
from core.embedded import EmbeddedPostgres
from rag.knowledge import indexing
from rag.knowledge.repository import indexes
from tests.rag.test_retrieval import _workspace

THRESHOLDS = {"build_threshold": 300, "drop_threshold": 150}
OLD = indexing.IndexPolicy(**THRESHOLDS, m=16, ef_construction=64)
POLICY = indexing.IndexPolicy(**THRESHOLDS)


@pytest.mark.parametrize(
    "paths", [("owner", "owner"), ("definer", "definer"), ("owner", "definer")]
)
async def test_two_rebuilds_at_once_leave_one_valid_index_and_no_error(
    db: Database, owner_db: Database, pg: EmbeddedPostgres, paths: tuple[str, str]
) -> None:
    ws, *_ = await _workspace(owner_db, 2000, np.random.default_rng(13), db)
    assert await indexing.maintain(ws, db=db, owner_url=pg.owner_url(), policy=OLD) == "built"
    urls = [pg.owner_url() if path == "owner" else None for path in paths]
    outcomes = await asyncio.gather(
        *(indexing.maintain(ws, db=db, owner_url=url, policy=POLICY) for url in urls),
        return_exceptions=True,
    )
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert "rebuilt" in outcomes
    assert set(outcomes) <= {"rebuilt", "busy", "unchanged"}
    async with db.transaction(workspace_id=ws) as session:
        assert await indexes.index_state(session, ws) == "valid"
        assert await indexes.build_parameters(session, ws) == (16, 200)


@pytest.mark.parametrize("holder", ["owner", "definer"])
async def test_a_maintenance_while_another_holds_the_lock_changes_nothing(
    db: Database, owner_db: Database, pg: EmbeddedPostgres, holder: str
) -> None:
    ws, *_ = await _workspace(owner_db, 400, np.random.default_rng(14), db)
    assert await indexing.maintain(ws, db=db, owner_url=pg.owner_url(), policy=OLD) == "built"
    holder_url = pg.owner_url() if holder == "owner" else None
    async with indexes.maintenance_lock(db, holder_url, ws) as held:
        assert held
        for url in (pg.owner_url(), None):  # the same lock on either path
            assert await indexing.maintain(ws, db=db, owner_url=url, policy=POLICY) == "busy"
        async with db.transaction(workspace_id=ws) as session:
            assert await indexes.build_parameters(session, ws) == (16, 64)
    # Released: the next maintenance rebuilds.
    assert await indexing.maintain(ws, db=db, owner_url=None, policy=POLICY) == "rebuilt"


def test_an_invalid_index_between_the_thresholds_is_built_again() -> None:
    assert indexing.decision(200, "invalid", POLICY) == "build"
    assert indexing.decision(100, "invalid", POLICY) == "drop"
    assert indexing.decision(200, None, POLICY) == "unchanged"  # hysteresis: none is built


@pytest.mark.parametrize("path", ["owner", "definer"])
async def test_a_rebuild_that_died_half_way_is_repaired_between_the_thresholds(
    db: Database, owner_db: Database, pg: EmbeddedPostgres, path: str
) -> None:
    """A concurrent build killed mid-way (a deploy restarting the worker during the upgrade's
    rebuild) leaves an INVALID index; the workspace (200 chunks: between the thresholds) was
    searched exactly for good, and the definer's CREATE INDEX IF NOT EXISTS kept it invalid."""
    ws, *_ = await _workspace(owner_db, 200, np.random.default_rng(15), db)
    async with owner_db.transaction() as session:  # the superuser marks what a dead CIC leaves
        await session.execute(
            text(
                f"CREATE INDEX {indexes.index_name(ws)} ON chunks USING hnsw"
                " (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 200)"
                f" WHERE workspace_id = '{ws}'::uuid"
            )
        )
        await session.execute(
            text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = CAST(:i AS regclass)"),
            {"i": indexes.index_name(ws)},
        )
    owner_url = pg.owner_url() if path == "owner" else None
    assert await indexing.maintain(ws, db=db, owner_url=owner_url, policy=POLICY) == "built"
    async with db.transaction(workspace_id=ws) as session:
        assert await indexes.index_state(session, ws) == "valid"
        assert await indexes.build_parameters(session, ws) == (16, 200)
        assert not await indexing.maintenance_due(session, ws, POLICY)
