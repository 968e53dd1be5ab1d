"""A document deleted or replaced while its job embeds leaves nothing of the run behind.

Red-team check of the job's ownership (``rag.knowledge.jobs``): deleted mid-run (its first or a
later batch held in the embedder), the job ends ``superseded``, no chunk of the document is
stored or found by search, and usage counts neither the document nor its chunks; replaced
mid-run (PUT), the old run ends ``superseded`` and the document holds the new text's chunks
alone, the document counted once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import NoResultFound

from api.runtime import Runtime
from core.db import Database
from rag.knowledge import jobs as knowledge_jobs
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.rag.test_ingest_overlap import SMALL_CHUNKS, HoldingOnBatch, _body, _document, posted
from tests.rag.test_job_interruptions import HeldJobs
from tests.rag.test_jobs import _usage
from tests.test_ingest_command import _search


@dataclass
class Run:
    runtime: Runtime
    client: httpx.AsyncClient
    owner: Owner
    workspace: uuid.UUID
    document: uuid.UUID
    job: asyncio.Task[str]
    embedder: HoldingOnBatch


@asynccontextmanager
async def _held_run(runtime_factory: RuntimeFactory, word: str, batch: int) -> AsyncIterator[Run]:
    """A text document naming ``word`` whose job is held in its ``batch``-th embedding call."""
    embedder = HoldingOnBatch(hold_on=batch)
    async with (
        runtime_factory(embedder=embedder, jobs=HeldJobs(), **SMALL_CHUNKS) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        ws, doc = await posted(client, owner, "Menu", word, 2 * knowledge_jobs.EMBED_BATCH + 10)
        job = asyncio.create_task(knowledge_jobs.ingest_document(runtime.ingestion, ws, doc))
        await embedder.entered.wait()
        yield Run(runtime, client, owner, ws, doc, job, embedder)


async def _chunks(owner_db: Database, document_id: uuid.UUID) -> list[str]:
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text("SELECT text FROM chunks WHERE document_id = :d"), {"d": document_id}
        )
    return [str(r[0]) for r in rows]


async def _counted(owner_db: Database, workspace_id: uuid.UUID) -> tuple[int, int]:
    """The workspace's usage counters (documents, chunks); none yet: nothing counted."""
    try:
        return await _usage(owner_db, str(workspace_id))
    except NoResultFound:
        return 0, 0


@pytest.mark.parametrize("batch", [1, 2])
async def test_a_document_deleted_while_its_job_embeds_leaves_no_chunk(
    runtime_factory: RuntimeFactory, owner_db: Database, batch: int
) -> None:
    word = f"w{uuid.uuid4().hex[:10]}"
    async with _held_run(runtime_factory, word, batch) as run:
        deleted = await run.client.delete(
            run.owner.url(f"/documents/{run.document}"), headers=run.owner.headers
        )
        assert deleted.status_code == 204, deleted.text
        run.embedder.release.set()
        assert await run.job == "superseded"
        assert await _chunks(owner_db, run.document) == []
        assert await _search(run.client, run.owner, word) == []
    assert await _counted(owner_db, run.workspace) == (0, 0)


async def test_a_document_replaced_while_its_job_embeds_holds_the_new_text_alone(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    old, new = (f"w{uuid.uuid4().hex[:10]}" for _ in range(2))
    async with _held_run(runtime_factory, old, 2) as run:
        replaced = await run.client.put(
            run.owner.url(f"/documents/{run.document}"),
            json={"text": _body(new, 5)},
            headers=run.owner.headers,
        )
        assert replaced.status_code == 202, replaced.text
        run.embedder.release.set()
        assert await run.job == "superseded"
        ingestion = run.runtime.ingestion  # the PUT's job, run here (the queue holds it)
        assert await knowledge_jobs.ingest_document(ingestion, run.workspace, run.document) == (
            "ready"
        )
        chunks = await _chunks(owner_db, run.document)
        assert not [c for c in chunks if old in c], chunks
        assert [c for c in chunks if new in c], chunks
        assert await _search(run.client, run.owner, old) == []
        document = await _document(run.client, run.owner, str(run.document))
    assert (document["status"], document["revision"]) == ("ready", 2)
    assert await _counted(owner_db, run.workspace) == (1, len(chunks))
