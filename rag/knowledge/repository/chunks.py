"""SQL of the chunks table: chunks written, rewritten and read back, with their vectors.

Vectors travel in pgvector's binary form, through the codec every connection of the app has
(``core.vector_codec``): a vector parameter (``vector_param`` in Core statements, ``vector_sql``
in SQL text, the value from ``vector_value``; many at once as a ``vector[]``, ``vector_values``)
reaches PostgreSQL as the same float32 components, bit for bit; a vector read into Python comes
back as a float32 array (the column selected as it is). A statement that must match a
per-workspace partial index inlines the workspace id as a literal (``workspace_literal``, from a
``uuid.UUID``, never from caller text) so PostgreSQL can use it even under a generic plan.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Integer, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import vector_codec
from rag.knowledge import lexical
from rag.knowledge.models import Chunk
from rag.knowledge.repository import terms as terms_repo

INSERT_BATCH = 500


def workspace_literal(workspace_id: uuid.UUID) -> str:
    """The SQL literal for a workspace id; only a real ``uuid.UUID`` gets through."""
    if not isinstance(workspace_id, uuid.UUID):
        raise TypeError("workspace_id must be a uuid.UUID")
    return f"'{workspace_id}'::uuid"


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text input format for one vector, for a SQL literal (tests, benches): 9
    significant digits, the float32 components exactly. The app binds vectors in binary."""
    return "[" + ",".join(f"{v:.9g}" for v in np.asarray(vector, dtype=np.float32).ravel()) + "]"


def vector_value(vector: Any) -> bytes:
    """One vector as the value of a ``vector_param`` or ``vector_sql`` parameter."""
    return vector_codec.pack(np.asarray(vector, dtype=np.float32).ravel())


def vector_values(vectors: Any) -> list[bytes]:
    """Vectors (the rows of a matrix, or a sequence of arrays) as a ``vector[]`` parameter."""
    return vector_codec.pack_rows(np.asarray(vectors, dtype=np.float32))


def vector_param(name: str, vector_type: Any = None) -> Any:
    """A Core bind parameter ``name`` for one vector (typed ``vector`` by its own cast)."""
    return bindparam(name, type_=vector_type or vector_codec.BinaryVector())


def vector_sql(name: str) -> str:
    """The same as ``vector_param``, in SQL text: parameter ``:name`` cast to a vector."""
    return f"CAST(:{name} AS vector)"


async def count_chunks(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    excluding_document: uuid.UUID | None = None,
    of_document: uuid.UUID | None = None,
    without_vector: bool = False,
) -> int:
    stmt = select(func.count()).select_from(Chunk).where(Chunk.workspace_id == workspace_id)
    if without_vector:  # only while a dimension change is under way (`trulybot reindex`)
        stmt = stmt.where(text("chunks.embedding IS NULL"))
    if excluding_document is not None:
        stmt = stmt.where(Chunk.document_id != excluding_document)
    if of_document is not None:
        stmt = stmt.where(Chunk.document_id == of_document)
    return int((await session.execute(stmt)).scalar_one())


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk to write: ``embedding`` is None when an existing row (``keep_id``) is reused.
    ``terms``: its BM25 terms (``lexical.chunk_terms``), computed by ``replace_chunks`` when
    None (a caller computes them before its transaction to keep it short)."""

    position: int
    text: str
    metadata: dict[str, Any]
    token_count: int
    content_hash: str
    keep_id: uuid.UUID | None = None
    embedding: np.ndarray | None = None
    terms: Counter[str] | None = None


async def chunk_hashes(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> list[tuple[uuid.UUID, str]]:
    result = await session.execute(
        select(Chunk.id, Chunk.content_hash)
        .where(Chunk.workspace_id == workspace_id, Chunk.document_id == document_id)
        .order_by(Chunk.position)
    )
    return [(row[0], row[1]) for row in result.all()]


async def replace_chunks(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    rows: Sequence[ChunkRow],
    delete_ids: Sequence[uuid.UUID],
    *,
    with_terms: bool = False,
) -> bool:
    """Delete ``delete_ids``, update kept rows in place, insert the new ones (with vectors).
    ``with_terms`` (RETRIEVAL_LEXICAL_WEIGHT above 0): every written row's BM25 terms are
    stored with it (``terms.store_terms``); else none are, and a kept row's are forgotten
    (its metadata, in the embedded text, may have changed): term_count NULL until
    ``trulybot reindex``, the search keeps the vector order for the workspace meanwhile.
    Returns whether a kept row's ``term_count`` changed (its terms stored or forgotten): the
    caller bumps the knowledge version then, as for any added or deleted row. The workspace's
    statistics row is taken before any chunk row (``terms.lock_statistics``)."""
    await terms_repo.lock_statistics(session, workspace_id)
    if delete_ids:
        statement = text("DELETE FROM chunks WHERE workspace_id = :ws AND id = ANY(:ids)")
        params = {"ws": workspace_id, "ids": list(delete_ids)}
        await terms_repo.repairing_drift(
            session, workspace_id, lambda: session.execute(statement, params)
        )
    kept = [r for r in rows if r.keep_id is not None]
    for start in range(0, len(kept), INSERT_BATCH):
        part = kept[start : start + INSERT_BATCH]
        await session.execute(
            text(
                "UPDATE chunks AS c SET position = u.pos, metadata = u.meta::jsonb"
                " FROM unnest(CAST(:ids AS uuid[]), CAST(:pos AS int[]), CAST(:meta AS text[]))"
                " AS u(id, pos, meta) WHERE c.id = u.id AND c.workspace_id = :ws"
            ),
            {
                "ws": workspace_id,
                "ids": [r.keep_id for r in part],
                "pos": [r.position for r in part],
                "meta": [json.dumps(r.metadata) for r in part],
            },
        )
    fresh = [r for r in rows if r.keep_id is None]
    fresh_ids = [uuid.uuid4() for _ in fresh]
    for start in range(0, len(fresh), INSERT_BATCH):
        part = fresh[start : start + INSERT_BATCH]
        if any(r.embedding is None for r in part):
            raise ValueError("a new chunk needs its embedding")
        await session.execute(
            text(
                "INSERT INTO chunks (id, workspace_id, document_id, position, text, metadata,"
                " token_count, content_hash, embedding)"
                " SELECT u.id, :ws, :doc, u.pos, u.txt, u.meta::jsonb, u.tok, u.hash, u.emb"
                " FROM unnest(CAST(:ids AS uuid[]), CAST(:pos AS int[]), CAST(:txt AS text[]),"
                " CAST(:meta AS text[]), CAST(:tok AS int[]), CAST(:hash AS text[]),"
                " CAST(:emb AS vector[])) AS u(id, pos, txt, meta, tok, hash, emb)"
            ),
            {
                "ws": workspace_id,
                "doc": document_id,
                "ids": fresh_ids[start : start + INSERT_BATCH],
                "pos": [r.position for r in part],
                "txt": [r.text for r in part],
                "meta": [json.dumps(r.metadata) for r in part],
                "tok": [r.token_count for r in part],
                "hash": [r.content_hash for r in part],
                "emb": vector_values([r.embedding for r in part]),
            },
        )
    written = [(r.keep_id, r) for r in kept if r.keep_id is not None]
    if not with_terms:
        return await terms_repo.forget_terms(
            session, workspace_id, [chunk_id for chunk_id, _ in written]
        )
    written += list(zip(fresh_ids, fresh, strict=True))
    terms = [
        (chunk_id, r.terms if r.terms is not None else lexical.chunk_terms(r.text, r.metadata))
        for chunk_id, r in written
    ]
    return await terms_repo.store_terms(session, workspace_id, terms)


async def list_chunks(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Chunk], int]:
    where = (Chunk.workspace_id == workspace_id, Chunk.document_id == document_id)
    total = (
        await session.execute(select(func.count()).select_from(Chunk).where(*where))
    ).scalar_one()
    result = await session.execute(
        select(Chunk).where(*where).order_by(Chunk.position).limit(limit).offset(offset)
    )
    return list(result.scalars()), int(total)


async def iter_chunk_texts(
    session: AsyncSession, workspace_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID, str, dict[str, Any]]]:
    """A page of (id, document_id, text, metadata) in id order: `trulybot reindex` walks a
    workspace with it."""
    stmt = select(Chunk.id, Chunk.document_id, Chunk.text, Chunk.metadata_).where(
        Chunk.workspace_id == workspace_id
    )
    if after is not None:
        stmt = stmt.where(Chunk.id > after)
    result = await session.execute(stmt.order_by(Chunk.id).limit(limit))
    return [(row[0], row[1], row[2], row[3] or {}) for row in result.all()]


def _older_format(embed_format: int) -> ColumnElement[bool]:
    """A chunk embedded in an older format than ``embed_format``: one without ``embed_format``
    in its metadata predates format 2 (format 3 titles man pages by NAME)."""
    stored = func.coalesce(Chunk.metadata_["embed_format"].astext.cast(Integer), 1)
    return stored < embed_format


async def outdated_documents(
    session: AsyncSession, workspace_id: uuid.UUID, embed_format: int
) -> list[uuid.UUID]:
    """Documents with chunks embedded in an older format than ``embed_format``."""
    result = await session.execute(
        select(Chunk.document_id)
        .where(Chunk.workspace_id == workspace_id, _older_format(embed_format))
        .distinct()
        .order_by(Chunk.document_id)
    )
    return list(result.scalars())


async def has_outdated_chunks(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID, embed_format: int
) -> bool:
    """Whether ``document_id`` has chunks of an older format than ``embed_format`` (those
    ``outdated_documents`` lists it for)."""
    older = (
        select(Chunk.id)
        .where(
            Chunk.workspace_id == workspace_id,
            Chunk.document_id == document_id,
            _older_format(embed_format),
        )
        .exists()
    )
    return bool((await session.execute(select(older))).scalar_one())


async def set_embeddings(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    embeddings: np.ndarray,
) -> None:
    """New vectors for chunks (`trulybot reindex`), in one statement. The workspace's
    statistics row first (``terms.lock_statistics``), as every writer of its chunks takes it:
    an ingestion holding it deletes a document's leftover chunks and then updates its kept
    ones, and this statement, locking them in its own order, would hold one and want another."""
    await terms_repo.lock_statistics(session, workspace_id)
    await session.execute(
        text(
            "UPDATE chunks AS c SET embedding = u.emb"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:emb AS vector[])) AS u(id, emb)"
            " WHERE c.id = u.id AND c.workspace_id = :ws"
        ),
        {"ws": workspace_id, "ids": list(ids), "emb": vector_values(embeddings)},
    )
