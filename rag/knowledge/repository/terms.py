"""SQL of the chunks' terms (BM25, ``rag.knowledge.lexical``): ``chunk_terms`` rows and
``chunks.term_count``, written in the transaction that writes the chunks, deleted with them
(``ON DELETE CASCADE``). The per-workspace statistics the search reads (``lexical_stats``:
chunks, total length, chunks without terms; ``lexical_df``: each term's chunk count) are kept by
migration 0048's triggers on both tables, in the writing statement: no writer here (or any
cascade) keeps them by hand. Only what the triggers cannot see (a data-only restore with them
on, rows moved by hand) makes them drift: ``repairing_drift`` and ``trulybot recount-lexical``
repair that (docs/retrieval.md, "Fourteenth session: BM25 within a postings budget (product)").
A change of them changes the BM25 order, so whoever changes them bumps the knowledge version
(the key of cached answers) in the same transaction: the writers report whether a ``term_count``
changed."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db_reach import sqlstate

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    the knowledge version, the key of cached answers, as the BM25 order may have changed).
    The caller holds the stats row (``lock_statistics``): deleting the old terms and updating
    ``term_count`` count the kept statistics down, so drift below the rows is repaired
    (``repairing_drift``) rather than failing a re-ingestion or ``trulybot reindex``."""
    if not chunks:
        return False
    return await repairing_drift(
        session, workspace_id, lambda: _store_terms(session, workspace_id, chunks)
    )


async def _store_terms(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    chunks: Sequence[tuple[uuid.UUID, Counter[str]]],
) -> bool:
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
    weight is 0: their stored terms may no longer be theirs); whether any had terms. The caller
    holds the stats row; drift below the rows is repaired as in ``store_terms``."""
    if not chunk_ids:
        return False
    return await repairing_drift(
        session, workspace_id, lambda: _forget_terms(session, workspace_id, chunk_ids)
    )


async def _forget_terms(
    session: AsyncSession, workspace_id: uuid.UUID, chunk_ids: Sequence[uuid.UUID]
) -> bool:
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


@dataclass(frozen=True)
class Recount:
    """What ``recount_statistics`` found: the kept counts before and the true ones (chunks,
    total terms, chunks without terms) and how many terms' frequencies it corrected."""

    kept: tuple[int, int, int]
    counted: tuple[int, int, int]
    terms_corrected: int

    @property
    def changed(self) -> bool:
        return self.kept != self.counted or self.terms_corrected > 0


async def recount_statistics(session: AsyncSession, workspace_id: uuid.UUID) -> Recount:
    """Count the workspace's ``lexical_stats`` and ``lexical_df`` again from its ``chunks`` and
    ``chunk_terms`` and write what differs: the repair of drift the triggers cannot see (a
    data-only restore with triggers on, rows moved by hand). The stats row is taken first
    (``lock_statistics``; written first when missing), so no writer of the workspace's chunks
    or terms runs meanwhile; the caller holds no chunk row it did not lock after it."""
    ws = {"ws": workspace_id}
    await session.execute(
        text(
            "INSERT INTO lexical_stats (workspace_id, chunks, total_terms, chunks_without_terms)"
            " VALUES (:ws, 0, 0, 0) ON CONFLICT (workspace_id) DO NOTHING"
        ),
        ws,
    )
    kept = (
        await session.execute(
            text(
                "SELECT chunks, total_terms, chunks_without_terms FROM lexical_stats"
                " WHERE workspace_id = :ws FOR NO KEY UPDATE"
            ),
            ws,
        )
    ).one()
    counted = (
        await session.execute(
            text(
                "SELECT count(*), coalesce(sum(term_count), 0),"
                " count(*) FILTER (WHERE term_count IS NULL) FROM chunks"
                " WHERE workspace_id = :ws"
            ),
            ws,
        )
    ).one()
    if tuple(kept) != tuple(counted):
        await session.execute(
            text(
                "UPDATE lexical_stats SET chunks = :c, total_terms = :t,"
                " chunks_without_terms = :w WHERE workspace_id = :ws"
            ),
            {**ws, "c": counted[0], "t": counted[1], "w": counted[2]},
        )
    # Terms whose kept frequency is wrong or missing, then terms no chunk has any more.
    upserted = await session.execute(
        text(
            "INSERT INTO lexical_df AS l (workspace_id, term, df)"
            " SELECT :ws, t.term, t.n FROM (SELECT term, count(*) AS n FROM chunk_terms"
            "  WHERE workspace_id = :ws GROUP BY term) t"
            " LEFT JOIN lexical_df k ON k.workspace_id = :ws AND k.term = t.term"
            " WHERE k.df IS DISTINCT FROM t.n ORDER BY t.term"
            " ON CONFLICT (workspace_id, term) DO UPDATE SET df = EXCLUDED.df"
        ),
        ws,
    )
    removed = await session.execute(
        text(
            "DELETE FROM lexical_df k WHERE k.workspace_id = :ws AND NOT EXISTS"
            " (SELECT 1 FROM chunk_terms t WHERE t.workspace_id = :ws AND t.term = k.term)"
        ),
        ws,
    )
    corrected = int(getattr(upserted, "rowcount", 0)) + int(getattr(removed, "rowcount", 0))
    return Recount(
        kept=(int(kept[0]), int(kept[1]), int(kept[2])),
        counted=(int(counted[0]), int(counted[1]), int(counted[2])),
        terms_corrected=corrected,
    )


RECOUNT_COMMAND = "trulybot recount-lexical"


KEPT_TABLES = ("lexical_stats", "lexical_df")
CHECK_VIOLATION = "23514"


def _drifted(error: IntegrityError) -> bool:
    """A CHECK of the kept statistics broken by a statement's triggers: the counts were below
    the rows (drift the triggers cannot see, ``recount_statistics``). Decided by the SQLSTATE
    and the table PostgreSQL names, not the message text (in the server's language)."""
    if sqlstate(error) != CHECK_VIOLATION:
        return False
    return getattr(getattr(error.orig, "__cause__", None), "table_name", None) in KEPT_TABLES


async def repairing_drift(
    session: AsyncSession, workspace_id: uuid.UUID, statement: Callable[[], Awaitable[T]]
) -> T:
    """Run ``statement`` (deleting the workspace's chunks, or rewriting their terms; the caller
    took the stats row, ``lock_statistics``) in a savepoint; when its triggers break a CHECK of
    the kept statistics (they had drifted below the rows), count the workspace's statistics
    again in this transaction (it holds their lock already), log a WARNING naming the command that
    repairs the others, and run it once more. The user's deletion goes through rather than
    answering 500; a failure again (it should not) is logged as an ERROR and raised."""
    try:
        async with session.begin_nested():
            return await statement()
    except IntegrityError as error:
        if not _drifted(error):
            raise
    started = time.perf_counter()
    recount = await recount_statistics(session, workspace_id)
    log.warning(
        "lexical statistics of workspace %s had drifted from its chunks (kept %s, counted %s,"
        " %d terms' frequencies corrected): recounted in %.0f ms; run `%s` to check every"
        " workspace",
        workspace_id,
        recount.kept,
        recount.counted,
        recount.terms_corrected,
        (time.perf_counter() - started) * 1000,
        RECOUNT_COMMAND,
    )
    try:
        async with session.begin_nested():
            return await statement()
    except IntegrityError as error:
        if _drifted(error):
            log.error(
                "lexical statistics of workspace %s still break a CHECK after a recount:"
                " run `%s --workspace %s`",
                workspace_id,
                RECOUNT_COMMAND,
                workspace_id,
            )
        raise
