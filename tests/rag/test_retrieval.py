"""Filtered retrieval at small scale: k results and recall@10 >= 0.95 for any workspace size."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.embedded import EmbeddedPostgres
from rag.knowledge import indexing, retrieval
from rag.knowledge.embeddings import LocalEmbedder
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import indexes
from rag.knowledge.repository import search as search_repo
from tests.conftest import Owner, RuntimeFactory, client_for, insert_document, signup

DIM = 384
POLICY = indexing.IndexPolicy(build_threshold=1000, drop_threshold=500)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _vectors(rng: np.random.Generator, n: int, centers: np.ndarray) -> np.ndarray:
    picks = rng.integers(0, len(centers), size=n)
    return _unit(centers[picks] + 0.08 * rng.standard_normal((n, DIM)).astype(np.float32))


async def _workspace(owner_db: Database, n: int, rng: np.random.Generator, db: Database) -> Any:
    ws = uuid.uuid4()
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO workspaces (id, name, slug, plan, public_key)"
                " VALUES (:id, 'r', :slug, 'unlimited', :pk)"
            ),
            {"id": ws, "slug": f"r-{ws.hex[:12]}", "pk": f"pk_{ws.hex}"},
        )
    doc = await insert_document(owner_db, ws)
    centers = _unit(rng.standard_normal((20, DIM)).astype(np.float32))
    vectors = _vectors(rng, n, centers)
    rows = [
        chunk_repo.ChunkRow(
            position=i,
            text=f"chunk {i}",
            metadata={"title": "t"},
            token_count=2,
            content_hash=str(i),
            embedding=vectors[i],
        )
        for i in range(n)
    ]
    async with db.transaction(workspace_id=ws) as session:  # as the app role, through RLS
        await chunk_repo.replace_chunks(session, ws, doc, rows, [])
        ids = [cid for cid, _ in await chunk_repo.chunk_hashes(session, ws, doc)]
    return ws, vectors, ids, centers


async def _recall(
    db: Database, ws: uuid.UUID, vectors: np.ndarray, ids: list[uuid.UUID], queries: np.ndarray
) -> tuple[float, float]:
    recalls, counts = [], []
    for q in queries:
        exact = {ids[i] for i in np.argsort(-(vectors @ q))[:10]}
        async with db.transaction(workspace_id=ws) as session:
            hits = await retrieval.search(
                session,
                workspace_id=ws,
                query="",
                query_embedding=q,
                k=10,
                mode="vector",
                weights=retrieval.Weights(),
                per_document=False,
            )
        counts.append(len(hits))
        recalls.append(len({h.chunk_id for h in hits} & exact) / 10)
        assert all(h.similarity is not None for h in hits)
    return float(np.mean(recalls)), float(np.mean(counts))


async def _plan(db: Database, ws: uuid.UUID, q: np.ndarray) -> str:
    """The plan of the vector query as a prepared statement under a forced generic plan."""
    where = chunk_repo.workspace_literal(ws)
    sql = "SELECT id FROM chunks WHERE workspace_id = %s ORDER BY embedding <=> $1::vector LIMIT 10"
    sql = sql % where
    async with db.transaction(workspace_id=ws) as session:
        await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        await session.execute(text(f"PREPARE tb_probe(text) AS {sql}"))
        rows = await session.execute(
            text(f"EXPLAIN EXECUTE tb_probe('{chunk_repo.vector_text(q)}')")
        )
        plan = "\n".join(r[0] for r in rows)
        await session.execute(text("DEALLOCATE tb_probe"))
    return plan


async def _feedback_plan(db: Database, ws: uuid.UUID, q: np.ndarray) -> str:
    statement = search_repo.feedback_statement(ws)
    params = {
        "qvec": chunk_repo.vector_value(q),
        "scaled": chunk_repo.vector_value(q * 4),
        "fb": retrieval.FEEDBACK_CHUNKS,
        "k": 40,
    }
    async with db.transaction(workspace_id=ws) as session:
        rows = await session.execute(text(f"EXPLAIN {statement.text}"), params)
        return "\n".join(r[0] for r in rows)


async def test_filtered_recall_tiny_mid_and_large_workspaces(
    db: Database, owner_db: Database, pg: EmbeddedPostgres
) -> None:
    rng = np.random.default_rng(3)
    large, large_v, large_ids, large_c = await _workspace(owner_db, 5000, rng, db)
    tiny, tiny_v, tiny_ids, tiny_c = await _workspace(owner_db, 25, rng, db)
    mid, mid_v, mid_ids, mid_c = await _workspace(owner_db, 1500, rng, db)
    async with owner_db.transaction() as session:
        await session.execute(text("ANALYZE chunks"))

    # The large one gets its index through the SECURITY DEFINER path (app role only) ...
    assert await indexing.maintain(large, db=db, owner_url=None, policy=POLICY) == "built"
    # ... the mid-size one through an owner connection (CREATE INDEX CONCURRENTLY).
    assert await indexing.maintain(mid, db=db, owner_url=pg.owner_url(), policy=POLICY) == "built"
    assert await indexing.maintain(tiny, db=db, owner_url=None, policy=POLICY) == "unchanged"
    async with db.transaction(workspace_id=mid) as session:
        assert await indexes.index_state(session, mid) == "valid"
        assert await indexes.index_state(session, tiny) is None

    for ws, v, ids, centers in (
        (tiny, tiny_v, tiny_ids, tiny_c),
        (mid, mid_v, mid_ids, mid_c),
        (large, large_v, large_ids, large_c),
    ):
        queries = _vectors(rng, 20, centers)
        recall, count = await _recall(db, ws, v, ids, queries)
        assert count == 10, ws
        assert recall >= 0.95, (ws, recall)

    q = _vectors(rng, 1, mid_c)[0]
    assert indexes.index_name(mid) in await _plan(db, mid, q)
    # Pseudo-relevance feedback's one statement: both of its scans on the workspace's index.
    feedback_plan = await _feedback_plan(db, mid, q)
    assert feedback_plan.count(indexes.index_name(mid)) == 2, feedback_plan
    tiny_plan = await _plan(db, tiny, q)
    assert "hnsw" not in tiny_plan
    assert indexes.INDEX_PREFIX not in tiny_plan

    # Shrinking below the drop threshold removes the index again.
    async with db.transaction(workspace_id=mid) as session:
        await chunk_repo.replace_chunks(session, mid, uuid.uuid4(), [], mid_ids[:1200])
    assert await indexing.maintain(mid, db=db, owner_url=None, policy=POLICY) == "dropped"
    async with db.transaction(workspace_id=mid) as session:
        assert await indexes.index_state(session, mid) is None


async def test_modes_return_hits_with_citation_fields(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime, db: Database
) -> None:
    r = await client.post(
        owner.url("/documents"),
        files={
            "file": (
                "faq.md",
                b"# FAQ\n\n## Delivery\n\nParcels arrive in 3 days.\n",
                "text/markdown",
            )
        },
        headers=owner.headers,
    )
    assert r.status_code == 202
    await runtime.jobs.drain()
    ws = uuid.UUID(owner.workspace_id)
    q = await runtime.embedder.embed_query("parcels arrive")
    async with db.transaction(workspace_id=ws) as session:
        for mode in retrieval.MODES:
            hits = await retrieval.search(
                session,
                workspace_id=ws,
                query="parcels arrive",
                query_embedding=q,
                k=3,
                mode=mode,
                weights=retrieval.Weights(),
            )
            assert hits, mode
            assert hits[0].title == "FAQ"
            assert hits[0].heading_path == ["FAQ", "Delivery"]
            assert (hits[0].similarity is None) == (mode == "fulltext")
    with pytest.raises(ValueError, match="embedding"):
        async with db.transaction(workspace_id=ws) as session:
            await retrieval.search(
                session,
                workspace_id=ws,
                query="x",
                query_embedding=None,
                k=3,
                mode="vector",
                weights=retrieval.Weights(),
            )


async def test_real_local_embedder_end_to_end(runtime_factory: RuntimeFactory) -> None:
    async with (
        runtime_factory(embedder=LocalEmbedder()) as runtime,
        client_for(runtime) as client,
    ):
        await _local_embedder_end_to_end(client, await signup(client), runtime)


async def _local_embedder_end_to_end(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    jobs = runtime.jobs
    docs = {
        "Shipping": "Orders are delivered within three to five working days across India.",
        "Returns": "You can send an item back within thirty days for a full refund.",
        "Careers": "We are hiring backend engineers who enjoy PostgreSQL.",
    }
    for title, body in docs.items():
        r = await client.post(
            owner.url("/documents"), json={"title": title, "text": body}, headers=owner.headers
        )
        assert r.status_code == 202
    await jobs.drain()
    response = await client.post(
        owner.url("/search"),
        json={"query": "how long until my package shows up?", "k": 3, "mode": "vector"},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0]["title"] == "Shipping"
    assert results[0]["similarity"] > results[-1]["similarity"]


async def test_ef_search_is_set_with_the_tenant_for_that_transaction_only(db: Database) -> None:
    """The pipeline sets the search's hnsw.ef_search in the transaction's first statement
    (``local``), then searches with ``ef_search=None``: the value is the one ``search`` sets."""
    ws = uuid.uuid4()
    ef = retrieval.ef_search_for(10, "vector")
    assert ef == max(indexing.EF_SEARCH, 4 * retrieval.candidate_count(10))
    assert retrieval.ef_search_for(10, "hybrid") >= retrieval.hybrid_candidates(ef // 4)
    async with db.transaction(workspace_id=ws, local={"hnsw.ef_search": str(ef)}) as session:
        row = (
            await session.execute(
                text(
                    "SELECT current_setting('hnsw.ef_search'), current_setting('app.workspace_id')"
                )
            )
        ).one()
        assert tuple(row) == (str(ef), str(ws))
        assert (
            await retrieval.search(
                session,
                workspace_id=ws,
                query="",
                query_embedding=np.ones(DIM, dtype=np.float32),
                k=10,
                mode="vector",
                weights=retrieval.Weights(),
                ef_search=None,
            )
            == []
        )
    async with db.transaction(workspace_id=ws) as session:
        value = (await session.execute(text("SELECT current_setting('hnsw.ef_search')"))).scalar()
        assert value != str(ef)  # transaction-local: the next transaction has the default
    with pytest.raises(ValueError, match="invalid setting name"):
        async with db.transaction(local={"x'); DROP TABLE chunks; --": "1"}):
            pass


@pytest.mark.parametrize(
    ("mode", "per_document"), [("vector", True), ("vector", False), ("hybrid", True)]
)
async def test_the_largest_k_searches_within_pgvectors_ef_search_maximum(
    client: httpx.AsyncClient,
    owner: Owner,
    runtime: Runtime,
    mode: retrieval.Mode,
    per_document: bool,
) -> None:
    """k = MAX_K asks for up to 1,600 candidates; pgvector's hnsw.ef_search stops at 1,000
    (set_config refuses more: a 500), so the search sets at most MAX_EF_SEARCH."""
    for n in range(3):
        r = await client.post(
            owner.url("/documents"),
            json={"title": f"Page {n}", "text": f"Refunds take {n + 3} working days."},
            headers=owner.headers,
        )
        assert r.status_code == 202, r.text
    await runtime.jobs.drain()
    response = await client.post(
        owner.url("/search"),
        json={"query": "refunds", "k": retrieval.MAX_K, "mode": mode, "per_document": per_document},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 3
    assert retrieval.ef_search_for(retrieval.MAX_K, mode) == search_repo.MAX_EF_SEARCH
