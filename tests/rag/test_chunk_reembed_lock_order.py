"""``trulybot reindex`` re-embedding a workspace's chunks (``reindexing.reembed_workspace``)
while the ingestion job rewrites one of its documents.

The ingestion's write takes the workspace's statistics row (``terms.lock_statistics``), deletes
the document's leftover chunks, then updates its kept ones. The re-embedding updated a page of
chunks in one statement, in id order, and took no statistics row: it locked a kept chunk, then
waited for a leftover one the ingestion had deleted; the ingestion then waited for the kept
chunk. PostgreSQL found the deadlock and aborted one of them (the reindex, or the document's
job). Now the re-embedding takes the statistics row first: it waits for the ingestion's commit.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from core.db import Database
from rag.knowledge import reindexing
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as document_repo
from tests.conftest import (
    RuntimeFactory,
    client_for,
    insert_document,
    signup,
    someone_waits_for_a_lock,
)
from tests.rag.test_lexical_lock_order import _two
from workspaces import repository as ws_repo


async def _places(owner_db: Database, doc: uuid.UUID) -> list[tuple[uuid.UUID, tuple[int, int]]]:
    """The document's chunks in id order, with where each is stored (page, item)."""
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text("SELECT id, ctid::text FROM chunks WHERE document_id = :d ORDER BY id"),
            {"d": doc},
        )
    places = []
    for chunk_id, ctid in rows.all():
        page, item = (int(n) for n in ctid.strip("()").split(","))
        places.append((chunk_id, (page, item)))
    return places


async def test_chunks_re_embedded_while_their_document_is_rewritten_wait_never_deadlock(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory() as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        while True:  # the kept chunk first by id and where stored: either plan locks it first
            doc = await insert_document(owner_db, ws, f"rewritten {uuid.uuid4().hex[:8]}")
            async with db.transaction(workspace_id=ws) as session:
                await chunk_repo.replace_chunks(session, ws, doc, _two("r"), [], with_terms=True)
            (kept, kept_at), (dropped, dropped_at) = await _places(owner_db, doc)
            if kept_at < dropped_at:
                break
        async with db.transaction(workspace_id=ws) as session:  # the ingestion job's write
            await chunk_repo.replace_chunks(session, ws, doc, [], [dropped], with_terms=True)
            reembedding = asyncio.create_task(reindexing.reembed_workspace(runtime.ingestion, ws))
            while not reembedding.done() and not await someone_waits_for_a_lock(owner_db):
                await asyncio.sleep(0.01)
            assert not reembedding.done()
            again = chunk_repo.ChunkRow(0, "chunk 0", {"title": "T"}, 2, "r0", kept)
            await chunk_repo.replace_chunks(  # was DeadlockDetected (here, or the reindex's)
                session, ws, doc, [again], [], with_terms=True
            )
        assert await reembedding >= 1
        assert [chunk for chunk, _ in await _places(owner_db, doc)] == [kept]


async def test_chunks_re_embedded_while_their_document_is_deleted_wait_for_the_deletion(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    """A guard (it passed before too): the deletion takes the document's row, the statistics
    row, then its chunks (the cascade); the re-embedding waits for its commit and leaves the
    deleted chunks alone. A deadlock before needed the cascade and the re-embedding's single
    statements to meet the document's chunks in opposite orders mid-statement."""
    async with runtime_factory() as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        doc = await insert_document(owner_db, ws, f"deleted {uuid.uuid4().hex[:8]}")
        async with db.transaction(workspace_id=ws) as session:
            await chunk_repo.replace_chunks(session, ws, doc, _two("d"), [], with_terms=True)
        async with db.transaction(workspace_id=ws) as session:  # the owner's deletion
            assert await document_repo.delete_document(session, ws, doc)
            reembedding = asyncio.create_task(reindexing.reembed_workspace(runtime.ingestion, ws))
            while not reembedding.done() and not await someone_waits_for_a_lock(owner_db):
                await asyncio.sleep(0.01)
            assert not reembedding.done()
            await ws_repo.bump_knowledge_version(session, ws)
        assert await reembedding == 2  # read before the deletion committed, updated none
        assert await _places(owner_db, doc) == []
