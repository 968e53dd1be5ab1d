"""All SQL of the knowledge domain (documents, chunks, search). Index DDL lives in rag/indexing.py.

Callers pass a session whose tenant context is set; every statement still filters by
``workspace_id`` explicitly. Search statements inline the workspace id as a literal (from a
``uuid.UUID``, never from caller text) so that PostgreSQL can match a per-workspace partial
index even under a generic (prepared) plan.
"""

# ruff: noqa: S608  # SQL text only ever inlines a workspace_literal() of a uuid.UUID

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from rag.knowledge.models import Chunk, Document

INSERT_BATCH = 500


def workspace_literal(workspace_id: uuid.UUID) -> str:
    """The SQL literal for a workspace id; only a real ``uuid.UUID`` gets through."""
    if not isinstance(workspace_id, uuid.UUID):
        raise TypeError("workspace_id must be a uuid.UUID")
    return f"'{workspace_id}'::uuid"


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text input format for one vector."""
    values = np.asarray(vector, dtype=np.float32).ravel().tolist()
    return "[" + ",".join(f"{v:.7g}" for v in values) + "]"


def parse_vector(value: str) -> np.ndarray:
    return np.asarray(json.loads(value), dtype=np.float32)


# --- documents -------------------------------------------------------------------------------


async def insert_document(session: AsyncSession, document: Document) -> Document:
    session.add(document)
    await session.flush()
    return document


async def get_document(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Document | None:
    stmt = select(Document).where(Document.workspace_id == workspace_id, Document.id == document_id)
    if for_update:
        stmt = stmt.with_for_update()
    result = await session.execute(stmt.execution_options(populate_existing=True))
    return result.scalar_one_or_none()


async def get_body(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> bytes | None:
    result = await session.execute(
        select(Document.body).where(
            Document.workspace_id == workspace_id, Document.id == document_id
        )
    )
    return result.scalar_one_or_none()


async def find_by_hash(
    session: AsyncSession, workspace_id: uuid.UUID, content_hash: str
) -> Document | None:
    result = await session.execute(
        select(Document)
        .where(Document.workspace_id == workspace_id, Document.content_hash == content_hash)
        .order_by(Document.created_at)
        .limit(1)
    )
    return result.scalar_one_or_none()


async def find_by_source(
    session: AsyncSession, workspace_id: uuid.UUID, source_type: str, source: str
) -> Document | None:
    result = await session.execute(
        select(Document).where(
            Document.workspace_id == workspace_id,
            Document.source_type == source_type,
            Document.source == source,
        )
    )
    return result.scalar_one_or_none()


async def list_documents(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Document], int]:
    where = [Document.workspace_id == workspace_id]
    if status is not None:
        where.append(Document.status == status)
    total = (
        await session.execute(select(func.count()).select_from(Document).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(Document)
        .where(*where)
        .order_by(Document.created_at.desc(), Document.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), int(total)


async def update_document(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID, **values: Any
) -> None:
    await session.execute(
        update(Document)
        .where(Document.workspace_id == workspace_id, Document.id == document_id)
        .values(**values, updated_at=utcnow())
    )


async def delete_document(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> bool:
    result = await session.execute(
        delete(Document)
        .where(Document.workspace_id == workspace_id, Document.id == document_id)
        .returning(Document.id)
    )
    return result.scalar_one_or_none() is not None


async def count_documents(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count()).select_from(Document).where(Document.workspace_id == workspace_id)
    )
    return int(result.scalar_one())


async def count_chunks(
    session: AsyncSession, workspace_id: uuid.UUID, *, excluding_document: uuid.UUID | None = None
) -> int:
    stmt = select(func.count()).select_from(Chunk).where(Chunk.workspace_id == workspace_id)
    if excluding_document is not None:
        stmt = stmt.where(Chunk.document_id != excluding_document)
    return int((await session.execute(stmt)).scalar_one())


async def stale_documents(session: AsyncSession, workspace_id: uuid.UUID) -> list[uuid.UUID]:
    """Documents waiting for (or stuck in) processing."""
    result = await session.execute(
        select(Document.id).where(
            Document.workspace_id == workspace_id, Document.status.in_(("queued", "processing"))
        )
    )
    return list(result.scalars())


# --- chunks ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """A chunk to write: ``embedding`` is None when an existing row (``keep_id``) is reused."""

    position: int
    text: str
    metadata: dict[str, Any]
    token_count: int
    content_hash: str
    keep_id: uuid.UUID | None = None
    embedding: np.ndarray | None = None


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
) -> None:
    """Delete ``delete_ids``, update kept rows in place, insert the new ones (with vectors)."""
    if delete_ids:
        await session.execute(
            text("DELETE FROM chunks WHERE workspace_id = :ws AND id = ANY(:ids)"),
            {"ws": workspace_id, "ids": list(delete_ids)},
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
    for start in range(0, len(fresh), INSERT_BATCH):
        part = fresh[start : start + INSERT_BATCH]
        if any(r.embedding is None for r in part):
            raise ValueError("a new chunk needs its embedding")
        await session.execute(
            text(
                "INSERT INTO chunks (id, workspace_id, document_id, position, text, metadata,"
                " token_count, content_hash, embedding)"
                " SELECT u.id, :ws, :doc, u.pos, u.txt, u.meta::jsonb, u.tok, u.hash, u.emb::vector"
                " FROM unnest(CAST(:ids AS uuid[]), CAST(:pos AS int[]), CAST(:txt AS text[]),"
                " CAST(:meta AS text[]), CAST(:tok AS int[]), CAST(:hash AS text[]),"
                " CAST(:emb AS text[])) AS u(id, pos, txt, meta, tok, hash, emb)"
            ),
            {
                "ws": workspace_id,
                "doc": document_id,
                "ids": [uuid.uuid4() for _ in part],
                "pos": [r.position for r in part],
                "txt": [r.text for r in part],
                "meta": [json.dumps(r.metadata) for r in part],
                "tok": [r.token_count for r in part],
                "hash": [r.content_hash for r in part],
                "emb": [vector_text(r.embedding) for r in part if r.embedding is not None],
            },
        )


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
) -> list[tuple[uuid.UUID, str]]:
    """A page of (id, text) in id order: `trulybot reindex` walks a workspace with it."""
    stmt = select(Chunk.id, Chunk.text).where(Chunk.workspace_id == workspace_id)
    if after is not None:
        stmt = stmt.where(Chunk.id > after)
    result = await session.execute(stmt.order_by(Chunk.id).limit(limit))
    return [(row[0], row[1]) for row in result.all()]


async def set_embeddings(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    embeddings: np.ndarray,
) -> None:
    await session.execute(
        text(
            "UPDATE chunks AS c SET embedding = u.emb::vector"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:emb AS text[])) AS u(id, emb)"
            " WHERE c.id = u.id AND c.workspace_id = :ws"
        ),
        {"ws": workspace_id, "ids": list(ids), "emb": [vector_text(e) for e in embeddings]},
    )


# --- search ----------------------------------------------------------------------------------

SearchRow = tuple[uuid.UUID, uuid.UUID, str, dict[str, Any], float, float | None]

_OR_QUERY = "replace(plainto_tsquery('english', :query)::text, ' & ', ' | ')::tsquery"


async def set_ef_search(session: AsyncSession, ef_search: int) -> None:
    """Transaction-local ``hnsw.ef_search`` (harmless when no HNSW index is used)."""
    await session.execute(
        text("SELECT set_config('hnsw.ef_search', :v, true)"), {"v": str(int(ef_search))}
    )


def _vector_candidates(ws: str, limit_param: str) -> str:
    # The ORDER BY expression is exactly the indexed operator on the column, and the WHERE
    # clause is exactly a partial index's predicate: PostgreSQL uses that workspace's HNSW
    # index when it exists and the btree on workspace_id (exact) otherwise.
    return (
        "SELECT id, embedding <=> CAST(:qvec AS vector) AS dist FROM chunks"
        f" WHERE workspace_id = {ws} ORDER BY embedding <=> CAST(:qvec AS vector)"
        f" LIMIT :{limit_param}"
    )


def _fulltext_candidates(ws: str, limit_param: str) -> str:
    return (
        "SELECT c.id, ts_rank_cd(c.tsv, q.query) AS rank"
        f" FROM chunks c, (SELECT {_OR_QUERY} AS query) q"
        f" WHERE c.workspace_id = {ws} AND c.tsv @@ q.query"
        f" ORDER BY rank DESC, c.id LIMIT :{limit_param}"
    )


def _rows(result: Any) -> list[SearchRow]:
    return [
        (
            row.id,
            row.document_id,
            row.text,
            row.metadata,
            float(row.score),
            None if row.similarity is None else float(row.similarity),
        )
        for row in result.all()
    ]


async def vector_search(
    session: AsyncSession, workspace_id: uuid.UUID, query_vector: np.ndarray, k: int
) -> list[SearchRow]:
    ws = workspace_literal(workspace_id)
    result = await session.execute(
        text(
            "SELECT c.id, c.document_id, c.text, c.metadata, 1 - v.dist AS score,"
            " 1 - v.dist AS similarity"
            f" FROM ({_vector_candidates(ws, 'k')}) v JOIN chunks c ON c.id = v.id"
            f" WHERE c.workspace_id = {ws} ORDER BY v.dist, c.id"
        ),
        {"qvec": vector_text(query_vector), "k": k},
    )
    return _rows(result)


async def fulltext_search(
    session: AsyncSession, workspace_id: uuid.UUID, query: str, k: int
) -> list[SearchRow]:
    ws = workspace_literal(workspace_id)
    result = await session.execute(
        text(
            "SELECT c.id, c.document_id, c.text, c.metadata, f.rank AS score,"
            " NULL::float8 AS similarity"
            f" FROM ({_fulltext_candidates(ws, 'k')}) f JOIN chunks c ON c.id = f.id"
            f" WHERE c.workspace_id = {ws} ORDER BY f.rank DESC, c.id"
        ),
        {"query": query, "k": k},
    )
    return _rows(result)


async def hybrid_search(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    query: str,
    query_vector: np.ndarray,
    k: int,
    *,
    candidates: int,
    rrf_k: int = 60,
) -> list[SearchRow]:
    """Reciprocal rank fusion of the vector and full-text candidate lists, in one statement."""
    ws = workspace_literal(workspace_id)
    result = await session.execute(
        text(
            "WITH v AS (SELECT id, row_number() OVER (ORDER BY dist, id) AS r"
            f"  FROM ({_vector_candidates(ws, 'n')}) s),"
            " f AS (SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS r"
            f"  FROM ({_fulltext_candidates(ws, 'n')}) s),"
            " fused AS (SELECT id, sum(1.0 / (:rrf + r)) AS score"
            "  FROM (SELECT id, r FROM v UNION ALL SELECT id, r FROM f) u"
            "  GROUP BY id ORDER BY score DESC, id LIMIT :k)"
            " SELECT c.id, c.document_id, c.text, c.metadata, fused.score,"
            " 1 - (c.embedding <=> CAST(:qvec AS vector)) AS similarity"
            f" FROM fused JOIN chunks c ON c.id = fused.id WHERE c.workspace_id = {ws}"
            " ORDER BY fused.score DESC, c.id"
        ),
        {
            "qvec": vector_text(query_vector),
            "query": query,
            "n": candidates,
            "k": k,
            "rrf": rrf_k,
        },
    )
    return _rows(result)


async def document_sources(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    result = await session.execute(
        select(Document.id, Document.source).where(
            Document.workspace_id == workspace_id, Document.id.in_(list(ids))
        )
    )
    return {row[0]: row[1] for row in result.all()}
