"""Grouped search ranks a page by its two best candidate chunks (RETRIEVAL_SECOND_CHUNK_WEIGHT).

A page with two relevant passages comes before a page with one slightly better passage; a page
with one strong passage is not buried under pages with two weaker ones; 0 gives back the order
of each page's best chunk. Chosen by docs/retrieval.md ("What was chosen").
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from core.db import Database
from rag.knowledge import retrieval
from rag.knowledge.repository import chunks as chunk_repo
from tests.conftest import RuntimeFactory, client_for, insert_document, signup


def _hit(document: uuid.UUID, score: float) -> retrieval.Hit:
    return retrieval.Hit(
        chunk_id=uuid.uuid4(),
        document_id=document,
        title="",
        url=None,
        page=None,
        heading_path=[],
        text="",
        score=score,
        similarity=score,
    )


def test_a_page_with_two_relevant_passages_outranks_one_slightly_better_passage() -> None:
    once, twice, strong, filler = (uuid.uuid4() for _ in range(4))
    hits = [
        _hit(strong, 0.90),
        _hit(once, 0.80),  # a release note that mentions the topic once
        _hit(twice, 0.78),  # the page about it, two passages
        _hit(twice, 0.76),
        _hit(filler, 0.60),
        _hit(filler, 0.58),
        _hit(filler, 0.50),  # the lowest candidate: a lone chunk's second
    ]
    grouped = retrieval.group_by_document(hits, 3, second_weight=0.5)
    # strong 0.90 + 0.25 = 1.15, twice 0.78 + 0.38 = 1.16, once 0.80 + 0.25 = 1.05
    assert [h.document_id for h in grouped] == [twice, strong, once]
    assert [h.score for h in grouped] == [0.78, 0.90, 0.80]  # each page keeps its best chunk
    best_first = retrieval.group_by_document(hits, 3)
    assert [h.document_id for h in best_first] == [strong, once, twice]
    # More than two passages add nothing beyond the second; filler stays last.
    assert retrieval.group_by_document(hits, None, 0.5)[-1].document_id == filler
    assert retrieval.group_by_document([], 3, 0.5) == []
    # Each page carries its second best candidate chunk (a reranker's second chunk), in both
    # orders; a page with one candidate carries none.
    for grouped_hits in (grouped, best_first):
        seconds = {h.document_id: h.second for h in grouped_hits}
        assert seconds == {strong: None, once: None, twice: hits[3]}
    assert retrieval.group_by_document(hits, None)[-1].second == hits[5]


def _at_cosine(q: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine to the unit vector ``q`` is exactly ``cosine``."""
    noise = rng.standard_normal(q.shape[0]).astype(np.float64)
    noise -= (noise @ q) * q
    noise /= np.linalg.norm(noise)
    return (cosine * q + np.sqrt(1.0 - cosine**2) * noise).astype(np.float32)


async def unit_query(runtime: Any, query: str) -> np.ndarray:
    """The runtime embedder's vector of ``query``, as float64 of unit length."""
    q = np.asarray(await runtime.embedder.embed_query(query), dtype=np.float64)
    return q / np.linalg.norm(q)


async def insert_page(
    owner_db: Database, db: Database, ws: uuid.UUID, title: str, vectors: list[np.ndarray]
) -> str:
    doc = await insert_document(owner_db, ws, title)
    rows = [
        chunk_repo.ChunkRow(
            position=i,
            text=f"{title} passage {i}",
            metadata={"title": title},
            token_count=3,
            content_hash=f"{title}-{i}",
            embedding=v,
        )
        for i, v in enumerate(vectors)
    ]
    async with db.transaction(workspace_id=ws) as session:
        await chunk_repo.replace_chunks(session, ws, doc, rows, [])
    return str(doc)


async def test_search_api_and_the_setting(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    query = "how do refunds for annual plans work"
    for weight, expected in ((None, ["Refunds", "Changelog"]), (0.0, ["Changelog", "Refunds"])):
        overrides = {} if weight is None else {"retrieval_second_chunk_weight": weight}
        async with runtime_factory(**overrides) as runtime, client_for(runtime) as client:
            owner = await signup(client)
            ws = uuid.UUID(owner.workspace_id)
            q = await unit_query(runtime, query)
            rng = np.random.default_rng(7)
            ids = {
                "Changelog": await insert_page(
                    owner_db, db, ws, "Changelog", [_at_cosine(q, 0.80, rng)]
                ),
                "Refunds": await insert_page(
                    owner_db, db, ws, "Refunds", [_at_cosine(q, c, rng) for c in (0.78, 0.76)]
                ),
                "Other": await insert_page(
                    owner_db, db, ws, "Other", [_at_cosine(q, c, rng) for c in (0.3, 0.2)]
                ),
            }
            r = await client.post(
                owner.url("/search"),
                json={"query": query, "k": 2, "mode": "vector"},
                headers=owner.headers,
            )
            assert r.status_code == 200, r.text
            found = [h["document_id"] for h in r.json()["results"]]
            assert found == [ids[name] for name in expected], weight
            # Chunk-level results are untouched: best chunk first.
            r = await client.post(
                owner.url("/search"),
                json={"query": query, "k": 3, "mode": "vector", "per_document": False},
                headers=owner.headers,
            )
            assert [h["document_id"] for h in r.json()["results"]] == [
                ids["Changelog"],
                ids["Refunds"],
                ids["Refunds"],
            ]


def test_the_setting_defaults_to_the_chosen_weight() -> None:
    from core.config import Settings

    field = Settings.model_fields["retrieval_second_chunk_weight"]
    assert field.default == retrieval.SECOND_CHUNK_WEIGHT == 0.5


def test_fewer_pages_than_k_are_filled_with_their_next_best_chunks() -> None:
    """Chat's passages (``fill``): one per page first, in the pages' order; when the candidates
    hold fewer than k pages, the best remaining chunks follow, each once; with k pages or more
    nothing is added."""
    manual, faq = uuid.uuid4(), uuid.uuid4()
    hits = [
        _hit(manual, 0.81),
        _hit(manual, 0.80),
        _hit(faq, 0.79),
        _hit(manual, 0.70),
        _hit(faq, 0.40),
        _hit(manual, 0.30),
    ]
    grouped = retrieval.group_by_document(hits, 5, second_weight=0.5)
    assert [h.document_id for h in grouped] == [manual, faq]
    filled = retrieval.fill_from(grouped, hits, 5)
    assert filled[:2] == grouped
    assert [h.score for h in filled] == [0.81, 0.79, 0.80, 0.70, 0.40]
    assert len({h.chunk_id for h in filled}) == 5
    assert retrieval.fill_from(grouped, hits, 2) == grouped
    assert retrieval.fill_from(grouped, hits[:3], 5) == [*grouped, hits[1]]  # all there are
