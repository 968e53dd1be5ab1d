"""Kept BM25 statistics (migration 0048) drifted below the rows, met by a web source's
deletion (its pages one by one, through the document deletion that repairs them), and what the
workspace purge's batches meet once it emptied the kept tables first (the purge itself:
tests/rag/test_lexical_purge.py). Another workspace's statistics never move."""

from __future__ import annotations

import logging
import uuid

import numpy as np
import pytest
from sqlalchemy import text

from core.db import Database
from lifecycle import repository as lifecycle_repo
from rag.knowledge import lexical
from rag.knowledge.models import Source
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import terms as terms_repo
from tests.conftest import RuntimeFactory, client_for, insert_document, signup
from tests.rag.test_lexical_budget import ON, _kept_and_recounted
from tests.rag.test_lexical_purge import lower_counts

ONES = np.ones(384, np.float32)


async def _sitemap_with_pages(
    db: Database, owner_db: Database, ws: uuid.UUID, pages: int
) -> uuid.UUID:
    """A sitemap source keeping ``pages`` pages of one chunk each, sharing the terms "shared"
    and "words" (BM25 terms stored)."""
    source = Source(workspace_id=ws, url=f"https://{ws.hex}.test/sitemap.xml", kind="sitemap")
    async with owner_db.transaction() as session:
        session.add(source)
    ids = [
        await insert_document(owner_db, ws, f"page {i}", source=f"https://{ws.hex}.test/{i}")
        for i in range(pages)
    ]
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE documents SET source_type = 'sitemap', source_id = :s WHERE id = ANY(:ids)"
            ),
            {"s": source.id, "ids": ids},
        )
    for i, page in enumerate(ids):
        async with db.transaction(workspace_id=ws) as session:
            one = chunk_repo.ChunkRow(0, f"shared words {i}", {}, 3, f"p{i}", embedding=ONES)
            await chunk_repo.replace_chunks(session, ws, page, [one], [], with_terms=True)
    return source.id


async def test_a_source_deletion_repairs_drifted_counts(
    runtime_factory: RuntimeFactory,
    db: Database,
    owner_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        owner, other = await signup(client), await signup(client, "Other")
        ws, ws_other = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
        source = await _sitemap_with_pages(db, owner_db, ws, 3)
        await _sitemap_with_pages(db, owner_db, ws_other, 2)
        kept, counted = await _kept_and_recounted(owner_db, ws)
        assert kept == counted
        assert kept[0][0] == 3
        assert max(kept[1].values()) == 3
        other_before = await _kept_and_recounted(owner_db, ws_other)
        await lower_counts(owner_db, ws)  # deleting the second page takes chunks below 0
        with caplog.at_level(logging.WARNING):
            r = await client.delete(owner.url(f"/sources/{source}"), headers=owner.headers)
        assert r.status_code == 204, r.text
        kept, counted = await _kept_and_recounted(owner_db, ws)
        assert kept == counted == ((0, 0, 0), {})
        warned = [x.getMessage() for x in caplog.records if x.levelno == logging.WARNING]
        assert any("trulybot recount-lexical" in m for m in warned), warned
        assert await _kept_and_recounted(owner_db, ws_other) == other_before


async def test_deleting_chunks_without_kept_rows_neither_fails_nor_creates_them(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    """What the purge's batches meet once the kept rows are gone: the triggers count nothing
    down and write no row back."""
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        await _sitemap_with_pages(db, owner_db, ws, 2)
        async with owner_db.transaction() as session:
            for table in ("lexical_stats", "lexical_df"):
                gone = await session.execute(
                    text(f"DELETE FROM {table} WHERE workspace_id = :ws"),  # noqa: S608
                    {"ws": ws},
                )
                assert gone.rowcount > 0, table  # type: ignore[attr-defined]
        for table in ("chunk_terms", "chunks"):
            async with db.transaction(workspace_id=ws) as session:
                assert await lifecycle_repo.delete_tenant_rows(
                    session, table=table, workspace_id=ws, limit=1
                )
        kept, counted = await _kept_and_recounted(owner_db, ws)
        assert kept == ((0, 0, 0), {})
        assert counted[0][0] == 1  # one chunk left, counted nowhere


async def _two_chunks(
    db: Database, owner_db: Database, ws: uuid.UUID, *, with_terms: bool
) -> tuple[uuid.UUID, list[chunk_repo.ChunkRow], list[uuid.UUID]]:
    """A document of two chunks sharing the terms "shared" and "words", then the kept counts
    lowered below them (``lower_counts``): the document, its rows and their chunk ids."""
    doc = await insert_document(owner_db, ws, "two chunks")
    rows = [
        chunk_repo.ChunkRow(i, f"shared words {i}", {}, 3, f"k{i}", embedding=ONES)
        for i in range(2)
    ]
    async with db.transaction(workspace_id=ws) as session:
        await chunk_repo.replace_chunks(session, ws, doc, rows, [], with_terms=with_terms)
        ids = [c for c, _ in await chunk_repo.chunk_hashes(session, ws, doc)]
    await lower_counts(owner_db, ws)
    return doc, rows, ids


@pytest.mark.parametrize("with_terms", [True, False])
async def test_a_rewrite_of_kept_chunks_repairs_drifted_counts(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database, with_terms: bool
) -> None:
    """A re-ingestion keeping a document's chunks rewrites their terms (``store_terms``; at
    weight 0 ``forget_terms``): their ``chunk_terms`` rows deleted, ``term_count`` updated."""
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        # "shared" in two chunks, kept as in one: deleting both chunks' terms breaks df > 0
        doc, rows, kept_ids = await _two_chunks(db, owner_db, ws, with_terms=True)
        again = [
            chunk_repo.ChunkRow(i, r.text, {"title": "T"}, 3, r.content_hash, kept_ids[i])
            for i, r in enumerate(rows)
        ]
        async with db.transaction(workspace_id=ws) as session:
            await chunk_repo.replace_chunks(session, ws, doc, again, [], with_terms=with_terms)
        kept, counted = await _kept_and_recounted(owner_db, ws)
        assert kept == counted
        assert kept[0][0] == 2


async def test_filling_terms_repairs_drifted_counts(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    """``trulybot reindex``'s page (``reindexing.fill_terms``): chunks written without terms get
    them, counting ``chunks_without_terms`` down (lowered to 0 here: below the rows)."""
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        await _two_chunks(db, owner_db, ws, with_terms=False)
        async with db.transaction(workspace_id=ws) as session:
            page = await terms_repo.chunks_without_terms(session, ws, limit=500)
            assert len(page) == 2
            filled = [(c, lexical.chunk_terms(t, m)) for c, t, m in page]
            assert await terms_repo.store_terms(session, ws, filled)
        kept, counted = await _kept_and_recounted(owner_db, ws)
        assert kept == counted
        assert kept[0] == (2, counted[0][1], 0)
