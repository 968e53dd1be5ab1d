"""The lifecycle package's background jobs and scheduled work.

``JOBS`` is what the api layer registers with the job queue (in-process, or arq in `trulybot
worker`); the job context carries a ``LifecycleDeps`` under ``DEPS_KEY``. Jobs carry ids only and
are idempotent.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from billing import cancel_sweep, provider_cancels
from billing.provider import PaymentProvider
from billing.provider_marking import mark_of
from billing.rate_limit_mark import RateLimitMark
from core.config import Settings
from core.db import Database
from core.jobs import JobFunction, JobQueue
from core.logging import workspace_context
from core.mail import Mailer
from lifecycle import deletion, exports, retention
from rag.chat.cache import ResponseCache

DEPS_KEY = "lifecycle"

log = logging.getLogger(__name__)


@dataclass
class LifecycleDeps:
    """What the lifecycle jobs need; stored in the job context under ``DEPS_KEY``."""

    db: Database
    settings: Settings
    jobs: JobQueue
    redis: Redis | None
    cache: ResponseCache | None = None
    """The process's response cache: a purge clears what its memory holds of the workspace."""
    mailer: Mailer | None = None
    """A purge and an erasure delete the file outbox's copies of the mails they delete."""
    payments: PaymentProvider | None = None
    """Razorpay (None without keys): a linked Razorpay Subscription's cancel is sent with it."""
    razorpay_mark: RateLimitMark = field(init=False)
    """The Razorpay account's rate limit mark (in Redis when configured): every cancel sent
    from this process (job, sweep, purge) waits for it (billing/rate_limit_mark.py). The one
    ``payments`` sets on any call's 429 (billing/provider_marking.py), when it sets one."""

    def __post_init__(self) -> None:
        self.razorpay_mark = mark_of(self.payments) or RateLimitMark(self.redis)


def _deps(ctx: dict[str, Any]) -> LifecycleDeps:
    deps: LifecycleDeps = ctx[DEPS_KEY]
    return deps


async def build_export_job(ctx: dict[str, Any], workspace_id: str, export_id: str) -> str:
    deps = _deps(ctx)
    with workspace_context(workspace_id):
        return await exports.build_export(
            deps.db,
            deps.settings,
            workspace_id=uuid.UUID(workspace_id),
            export_id=uuid.UUID(export_id),
        )


async def purge_workspace_job(
    ctx: dict[str, Any], workspace_id: str, as_of: str | None = None
) -> str:
    """``as_of``: the time the sweep found the workspace due (its clock decides), else now."""
    deps = _deps(ctx)
    with workspace_context(workspace_id):
        return await deletion.purge_workspace(
            deps.db,
            deps.settings,
            deps.redis,
            workspace_id=uuid.UUID(workspace_id),
            now=datetime.fromisoformat(as_of) if as_of else None,
            cache=deps.cache,
            mailer=deps.mailer,
            payments=deps.payments,
            razorpay_mark=deps.razorpay_mark,
        )


async def cancel_razorpay_subscription_job(
    ctx: dict[str, Any], workspace_id: str, now: str | None = None
) -> str:
    """Send the workspace's waiting Razorpay Subscription cancel (billing/provider_cancels.py);
    ``now``: the sweep's time, else now."""
    deps = _deps(ctx)
    with workspace_context(workspace_id):
        return await provider_cancels.send(
            deps.db,
            deps.payments,
            uuid.UUID(workspace_id),
            mark=deps.razorpay_mark,
            now=datetime.fromisoformat(now) if now else None,
        )


async def send_razorpay_cancels_job(ctx: dict[str, Any], now: str) -> int:
    """The ``razorpay_cancels`` sweep's job: the due cancels, one by one, until Razorpay's
    first 429 (billing/cancel_sweep.py); how many were left for the next sweep."""
    deps = _deps(ctx)
    return await cancel_sweep.send_due(
        deps.db, deps.payments, deps.razorpay_mark, now=datetime.fromisoformat(now)
    )


async def purge_old_conversations_job(ctx: dict[str, Any], workspace_id: str, before: str) -> int:
    deps = _deps(ctx)
    with workspace_context(workspace_id):
        return await retention.purge_old_conversations(
            deps.db,
            workspace_id=uuid.UUID(workspace_id),
            before=datetime.fromisoformat(before),
            mailer=deps.mailer,
        )


async def export_abandoned_job(ctx: dict[str, Any], workspace_id: str, export_id: str) -> None:
    """The in-process queue stopped before this export's job ran (the server is stopping):
    ``failed`` (interrupted), not ``queued`` with nothing to build it."""
    with workspace_context(workspace_id):
        await exports.interrupted(
            _deps(ctx).db, workspace_id=uuid.UUID(workspace_id), export_id=uuid.UUID(export_id)
        )


JOBS: dict[str, JobFunction] = {
    exports.EXPORT_JOB: build_export_job,
    deletion.PURGE_JOB: purge_workspace_job,
    retention.RETENTION_JOB: purge_old_conversations_job,
    provider_cancels.CANCEL_JOB: cancel_razorpay_subscription_job,
    cancel_sweep.SWEEP_JOB: send_razorpay_cancels_job,
}
ABANDONED: dict[str, JobFunction] = {exports.EXPORT_JOB: export_abandoned_job}


# --- scheduled (core/scheduler.py, wired in api/schedule.py) ----------------------------------


async def delete_expired_exports(deps: LifecycleDeps, now: datetime) -> None:
    await exports.delete_expired(deps.db, deps.settings, now=now)


async def purge_deleted_workspaces(deps: LifecycleDeps, now: datetime) -> None:
    """One purge job per deleted workspace past its grace period (none more while one waits)."""
    for workspace_id in await deletion.due_for_purge(deps.db, now=now):
        await deps.jobs.enqueue(
            deletion.PURGE_JOB,
            _job_id=deletion.purge_job_id(workspace_id),
            workspace_id=str(workspace_id),
            as_of=now.isoformat(),
        )


async def sweep_retention(deps: LifecycleDeps, now: datetime) -> None:
    """One retention purge per workspace with a finite retention."""
    await retention.sweep(deps.db, deps.jobs, now=now)


async def cancel_razorpay_subscriptions(deps: LifecycleDeps, now: datetime) -> None:
    """One job (one waiting at a time) that sends the Razorpay Subscriptions' cancels waiting
    and due (a send that failed while Razorpay was down; one whose job was lost) one by one,
    until Razorpay's first 429. None while the account's rate limit mark holds, nor without
    keys. Before, one job per cancel, each sent whatever Razorpay answered the others."""
    if deps.payments is None:
        return
    if (
        until := await cancel_sweep.paused_until(deps.payments, deps.razorpay_mark, now)
    ) is not None:
        log.info("razorpay cancels wait: Razorpay rate limits this server until %s", until)
        return
    await deps.jobs.enqueue(
        cancel_sweep.SWEEP_JOB, _job_id=cancel_sweep.SWEEP_JOB_ID, now=now.isoformat()
    )
