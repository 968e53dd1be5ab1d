"""SQL of the chunks table: chunks written, rewritten and read back, with their vectors.

Vectors are written in pgvector's text form (``vector_text``); a vector a statement reads with
is bound as a ``real[]`` cast to ``vector`` (``vector_param`` in Core statements, ``vector_sql``
in SQL text, the value from ``vector_array``); a vector read into Python comes back in binary
(``vector_bytes``, decoded by ``vector_from_bytes``); a statement that must match a
per-workspace partial index inlines the workspace id as a literal (``workspace_literal``, from a
``uuid.UUID``, never from caller text) so PostgreSQL can use it even under a generic plan.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import REAL, bindparam, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from rag.knowledge.models import Chunk

INSERT_BATCH = 500


def workspace_literal(workspace_id: uuid.UUID) -> str:
    """The SQL literal for a workspace id; only a real ``uuid.UUID`` gets through."""
    if not isinstance(workspace_id, uuid.UUID):
        raise TypeError("workspace_id must be a uuid.UUID")
    return f"'{workspace_id}'::uuid"


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text input format for one vector."""
    return "[" + ",".join(f"{v:.7g}" for v in vector_array(vector)) + "]"


# A vector bound as a float4[] (asyncpg's binary array encoding) and cast to a vector: the same
# float32 components as pgvector's text form of it, without formatting 384 floats as decimal
# text (about 1 ms of CPU per vector).


def vector_array(vector: np.ndarray) -> list[float]:
    """One vector as the float4[] value of a ``vector_param`` or ``vector_sql`` parameter."""
    return np.asarray(vector, dtype=np.float32).ravel().tolist()


def vector_param(name: str, vector_type: Any = VECTOR) -> Any:
    """A Core bind parameter ``name`` for one vector, a float4[] cast to ``vector_type``."""
    return cast(bindparam(name, type_=ARRAY(REAL)), vector_type)


def vector_sql(name: str) -> str:
    """The same as ``vector_param``, in SQL text: parameter ``:name`` cast to a vector."""
    return f"CAST(CAST(:{name} AS real[]) AS vector)"


# A vector read back in pgvector's binary form (its type's send function: int16 dimensions,
# int16 unused, then float4 big-endian components) instead of its text form: the same float32
# components, without the driver handing over 384 decimals a row to parse in Python (2,000
# rows' vectors were about 0.2 s of CPU on the event loop as text).
_VECTOR_HEADER = 4
_BIG_ENDIAN_FLOAT4 = np.dtype(">f4")


def vector_bytes(column: Any) -> Any:
    """A Core expression reading the vector ``column`` as ``bytea`` (``vector_from_bytes``)."""
    return func.vector_send(column)


def vector_from_bytes(data: bytes | None) -> np.ndarray | None:
    """A vector read by ``vector_bytes`` as a float32 array (None for a NULL vector)."""
    if data is None:
        return None
    big_endian = np.frombuffer(data, dtype=_BIG_ENDIAN_FLOAT4, offset=_VECTOR_HEADER)
    return big_endian.astype(np.float32)


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


async def outdated_documents(
    session: AsyncSession, workspace_id: uuid.UUID, embed_format: int
) -> list[uuid.UUID]:
    """Documents with chunks embedded in an older format than ``embed_format`` (a chunk without
    ``embed_format`` in its metadata predates format 2; format 3 titles man pages by NAME)."""
    result = await session.execute(
        text(
            "SELECT DISTINCT document_id FROM chunks WHERE workspace_id = :ws"
            " AND coalesce((metadata->>'embed_format')::int, 1) < :fmt ORDER BY document_id"
        ),
        {"ws": workspace_id, "fmt": embed_format},
    )
    return [row[0] for row in result.all()]


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
