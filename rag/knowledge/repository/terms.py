"""SQL of the chunks' terms (BM25, ``rag.knowledge.lexical``): ``chunk_terms`` rows and
``chunks.term_count``, written in the transaction that writes the chunks, deleted with them
(``ON DELETE CASCADE``). The per-workspace statistics the search reads (``lexical_stats``:
chunks, total length, chunks without terms; ``lexical_df``: each term's chunk count) are kept
by migration 0048's triggers on both tables, in the writing statement: no writer here (or any
cascade) keeps them by hand, so they cannot drift. A change of them changes the BM25
order, so whoever changes them bumps the knowledge version (the key of cached answers) in the
same transaction: the writers report whether a ``term_count`` changed."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

TERMS_BATCH = 20_000
"""``chunk_terms`` rows per INSERT (about 100 per chunk)."""


async def lock_statistics(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Take the workspace's ``lexical_stats`` row (migration 0048) until the commit, before any
    chunk row: its triggers take it at the end of each statement writing chunks or terms, so a
    writer that locked chunk rows first (``chunks_without_terms``, a rewrite's kept rows) and
    one that holds the stats row and wants those chunks would deadlock. No row yet: no chunk to
    wait for either."""
    await session.execute(
        text("SELECT 1 FROM lexical_stats WHERE workspace_id = :ws FOR NO KEY UPDATE"),
        {"ws": workspace_id},
    )


async def store_terms(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    chunks: Sequence[tuple[uuid.UUID, Counter[str]]],
) -> bool:
    """Replace the terms of ``chunks`` (id, term counts) and set their ``term_count``; whether
    a chunk's ``term_count`` changed (a kept chunk whose terms were not stored: the caller bumps
    the knowledge version, the key of cached answers, as the BM25 order may have changed)."""
    if not chunks:
        return False
    ids = [chunk_id for chunk_id, _ in chunks]
    await session.execute(
        text("DELETE FROM chunk_terms WHERE workspace_id = :ws AND chunk_id = ANY(:ids)"),
        {"ws": workspace_id, "ids": ids},
    )
    rows = [
        (chunk_id, term, tf, sum(counts.values()))
        for chunk_id, counts in chunks
        for term, tf in counts.items()
    ]
    for start in range(0, len(rows), TERMS_BATCH):
        part = rows[start : start + TERMS_BATCH]
        await session.execute(
            text(
                "INSERT INTO chunk_terms (workspace_id, chunk_id, term, tf, len)"
                " SELECT :ws, u.id, u.term, u.tf, u.len FROM unnest(CAST(:ids AS uuid[]),"
                " CAST(:terms AS text[]), CAST(:tfs AS int[]), CAST(:lens AS int[]))"
                " AS u(id, term, tf, len)"
            ),
            {
                "ws": workspace_id,
                "ids": [r[0] for r in part],
                "terms": [r[1] for r in part],
                "tfs": [r[2] for r in part],
                "lens": [r[3] for r in part],
            },
        )
    result = await session.execute(
        text(
            "UPDATE chunks AS c SET term_count = u.n"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:ns AS int[])) AS u(id, n)"
            " WHERE c.id = u.id AND c.workspace_id = :ws"
            " AND c.term_count IS DISTINCT FROM u.n"
        ),
        {
            "ws": workspace_id,
            "ids": ids,
            "ns": [sum(counts.values()) for _, counts in chunks],
        },
    )
    return bool(getattr(result, "rowcount", 0))


async def forget_terms(
    session: AsyncSession, workspace_id: uuid.UUID, chunk_ids: Sequence[uuid.UUID]
) -> bool:
    """Delete the terms of ``chunk_ids`` and set their ``term_count`` NULL (rewritten while the
    weight is 0: their stored terms may no longer be theirs); whether any had terms."""
    if not chunk_ids:
        return False
    params = {"ws": workspace_id, "ids": list(chunk_ids)}
    await session.execute(
        text("DELETE FROM chunk_terms WHERE workspace_id = :ws AND chunk_id = ANY(:ids)"), params
    )
    result = await session.execute(
        text(
            "UPDATE chunks SET term_count = NULL WHERE workspace_id = :ws AND id = ANY(:ids)"
            " AND term_count IS NOT NULL"
        ),
        params,
    )
    return bool(getattr(result, "rowcount", 0))


async def chunks_without_terms(
    session: AsyncSession, workspace_id: uuid.UUID, *, limit: int
) -> list[tuple[uuid.UUID, str, dict[str, object]]]:
    """Up to ``limit`` chunks (id, text, metadata) whose terms were never stored (written by a
    release before 0047), locked until the transaction ends (a document deleted meanwhile
    waits): ``trulybot reindex`` fills them in the same transaction. The workspace's statistics
    row first (``lock_statistics``): storing them takes it."""
    await lock_statistics(session, workspace_id)
    result = await session.execute(
        text(
            "SELECT id, text, metadata FROM chunks WHERE workspace_id = :ws"
            " AND term_count IS NULL ORDER BY id LIMIT :n FOR UPDATE"
        ),
        {"ws": workspace_id, "n": limit},
    )
    return [(row[0], row[1], row[2] or {}) for row in result.all()]
