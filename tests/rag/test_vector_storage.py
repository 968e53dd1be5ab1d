"""Vectors are stored as the model made them, bit for bit: every path that writes one (a
document's chunks at ingestion, chunks and FAQ variants re-embedded after a model change, a
turn's unanswered question) and the search's query vector keep each float32 component, and a
vector read back comes out as the same float32 components."""

from __future__ import annotations

import uuid

import httpx
import numpy as np
from sqlalchemy import text

from api.runtime import Runtime
from core import vector_codec
from core.db import Database
from rag.chat.models import Faq, FaqQuestion
from rag.chat.repository import faqs as faq_repo
from rag.knowledge.chunking import stored_embedding_text
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import search as search_repo
from tests.conftest import Owner, insert_chunks, insert_document, runtime_of

DIM = 384


def _full_precision(seed: int, n: int) -> np.ndarray:
    """Unit vectors whose components need all 9 significant digits of a float32: at 7 digits
    (a decimal text form) hundreds of a row's 384 components come back as another float32."""
    rows = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rounded = np.array([[float(f"{v:.7g}") for v in row] for row in rows], dtype=np.float32)
    assert (rounded != rows).sum(axis=1).min() > 10  # the data really tells 7 digits from 9
    return rows


def _differing(stored: np.ndarray, made: np.ndarray) -> int:
    """How many components differ in their bits (0: stored exactly as made)."""
    a = np.ascontiguousarray(stored, dtype=np.float32).view(np.uint32)
    b = np.ascontiguousarray(made, dtype=np.float32).view(np.uint32)
    assert a.shape == b.shape
    return int((a != b).sum())


async def _stored(db: Database, ws: uuid.UUID, sql: str, ids: list[uuid.UUID]) -> np.ndarray:
    """The vectors of ``ids`` (in that order) as PostgreSQL holds them: its binary send form,
    not a text rendering that could round."""
    async with db.transaction(workspace_id=ws) as session:
        rows = (await session.execute(text(sql), {"ids": ids, "ws": ws})).all()
    by_id = {row[0]: vector_codec.unpack(row[1]) for row in rows}
    return np.stack([by_id[i] for i in ids])


CHUNK_VECTORS = (
    "SELECT id, vector_send(embedding) FROM chunks WHERE workspace_id = :ws AND id = ANY(:ids)"
)


async def test_an_ingested_documents_vectors_are_the_models_bit_for_bit(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    runtime: Runtime = runtime_of(client)
    words = " ".join(f"w{i}x{(i * 7919) % 104729}" for i in range(600))  # hundreds of buckets
    response = await client.post(
        owner.url("/documents"),
        json={"title": "Precision", "text": f"Opening hours and prices. {words}"},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    await runtime.jobs.drain()
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=ws) as session:
        rows = (
            await session.execute(
                text(
                    "SELECT id, text, metadata FROM chunks WHERE workspace_id = :ws"
                    " ORDER BY position"
                ),
                {"ws": ws},
            )
        ).all()
    assert len(rows) >= 2
    made = await runtime.embedder.embed_documents(
        [stored_embedding_text(row[1], row[2]) for row in rows]
    )
    stored = await _stored(runtime.db, ws, CHUNK_VECTORS, [row[0] for row in rows])
    assert stored.dtype == np.float32
    assert _differing(stored, made) == 0


async def test_rewritten_chunk_and_faq_vectors_are_stored_bit_for_bit(
    db: Database, owner_db: Database, owner: Owner
) -> None:
    ws = uuid.UUID(owner.workspace_id)
    doc = await insert_document(owner_db, ws)
    first, second = _full_precision(11, 3), _full_precision(12, 3)
    ids = await insert_chunks(db, ws, doc, first)
    assert _differing(await _stored(db, ws, CHUNK_VECTORS, ids), first) == 0

    async with db.transaction(workspace_id=ws) as session:  # a model change's re-embedding
        await chunk_repo.set_embeddings(session, ws, ids, second)
    assert _differing(await _stored(db, ws, CHUNK_VECTORS, ids), second) == 0

    async with db.transaction(workspace_id=ws) as session:
        faq = Faq(id=uuid.uuid4(), workspace_id=ws, question="q", answer="a")
        await faq_repo.insert_faq(session, faq)
        variants = [uuid.uuid4() for _ in range(3)]
        for i, vid in enumerate(variants):
            session.add(
                FaqQuestion(id=vid, workspace_id=ws, faq_id=faq.id, text="q", normalized=f"q{i}")
            )
    async with db.transaction(workspace_id=ws) as session:
        await faq_repo.set_embeddings(
            session, workspace_id=ws, table="faq_questions", ids=variants, vectors=first
        )
    faq_vectors = (
        "SELECT id, vector_send(embedding) FROM faq_questions"
        " WHERE workspace_id = :ws AND id = ANY(:ids)"
    )
    assert _differing(await _stored(db, ws, faq_vectors, variants), first) == 0


async def test_search_scores_are_the_cosine_of_the_exact_query_vector(
    db: Database, owner_db: Database, owner: Owner
) -> None:
    """The query vector reaches PostgreSQL as the same float32 components: its similarity to
    a chunk holding exactly that vector is 1 to float32 accuracy, and the ranking is numpy's."""
    ws = uuid.UUID(owner.workspace_id)
    doc = await insert_document(owner_db, ws)
    vectors = _full_precision(21, 40)
    ids = await insert_chunks(db, ws, doc, vectors)
    query = vectors[5]
    async with db.transaction(workspace_id=ws) as session:
        hits = await search_repo.vector_search(session, ws, query, 10)
    expected = np.argsort(-(vectors @ query), kind="stable")[:10]
    assert [h[0] for h in hits] == [ids[i] for i in expected]
    for hit, i in zip(hits, expected, strict=True):
        assert abs(hit[4] - float(vectors[i] @ query)) < 1e-6


async def test_a_vector_column_reads_back_as_float32_components(
    runtime: Runtime, owner: Owner
) -> None:
    """A vector column selected as it is (no ``vector_send``) decodes to a float32 array of the
    stored components, through the app's own connections."""
    ws = uuid.UUID(owner.workspace_id)
    vector = _full_precision(31, 1)[0]
    async with runtime.db.transaction(workspace_id=ws) as session:
        faq = Faq(id=uuid.uuid4(), workspace_id=ws, question="q", answer="a")
        await faq_repo.insert_faq(session, faq)
        session.add(
            FaqQuestion(
                id=uuid.uuid4(),
                workspace_id=ws,
                faq_id=faq.id,
                text="q",
                normalized="q-read",
                embedding=vector,
            )
        )
    async with runtime.db.transaction(workspace_id=ws) as session:
        read = (
            await session.execute(
                text("SELECT embedding FROM faq_questions WHERE faq_id = :f"), {"f": faq.id}
            )
        ).scalar_one()
    assert isinstance(read, np.ndarray)
    assert read.dtype == np.float32
    assert _differing(read, vector) == 0
