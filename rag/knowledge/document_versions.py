"""What a submitted content becomes: a new document, a new revision of one, or a duplicate
(``submit_content``); a document queued again for its job (``requeue``). The request side's
entry points (``rag.knowledge.submissions``, ``web_submissions``) authorize and check the input
first; the caller commits, then enqueues the ingestion job.

Identity of a document inside a workspace is ``(source_type, source)``: the upload's file name
(or its path relative to the folder given to ``trulybot ingest``), the text's title, or the URL.
- Identical content (sha256 of the bytes) already stored: the existing document is returned
  (``duplicate``), nothing is queued; unless that document failed, which is queued again (as
  Retry does) and returned as a new version of it.
- Same identity, new content (re-upload of ``guide.md``, the same URL posted again, or
  ``PUT .../documents/{id}``): the document gets a new revision and is re-processed; chunks whose
  content hash is unchanged keep their row and embedding, only changed chunks are embedded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rag.knowledge.limits import check_quotas
from rag.knowledge.models import Document, content_hash
from rag.knowledge.repository import documents as document_repo
from workspaces.models import Workspace


@dataclass(frozen=True)
class Submission:
    document: Document
    created: bool
    duplicate: bool = False

    @property
    def needs_job(self) -> bool:
        return not self.duplicate


async def submit_content(
    session: AsyncSession,
    workspace: Workspace,
    *,
    source_type: str,
    source: str,
    title: str,
    content_type: str | None,
    data: bytes | None,
) -> Submission:
    digest = content_hash(data) if data is not None else None
    # Before looking: the same new name submitted twice at once (a double click, a client's
    # retry) found no document in both requests and the second insert failed with a 500.
    await document_repo.lock_document_source(session, workspace.id, source_type, source)
    # The document this is a new version of comes first: matched by content first, an update
    # of "Refund policy" to the text another document holds answered with that one as a
    # duplicate, and "Refund policy" kept its old text.
    existing = await document_repo.find_by_source(session, workspace.id, source_type, source)
    if existing is not None:
        # Locked and read again: a replacement (PUT) committing meanwhile had its revision
        # number written a second time, for other content.
        existing = await document_repo.get_document(
            session, workspace.id, existing.id, for_update=True
        )
    if (
        existing is not None
        and digest is not None
        and existing.content_hash == digest
        and existing.status != "failed"  # a failed one is queued again, below
    ):
        return Submission(document=existing, created=False, duplicate=True)  # unchanged
    if existing is None and digest is not None:
        same = await document_repo.find_by_hash(session, workspace.id, digest)
        if same is not None and same.status == "failed":
            # The owner sent it again after a failure (a queue or embedder outage): run it
            # again, as Retry would; answered as a duplicate, it stayed failed. Of another
            # source (a text, another name): its own content type and name are kept.
            same = await document_repo.get_document(session, workspace.id, same.id, for_update=True)
            if same is not None and same.status == "failed":
                await requeue(session, same, data=None, digest=None, content_type=None)
                return Submission(document=same, created=False)
        if same is not None:
            return Submission(document=same, created=False, duplicate=True)
    if existing is not None:
        await requeue(session, existing, data=data, digest=digest, content_type=content_type)
        return Submission(document=existing, created=False)
    await check_quotas(session, workspace, new_documents=1)
    document = Document(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        title=title[:300] or "Untitled",
        source_type=source_type,
        source=source,
        content_type=content_type,
        content_hash=digest,
        body=data,
        status="queued",
        progress=0.0,
        chunk_count=0,
        revision=1,
        counted=False,
    )
    await document_repo.insert_document(session, document)
    return Submission(document=document, created=True)


async def requeue(
    session: AsyncSession,
    document: Document,
    *,
    data: bytes | None,
    digest: str | None,
    content_type: str | None,
) -> None:
    values: dict[str, Any] = {
        "status": "queued",
        "progress": 0.0,
        "error": None,
        "error_code": None,
        "revision": document.revision + 1,
    }
    if data is not None:
        values.update(body=data, content_hash=digest, content_type=content_type)
    await document_repo.update_document(session, document.workspace_id, document.id, **values)
    await session.refresh(document)
