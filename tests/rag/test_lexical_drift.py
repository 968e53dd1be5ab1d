"""Kept BM25 statistics (migration 0048) that drifted from the rows, and the ways back: a
TRUNCATE follows (0049), `trulybot recount-lexical` counts them again, and a document deletion
that the drift would break (a CHECK of ``lexical_stats``/``lexical_df``) repairs its
workspace's counts in its own transaction. On databases set up as production (the tables'
owner is no superuser, forced row-level security binds it)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import Database
from core.embedded import EmbeddedPostgres
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as doc_repo
from tests.operator_scratch import OWNER_ROLE, Scratch, _scratch, _superuser, trulybot
from tests.rag.test_question_keys_migration import _workspace, as_production
from tests.test_migration_0048 import _write

Counts = tuple[tuple[int, int, int], dict[str, int]]


async def _kept(cluster: EmbeddedPostgres, ws: uuid.UUID) -> Counts:
    """The kept statistics (no row: no chunk)."""
    async with _superuser(cluster) as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT chunks, total_terms, chunks_without_terms FROM lexical_stats"
                    " WHERE workspace_id = :ws"
                ),
                {"ws": ws},
            )
        ).one_or_none()
        df = await conn.execute(
            text("SELECT term, df FROM lexical_df WHERE workspace_id = :ws"), {"ws": ws}
        )
        stats = (0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]))
        return stats, {t: int(n) for t, n in df.all()}


async def _counted(cluster: EmbeddedPostgres, ws: uuid.UUID) -> Counts:
    """The statistics counted from the rows."""
    async with _superuser(cluster) as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*), coalesce(sum(term_count), 0),"
                    " count(*) FILTER (WHERE term_count IS NULL) FROM chunks"
                    " WHERE workspace_id = :ws"
                ),
                {"ws": ws},
            )
        ).one()
        df = await conn.execute(
            text("SELECT term, count(*) FROM chunk_terms WHERE workspace_id = :ws GROUP BY term"),
            {"ws": ws},
        )
        return (int(row[0]), int(row[1]), int(row[2])), {t: int(n) for t, n in df.all()}


async def _corrupt(cluster: EmbeddedPostgres, ws: uuid.UUID) -> None:
    """Counts below the rows (as a chunk moved in by hand leaves them): deleting the
    workspace's chunks would take them below zero. The rows ``_write`` wrote: (3, 6, 1),
    alpha 1, beta 2."""
    async with _superuser(cluster) as conn:
        await conn.execute(
            text(
                "UPDATE lexical_stats SET chunks = 1, total_terms = 2, chunks_without_terms = 1"
                " WHERE workspace_id = :ws"
            ),
            {"ws": ws},
        )
        await conn.execute(
            text("UPDATE lexical_df SET df = 1 WHERE workspace_id = :ws AND term = 'beta'"),
            {"ws": ws},
        )
        await conn.execute(
            text("DELETE FROM lexical_df WHERE workspace_id = :ws AND term = 'alpha'"),
            {"ws": ws},
        )
        await conn.execute(
            text("INSERT INTO lexical_df (workspace_id, term, df) VALUES (:ws, 'gamma', 5)"),
            {"ws": ws},
        )


async def _document(cluster: EmbeddedPostgres, ws: uuid.UUID) -> uuid.UUID:
    async with _superuser(cluster) as conn:
        found = await conn.execute(
            text("SELECT DISTINCT document_id FROM chunks WHERE workspace_id = :ws"), {"ws": ws}
        )
        return uuid.UUID(str(found.scalar_one()))


async def test_a_truncate_empties_the_kept_statistics(pg: EmbeddedPostgres) -> None:
    cluster = await as_production(pg, "trulybot_lexical_truncate", "0049")
    ws = await _workspace(cluster)
    await _write(cluster, ws)
    assert await _kept(cluster, ws) == ((3, 6, 1), {"alpha": 1, "beta": 2})
    owner = Database.from_url(cluster.app_url(OWNER_ROLE), pool_size=1, max_overflow=0)
    try:
        async with owner.transaction() as session:
            await session.execute(text("TRUNCATE chunk_terms"))
        assert await _kept(cluster, ws) == await _counted(cluster, ws) == ((3, 6, 1), {})
        async with owner.transaction() as session:
            await session.execute(text("TRUNCATE chunks CASCADE"))
        assert await _kept(cluster, ws) == await _counted(cluster, ws) == ((0, 0, 0), {})
    finally:
        await owner.dispose()


@pytest.fixture(scope="module")
async def drift(pg: EmbeddedPostgres) -> AsyncIterator[Scratch]:
    async for value in _scratch(pg, "trulybot_lexical_drift", OWNER_ROLE):
        yield value


async def test_recount_lexical_repairs_drifted_counts(drift: Scratch, tmp_path: Path) -> None:
    ws = drift.workspace_id
    await _write(drift.cluster, ws)
    await _corrupt(drift.cluster, ws)
    assert await _kept(drift.cluster, ws) == ((1, 2, 1), {"beta": 1, "gamma": 5})
    ran = await trulybot(drift, tmp_path, "recount-lexical", "--workspace", drift.slug)
    assert ran.code == 0, ran.out
    assert (
        f"workspace {ws}: chunks 1 -> 3, total terms 2 -> 6, 3 terms' frequencies corrected"
        in ran.out
    )
    assert await _kept(drift.cluster, ws) == await _counted(drift.cluster, ws)
    again = await trulybot(drift, tmp_path, "recount-lexical")  # every workspace, idempotent
    assert again.code == 0, again.out
    assert "recounted the BM25 statistics of 1 workspaces, 0 corrected" in again.out
    # The deletion the drift would have broken (chunks 1 - 3 < 0) now works.
    async with drift.db.transaction(workspace_id=ws) as session:
        assert await doc_repo.delete_document(session, ws, await _document(drift.cluster, ws))
    assert await _kept(drift.cluster, ws) == ((0, 0, 0), {})


async def test_a_deletion_repairs_drifted_counts_in_its_transaction(
    drift: Scratch, caplog: pytest.LogCaptureFixture
) -> None:
    ws = drift.workspace_id
    await _write(drift.cluster, ws)
    await _corrupt(drift.cluster, ws)
    document = await _document(drift.cluster, ws)
    with caplog.at_level(logging.WARNING):
        async with drift.db.transaction(workspace_id=ws) as session:
            assert await doc_repo.delete_document(session, ws, document)
    assert await _kept(drift.cluster, ws) == await _counted(drift.cluster, ws) == ((0, 0, 0), {})
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("trulybot recount-lexical" in r.getMessage() for r in warned), warned


async def test_a_reingestion_deleting_chunks_repairs_drifted_counts(drift: Scratch) -> None:
    ws = drift.workspace_id
    await _write(drift.cluster, ws)
    await _corrupt(drift.cluster, ws)
    document = await _document(drift.cluster, ws)
    async with _superuser(drift.cluster) as conn:
        found = await conn.execute(
            text("SELECT id FROM chunks WHERE document_id = :d ORDER BY position"),
            {"d": document},
        )
        chunk_ids = [uuid.UUID(str(row[0])) for row in found]
    async with drift.db.transaction(workspace_id=ws) as session:  # two of three go: 1 - 2 < 0
        await chunk_repo.replace_chunks(session, ws, document, [], chunk_ids[:2])
    assert await _kept(drift.cluster, ws) == await _counted(drift.cluster, ws) == ((1, 0, 1), {})
    async with drift.db.transaction(workspace_id=ws) as session:
        assert await doc_repo.delete_document(session, ws, document)
