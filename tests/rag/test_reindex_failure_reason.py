"""A document whose re-indexing by ``trulybot reindex`` (a new chunk format after an upgrade)
fails, told to its owner as it is: the version stored is the one answering, it keeps answering
as indexed before, and Retry (or the operator's next ``trulybot reindex``) runs the re-indexing
again; nothing is to be uploaded. Before, the reason could not tell a re-indexing from a
replacement: it told the owner to "upload that file again" (or "send its text again") to go
back to a last good version that never went away.

The re-indexing runs through ``reindexing.reprocess_document`` (what the command runs for each
outdated document) with an embedder that fails; the document's chunks are made to look as a
release before the "title > headings" format cut them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from core.db import Database
from rag.knowledge import reindexing, unfinished
from rag.knowledge.chunking import EMBED_FORMAT
from rag.knowledge.embedders import EmbeddingError, HashEmbedder
from rag.knowledge.jobs import ingest_document
from rag.knowledge.repository import chunks as chunk_repo
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.rag.test_documents_api import MD, get_doc, upload
from tests.rag.test_job_interruptions import HeldJobs


class Switchable(HashEmbedder):
    """The hash embedder, failing while ``down``."""

    def __init__(self) -> None:
        super().__init__(dimensions=384)
        self.down = False

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if self.down:
            raise EmbeddingError("the model is down")
        return await super().embed_documents(texts)


async def _submit(client: httpx.AsyncClient, owner: Owner, kind: str) -> str:
    body = MD + f"\nReference {uuid.uuid4().hex}.\n"
    if kind == "upload":
        sent = await upload(client, owner, "guide.md", body.encode(), "text/markdown")
    else:
        sent = await client.post(
            owner.url("/documents"), json={"title": "Guide", "text": body}, headers=owner.headers
        )
    assert sent.status_code == 202, sent.text
    return str(sent.json()["id"])


async def _outdate(owner_db: Database, document_id: str) -> None:
    """Its chunks as format 1 stored them: no ``embed_format``, the hash of the text alone."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE chunks SET metadata = metadata - 'embed_format',"
                " content_hash = encode(sha256(convert_to(text, 'UTF8')), 'hex')"
                " WHERE document_id = :d"
            ),
            {"d": uuid.UUID(document_id)},
        )


def _says_reindexing_failed(reason: str, chunks: int) -> None:
    assert "upload" not in reason.lower(), reason
    assert "send its text" not in reason, reason
    assert "go back" not in reason, reason
    assert "re-indexing it after an upgrade" in reason.lower(), reason
    assert f"({chunks} chunk{'s' if chunks != 1 else ''}, ingested " in reason, reason
    assert "keeps answering" in reason, reason
    assert "Retry runs the re-indexing again" in reason, reason
    assert "trulybot reindex" in reason, reason


@pytest.mark.parametrize("kind", ["upload", "text"])
async def test_a_failed_reindexing_says_the_stored_version_keeps_answering(
    runtime_factory: RuntimeFactory, owner_db: Database, kind: str
) -> None:
    embedder = Switchable()
    async with runtime_factory(embedder=embedder) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        doc_id = await _submit(client, owner, kind)
        await runtime.jobs.drain()
        ready = await get_doc(client, owner, doc_id)
        assert ready["status"] == "ready", ready
        chunks = ready["chunk_count"]
        assert chunks >= 1
        await _outdate(owner_db, doc_id)
        deps = runtime.ingestion
        assert uuid.UUID(doc_id) in await reindexing.outdated_documents(deps, ws)

        embedder.down = True
        assert await reindexing.reprocess_document(deps, ws, uuid.UUID(doc_id)) == "failed"
        failed = await get_doc(client, owner, doc_id)
        assert (failed["status"], failed["error_code"]) == ("failed", "embedding_failed")
        assert failed["error"].startswith("the model is down. "), failed["error"]
        _says_reindexing_failed(failed["error"], chunks)
        assert (failed["chunk_count"], failed["ingested_at"]) == (chunks, ready["ingested_at"])

        # Retry while the model is still down: the same re-indexing failed, said the same way.
        retry = await client.post(owner.url(f"/documents/{doc_id}/retry"), headers=owner.headers)
        assert retry.status_code == 202, retry.text
        await runtime.jobs.drain()
        again = await get_doc(client, owner, doc_id)
        assert again["status"] == "failed", again
        assert again["error"] == failed["error"]

        # Retry is the fix, as the reason says.
        embedder.down = False
        retry = await client.post(owner.url(f"/documents/{doc_id}/retry"), headers=owner.headers)
        assert retry.status_code == 202, retry.text
        await runtime.jobs.drain()
        fixed = await get_doc(client, owner, doc_id)
        assert (fixed["status"], fixed["error"]) == ("ready", None)
        assert await reindexing.outdated_documents(deps, ws) == []


async def test_a_failed_replacement_of_an_outdated_document_still_says_to_upload_it_again(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """Chunks of an older format and a new file that fails (no text in it): a replacement, not
    a re-indexing; going back to the last good version is uploading it again."""
    async with runtime_factory(embedder=Switchable()) as runtime, client_for(runtime) as client:
        owner = await signup(client)
        doc_id = await _submit(client, owner, "upload")
        await runtime.jobs.drain()
        await _outdate(owner_db, doc_id)
        put = await client.put(
            owner.url(f"/documents/{doc_id}"),
            files={"file": ("guide.md", f"<!-- {uuid.uuid4().hex} -->\n", "text/markdown")},
            headers=owner.headers,
        )
        assert put.status_code == 202, put.text
        await runtime.jobs.drain()
        failed: dict[str, Any] = await get_doc(client, owner, doc_id)
    assert (failed["status"], failed["error_code"]) == ("failed", "nothing_extractable")
    assert "to go back to the last good one, upload that file again" in failed["error"]
    assert "re-indexing" not in failed["error"].lower()


async def test_the_answering_version_sent_again_and_cut_short_says_it_keeps_answering(
    runtime_factory: RuntimeFactory,
) -> None:
    """A replacement failed (the model down), and its owner uploads the last good file again, as
    the reason told them; that job is cut short (``unfinished.interrupted``, what a cancelled
    job runs): what failed is the version answering. Before, the reason told them again to
    upload that file to go back to it. The jobs are run here, one by one (a held queue)."""
    embedder = Switchable()
    async with (
        runtime_factory(embedder=embedder, jobs=HeldJobs()) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        ws = uuid.UUID(owner.workspace_id)
        good = (MD + f"\nReference {uuid.uuid4().hex}.\n").encode()
        sent = await upload(client, owner, "guide.md", good, "text/markdown")
        assert sent.status_code == 202, sent.text
        doc_id = uuid.UUID(sent.json()["id"])
        assert await ingest_document(runtime.ingestion, ws, doc_id) == "ready"
        ready = await get_doc(client, owner, str(doc_id))
        embedder.down = True
        reasons = []
        for data in (good + b"\nA new paragraph.\n", good):
            put = await client.put(
                owner.url(f"/documents/{doc_id}"),
                files={"file": ("guide.md", data, "text/markdown")},
                headers=owner.headers,
            )
            assert put.status_code == 202, put.text
            if data == good:  # cut short (run, it would reuse every chunk: nothing to embed)
                await unfinished.interrupted(runtime.db, ws, doc_id)
            else:
                assert await ingest_document(runtime.ingestion, ws, doc_id) == "failed"
            failed = await get_doc(client, owner, str(doc_id))
            assert failed["status"] == "failed", failed
            assert failed["chunk_count"] == ready["chunk_count"]
            reasons.append(failed["error"])
    replacement, same = reasons
    assert "to go back to the last good one, upload that file again" in replacement
    assert "upload" not in same, same
    assert "What failed is the content answering, run again" in same, same
    assert "re-indexing" not in same.lower()


async def _text(client: httpx.AsyncClient, owner: Owner, title: str) -> str:
    body = MD + f"\nReference {uuid.uuid4().hex}.\n"
    sent = await client.post(
        owner.url("/documents"), json={"title": title, "text": body}, headers=owner.headers
    )
    assert sent.status_code == 202, sent.text
    return str(sent.json()["id"])


async def test_only_the_outdated_document_and_workspace_count_as_outdated(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """``chunks._older_format``'s two users read one document and one workspace: a current
    document beside an outdated one (and another workspace's) is not "re-indexing after an
    upgrade", nor listed for the command."""
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner, other = await signup(client), await signup(client)
        ws, elsewhere = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
        old, current = await _text(client, owner, "Old"), await _text(client, owner, "Current")
        assert old != current
        theirs = await _text(client, other, "Theirs")
        await runtime.jobs.drain()
        await _outdate(owner_db, old)
        await _outdate(owner_db, theirs)
        async with runtime.db.transaction(workspace_id=ws) as session:
            assert await chunk_repo.has_outdated_chunks(session, ws, uuid.UUID(old), EMBED_FORMAT)
            assert not await chunk_repo.has_outdated_chunks(
                session, ws, uuid.UUID(current), EMBED_FORMAT
            )
        assert await reindexing.outdated_documents(runtime.ingestion, ws) == [uuid.UUID(old)]
        assert await reindexing.outdated_documents(runtime.ingestion, elsewhere) == [
            uuid.UUID(theirs)
        ]
