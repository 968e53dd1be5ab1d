"""The ingestion job's progress writes (``rag.knowledge.jobs._set_progress``, each its own
transaction, running while the model embeds the next batch) never land on a document the run no
longer owns: two runs of one job on the same revision (a redelivered job, a rerun while the first
run still embeds) both pass the revision check, and the slower one's progress write, after the
faster one's final transaction, put a ``ready`` document back at 85%. A write lands only while
the row is still ``processing`` at the revision the run read (checked in the ``UPDATE`` itself)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from core.db import Database
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import lexical
from rag.knowledge.embedders import EmbeddingError, HashEmbedder
from tests.conftest import RuntimeFactory, client_for, signup
from tests.rag.test_ingest_overlap import SMALL_CHUNKS, HoldingOnBatch, _body, _document, posted
from tests.rag.test_job_interruptions import HeldJobs


async def test_a_second_run_of_the_job_leaves_the_ready_document_at_full_progress(
    runtime_factory: RuntimeFactory,
) -> None:
    embedder = HoldingOnBatch(hold_on=1)
    async with (
        runtime_factory(embedder=embedder, jobs=HeldJobs(), **SMALL_CHUNKS) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        ws, doc = await posted(client, owner, "Twice", "kappa", 2 * knowledge_jobs.EMBED_BATCH + 10)
        slow = asyncio.create_task(knowledge_jobs.ingest_document(runtime.ingestion, ws, doc))
        await embedder.entered.wait()  # the slow run embeds its first batch
        # The same job run again (same revision, document ``processing``) finishes first.
        assert await knowledge_jobs.ingest_document(runtime.ingestion, ws, doc) == "ready"
        embedder.release.set()
        assert await slow == "superseded"
        document = await _document(client, owner, str(doc))
    assert (document["status"], document["progress"], document["error_code"]) == (
        "ready",
        1.0,
        None,
    )


class Gated(HashEmbedder):
    """The hash embedder: its first call waits for ``first``; its second call signals
    ``second_entered``, waits for ``second``, then raises ``EmbeddingError`` when ``fail``."""

    def __init__(self, *, fail: bool) -> None:
        super().__init__(dimensions=384)
        self.fail, self.calls = fail, 0
        self.first_entered, self.first = asyncio.Event(), asyncio.Event()
        self.second_entered, self.second = asyncio.Event(), asyncio.Event()

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == 1:
            self.first_entered.set()
            await self.first.wait()
        elif self.calls == 2:
            self.second_entered.set()
            await self.second.wait()
            if self.fail:
                raise EmbeddingError("the model fell over")
        return await super().embed_documents(texts)


async def _progress_write_waits_for_a_lock(owner_db: Database, document_id: uuid.UUID) -> None:
    """Until the job's progress ``UPDATE`` of ``document_id`` waits for a row lock."""
    for _ in range(400):
        async with owner_db.transaction() as session:
            waiting = await session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE 'UPDATE documents SET progress%'"
                    " AND pid IN (SELECT pid FROM pg_locks l JOIN pg_class c ON c.oid ="
                    "  l.relation WHERE c.relname = 'documents')"
                )
            )
            if waiting.scalar_one():
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no progress write of {document_id} waited for the lock")


@pytest.mark.parametrize("end", ["cancelled", "embedding failed"])
async def test_a_job_ending_while_its_progress_write_waits_for_a_lock_ends_clean(
    runtime_factory: RuntimeFactory, owner_db: Database, end: str
) -> None:
    """Another transaction holds the document's row (an owner's delete or re-upload under
    way) while a batch's progress write waits for it; the job is cancelled (a worker
    shutting down) or its next batch fails: the waiting write is abandoned, no connection
    stays checked out, and the document ends ``failed`` with the right code, not
    ``processing`` and not at the abandoned write's progress."""
    embedder = Gated(fail=end == "embedding failed")
    async with (
        runtime_factory(embedder=embedder, jobs=HeldJobs(), **SMALL_CHUNKS) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        ws, doc = await posted(
            client, owner, "Locked", "sigma", 2 * knowledge_jobs.EMBED_BATCH + 10
        )
        job = asyncio.create_task(knowledge_jobs.ingest_document(runtime.ingestion, ws, doc))
        await embedder.first_entered.wait()
        async with owner_db.transaction() as holder:
            await holder.execute(
                text("SELECT 1 FROM documents WHERE id = :d FOR UPDATE"), {"d": doc}
            )
            embedder.first.set()  # batch 1 done: its progress write waits for the row
            await embedder.second_entered.wait()
            await _progress_write_waits_for_a_lock(owner_db, doc)
            if end == "cancelled":
                job.cancel()
            else:
                embedder.second.set()
            # The job drops the waiting write, then waits for the row to mark the document.
            await asyncio.sleep(0)
        if end == "cancelled":
            with pytest.raises(asyncio.CancelledError):
                await job
        else:
            assert await job == "failed"
        document = await _document(client, owner, str(doc))
        assert runtime.db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    code = "interrupted" if end == "cancelled" else "embedding_failed"
    assert (document["status"], document["error_code"]) == ("failed", code)
    assert document["progress"] < 0.3  # the waiting write (above 0.3) never landed


class EndingAtOnce(HashEmbedder):
    """Once the terms thread has ``started``: raises ``EmbeddingError`` (``fail``), or hangs
    until the job is cancelled; ``ended`` (a thread's event, the terms thread waits for it)
    is set as it gives up."""

    def __init__(self, *, fail: bool) -> None:
        super().__init__(dimensions=384)
        self.fail = fail
        self.started, self.ended = threading.Event(), threading.Event()
        self.entered = asyncio.Event()

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        while not self.started.is_set():
            await asyncio.sleep(0.01)
        try:
            if self.fail:
                raise EmbeddingError("the model fell over")
            self.entered.set()
            await asyncio.Event().wait()  # until cancelled
        finally:
            self.ended.set()
        raise AssertionError("never reached")


@pytest.mark.parametrize("end", ["cancelled", "embedding failed"])
async def test_a_failed_or_cancelled_embedding_leaves_no_terms_thread_running_after_the_job(
    runtime_factory: RuntimeFactory, monkeypatch: pytest.MonkeyPatch, end: str
) -> None:
    """The BM25 terms are computed in a thread while the model embeds: when the embedding
    fails (or the job is cancelled) the thread stops at its next chunk and the job waits for
    it, instead of stemming the rest of the document on a core other jobs need, after the
    job has ended. The terms of the second chunk on wait for the job's end: a thread still
    running then is caught inside them."""
    embedder = EndingAtOnce(fail=end == "embedding failed")
    job_over = threading.Event()
    calls, inside = [0], [0]
    real = lexical.chunk_terms

    def watched(text_: str, metadata: Mapping[str, Any]) -> Counter[str]:
        calls[0] += 1
        inside[0] += 1
        embedder.started.set()
        try:
            # The first chunk's terms wait for the embedding's end, the next ones for the job's end.
            (embedder.ended if calls[0] == 1 else job_over).wait(timeout=60)
            return real(text_, metadata)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(lexical, "chunk_terms", watched)
    async with (
        runtime_factory(embedder=embedder, jobs=HeldJobs(), **SMALL_CHUNKS) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        ws, doc = await posted(client, owner, "Fails", "theta", 40)
        try:
            job = asyncio.create_task(knowledge_jobs.ingest_document(runtime.ingestion, ws, doc))
            if end == "cancelled":
                await embedder.entered.wait()
                job.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await job
            else:
                assert await job == "failed"
            still_running = inside[0]
        finally:
            job_over.set()
    assert still_running == 0
    assert calls[0] < 40


class Counting(HashEmbedder):
    """The hash embedder, counting the texts it embedded."""

    def __init__(self) -> None:
        super().__init__(dimensions=384)
        self.embedded = 0

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += len(texts)
        return await super().embed_documents(texts)


async def test_a_changed_document_keeps_unchanged_vectors_and_stores_every_chunks_own_terms(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """The reuse path beside the terms thread: the terms are computed for every row (kept ones
    too) while only the changed chunks are embedded; each stored chunk's terms are its own
    text's, even where a chunk added in front shifts every kept row's position."""
    embedder = Counting()
    async with (
        runtime_factory(embedder=embedder, **SMALL_CHUNKS) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        _, doc = await posted(client, owner, "Kept", "lambda", 30)
        await runtime.jobs.drain()
        embedder.embedded = 0
        changed = "# Preface\n\nA new preface about the lambda manual.\n\n" + _body(
            "lambda", 30
        ).replace("topic 7 of", "subject 7 of")
        r = await client.put(
            owner.url(f"/documents/{doc}"), json={"text": changed}, headers=owner.headers
        )
        assert r.status_code in (200, 202), r.text
        await runtime.jobs.drain()
        assert runtime.jobs.failures == []
        document = await _document(client, owner, str(doc))
    assert (document["status"], document["progress"]) == ("ready", 1.0)
    assert 0 < embedder.embedded < document["chunk_count"] // 2  # most chunks kept
    async with owner_db.transaction() as session:
        chunks = (
            await session.execute(
                text("SELECT id, text, metadata FROM chunks WHERE document_id = :d"), {"d": doc}
            )
        ).all()
        stored = (
            await session.execute(
                text(
                    "SELECT t.chunk_id, t.term, t.tf FROM chunk_terms t"
                    " JOIN chunks c ON c.id = t.chunk_id WHERE c.document_id = :d"
                ),
                {"d": doc},
            )
        ).all()
    assert len(chunks) == document["chunk_count"]
    terms: dict[uuid.UUID, Counter[str]] = {c.id: Counter() for c in chunks}
    for chunk_id, term, tf in stored:
        terms[chunk_id][term] = tf
    assert {c.id: lexical.chunk_terms(c.text, c.metadata) for c in chunks} == terms
