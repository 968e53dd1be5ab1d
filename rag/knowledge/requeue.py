"""Documents ``queued`` with no job behind them: the enqueue after the commit never happened (a
crash or a deploy between the two, Redis lost, an arq job expired). The scheduled job
``requeue_queued_documents`` (api/schedule.py) enqueues them again.

Documents left ``processing`` by a job that died with its process (SIGKILL, out of memory, a
power loss: no handler ran, so ``unfinished.interrupted`` did not either) are found by the same
sweep once their row has not been written for ``PROCESSING_TOO_LONG``, and become ``failed``
(``abandoned``) for the owner to retry. They are not run again on their own: a document that
kills its process would kill the next one too. (A worker also gives a job up once its runs
died MAX_STARTS times, core/jobs.py; a stray start of the job skips an ``abandoned``
document.)

An ingestion job goes under one id per document revision (``job_id``), from the request that
queued it and from this sweep alike: while that job waits or runs, the sweep's enqueue adds
nothing (arq, and the in-process queue, refuse a second job of the id), so a document waiting
behind lagging workers is not queued twice. The job is idempotent anyway: a document already
``ready`` (or ``failed``) is skipped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from core.jobs import JobQueue, enqueue_retried
from rag.knowledge.jobs import INGEST_JOB, IngestionDeps
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.unfinished import abandoned

log = logging.getLogger(__name__)

QUEUED_TOO_LONG = timedelta(minutes=10)
"""How long a document stays ``queued`` before the sweep looks for its job."""
PROCESSING_TOO_LONG = timedelta(hours=1)
"""How long a ``processing`` document's row may stay unwritten before its job is taken for dead.
A live job writes it when it starts, after parsing and after each batch of embeddings; the
worker's job timeout (``--job-timeout``, 30 minutes by default) cancels a job sooner, and a
cancelled job fails its document itself."""
BATCH = 500


def job_id(document_id: uuid.UUID, revision: int) -> str:
    return f"{INGEST_JOB}:{document_id}:{revision}"


async def enqueue(
    jobs: JobQueue, workspace_id: uuid.UUID, document_id: uuid.UUID, revision: int
) -> str:
    """Enqueue the document's ingestion under its revision's id; "" when that job still waits
    or runs."""
    return await jobs.enqueue(
        INGEST_JOB,
        _job_id=job_id(document_id, revision),
        workspace_id=str(workspace_id),
        document_id=str(document_id),
    )


ENQUEUE_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
"""Seconds before each new try of an enqueue that failed (about 7.5 s in all)."""


async def enqueue_retrying(
    jobs: JobQueue,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    revision: int,
    *,
    delays: Sequence[float] | None = None,
) -> bool:
    """``enqueue``, tried again after each of ``delays`` (``ENQUEUE_DELAYS``) while the queue
    is unreachable (a Redis restart, a failover); False when every try failed."""
    return await enqueue_retried(
        lambda: enqueue(jobs, workspace_id, document_id, revision),
        ENQUEUE_DELAYS if delays is None else delays,
        what=f"ingestion job for document {document_id}",
    )


async def requeue_stale(deps: IngestionDeps, workspace_id: uuid.UUID, now: datetime) -> int:
    """Enqueue again the workspace's documents ``queued`` since before ``now`` less
    ``QUEUED_TOO_LONG`` whose job is gone; how many were enqueued. Documents ``processing``
    with no write since ``now`` less ``PROCESSING_TOO_LONG`` become ``failed``
    (``abandoned``, ``fail_abandoned``)."""
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        stale = await document_repo.unchanged_since(
            session, workspace_id, status="queued", before=now - QUEUED_TOO_LONG, limit=BATCH
        )
    requeued = 0
    for document_id, revision in stale:
        if await enqueue(deps.jobs, workspace_id, document_id, revision):
            requeued += 1
            log.warning("document %s was queued with no job: enqueued again", document_id)
    await fail_abandoned(deps, workspace_id, now)
    return requeued


RESUME_BATCH = 5000
"""The most documents of one workspace a start enqueues again at once (the rest: the sweep)."""


async def requeue_left(deps: IngestionDeps, workspace_id: uuid.UUID, before: datetime) -> int:
    """Enqueue the workspace's documents ``queued`` since before ``before`` (this process's
    start): their jobs waited in, or ran on, the in-process queue of a server that stopped
    (``unfinished.requeue_after_stop``), and nothing else holds them. How many."""
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        left = await document_repo.unchanged_since(
            session, workspace_id, status="queued", before=before, limit=RESUME_BATCH
        )
    requeued = 0
    for document_id, revision in left:
        if await enqueue(deps.jobs, workspace_id, document_id, revision):
            requeued += 1
    return requeued


async def fail_abandoned(deps: IngestionDeps, workspace_id: uuid.UUID, now: datetime) -> int:
    """``failed`` (``abandoned``) for the workspace's documents ``processing`` with no write
    since ``now`` less ``PROCESSING_TOO_LONG``; how many."""
    before = now - PROCESSING_TOO_LONG
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        stuck = await document_repo.unchanged_since(
            session, workspace_id, status="processing", before=before, limit=BATCH
        )
    failed = 0
    for document_id, revision in stuck:
        if await abandoned(deps.db, workspace_id, document_id, revision, before):
            failed += 1
            log.warning("document %s was processing with no live job: failed", document_id)
    return failed
