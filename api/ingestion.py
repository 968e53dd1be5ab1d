"""Ingestion jobs from HTTP requests (the JSON API and the dashboard): enqueued as background
tasks, which run after the response, i.e. after the request's commit.

The queue (Redis, with arq) may be unreachable for a moment (a restart, a failover): the enqueue
is tried again a few times; when it still fails, the document becomes ``failed`` with the code
``queue_unavailable`` instead of staying ``queued`` with no job behind it (the owner may retry).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from fastapi import BackgroundTasks

from core.jobs import JobQueue
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import requeue, submissions, sync, unfinished
from rag.knowledge.web_submissions import SitemapReading

log = logging.getLogger(__name__)

ENQUEUE_DELAYS: tuple[float, ...] = requeue.ENQUEUE_DELAYS
"""Seconds before each new try of an enqueue that failed (about 7.5 s in all)."""


def enqueue_after_commit(
    background: BackgroundTasks,
    jobs: JobQueue,
    subs: Iterable[submissions.Submission],
    *,
    ingestion: knowledge_jobs.IngestionDeps | None = None,
) -> None:
    """Enqueue each submission's job after the response; with ``ingestion``, a document whose
    job cannot be enqueued is marked failed (``queue_unavailable``)."""
    for sub in subs:
        if sub.needs_job:
            document = sub.document
            background.add_task(
                enqueue_or_fail,
                jobs,
                document.workspace_id,
                document.id,
                ingestion,
                revision=document.revision,
            )


async def enqueue_or_fail(
    jobs: JobQueue,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    ingestion: knowledge_jobs.IngestionDeps | None,
    *,
    revision: int,
) -> None:
    """Enqueue under the revision's job id (rag/knowledge/requeue.py): a sweep that finds the
    document still queued later adds nothing while this job waits or runs."""
    if await requeue.enqueue_retrying(
        jobs, workspace_id, document_id, revision, delays=ENQUEUE_DELAYS
    ):
        return
    log.error("ingestion job for document %s not enqueued: marked failed", document_id)
    if ingestion is not None:
        await unfinished.fail_pending(
            ingestion.db,
            workspace_id,
            document_id,
            reason="The ingestion queue was unavailable; retry the document.",
            code=unfinished.QUEUE_UNAVAILABLE,
        )


def read_sitemap_after_commit(
    background: BackgroundTasks, ingestion: knowledge_jobs.IngestionDeps, reading: SitemapReading
) -> None:
    """Enqueue a posted sitemap's read (``submissions.queue_sitemap``) after the response, as
    "Sync now" is (a queue that stays down gives the lease back; the scheduler reads it then);
    nothing when a read or sync of it runs already."""
    if reading.holder is None:
        return
    source = reading.source
    background.add_task(
        sync.enqueue_requested_sync,
        ingestion,
        source.workspace_id,
        source.id,
        reading.holder,
        trigger="submit",
    )
