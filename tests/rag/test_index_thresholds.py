"""When a workspace gets its own HNSW index: at the measured thresholds (docs/retrieval.md,
"Sixteenth session: the exact-scan band"), and a workspace the previous thresholds left to the
exact scan gets its index from the next maintenance, on both DDL paths."""

from __future__ import annotations

import numpy as np
import pytest

from core.db import Database
from core.embedded import EmbeddedPostgres
from rag.knowledge import indexing
from rag.knowledge.repository import indexes
from tests.rag.test_retrieval import _workspace

MEASURED = (5_000, 2_500)
BEFORE = indexing.IndexPolicy(build_threshold=10_000, drop_threshold=5_000)


def test_the_thresholds_are_the_measured_ones() -> None:
    assert (indexing.BUILD_THRESHOLD, indexing.DROP_THRESHOLD) == MEASURED
    policy = indexing.DEFAULT_POLICY
    assert (policy.build_threshold, policy.drop_threshold) == MEASURED


@pytest.mark.parametrize(
    ("count", "state", "action"),
    [
        (4_999, None, "unchanged"),  # searched exactly
        (5_000, None, "build"),
        (9_999, None, "build"),  # the band the previous thresholds left exact
        (2_500, "valid", "unchanged"),  # hysteresis: kept between the thresholds
        (2_499, "valid", "drop"),
    ],
)
def test_the_default_policy_at_its_lines(count: int, state: str | None, action: str) -> None:
    assert indexing.decision(count, state) == action


@pytest.mark.parametrize("path", ["owner", "definer"])
async def test_a_workspace_left_exact_by_the_old_thresholds_gets_its_index(
    db: Database, owner_db: Database, pg: EmbeddedPostgres, path: str
) -> None:
    """5,000 chunks and no index: what the previous release left (nothing was due under its
    10,000). Under today's policy the maintenance is due (the next ingestion or deletion
    enqueues it; `trulybot reindex` runs it) and builds the index."""
    ws, *_ = await _workspace(owner_db, MEASURED[0], np.random.default_rng(16), db)
    owner_url = pg.owner_url() if path == "owner" else None
    async with db.transaction(workspace_id=ws) as session:
        assert await indexes.index_state(session, ws) is None
        assert not await indexing.maintenance_due(session, ws, BEFORE)
        assert await indexing.maintenance_due(session, ws)

    assert await indexing.maintain(ws, db=db, owner_url=owner_url) == "built"
    async with db.transaction(workspace_id=ws) as session:
        assert await indexes.index_state(session, ws) == "valid"
        assert not await indexing.maintenance_due(session, ws)
