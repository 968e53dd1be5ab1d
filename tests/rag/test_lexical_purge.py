"""The purge of a deleted workspace (``lifecycle.deletion.purge_workspace``: table by table,
in batches, each in a transaction of that workspace) with BM25 terms stored: 0048's triggers
count its batches down under the workspace's row-level security, nothing of it is left in
``lexical_stats`` or ``lexical_df``, another workspace's statistics never move; with kept counts
drifted below the rows too (the kept tables are emptied first, nothing is counted down)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from core.db import Database
from lifecycle import deletion
from tests.conftest import Runtime, RuntimeFactory, client_for, signup
from tests.rag.test_answers import ingest
from tests.rag.test_lexical_budget import ON, _kept_and_recounted


async def lower_counts(owner_db: Database, ws: uuid.UUID) -> None:
    """Counts below the rows (as a chunk moved in by hand, or a restore, leaves them): one
    chunk, no terms, and every term in one chunk only."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE lexical_stats SET chunks = 1, total_terms = 0, chunks_without_terms = 0"
                " WHERE workspace_id = :ws"
            ),
            {"ws": ws},
        )
        await session.execute(
            text("UPDATE lexical_df SET df = 1 WHERE workspace_id = :ws"), {"ws": ws}
        )


async def purge_now(runtime: Runtime, owner_db: Database, ws: uuid.UUID) -> None:
    """Delete the workspace with its grace period over, purge it, and check that nothing of
    its chunks, terms and kept statistics is left, nor its row."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE workspaces SET deleted_at = now(),"
                " purge_after = now() - interval '1 min' WHERE id = :ws"
            ),
            {"ws": ws},
        )
    purged = await deletion.purge_workspace(
        runtime.db, runtime.settings, runtime.redis, workspace_id=ws
    )
    assert purged == "purged"
    async with owner_db.transaction() as session:
        for table in ("workspaces", "lexical_stats", "lexical_df", "chunks", "chunk_terms"):
            column = "id" if table == "workspaces" else "workspace_id"
            left = await session.execute(
                text(f"SELECT count(*) FROM {table} WHERE {column} = :ws"),  # noqa: S608
                {"ws": ws},
            )
            assert left.scalar_one() == 0, table


@pytest.mark.parametrize("drifted", [False, True])
async def test_the_purge_of_a_workspace_with_terms_leaves_no_statistics(
    runtime_factory: RuntimeFactory, owner_db: Database, drifted: bool
) -> None:
    """``drifted``: the kept counts lowered below the rows first; the purge failed on
    ``lexical_df``'s CHECK at its first ``chunk_terms`` batch before it emptied the kept
    tables first (``deletion.PURGED_FIRST``)."""
    body = "# Flags\n\nPass --frobnicate-level=3 to raise it.\n\n# Other\n\nNothing here."
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        owner, other = await signup(client), await signup(client, "Other")
        ws, ws_other = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
        await ingest(client, owner, runtime, "Flags", body)
        await ingest(client, owner, runtime, "More flags", body.replace("3", "4"))
        await ingest(client, other, runtime, "Flags", body)
        kept, counted = await _kept_and_recounted(owner_db, ws)
        assert kept == counted
        assert kept[0][0] >= 2  # chunks kept
        assert max(kept[1].values()) >= 2  # a term in two chunks (lowered to 1 when drifted)
        other_before = await _kept_and_recounted(owner_db, ws_other)
        if drifted:
            await lower_counts(owner_db, ws)
        await purge_now(runtime, owner_db, ws)
        assert await _kept_and_recounted(owner_db, ws_other) == other_before


def test_the_purge_empties_the_kept_statistics_first() -> None:
    catalog = ["audit_log", "chunk_terms", "chunks", "documents", "lexical_df", "lexical_stats"]
    assert deletion.purge_order(catalog) == [
        "lexical_stats",
        "lexical_df",
        "chunk_terms",
        "chunks",
        "documents",
    ]
