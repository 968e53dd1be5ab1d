"""Ingestion jobs from HTTP requests (the JSON API and the dashboard): enqueued as background
tasks, which run after the response, i.e. after the request's commit."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import BackgroundTasks

from core.jobs import JobQueue
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import submissions


def enqueue_after_commit(
    background: BackgroundTasks, jobs: JobQueue, subs: Iterable[submissions.Submission]
) -> None:
    for sub in subs:
        if sub.needs_job:
            background.add_task(
                jobs.enqueue,
                knowledge_jobs.INGEST_JOB,
                workspace_id=str(sub.document.workspace_id),
                document_id=str(sub.document.id),
            )
