"""The deployment's periodic jobs (core/scheduler.py), wired to the domains' functions.

Each job is a name, a schedule and a function of the run's time. A job with per-workspace work
to do enqueues one job per workspace rather than doing it all inline. See docs/deploy.md,
Periodic jobs.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from billing import subscriptions as billing_subscriptions
from core.scheduler import DailyAt, Every, ScheduledJob
from lifecycle import jobs as lifecycle_jobs
from lifecycle import retention as lifecycle_retention
from rag.chat import analytics as chat_analytics
from rag.chat import jobs as chat_jobs
from rag.chat.notify import Notifier
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import requeue
from rag.knowledge import sync as knowledge_sync
from workspaces import notification_delivery

log = logging.getLogger(__name__)

SOURCE_SYNC_EVERY = timedelta(minutes=2)
ANALYTICS_EVERY = timedelta(minutes=5)


NOTIFICATION_SWEEP_EVERY = timedelta(minutes=1)
WEBHOOK_RETRY_EVERY = timedelta(minutes=1)
MAIL_FLUSH_EVERY = timedelta(minutes=1)
REQUEUE_EVERY = timedelta(minutes=5)
PLAN_EXPIRY_EVERY = timedelta(hours=1)
RAZORPAY_CANCELS_EVERY = timedelta(minutes=5)


async def resume_queued_documents(
    lifecycle: lifecycle_jobs.LifecycleDeps,
    ingestion: knowledge_jobs.IngestionDeps,
    now: datetime,
) -> int:
    """At the start of a `serve` that runs jobs in-process (no REDIS_URL, one process): every
    document the previous run left ``queued`` (uploads still waiting in its queue when it
    stopped, and the ones it was processing, ``requeue.requeue_left``) is enqueued again, so
    the owner presses no Retry after a restart. How many. The syncs and sitemap reads it left
    running get their sources' leases back, so the scheduler's next tick runs them again.
    """
    if freed := await knowledge_sync.resume_left_reads(ingestion):
        log.info("sources left syncing by the last run, run again: %d", freed)
    resumed = 0
    async for workspace in lifecycle_retention.live_workspaces(lifecycle.db):
        resumed += await requeue.requeue_left(ingestion, workspace.id, now)
    return resumed


def scheduled_jobs(
    lifecycle: lifecycle_jobs.LifecycleDeps,
    ingestion: knowledge_jobs.IngestionDeps,
    notifications: notification_delivery.NotificationDeps,
    notifier: Notifier,
) -> list[ScheduledJob]:
    """Every periodic job of the deployment."""

    async def due_sources(now: datetime) -> None:
        await knowledge_sync.sync_due_sources(ingestion, now)

    async def queued_documents(now: datetime) -> None:
        """Documents queued for over ``requeue.QUEUED_TOO_LONG`` whose job is gone; documents
        processing with no write for ``requeue.PROCESSING_TOO_LONG`` (their job died)."""
        async for workspace in lifecycle_retention.live_workspaces(lifecycle.db):
            await requeue.requeue_stale(ingestion, workspace.id, now)

    async def expired_exports(now: datetime) -> None:
        await lifecycle_jobs.delete_expired_exports(lifecycle, now)

    async def deleted_workspaces(now: datetime) -> None:
        await lifecycle_jobs.purge_deleted_workspaces(lifecycle, now)

    async def razorpay_cancels(now: datetime) -> None:
        """Linked Razorpay Subscriptions' cancels still waiting (billing/provider_cancels.py):
        sent again while Razorpay was down, with a backoff, by one job that stops at Razorpay's
        first 429 (billing/cancel_sweep.py); none while the account's rate limit mark holds."""
        await lifecycle_jobs.cancel_razorpay_subscriptions(lifecycle, now)

    async def retention(now: datetime) -> None:
        await lifecycle_jobs.sweep_retention(lifecycle, now)

    async def analytics_rollup(now: datetime) -> None:
        """One rollup refresh per workspace with something to recount (rag/chat/analytics.py
        ``due``: an idle one is skipped after one read): each recounts the days that changed
        since its last refresh; one never refreshed is rebuilt. Under one id per
        workspace: while its refresh still waits (or runs), no second one is queued, so lagging
        workers are not handed one more per workspace every five minutes."""
        async for workspace in lifecycle_retention.live_workspaces(lifecycle.db):
            if not await chat_analytics.due(lifecycle.db, workspace_id=workspace.id):
                continue  # idle: nothing a refresh could change
            await lifecycle.jobs.enqueue(
                chat_jobs.ANALYTICS_JOB,
                _job_id=chat_jobs.analytics_job_id(workspace.id),
                workspace_id=str(workspace.id),
                now=now.isoformat(),
            )

    async def mail_flush(now: datetime) -> None:
        """A ``mail.flush`` job (core/mail.py) for the mail due again after a failed delivery:
        without it such mail waited for the next mail written, or the next start."""
        await notifications.mailer.kick()

    async def settled_mail(now: datetime) -> None:
        """The mail settled more than a week ago: its rows, and the file outbox's files."""
        await notifications.mailer.forget_settled(now)

    async def notification_sweep(now: datetime) -> None:
        await notification_delivery.sweep(notifications, now)

    async def webhook_retry(now: datetime) -> None:
        """The owners' webhooks left pending and due (rag/chat/notify.py): a process stopped
        before its background task posted them, or died mid-attempt. One query finds the
        workspaces that have one due; each gets a ``webhook_retry`` job (one waiting per
        workspace), so a slow receiver holds a worker's job, never this tick's other jobs."""
        for workspace_id in await notifier.workspaces_with_due(now):
            await lifecycle.jobs.enqueue(
                chat_jobs.WEBHOOK_RETRY_JOB,
                _job_id=chat_jobs.webhook_retry_job_id(workspace_id),
                workspace_id=str(workspace_id),
                now=now.isoformat(),
            )

    async def plan_expiry_notices(now: datetime) -> None:
        """``plan.expiring`` for workspaces whose prepaid period ends within 7 days, then within
        1 day (billing/subscriptions.py); once per notice and period end."""
        async for workspace in lifecycle_retention.live_workspaces(lifecycle.db):
            if billing_subscriptions.expiry_notice_due(workspace, now) is None:
                continue
            async with lifecycle.db.transaction(workspace_id=workspace.id) as session:
                await billing_subscriptions.notify_expiring(session, workspace, now)

    async def notification_digest(now: datetime) -> None:
        await notification_delivery.send_digests(notifications, now)

    digest_at = time(lifecycle.settings.notification_digest_hour, 0)
    return [
        ScheduledJob("notification_sweep", Every(NOTIFICATION_SWEEP_EVERY), notification_sweep),
        ScheduledJob("webhook_retry", Every(WEBHOOK_RETRY_EVERY), webhook_retry),
        ScheduledJob("mail_flush", Every(MAIL_FLUSH_EVERY), mail_flush),
        ScheduledJob(
            "notification_digest", DailyAt(digest_at), notification_digest, timedelta(hours=1)
        ),
        ScheduledJob(
            "plan_expiry_notices", Every(PLAN_EXPIRY_EVERY), plan_expiry_notices, timedelta(hours=1)
        ),
        ScheduledJob("delete_expired_exports", Every(timedelta(minutes=15)), expired_exports),
        ScheduledJob("purge_deleted_workspaces", Every(timedelta(minutes=15)), deleted_workspaces),
        ScheduledJob("razorpay_cancels", Every(RAZORPAY_CANCELS_EVERY), razorpay_cancels),
        ScheduledJob("sync_due_sources", Every(SOURCE_SYNC_EVERY), due_sources),
        ScheduledJob(
            "requeue_queued_documents", Every(REQUEUE_EVERY), queued_documents, timedelta(hours=1)
        ),
        ScheduledJob("conversation_retention", DailyAt(time(3, 15)), retention, timedelta(hours=1)),
        ScheduledJob("mail_outbox_cleanup", DailyAt(time(3, 45)), settled_mail, timedelta(hours=1)),
        ScheduledJob(
            "analytics_rollup", Every(ANALYTICS_EVERY), analytics_rollup, timedelta(hours=1)
        ),
    ]
