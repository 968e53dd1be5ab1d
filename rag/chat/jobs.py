"""The answer side's background jobs: refreshing a workspace's analytics rollup, retrying a
workspace's due webhook deliveries.

Registered with the job queue next to the knowledge jobs (api/job_registry.py); the
job context carries the knowledge jobs' deps (``rag.knowledge.jobs.DEPS_KEY``), whose database
it uses. Jobs carry ids only and are idempotent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from core.jobs import JobFunction
from core.logging import workspace_context
from rag.chat import analytics, notify
from rag.knowledge import jobs as knowledge_jobs

ANALYTICS_JOB = "refresh_analytics"


def analytics_job_id(workspace_id: uuid.UUID) -> str:
    """The stable id of the workspace's scheduled refresh (one waiting at a time)."""
    return f"{ANALYTICS_JOB}:{workspace_id}"


async def refresh_analytics_job(ctx: dict[str, Any], workspace_id: str, now: str) -> int:
    """Recount the workspace's changed days as of ``now`` (the scheduled run's clock)."""
    deps: knowledge_jobs.IngestionDeps = ctx[knowledge_jobs.DEPS_KEY]
    with workspace_context(workspace_id):
        return await analytics.refresh(
            deps.db, workspace_id=uuid.UUID(workspace_id), now=datetime.fromisoformat(now)
        )


WEBHOOK_RETRY_JOB = "webhook_retry"


def webhook_retry_job_id(workspace_id: uuid.UUID) -> str:
    """The stable id of the workspace's retry run (one waiting or running at a time)."""
    return f"{WEBHOOK_RETRY_JOB}:{workspace_id}"


async def webhook_retry_job(ctx: dict[str, Any], workspace_id: str, now: str) -> int:
    """One attempt of each of the workspace's deliveries due at ``now`` (rag/chat/notify.py
    ``Notifier.retry_due``: a few posts at once, each cut off at its timeout, none started past
    the run's deadline); how many were attempted."""
    notifier: notify.Notifier = ctx[notify.DEPS_KEY]
    with workspace_context(workspace_id):
        return await notifier.retry_due(uuid.UUID(workspace_id), datetime.fromisoformat(now))


JOBS: dict[str, JobFunction] = {
    ANALYTICS_JOB: refresh_analytics_job,
    WEBHOOK_RETRY_JOB: webhook_retry_job,
}
