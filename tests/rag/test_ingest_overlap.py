"""The ingestion job's work beside the model (``rag.knowledge.jobs``): a document's BM25 terms are
computed in a thread while the model embeds it, and each batch's progress is written while the
next batch is embedded. A document whose embedding fails part-way still ends ``failed`` with
nothing stored and its progress write gone, and the documents ingested around it (one at a
time through the queue, two at once through ``trulybot ingest``) are stored whole, terms and
all; a job cancelled while a progress write may be pending ends ``interrupted``, and its rerun
stores the document whole."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from api.commands.ingest import ingest_files
from core.db import Database
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge.embedders import EmbeddingError, HashEmbedder
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.rag.test_job_interruptions import HeldJobs

SMALL_CHUNKS = {"chunk_tokens": 20, "chunk_overlap_tokens": 0, "chunk_min_tokens": 0}


def _body(word: str, paragraphs: int) -> str:
    """Enough text for ``paragraphs`` chunks of SMALL_CHUNKS, each naming ``word``."""
    return "\n\n".join(
        f"# Part {i}\n\nThe {word} part {i} covers topic {i} of the {word} manual in a few"
        f" plain words about item {i} and nothing else at all here."
        for i in range(paragraphs)
    )


class FailingOnBatch(HashEmbedder):
    """The hash embedder, raising ``EmbeddingError`` on the ``fail_on``-th batch that holds
    ``marker`` (the batches before it succeed)."""

    def __init__(self, marker: str, fail_on: int) -> None:
        super().__init__(dimensions=384)
        self.marker, self.fail_on = marker, fail_on
        self.marked_batches = 0

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if any(self.marker in t for t in texts):
            self.marked_batches += 1
            if self.marked_batches == self.fail_on:
                raise EmbeddingError("the model fell over")
        return await super().embed_documents(texts)


async def _stored(owner_db: Database, document_id: str) -> tuple[int, int, int]:
    """(chunks, chunks without terms, term rows) stored for ``document_id``."""
    async with owner_db.transaction() as session:
        found = await session.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE term_count IS NULL),"
                " (SELECT count(*) FROM chunk_terms t JOIN chunks c ON c.id = t.chunk_id"
                "  WHERE c.document_id = :d)"
                " FROM chunks WHERE document_id = :d"
            ),
            {"d": uuid.UUID(document_id)},
        )
        chunks, without, terms = found.one()
    return int(chunks), int(without), int(terms)


async def _document(client: httpx.AsyncClient, owner: Owner, document_id: str) -> dict[str, Any]:
    r = await client.get(owner.url(f"/documents/{document_id}"), headers=owner.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def posted(
    client: httpx.AsyncClient, owner: Owner, title: str, word: str, paragraphs: int
) -> tuple[uuid.UUID, uuid.UUID]:
    """(workspace id, document id) of a text document of ``_body(word, paragraphs)``."""
    r = await client.post(
        owner.url("/documents"),
        json={"title": title, "text": _body(word, paragraphs)},
        headers=owner.headers,
    )
    assert r.status_code == 202, r.text
    return uuid.UUID(owner.workspace_id), uuid.UUID(r.json()["id"])


async def test_a_failure_on_a_later_batch_leaves_that_document_failed_and_the_others_whole(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    marker = f"zq{uuid.uuid4().hex[:8]}"
    paragraphs = 2 * knowledge_jobs.EMBED_BATCH + 10  # three batches
    embedder = FailingOnBatch(marker, fail_on=2)
    async with (
        runtime_factory(embedder=embedder, **SMALL_CHUNKS) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        ids = []
        for title, word in (("Before", "alpha"), ("Broken", marker), ("After", "gamma")):
            r = await client.post(
                owner.url("/documents"),
                json={"title": title, "text": _body(word, paragraphs)},
                headers=owner.headers,
            )
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        await runtime.jobs.drain()
        assert runtime.jobs.failures == []
        before, broken, after = [await _document(client, owner, d) for d in ids]
    assert embedder.marked_batches == 2  # the third batch was never asked for
    assert (broken["status"], broken["error_code"]) == ("failed", "embedding_failed")
    assert await _stored(owner_db, ids[1]) == (0, 0, 0)
    for document, document_id in ((before, ids[0]), (after, ids[2])):
        assert (document["status"], document["progress"]) == ("ready", 1.0)
        chunks, without_terms, terms = await _stored(owner_db, document_id)
        assert chunks == document["chunk_count"] > 2 * knowledge_jobs.EMBED_BATCH
        assert (without_terms, terms > chunks) == (0, True)


async def test_trulybot_ingest_two_at_once_stores_the_good_files_beside_a_failing_one(
    runtime_factory: RuntimeFactory, owner_db: Database, tmp_path: Path
) -> None:
    marker = f"zq{uuid.uuid4().hex[:8]}"
    paragraphs = knowledge_jobs.EMBED_BATCH + 10  # two batches each
    files = []
    for name, word in (("a.md", "alpha"), ("b.md", marker), ("c.md", "gamma"), ("d.md", "delta")):
        (tmp_path / name).write_text(_body(word, paragraphs))
        files.append((tmp_path / name, name))
    async with (
        runtime_factory(embedder=FailingOnBatch(marker, fail_on=2), **SMALL_CHUNKS) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        summary = await ingest_files(runtime, uuid.UUID(owner.workspace_id), files, concurrency=2)
        r = await client.get(owner.url("/documents"), headers=owner.headers)
        assert r.status_code == 200, r.text
        documents = {d["source"]: d for d in r.json()["items"]}
    assert summary["outcomes"] == {"ready": 3, "failed": 1}
    assert (documents["b.md"]["status"], documents["b.md"]["error_code"]) == (
        "failed",
        "embedding_failed",
    )
    assert await _stored(owner_db, documents["b.md"]["id"]) == (0, 0, 0)
    for name in ("a.md", "c.md", "d.md"):
        chunks, without_terms, _ = await _stored(owner_db, documents[name]["id"])
        assert documents[name]["status"] == "ready"
        assert chunks == documents[name]["chunk_count"] > knowledge_jobs.EMBED_BATCH
        assert without_terms == 0
    assert summary["chunks"] == sum(documents[n]["chunk_count"] for n in ("a.md", "c.md", "d.md"))


class HoldingOnBatch(HashEmbedder):
    """The hash embedder, holding its ``hold_on``-th call until ``release`` is set (a job caught
    while its earlier batch's progress write may still be running)."""

    def __init__(self, hold_on: int) -> None:
        super().__init__(dimensions=384)
        self.hold_on, self.calls = hold_on, 0
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.hold_on:
            self.entered.set()
            await self.release.wait()
        return await super().embed_documents(texts)


async def test_a_job_cancelled_on_its_second_batch_ends_interrupted_and_a_rerun_finishes_it(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    embedder = HoldingOnBatch(hold_on=2)
    async with (
        runtime_factory(embedder=embedder, jobs=HeldJobs(), **SMALL_CHUNKS) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        ws, doc = await posted(client, owner, "Long", "omega", 2 * knowledge_jobs.EMBED_BATCH + 10)
        document_id = str(doc)
        job = asyncio.create_task(knowledge_jobs.ingest_document(runtime.ingestion, ws, doc))
        await embedder.entered.wait()  # the second batch: the first one's progress is written
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        cancelled = await _document(client, owner, document_id)
        assert (cancelled["status"], cancelled["error_code"]) == ("failed", "interrupted")
        assert await _stored(owner_db, document_id) == (0, 0, 0)
        embedder.release.set()
        assert await knowledge_jobs.ingest_document(runtime.ingestion, ws, doc) == "ready"
        finished = await _document(client, owner, document_id)
    assert (finished["status"], finished["progress"], finished["error_code"]) == (
        "ready",
        1.0,
        None,
    )
    chunks, without_terms, _ = await _stored(owner_db, document_id)
    assert chunks == finished["chunk_count"] > 2 * knowledge_jobs.EMBED_BATCH
    assert without_terms == 0
