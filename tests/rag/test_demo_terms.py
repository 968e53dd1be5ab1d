"""`make run`'s demo workspace (api.demo.seed) is searched with the BM25 fusion whenever
RETRIEVAL_LEXICAL_WEIGHT is above 0: seeded fresh, its chunks' terms are stored by the ingestion
job; seeded by a release (or at a weight) that stored none, the next start stores them, since the
search fuses only a workspace whose chunks all have terms (docs/retrieval.md, twelfth session).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import text

from api.demo.seed import DEMO_EMAIL, ensure_demo
from core.db import Database
from rag.knowledge import lexical
from rag.knowledge.repository import search as search_repo
from tests.conftest import RuntimeFactory

QUESTION = "Does it work on Linux?"  # one of the demo's suggested questions


async def _terms(owner_db: Database, ws: uuid.UUID) -> tuple[int, int, int]:
    """(chunks, chunks without terms, the workspace's knowledge version)."""
    async with owner_db.transaction() as session:
        found = await session.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE term_count IS NULL),"
                " (SELECT knowledge_version FROM workspaces WHERE id = :ws)"
                " FROM chunks WHERE workspace_id = :ws"
            ),
            {"ws": ws},
        )
        chunks, without, version = found.one()
    return int(chunks), int(without), int(version)


async def _fused(runtime_factory: RuntimeFactory, tmp_path: Path, ws: uuid.UUID) -> bool:
    """Whether the demo's search runs the BM25 side (its statement answers, not None)."""
    async with runtime_factory(data_dir=tmp_path) as runtime:
        query = await runtime.embedder.embed_query(QUESTION)
        async with runtime.db.transaction(workspace_id=ws) as session:
            rows = await search_repo.lexical_search(
                session,
                ws,
                lexical.query_terms(QUESTION),
                query,
                40,
                k1=lexical.K1,
                b=lexical.B,
                postings=lexical.POSTINGS,
            )
    return rows is not None and len(rows) > 0


async def test_the_demo_gets_its_terms_seeded_fresh_and_after_an_older_seeding(
    runtime_factory: RuntimeFactory, owner_db: Database, tmp_path: Path
) -> None:
    on, off = {"retrieval_lexical_weight": 0.3}, {"retrieval_lexical_weight": 0.0}
    try:
        async with runtime_factory(data_dir=tmp_path, **on) as runtime:
            ws = uuid.UUID((await ensure_demo(runtime))["workspace_id"])
        chunks, without, _ = await _terms(owner_db, ws)
        assert (chunks > 0, without) == (True, 0)
        assert await _fused(runtime_factory, tmp_path, ws)
        # As a release before the flip left it (seeded with the weight at 0): no terms.
        async with owner_db.transaction() as session:
            await session.execute(
                text("DELETE FROM chunk_terms WHERE workspace_id = :ws"), {"ws": ws}
            )
            await session.execute(
                text("UPDATE chunks SET term_count = NULL WHERE workspace_id = :ws"), {"ws": ws}
            )
        assert not await _fused(runtime_factory, tmp_path, ws)  # the vector order
        _, _, version = await _terms(owner_db, ws)
        async with runtime_factory(data_dir=tmp_path, **off) as runtime:
            await ensure_demo(runtime)  # the weight at 0 stores nothing
        assert await _terms(owner_db, ws) == (chunks, chunks, version)
        async with runtime_factory(data_dir=tmp_path, **on) as runtime:
            assert (await ensure_demo(runtime))["workspace_id"] == str(ws)
        _, without, bumped = await _terms(owner_db, ws)
        assert (without, bumped > version) == (0, True)  # cached answers retire
        assert await _fused(runtime_factory, tmp_path, ws)
        async with runtime_factory(data_dir=tmp_path, **on) as runtime:
            await ensure_demo(runtime)  # stored already: nothing to do
        assert await _terms(owner_db, ws) == (chunks, 0, bumped)
    finally:  # the demo owner is one per database: leave none for another test
        async with owner_db.transaction() as session:
            await session.execute(
                text(
                    "DELETE FROM workspaces WHERE id IN (SELECT workspace_id FROM memberships"
                    " WHERE user_id = (SELECT id FROM users WHERE email = :e))"
                ),
                {"e": DEMO_EMAIL},
            )
            await session.execute(text("DELETE FROM users WHERE email = :e"), {"e": DEMO_EMAIL})
