"""Documents ``queued`` with no job behind them: the enqueue after the commit never happened (a
crash or a deploy between the two, Redis lost, an arq job expired). The scheduled job
``requeue_queued_documents`` (api/schedule.py) enqueues them again.

An ingestion job goes under one id per document revision (``job_id``), from the request that
queued it and from this sweep alike: while that job waits or runs, the sweep's enqueue adds
nothing (arq, and the in-process queue, refuse a second job of the id), so a document waiting
behind lagging workers is not queued twice. The job is idempotent anyway: a document already
``ready`` (or ``failed``) is skipped.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from core.jobs import JobQueue
from rag.knowledge.jobs import INGEST_JOB, IngestionDeps
from rag.knowledge.repository import documents as document_repo

log = logging.getLogger(__name__)

QUEUED_TOO_LONG = timedelta(minutes=10)
"""How long a document stays ``queued`` before the sweep looks for its job."""
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


async def requeue_stale(deps: IngestionDeps, workspace_id: uuid.UUID, now: datetime) -> int:
    """Enqueue again the workspace's documents ``queued`` since before ``now`` less
    ``QUEUED_TOO_LONG`` whose job is gone; how many were enqueued."""
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        stale = await document_repo.queued_before(
            session, workspace_id, before=now - QUEUED_TOO_LONG, limit=BATCH
        )
    requeued = 0
    for document_id, revision in stale:
        if await enqueue(deps.jobs, workspace_id, document_id, revision):
            requeued += 1
            log.warning("document %s was queued with no job: enqueued again", document_id)
    return requeued
