"""The purge of a deleted workspace (``lifecycle.deletion.purge_workspace``: table by table,
in batches, each in a transaction of that workspace) with BM25 terms stored: 0048's triggers
count every batch down under the workspace's row-level security, nothing of it is left in
``lexical_stats`` or ``lexical_df``, another workspace's statistics never move."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from core.db import Database
from lifecycle import deletion
from tests.conftest import RuntimeFactory, client_for, signup
from tests.rag.test_answers import ingest
from tests.rag.test_lexical_budget import ON, _kept_and_recounted


async def test_the_purge_of_a_workspace_with_terms_leaves_no_statistics(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    body = "# Flags\n\nPass --frobnicate-level=3 to raise it.\n\n# Other\n\nNothing here."
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        owner, other = await signup(client), await signup(client, "Other")
        ws, ws_other = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
        await ingest(client, owner, runtime, "Flags", body)
        await ingest(client, other, runtime, "Flags", body)
        before = await _kept_and_recounted(owner_db, ws)
        assert before[0][0][0] >= 1  # chunks kept
        assert before[0][1]  # and terms
        other_before = await _kept_and_recounted(owner_db, ws_other)
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
            for table in ("lexical_stats", "lexical_df", "chunks", "chunk_terms"):
                left = await session.execute(
                    text(f"SELECT count(*) FROM {table} WHERE workspace_id = :ws"),  # noqa: S608
                    {"ws": ws},
                )
                assert left.scalar_one() == 0, table
        assert await _kept_and_recounted(owner_db, ws_other) == other_before
