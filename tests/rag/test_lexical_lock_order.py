"""The order of locks around migration 0048's statistics row (``lexical_stats``).

Its triggers lock the workspace's stats row at the end of a statement that wrote chunks or
their terms. ``trulybot reindex`` (``fill_terms``) locks a page of chunks without terms, then
stores their terms (the stats row); an ingestion that rewrites a document deletes its leftover
chunks (the stats row) and then updates its kept ones (their rows). Each then waits for the
other: a deadlock, unless both take the stats row before any chunk row.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import numpy as np
from sqlalchemy import text

from core.db import Database
from rag.knowledge.models import Source
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import terms as terms_repo
from tests.conftest import RuntimeFactory, client_for, insert_document, signup
from tests.rag.test_lexical_budget import ON, _kept_and_recounted, _lock_waiters

ONES = np.ones(384, np.float32)


def _two(prefix: str) -> list[chunk_repo.ChunkRow]:
    return [
        chunk_repo.ChunkRow(i, f"chunk {i}", {}, 2, f"{prefix}{i}", embedding=ONES)
        for i in range(2)
    ]


async def _until_one_waits(owner_db: Database) -> None:
    """Until the other transaction waits on a lock (and only it)."""
    for _ in range(500):
        if await _lock_waiters(owner_db):
            break
        await asyncio.sleep(0.01)
    assert await _lock_waiters(owner_db) == 1


async def test_fill_terms_and_a_rewrite_of_its_chunks_wait_for_each_other_never_deadlock(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        doc = await insert_document(owner_db, ws, "held")
        async with db.transaction(workspace_id=ws) as session:  # written at weight 0
            await chunk_repo.replace_chunks(session, ws, doc, _two("h"), [], with_terms=False)
            kept, dropped = [c for c, _ in await chunk_repo.chunk_hashes(session, ws, doc)]
            # The chunk the rewrite drops has its terms: not among fill_terms' page.
            await terms_repo.store_terms(session, ws, [(dropped, Counter(gamma=1))])
        reindex_holds = asyncio.Event()

        async def rewrite() -> None:  # the ingestion job's write of the document, weight 0.3
            await reindex_holds.wait()
            async with db.transaction(workspace_id=ws) as session:
                again = [chunk_repo.ChunkRow(0, "chunk 0", {"title": "T"}, 2, "h0", kept)]
                await chunk_repo.replace_chunks(session, ws, doc, again, [dropped], with_terms=True)

        task = asyncio.create_task(rewrite())
        async with db.transaction(workspace_id=ws) as session:  # fill_terms' page
            page = await terms_repo.chunks_without_terms(session, ws, limit=500)
            assert [chunk for chunk, _, _ in page] == [kept]
            reindex_holds.set()
            await _until_one_waits(owner_db)
            await terms_repo.store_terms(session, ws, [(kept, Counter(alpha=2))])
        await task
        recorded, counted = await _kept_and_recounted(owner_db, ws)
        assert recorded == counted
        assert recorded[0][0] == 1  # the dropped chunk went, the kept one stayed


async def test_fill_terms_and_a_document_deletion_wait_for_each_other_never_deadlock(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    """The deletion's cascade locks the document's chunks and then (its triggers) the stats
    row; ``fill_terms`` holds the stats row and wants those chunks. The deletion takes the stats
    row after the document's row and before its chunks."""
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        doc = await insert_document(owner_db, ws, "deleted")
        async with db.transaction(workspace_id=ws) as session:  # written at weight 0
            await chunk_repo.replace_chunks(session, ws, doc, _two("d"), [], with_terms=False)
        reindex_holds = asyncio.Event()

        async def deletion() -> bool:
            await reindex_holds.wait()
            async with db.transaction(workspace_id=ws) as session:
                return await document_repo.delete_document(session, ws, doc)

        task = asyncio.create_task(deletion())
        async with db.transaction(workspace_id=ws) as session:  # fill_terms' page
            await terms_repo.lock_statistics(session, ws)  # its first step
            reindex_holds.set()
            await _until_one_waits(owner_db)
            page = await terms_repo.chunks_without_terms(session, ws, limit=500)
            assert len(page) == 2
            await terms_repo.store_terms(
                session, ws, [(chunk, Counter(alpha=1)) for chunk, _, _ in page]
            )
        assert await task
        recorded, counted = await _kept_and_recounted(owner_db, ws)
        assert recorded == counted
        assert recorded[0] == (0, 0, 0)


async def test_a_source_deletion_and_the_ingestion_of_one_of_its_pages_never_deadlock(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    """Deleting a sitemap source deletes its pages one by one: the first page's deletion takes
    the stats row, then the second page's row is wanted, which an ingestion of that page holds
    while it waits for the stats row. The source's pages are locked first, in id order."""
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        source = Source(workspace_id=ws, url="https://example.test/sitemap.xml", kind="sitemap")
        async with owner_db.transaction() as session:
            session.add(source)
        pages = [
            await insert_document(owner_db, ws, f"page {i}", source=f"https://example.test/{i}")
            for i in range(2)
        ]
        async with owner_db.transaction() as session:
            await session.execute(
                text(
                    "UPDATE documents SET source_type = 'sitemap', source_id = :s"
                    " WHERE id = ANY(:ids)"
                ),
                {"s": source.id, "ids": pages},
            )
        for i, page in enumerate(pages):
            async with db.transaction(workspace_id=ws) as session:
                one = chunk_repo.ChunkRow(0, f"page {i}", {}, 2, f"p{i}", embedding=ONES)
                await chunk_repo.replace_chunks(session, ws, page, [one], [], with_terms=True)
        ingesting = pages[1]
        job_holds = asyncio.Event()

        async def deletion() -> int:
            await job_holds.wait()
            r = await client.delete(owner.url(f"/sources/{source.id}"), headers=owner.headers)
            return r.status_code

        task = asyncio.create_task(deletion())
        async with db.transaction(workspace_id=ws) as session:  # the ingestion job of a page
            assert await document_repo.get_document(session, ws, ingesting, for_update=True)
            job_holds.set()
            await _until_one_waits(owner_db)
            again = chunk_repo.ChunkRow(0, "page again", {}, 2, "q", embedding=ONES)
            await chunk_repo.replace_chunks(session, ws, ingesting, [again], [], with_terms=True)
        assert await task == 204
        recorded, counted = await _kept_and_recounted(owner_db, ws)
        assert recorded == counted
        assert recorded[0] == (0, 0, 0)
