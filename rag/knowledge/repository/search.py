"""Search over one workspace's chunks: vector, full text, and both fused by reciprocal rank.

The statements inline the workspace id as a literal (``chunks.workspace_literal``) so that
PostgreSQL matches a workspace's partial HNSW index even under a generic (prepared) plan.
"""

# ruff: noqa: S608  # SQL text only ever inlines a workspace_literal() of a uuid.UUID

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from rag.knowledge.repository.chunks import vector_text, workspace_literal

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
    session: AsyncSession,
    workspace_id: uuid.UUID,
    query_vector: np.ndarray,
    k: int,
    *,
    similarity_vector: np.ndarray | None = None,
) -> list[SearchRow]:
    """The ``k`` chunks nearest ``query_vector``; ``score`` is their cosine similarity to it,
    ``similarity`` to ``similarity_vector`` (default: the same vector)."""
    ws = workspace_literal(workspace_id)
    similarity = "1 - v.dist"
    params: dict[str, Any] = {"qvec": vector_text(query_vector), "k": k}
    if similarity_vector is not None:
        similarity = "1 - (c.embedding <=> CAST(:svec AS vector))"
        params["svec"] = vector_text(similarity_vector)
    result = await session.execute(
        text(
            "SELECT c.id, c.document_id, c.text, c.metadata, 1 - v.dist AS score,"
            f" {similarity} AS similarity"
            f" FROM ({_vector_candidates(ws, 'k')}) v JOIN chunks c ON c.id = v.id"
            f" WHERE c.workspace_id = {ws} ORDER BY v.dist, c.id"
        ),
        params,
    )
    return _rows(result)


async def mean_embedding(
    session: AsyncSession, workspace_id: uuid.UUID, chunk_ids: Sequence[uuid.UUID]
) -> np.ndarray | None:
    """The mean of these chunks' vectors (None without any)."""
    if not chunk_ids:
        return None
    result = await session.execute(
        text(
            "SELECT avg(embedding)::text FROM chunks"
            f" WHERE workspace_id = {workspace_literal(workspace_id)} AND id = ANY(:ids)"
        ),
        {"ids": list(chunk_ids)},
    )
    value = result.scalar_one_or_none()
    if value is None:
        return None
    return np.asarray([float(x) for x in value.strip("[]").split(",")], dtype=np.float32)


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
