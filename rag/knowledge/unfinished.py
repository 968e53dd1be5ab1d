"""Documents whose job will not run, or not finish: ``failed`` with a reason instead of
``queued``/``processing`` for good (an enqueue that failed, a job cancelled mid-way, a process
killed mid-job)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.models import utcnow
from rag.knowledge.chunking import EMBED_FORMAT
from rag.knowledge.models import Document
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as document_repo
from workspaces import notifications

INTERRUPTED = "interrupted"
"""Cancelled mid-way (a job timeout, a worker shutting down): arq may run the job again, which
processes the document as if queued."""
ABANDONED = "abandoned"
"""The process running the job died (killed, out of memory), too often or with nothing left to
finish it: not run again on its own, a stray start of its job skips it (a document that kills
its process would kill the next one too); the owner retries it."""
QUEUE_UNAVAILABLE = "queue_unavailable"
UNTIL_FETCHED = "until a fetch of the page is ingested"
"""How long a web page's last good version answers: a changed page that fails too leaves it."""


async def fail_pending(
    db: Database,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    reason: str,
    code: str,
) -> None:
    """A document still ``queued`` or ``processing`` becomes ``failed`` with ``reason``: the
    owner sees why and may retry it. Any other state is left alone."""
    async with db.transaction(workspace_id=workspace_id) as session:
        document = await document_repo.get_document(
            session, workspace_id, document_id, for_update=True
        )
        if document is None or document.status not in ("queued", "processing"):
            return
        await mark_failed(session, workspace_id, document, reason=reason, code=code)


async def interrupted(db: Database, workspace_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Its job was cancelled mid-way, or dropped unrun by a stopping queue: ``failed``
    (``interrupted``) for the owner to retry."""
    await fail_pending(
        db,
        workspace_id,
        document_id,
        reason="Processing was interrupted (a job timeout or a worker shutting down); "
        "retry the document.",
        code=INTERRUPTED,
    )


MAX_STOP_REQUEUES = 3
"""How many times in a row a document whose job was running when its server stopped goes back
to ``queued`` for the next start; then it ends ``failed`` (``interrupted``): a document whose
job is always running at the stop (it hangs, or the server is stopped because of it) does not
come back forever."""


async def requeue_after_stop(db: Database, workspace_id: uuid.UUID, document_id: uuid.UUID) -> bool:
    """Its job ran in the in-process queue of a server that is stopping (SIGTERM, Ctrl-C):
    ``queued`` again for the next start (``api.schedule.resume_queued_documents``), the owner
    presses nothing; past ``MAX_STOP_REQUEUES`` stops in a row, ``failed`` (``interrupted``).
    Whether it went back to the queue."""
    async with db.transaction(workspace_id=workspace_id) as session:
        document = await document_repo.get_document(
            session, workspace_id, document_id, for_update=True
        )
        if document is None or document.status not in ("queued", "processing"):
            return False
        stops = (document.stop_requeues or 0) + 1
        if stops > MAX_STOP_REQUEUES:
            await mark_failed(
                session,
                workspace_id,
                document,
                reason=f"Processing was interrupted: the server stopped while processing it"
                f" {stops} times in a row; retry the document.",
                code=INTERRUPTED,
            )
            return False
        await document_repo.update_document(
            session, workspace_id, document_id, status="queued", progress=0.0, stop_requeues=stops
        )
        return True


async def abandoned(
    db: Database, workspace_id: uuid.UUID, document_id: uuid.UUID, revision: int, before: datetime
) -> bool:
    """A document left ``processing`` at ``revision`` with its row unwritten since ``before``:
    the process running its job died (killed, out of memory, the power) and no handler ran.
    It becomes ``failed`` (``abandoned``) for the owner to retry; whether it did. Checked
    again under the row's lock, so a job that just wrote progress keeps its document."""
    async with db.transaction(workspace_id=workspace_id) as session:
        document = await document_repo.get_document(
            session, workspace_id, document_id, for_update=True
        )
        if (
            document is None
            or document.status != "processing"
            or document.revision != revision
            or document.updated_at >= before
        ):
            return False
        await mark_failed(
            session,
            workspace_id,
            document,
            reason="Processing stopped with nothing left to finish it (the process running it "
            "was stopped or killed); retry the document.",
            code=ABANDONED,
        )
        return True


async def given_up(
    db: Database, workspace_id: uuid.UUID, document_id: uuid.UUID, *, starts: int
) -> None:
    """A worker gave the document's job up: each of its ``starts`` runs died with its process
    (core.jobs.MAX_STARTS). ``failed`` (``abandoned``) for the owner to look at and retry."""
    await fail_pending(
        db,
        workspace_id,
        document_id,
        reason=f"Processing was started {starts} times and the process running it stopped each "
        "time (out of memory, or killed); it is not run again on its own. Retry the document, "
        "or split it into smaller ones.",
        code=ABANDONED,
    )


async def mark_failed(
    session: AsyncSession, workspace_id: uuid.UUID, document: Document, *, reason: str, code: str
) -> None:
    """``document`` (locked by the caller) becomes ``failed`` with ``reason`` and ``code``, and
    the owners are told (``ingestion.failed``, once per document revision), in the caller's
    transaction. The reason says what answers from the document now (``what_answers``): a
    document whose earlier version was ingested keeps that version's chunks (searchable,
    answering; they are swapped only in the job's last transaction), so a replacement that
    turned unparseable or over quota is not served as if current without its owner knowing.
    A web page's syncs do not run the same bytes again (``sync_pages.RUN_AGAIN``), so the mail
    is not sent again each sync."""
    upgrade = ran_again(document) and await chunk_repo.has_outdated_chunks(
        session, workspace_id, document.id, EMBED_FORMAT
    )
    reason = f"{reason.rstrip('.')}. {what_answers(document, reindexing=upgrade)}"
    await document_repo.update_document(
        session,
        workspace_id,
        document.id,
        status="failed",
        error=reason[:2000],
        error_code=code[:64],
        processed_at=utcnow(),
        stop_requeues=0,  # a Retry starts counting again
    )
    await notifications.emit(
        session,
        workspace_id,
        "ingestion.failed",
        f"{document.id}:{document.revision}",
        {
            "document_id": str(document.id),
            "title": (document.title or document.source or "")[:200],
            "reason": reason[:500],
            "code": code[:64],
        },
    )


def ran_again(document: Document) -> bool:
    """Whether the stored content that failed is the version answering (its ``content_hash``
    is the ``ingested_hash``), run again: ``trulybot reindex`` re-cutting it after an upgrade,
    a Retry of that, the same file sent again. Not a web page (fetched anew each run)."""
    return (
        document.source_type in ("upload", "text")
        and bool(document.chunk_count)
        and document.ingested_hash is not None
        and document.ingested_hash == document.content_hash
    )


def what_answers(document: Document, *, reindexing: bool = False) -> str:
    """What answers from a document whose processing failed, as its owner reads it after the
    reason: its last good version (its chunk count, and when it was ingested where known) until
    a new one is ingested, or nothing. Retry runs the stored version, the one that failed: it
    does not bring an uploaded file's previous version back; unless that is the version
    answering (``ran_again``), where there is nothing to go back to: ``reindexing`` (its chunks
    are of an older format) says it was its re-indexing after an upgrade that failed."""
    if not document.chunk_count:
        return "Nothing answers from it: no version of it has been ingested yet."
    told = _what_answers(document, reindexing=reindexing)
    if document.ingested_notice:  # the answering version's warning, not the failed one's
        return f"{told} In the version answering: {document.ingested_notice.rstrip('.')}."
    return told


def _what_answers(document: Document, *, reindexing: bool) -> str:
    count = f"{document.chunk_count} chunk{'s' if document.chunk_count != 1 else ''}"
    when = document.ingested_at
    kept = f"{count}, ingested {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when else count
    if document.source_type in ("url", "sitemap"):
        return (
            f"Its last good version (as fetched before: {kept}) keeps answering {UNTIL_FETCHED}"
            " (a sync that finds the page changed, or Retry); delete the page to stop that."
        )
    stop = "Delete the document to stop it answering."
    if reindexing:
        return (
            "Re-indexing it after an upgrade (a new chunk format) failed: its stored version,"
            f" the one answering ({kept}), keeps answering as it was indexed before. Retry runs"
            f" the re-indexing again, as the operator's next `trulybot reindex` does. {stop}"
        )
    if ran_again(document):
        return (
            f"What failed is the content answering, run again ({kept}): its chunks keep"
            f" answering as they were ingested. Retry runs it again. {stop}"
        )
    again = "upload that file" if document.source_type == "upload" else "send its text"
    return (
        f"Its last good version ({kept}) keeps answering until a new version is ingested."
        f" Retry runs the version that failed again; to go back to the last good one, {again}"
        f" again. {stop}"
    )
