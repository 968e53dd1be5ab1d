"""Grouped vector search with pseudo-relevance feedback (RETRIEVAL_FEEDBACK_WEIGHT, Rocchio).

The query vector moves towards the mean of its FEEDBACK_CHUNKS best candidate chunks and the
candidates are fetched again: a page whose passage resembles the best matches overtakes a page
with a slightly closer but unrelated passage; the hits' ``similarity`` (what chat's "don't know"
threshold reads) stays the cosine to the question itself; 0 gives back one search. Chosen by
docs/retrieval.md ("Fourth session").
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from core.db import Database
from rag.knowledge import retrieval
from rag.knowledge.repository import search as search_repo
from tests.conftest import RuntimeFactory, client_for, signup
from tests.rag.test_page_ranking import insert_page, unit_query


def test_feedback_vector_is_the_normalized_rocchio_sum() -> None:
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    centroid = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    moved = retrieval.feedback_vector(q, centroid, 0.25)
    expected = np.array([1.15, 0.2, 0.0]) / np.linalg.norm([1.15, 0.2, 0.0])
    assert np.allclose(moved, expected, atol=1e-6)
    assert np.allclose(retrieval.feedback_vector(q, centroid, 0.0), q)


def test_the_setting_defaults_to_the_chosen_weight() -> None:
    from core.config import Settings

    field = Settings.model_fields["retrieval_feedback_weight"]
    assert field.default == retrieval.FEEDBACK_WEIGHT == 0.25
    assert retrieval.FEEDBACK_CHUNKS == 10


def _basis(q: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to the unit ``q`` and to each other."""
    out: list[np.ndarray] = []
    for _ in range(2):
        v = rng.standard_normal(q.shape[0])
        for u in [q, *out]:
            v -= (v @ u) * u
        out.append(v / np.linalg.norm(v))
    return out[0], out[1]


@pytest.mark.parametrize("weight", [None, 0.0])
async def test_feedback_lifts_the_page_that_resembles_the_best_matches(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database, weight: float | None
) -> None:
    query = "can I pause my subscription while travelling"
    overrides = {} if weight is None else {"retrieval_feedback_weight": weight}
    async with runtime_factory(**overrides) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        q = await unit_query(runtime, query)
        topic, elsewhere = _basis(q, np.random.default_rng(11))
        # The decoy is the closest passage but points away from everything else that matches;
        # the answer is a little further and points where the other matches point (the topic).
        ids = {
            "Decoy": await insert_page(owner_db, db, ws, "Decoy", [0.80 * q + 0.60 * elsewhere]),
            "Answer": await insert_page(owner_db, db, ws, "Answer", [0.78 * q + 0.626 * topic]),
        }
        for n in range(4):
            ids[f"Related {n}"] = await insert_page(
                owner_db, db, ws, f"Related {n}", [0.60 * q + 0.80 * topic] * 2
            )
        r = await client.post(
            owner.url("/search"),
            json={"query": query, "k": 3, "mode": "vector"},
            headers=owner.headers,
        )
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        found = [h["document_id"] for h in results]
        if weight is None:  # the default: Answer 0.78 + 0.25 x 0.94 over Decoy 0.80 + 0.25 x 0.55
            assert found[:2] == [ids["Answer"], ids["Decoy"]]
            assert results[0]["score"] > 0.85  # the cosine to the moved query vector...
        else:
            assert found[:2] == [ids["Decoy"], ids["Answer"]]
        answer = next(h for h in results if h["document_id"] == ids["Answer"])
        assert answer["similarity"] == pytest.approx(0.78, abs=1e-3)  # ...to the question's


async def test_one_statement_matches_the_rocchio_reference_within_the_workspace(
    db: Database, owner_db: Database, runtime_factory: RuntimeFactory
) -> None:
    """feedback_search's order and scores are those of ranking every chunk of the workspace by
    the cosine to ``feedback_vector(q, mean of q's 10 nearest, 0.25)`` in numpy; another
    workspace's chunks, nearer the question than any of this one's, move nothing."""
    async with runtime_factory() as runtime, client_for(runtime) as client:
        mine, theirs = await signup(client), await signup(client)
    ws, other = uuid.UUID(mine.workspace_id), uuid.UUID(theirs.workspace_id)
    rng = np.random.default_rng(29)
    dims = 384
    q = rng.standard_normal(dims).astype(np.float32)
    q /= np.linalg.norm(q)
    # 60 chunks on 12 pages at assorted angles to q (cosines spread over about 0.1-0.9).
    pages: list[list[np.ndarray]] = []
    for _ in range(12):
        chunks = []
        for _ in range(5):
            noise = rng.standard_normal(dims).astype(np.float32)
            noise -= (noise @ q) * q
            noise /= np.linalg.norm(noise)
            c = float(rng.uniform(0.1, 0.9))
            chunks.append((c * q + np.sqrt(1 - c * c) * noise).astype(np.float32))
        pages.append(chunks)
    for n, chunks in enumerate(pages):
        await insert_page(owner_db, db, ws, f"Mine {n}", chunks)
    await insert_page(owner_db, db, other, "Theirs", [q] * 8)  # nearer than any of mine

    vectors = np.stack([v for chunks in pages for v in chunks])
    sims = vectors @ q
    centroid = vectors[np.argsort(-sims)[: retrieval.FEEDBACK_CHUNKS]].mean(axis=0)
    moved = retrieval.feedback_vector(q, centroid, 0.25)
    scores = vectors @ moved
    expected = np.argsort(-scores)[:20]

    async with db.transaction(workspace_id=ws) as session:
        hits = await retrieval.feedback_candidates(
            session, workspace_id=ws, query_embedding=q, n=20, weight=0.25
        )
    assert [h.text for h in hits] == [f"Mine {i // 5} passage {i % 5}" for i in expected]
    assert [h.score for h in hits] == pytest.approx(scores[expected].tolist(), abs=1e-5)
    assert [h.similarity for h in hits] == pytest.approx(sims[expected].tolist(), abs=1e-5)
    # The feedback changed the order (else this test could not tell the two apart).
    assert list(expected) != list(np.argsort(-sims)[:20])

    async with db.transaction(workspace_id=ws) as session:
        with pytest.raises(ValueError, match="positive weight"):
            await search_repo.feedback_search(session, ws, q, 5, weight=0.0, feedback_chunks=10)
