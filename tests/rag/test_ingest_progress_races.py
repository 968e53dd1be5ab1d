"""The ingestion job's progress writes (``rag.knowledge.jobs._set_progress``, each its own
transaction, running while the model embeds the next batch) never land on a document the run no
longer owns: two runs of one job on the same revision (a redelivered job, a rerun while the first
run still embeds) both pass the revision check, and the slower one's progress write, after the
faster one's final transaction, put a ``ready`` document back at 85%. A write lands only while
the row is still ``processing`` at the revision the run read (checked in the ``UPDATE`` itself)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import numpy as np

from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge.embedders import HashEmbedder
from tests.conftest import RuntimeFactory, client_for, signup
from tests.rag.test_ingest_overlap import SMALL_CHUNKS, _body
from tests.rag.test_job_interruptions import HeldJobs


class HoldingFirstCall(HashEmbedder):
    """The hash embedder, holding its first call until ``release`` is set (the later calls,
    another run's, go through)."""

    def __init__(self) -> None:
        super().__init__(dimensions=384)
        self.calls = 0
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await self.release.wait()
        return await super().embed_documents(texts)


async def test_a_second_run_of_the_job_leaves_the_ready_document_at_full_progress(
    runtime_factory: RuntimeFactory,
) -> None:
    embedder = HoldingFirstCall()
    async with (
        runtime_factory(embedder=embedder, jobs=HeldJobs(), **SMALL_CHUNKS) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        r = await client.post(
            owner.url("/documents"),
            json={"title": "Twice", "text": _body("kappa", 2 * knowledge_jobs.EMBED_BATCH + 10)},
            headers=owner.headers,
        )
        assert r.status_code == 202, r.text
        ws, doc = uuid.UUID(owner.workspace_id), uuid.UUID(r.json()["id"])
        slow = asyncio.create_task(knowledge_jobs.ingest_document(runtime.ingestion, ws, doc))
        await embedder.entered.wait()  # the slow run embeds its first batch
        # The same job run again (same revision, document ``processing``) finishes first.
        assert await knowledge_jobs.ingest_document(runtime.ingestion, ws, doc) == "ready"
        embedder.release.set()
        assert await slow == "superseded"
        r = await client.get(owner.url(f"/documents/{doc}"), headers=owner.headers)
        assert r.status_code == 200, r.text
        document = r.json()
    assert (document["status"], document["progress"], document["error_code"]) == (
        "ready",
        1.0,
        None,
    )
