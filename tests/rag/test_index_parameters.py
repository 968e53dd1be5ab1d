"""The partial HNSW index's build parameters: the measured ones, and an index built with others
is built again by the maintenance (docs/retrieval.md, "Fifteenth session: HNSW build parameters
on several graphs")."""

from __future__ import annotations

import numpy as np
import pytest

from core.db import Database
from core.embedded import EmbeddedPostgres
from rag.knowledge import indexing
from rag.knowledge.repository import indexes
from tests.rag.test_retrieval import _workspace

THRESHOLDS = {"build_threshold": 300, "drop_threshold": 150}
MEASURED = (16, 200)


def test_the_workspace_index_is_built_with_the_measured_parameters() -> None:
    assert (indexing.HNSW_M, indexing.HNSW_EF_CONSTRUCTION) == MEASURED
    assert (indexing.DEFAULT_POLICY.m, indexing.DEFAULT_POLICY.ef_construction) == MEASURED


def test_an_outdated_index_is_rebuilt_while_it_stays_and_dropped_when_it_goes() -> None:
    policy = indexing.IndexPolicy(**THRESHOLDS)
    assert indexing.decision(400, "outdated", policy) == "build"
    assert indexing.decision(200, "outdated", policy) == "build"  # between the thresholds
    assert indexing.decision(100, "outdated", policy) == "drop"
    assert indexing.decision(200, "valid", policy) == "unchanged"


@pytest.mark.parametrize("path", ["owner", "definer"])
async def test_an_index_built_with_other_parameters_is_built_again(
    db: Database, owner_db: Database, pg: EmbeddedPostgres, path: str
) -> None:
    rng = np.random.default_rng(12)
    ws, *_ = await _workspace(owner_db, 400, rng, db)
    owner_url = pg.owner_url() if path == "owner" else None
    before = indexing.IndexPolicy(**THRESHOLDS, m=16, ef_construction=64)
    policy = indexing.IndexPolicy(**THRESHOLDS)
    assert await indexing.maintain(ws, db=db, owner_url=owner_url, policy=before) == "built"
    async with db.transaction(workspace_id=ws) as session:
        assert await indexes.build_parameters(session, ws) == (16, 64)
        assert await indexing.maintenance_due(session, ws, policy)

    assert await indexing.maintain(ws, db=db, owner_url=owner_url, policy=policy) == "rebuilt"
    async with db.transaction(workspace_id=ws) as session:
        assert await indexes.index_state(session, ws) == "valid"
        assert await indexes.build_parameters(session, ws) == MEASURED
        assert not await indexing.maintenance_due(session, ws, policy)
    assert await indexing.maintain(ws, db=db, owner_url=owner_url, policy=policy) == "unchanged"
