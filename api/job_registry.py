"""Every job a TrulyBot process runs, by name, with the queue's rules for them: the in-process
queue's (``api.runtime``) and `trulybot worker`'s registry."""

from __future__ import annotations

from billing import cancel_sweep, provider_cancels
from core.jobs import JobRegistry
from core.mail import FLUSH_JOB as MAIL_FLUSH_JOB
from core.mail import JOBS as MAIL_JOBS
from lifecycle import deletion, exports
from lifecycle import jobs as lifecycle_jobs
from rag.chat import jobs as chat_jobs
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import sync as knowledge_sync
from workspaces import notification_delivery


def job_registry() -> JobRegistry:
    """Every job function, by name: the in-process queue's and `trulybot worker`'s."""
    return JobRegistry(
        {
            **knowledge_jobs.JOBS,
            **knowledge_sync.JOBS,
            **chat_jobs.JOBS,
            **lifecycle_jobs.JOBS,
            **MAIL_JOBS,
            **notification_delivery.JOBS,
        },
        # Short jobs an owner or a visitor waits for: never behind the workspace's ingestion.
        uncapped={
            exports.EXPORT_JOB,
            chat_jobs.ANALYTICS_JOB,
            chat_jobs.WEBHOOK_RETRY_JOB,
            notification_delivery.DISPATCH_JOB,
            MAIL_FLUSH_JOB,
            provider_cancels.CANCEL_JOB,
            cancel_sweep.SWEEP_JOB,
        },
        # One job waiting per id: a workspace's scheduled refresh or webhook retry, a document
        # revision's ingestion, a deleted workspace's purge, a Razorpay Subscription's cancel,
        # the sweep of the waiting cancels.
        keyed={
            chat_jobs.ANALYTICS_JOB,
            chat_jobs.WEBHOOK_RETRY_JOB,
            knowledge_jobs.INGEST_JOB,
            deletion.PURGE_JOB,
            provider_cancels.CANCEL_JOB,
            cancel_sweep.SWEEP_JOB,
        },
        abandoned={
            **knowledge_jobs.ABANDONED,
            **knowledge_sync.ABANDONED,
            **lifecycle_jobs.ABANDONED,
        },
    )
