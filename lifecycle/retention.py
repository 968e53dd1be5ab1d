"""Conversation retention: conversations whose last message is older than the workspace's
retention are deleted with their messages by a daily job.

The retention is the plan's (``Plan.conversation_retention_days``: None keeps conversations
forever) unless the workspace chose a shorter one; a longer one than its plan allows is refused,
and after a downgrade the shorter of the two applies, once ``RETENTION_GRACE`` has passed since
the paid period ended: until then the ended plan's retention still holds, so a plan that lapsed
for a few days (a prepaid month renewed late, a refund) deletes nothing it would have kept; so
does a lower plan bought after it ended (billing keeps the plan a payment replaced and when it
ended: ``previous_plan``, ``previous_plan_ended_at``). The sweep runs once a day across every
replica (core/scheduler.py) and enqueues one job per workspace with a retention; each job
deletes in batches, in the workspace's own tenant context, and records how many conversations
went in the workspace's audit log (``retention.purged``, counts only). With a conversation go
its messages, their feedback and its unanswered questions; the workspace's webhook deliveries
made before the same time go too (a handoff's payload quotes the visitor's message and session
id), and so do the owners' handoff summaries quoting a deleted conversation's first words (kept
in the mail outbox a week after sending; the file outbox's copies after the commit). Leads and
lead submissions are not conversations and stay, unlinked from the conversation with the time it
went (``conversation_deleted_at``, migration 0032: the lead's page says so).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core import mail_repository as mail_repo
from core.db import Database
from core.errors import ValidationFailed
from core.jobs import JobQueue
from core.mail import Mailer
from core.models import utcnow
from lifecycle import repository as repo
from workspaces import audit
from workspaces.models import Workspace
from workspaces.permissions import Action, authorize
from workspaces.plans import get_plan
from workspaces.service import WorkspaceAccess
from workspaces.usage import effective_plan

RETENTION_JOB = "purge_old_conversations"
RETENTION_GRACE = timedelta(days=30)
"""How long after a paid period ends its plan's retention still holds (deletion is final)."""
CHOICES = (7, 30, 90, 180, 365)
PURGED = "retention.purged"


@dataclass(frozen=True)
class Retention:
    days: int | None
    """What applies: conversations older than this many days go; None keeps them."""
    plan_days: int | None
    setting: int | None
    """The workspace's own choice; None follows the plan."""
    grace_until: datetime | None = None
    """While set, a paid plan that ended keeps its longer retention until then."""


def _shortest(*days: int | None) -> int | None:
    """The shortest of these retentions (None keeps forever)."""
    finite = [d for d in days if d is not None]
    return min(finite) if finite else None


def retention_of(workspace: Workspace, now: datetime | None = None) -> Retention:
    now = now or utcnow()
    plan_days = get_plan(effective_plan(workspace, now)).conversation_retention_days
    setting = workspace.conversation_retention_days
    days = _shortest(plan_days, setting)
    held = Retention(days, plan_days, setting)
    # A paid plan that ended: the workspace's own, or the one a later payment replaced (a lower
    # plan bought after it, an upgrade refunded back to the plan paid before it).
    for plan, ended in (
        (workspace.plan, workspace.plan_expires_at),
        (workspace.previous_plan, workspace.previous_plan_ended_at),
    ):
        if plan is None or ended is None or not ended <= now < ended + RETENTION_GRACE:
            continue
        ended_days = get_plan(plan).conversation_retention_days
        kept = None if ended_days is None or plan_days is None else max(ended_days, plan_days)
        if _longer(_shortest(kept, setting), held.days):
            held = Retention(_shortest(kept, setting), plan_days, setting, ended + RETENTION_GRACE)
    return held


def _longer(days: int | None, than: int | None) -> bool:
    """Whether a retention of ``days`` keeps conversations longer than one of ``than``."""
    return than is not None and (days is None or days > than)


def view(access: WorkspaceAccess) -> Retention:
    """The retention in force (any member may read it)."""
    return retention_of(access.workspace)


async def update(session: AsyncSession, access: WorkspaceAccess, *, days: int | None) -> Retention:
    """Choose a retention (one of ``CHOICES``, at most the plan's), or None for the plan's.
    Owners; audited."""
    permit = authorize(access, Action.RETENTION_UPDATE)
    plan_days = retention_of(access.workspace).plan_days
    if days is not None and (days not in CHOICES or (plan_days is not None and days > plan_days)):
        allowed = [d for d in CHOICES if plan_days is None or d <= plan_days]
        raise ValidationFailed(
            f"conversation_retention_days must be one of {allowed} on this plan, or null",
            code="invalid_retention",
            details=[{"field": "conversation_retention_days", "allowed": allowed}],
        )
    await repo.set_retention(session, workspace_id=access.workspace.id, days=days)
    await permit.record(
        session, target_type="workspace", target_id=access.workspace.id, details={"days": days}
    )
    access.workspace.conversation_retention_days = days
    return retention_of(access.workspace)


# --- the jobs ------------------------------------------------------------------------------


async def sweep(db: Database, jobs: JobQueue, *, now: datetime) -> int:
    """Enqueue one purge per workspace whose retention is finite; how many were enqueued."""
    enqueued = 0
    async for workspace in live_workspaces(db):
        days = retention_of(workspace, now).days
        if days is not None:
            before = now - timedelta(days=days)
            await jobs.enqueue(
                RETENTION_JOB, workspace_id=str(workspace.id), before=before.isoformat()
            )
            enqueued += 1
    return enqueued


async def live_workspaces(db: Database) -> AsyncIterator[Workspace]:
    """Every workspace not deleted, by id, read in pages of 500 (short transactions under the
    sweep's lookup, for scheduled work that then acts in each workspace's own context)."""
    after: uuid.UUID | None = None
    while True:
        async with db.transaction(lookup=repo.SWEEP_LOOKUP) as session:
            page = list(await repo.workspaces_page(session, after=after, limit=500))
        for workspace in page:
            yield workspace
        if len(page) < 500:
            return
        after = page[-1].id


async def purge_old_conversations(
    db: Database, *, workspace_id: uuid.UUID, before: datetime, mailer: Mailer | None = None
) -> int:
    """Delete the workspace's conversations last active before ``before``, and the mails
    quoting them (``mailer``: their files after each commit); how many conversations."""
    conversations = messages = mails = 0
    while True:
        async with db.transaction(workspace_id=workspace_id, durable=False) as session:
            gone = await repo.delete_conversations_before(
                session, workspace_id=workspace_id, before=before, limit=repo.RETENTION_BATCH
            )
            mail_ids = await mail_repo.forget_about(session, workspace_id, conversations=gone.ids)
        if mailer is not None:
            await mailer.forget_files(mail_ids)
        conversations += len(gone.ids)
        messages += gone.messages
        mails += len(mail_ids)
        if not gone.full:
            break
    async with db.transaction(workspace_id=workspace_id, durable=False) as session:
        deliveries, questions = await repo.delete_quotes_before(
            session, workspace_id=workspace_id, before=before
        )
    if conversations or deliveries or questions or mails:
        async with db.transaction(workspace_id=workspace_id) as session:
            await audit.record(
                session,
                workspace_id=workspace_id,
                action=PURGED,
                target_type="conversations",
                details={
                    "conversations": conversations,
                    "messages": messages,
                    "webhook_deliveries": deliveries,
                    "unanswered_questions": questions,
                    "notification_mails": mails,
                    "before": before.isoformat(),
                    "at": utcnow().isoformat(),
                },
            )
    return conversations
