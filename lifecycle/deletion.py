"""Deleting a workspace or an account.

A workspace is deleted by one of its owners, who confirms by typing its slug. From that moment
every lookup treats it as gone (its members, API keys and widget key get 404/401); its paid plan
is set to end with the current period. During the grace period
(``WORKSPACE_DELETION_GRACE_HOURS``) an owner may restore it; then the purge job deletes every row
of every tenant table (found in the database catalog, so a table added later is covered), its
per-workspace vector index, its export files under DATA_DIR, the mails about it and its
invitations' mails (and the file outbox's copies of them), its Redis keys (response cache,
rate limits, job leases) and this process's in-memory response cache of it. The scheduled sweep
purges what is due, so a purge whose job was lost still happens.

An account is deleted by its user, who confirms with their password. It is refused (409
``last_owner``) while the user is the only owner of a workspace that has other members: they
must hand it over or delete it first. Workspaces where they are the only member are deleted with
the account (no grace: nobody is left to restore them); their other memberships end, recorded in
those workspaces' audit logs, with the API keys they made and the invitations they sent, and
a webhook URL they set waits for an owner to confirm it (``team.withdraw_reach``). So do
their memberships of deleted workspaces still in their grace period (a co-owner who restores
one finds none of their keys working); such a workspace never blocks the deletion: with no owner
left to restore it, it is purged when its grace period ends.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from billing import cancel_sweep, subscriptions
from billing.provider import PaymentProvider
from billing.rate_limit_mark import RateLimitMark
from core import mail_repository as mail_repo
from core.config import Settings
from core.db import Database, set_tenant
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.mail import Mailer
from core.models import utcnow
from lifecycle import exports
from lifecycle import repository as repo
from rag.chat.cache import ResponseCache
from rag.knowledge.repository import indexes
from workspaces import account_repository as accounts_repo
from workspaces import audit, security, team
from workspaces import repository as ws_repo
from workspaces.models import Workspace
from workspaces.more_workspaces import (
    FreeRoom,
    check_room_for_workspace,
    co_owners_without_room,
)
from workspaces.permissions import Action, authorize
from workspaces.service import ClientInfo, WorkspaceAccess

log = logging.getLogger(__name__)

PURGE_JOB = "purge_workspace"


def purge_job_id(workspace_id: uuid.UUID) -> str:
    """The stable id of a workspace's purge (a keyed job: one waiting at a time), so a sweep
    every 15 minutes while workers are down or behind queues no second one."""
    return f"{PURGE_JOB}:{workspace_id}"


MEMBER_LEFT = "member.account_deleted"
# Tables the purge leaves to the workspace row's cascade: the audit log's append-only trigger
# lets only a cascade delete its rows.
CASCADE_ONLY = frozenset({"audit_log"})
# Tables the purge empties before all others: the BM25 statistics kept by migration 0048's
# triggers (the stats row first, the order the triggers take them in). The workspace is going
# away, so they need no repair: gone first, the triggers of the chunk tables' batches find no
# row to count down (a deletion only updates kept rows, it never creates one), and counts that
# had drifted below the rows cannot break a CHECK (the purge failed there and was retried
# forever). Another workspace's rows are never touched (each batch names this workspace).
PURGED_FIRST = ("lexical_stats", "lexical_df")


def purge_order(tables: list[str]) -> list[str]:
    """``tables`` (the catalog's, by name) in the order the purge empties them: ``PURGED_FIRST``,
    then the rest as they came, without ``CASCADE_ONLY``."""
    first = [t for t in PURGED_FIRST if t in tables]
    return first + [t for t in tables if t not in first and t not in CASCADE_ONLY]


@dataclass(frozen=True)
class Deletion:
    workspace_id: uuid.UUID
    deleted_at: datetime
    purge_after: datetime
    cancel_at_razorpay: bool = False
    """A linked Razorpay Subscription's cancel waits: the caller enqueues
    ``provider_cancels.CANCEL_JOB`` after the commit (with no grace, the purge sends it)."""

    @property
    def purge_now(self) -> bool:
        return self.purge_after <= self.deleted_at


def grace_of(settings: Settings) -> timedelta:
    return timedelta(hours=settings.workspace_deletion_grace_hours)


async def delete_workspace(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    confirm: str,
    grace: timedelta,
    now: datetime | None = None,
) -> Deletion:
    """Delete the workspace (owners; ``confirm`` must be its slug). Audited. With no grace the
    caller enqueues ``PURGE_JOB`` after the commit."""
    permit = authorize(access, Action.WORKSPACE_DELETE)
    workspace = access.workspace
    if confirm.strip() != workspace.slug:
        raise ValidationFailed(
            "Type the workspace's slug to confirm its deletion",
            code="confirmation_mismatch",
            details=[{"field": "confirm", "message": "must be the workspace's slug"}],
        )
    now = now or utcnow()
    deletion = await _mark_deleted(session, workspace.id, now=now, grace=grace)
    await permit.record(
        session,
        target_type="workspace",
        target_id=workspace.id,
        details={"purge_after": deletion.purge_after.isoformat()},
    )
    return deletion


async def _mark_deleted(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: datetime, grace: timedelta
) -> Deletion:
    purge_after = now + grace
    # The subscription's row before the workspace's, the order a payment being applied takes
    # them in (billing.events): the other way round, the two deadlocked.
    cancel = await subscriptions.end_with_workspace(session, workspace_id, now)
    await repo.mark_workspace_deleted(
        session, workspace_id=workspace_id, deleted_at=now, purge_after=purge_after
    )
    return Deletion(
        workspace_id=workspace_id,
        deleted_at=now,
        purge_after=purge_after,
        cancel_at_razorpay=cancel,
    )


async def restore_workspace(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> Workspace:
    """Undo a deletion during its grace period (owners). Audited. The paid plan stays set to
    end with its period (``POST .../billing/subscription/resume`` keeps it). With ``settings``,
    the owner restoring it must have room for it (FREE_WORKSPACES_PER_ACCOUNT: deleting a free
    workspace, creating another and restoring the first would pass the limit), and a co-owner
    without room for it comes back as an admin (``team.restored_as_admin``): counted for the
    restorer alone, a co-owner filled the room its deletion left and owned one more once
    another owner restored it. The restore is not refused for them: a co-owner could keep it
    deleted until it was purged."""
    permit = authorize(access, Action.WORKSPACE_RESTORE)
    workspace = access.workspace
    if workspace.deleted_at is None:
        raise Conflict("This workspace is not deleted", code="not_deleted")
    now = now or utcnow()
    if workspace.purge_after is not None and workspace.purge_after <= now:
        raise Conflict("The grace period is over: the workspace is being purged", code="purging")
    user_id = access.principal.user_id
    crowded: list[uuid.UUID] = []
    if settings is not None and user_id is not None:
        owner = await ws_repo.get_user(session, user_id)
        if owner is not None:
            room = FreeRoom(
                default_plan=settings.default_plan, free_limit=settings.free_workspaces_per_account
            )
            crowded = await co_owners_without_room(session, workspace, room, restorer=user_id)
            await set_tenant(session, workspace_id=workspace.id, user_id=user_id)
            await check_room_for_workspace(
                session,
                owner,
                default_plan=settings.default_plan,
                free_limit=settings.free_workspaces_per_account,
                adding=workspace,
            )
    await repo.mark_workspace_deleted(
        session, workspace_id=workspace.id, deleted_at=None, purge_after=None
    )
    await permit.record(session, target_type="workspace", target_id=workspace.id)
    await team.restored_as_admin(session, access, crowded)
    restored = await ws_repo.get_workspace(session, workspace.id)
    assert restored is not None
    return restored


async def restorable(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime | None = None
) -> list[Workspace]:
    """The deleted workspaces this user owns and may still restore (their grace period runs),
    the soonest purged first: the dashboard lists them, as ``GET /me`` does."""
    await set_tenant(session, user_id=user_id)
    return list(await ws_repo.restorable_workspaces(session, user_id, now=now or utcnow()))


# --- accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountDeletion:
    user_id: uuid.UUID
    purge: list[uuid.UUID]
    """The workspaces deleted with the account: enqueue ``PURGE_JOB`` for each after commit."""
    left: list[uuid.UUID]


def _wrong_password() -> Forbidden:
    # 403 as the password change answers: a 401 reads as "signed out" to a client.
    return Forbidden("The password is not correct", code="wrong_password")


async def account_to_delete(session: AsyncSession, user_id: uuid.UUID) -> str:
    """The stored password hash of the account about to be deleted (404 when it is gone), read
    before the password is checked between transactions (``check_password``)."""
    await set_tenant(session, user_id=user_id)
    stored = await ws_repo.password_hash(session, user_id)
    if stored is None:
        raise NotFound("Account not found")
    return stored


async def check_password(password_hash: str, password: str) -> None:
    """403 ``wrong_password`` unless ``password`` matches. No database work: no pooled
    connection is held while argon2 runs."""
    if not await security.verify_password(password_hash, password):
        raise _wrong_password()


async def delete_account(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    verified_hash: str,
    client: ClientInfo | None = None,
    now: datetime | None = None,
) -> AccountDeletion:
    """Delete the user's account (see the module's docstring), whose password was checked
    against ``verified_hash`` (``account_to_delete``, ``check_password``). The account's row is
    locked first, and the deletion refused (403 ``wrong_password``) when its password changed
    since: the password checked is no longer the account's. The lock is exclusive: an
    invitation being accepted by the account (it share-locks the row) commits first and its
    workspace is among those listed below, left as the others are."""
    await set_tenant(session, user_id=user_id)
    stored = await ws_repo.lock_password_hash(session, user_id, exclusive=True)
    if stored is None:
        raise NotFound("Account not found")
    if stored != verified_hash:
        raise _wrong_password()
    now = now or utcnow()
    # Deleted workspaces too: a co-owner may still restore one, and the keys the person made
    # there must not come back with it.
    memberships = await ws_repo.list_user_workspaces(session, user_id, include_deleted=True)
    blocking: list[dict[str, str]] = []
    alone: list[uuid.UUID] = []
    others: list[uuid.UUID] = []
    # Decided under the locks a change of owners or members takes (the owners' rows, as
    # team.change_role and remove_member lock them; the members quota's lock, as an accepted
    # invitation takes it), in the order of the workspaces' ids so two deletions sharing
    # workspaces cannot deadlock: two co-owners deleting their accounts at once no longer both
    # see the other as the owner who stays.
    owners_of: dict[uuid.UUID, list[uuid.UUID]] = {}
    for workspace_id in sorted(workspace.id for workspace, _role in memberships):
        await set_tenant(session, workspace_id=workspace_id, user_id=user_id)
        await accounts_repo.lock_members(session, workspace_id)
        owners_of[workspace_id] = await accounts_repo.lock_owners(session, workspace_id)
    for workspace, _role in memberships:
        await set_tenant(session, workspace_id=workspace.id, user_id=user_id)
        owners = owners_of[workspace.id]
        members = [m.id for m in await ws_repo.list_members(session, workspace.id)]
        if user_id not in members:  # removed meanwhile
            continue
        if workspace.deleted_at is not None:  # left, whoever stays: it blocks nothing
            others.append(workspace.id)
        elif len(members) == 1:
            alone.append(workspace.id)
        elif owners == [user_id]:
            blocking.append({"workspace_id": str(workspace.id), "slug": workspace.slug})
        else:
            others.append(workspace.id)
    if blocking:
        raise Conflict(
            "You are the only owner of a workspace with other members: make another member an "
            "owner, or delete the workspace, first",
            code="last_owner",
            details=blocking,
        )
    client = client or ClientInfo()  # where the person asked from, in every entry it leaves
    actor = audit.Actor(
        user_id=user_id, ip=client.ip, user_agent=client.user_agent, request_id=client.request_id
    )
    for workspace_id in alone:
        await set_tenant(session, workspace_id=workspace_id, user_id=user_id)
        deletion = await _mark_deleted(session, workspace_id, now=now, grace=timedelta(0))
        await audit.record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action="workspace.deleted",
            target_type="workspace",
            target_id=workspace_id,
            details={"purge_after": deletion.purge_after.isoformat(), "with_account": True},
        )
    for workspace_id in others:
        await set_tenant(session, workspace_id=workspace_id, user_id=user_id)
        # The keys they made, the invitations they sent and the webhook URL they set stop
        # acting for them, as when an owner removes a member.
        details = await team.withdraw_reach(
            session, workspace_id=workspace_id, user_id=user_id, now=now
        )
        await audit.record(
            session,
            workspace_id=workspace_id,
            actor=actor,
            action=MEMBER_LEFT,
            target_type="user",
            target_id=user_id,
            details=details,
        )
    await set_tenant(session, user_id=user_id)
    await repo.delete_user(session, user_id=user_id)
    return AccountDeletion(user_id=user_id, purge=alone, left=others)


# --- the purge (job side) ----------------------------------------------------------------------


async def purge_workspace(
    db: Database,
    settings: Settings,
    redis: Redis | None,
    *,
    workspace_id: uuid.UUID,
    now: datetime | None = None,
    cache: ResponseCache | None = None,
    mailer: Mailer | None = None,
    payments: PaymentProvider | None = None,
    razorpay_mark: RateLimitMark | None = None,
) -> str:
    """Delete everything of a deleted workspace whose grace period is over. Idempotent: a
    workspace that is gone, restored or not yet due is left alone; a crashed purge resumes.
    ``cache``: the process's response cache (its memory holds the workspace's questions when
    Redis is absent or was down); ``mailer``: deletes the file outbox's copies of the mails the
    purge deletes; ``payments``: a linked Razorpay Subscription's waiting cancel is sent first
    (``cancel_sweep.before_purge``: while Razorpay is down or rate limits the account, the
    purge is left to the next sweep, ``waiting_for_razorpay``); ``razorpay_mark``: the
    process's rate limit mark (``LifecycleDeps.razorpay_mark``; without it, one over
    ``redis``, which without Redis this call alone sees)."""
    now = now or utcnow()
    async with db.transaction(workspace_id=workspace_id) as session:
        left = await _not_due(session, workspace_id, now)
    if left is not None:
        return left
    mark = razorpay_mark or RateLimitMark(redis)
    if not await cancel_sweep.before_purge(db, payments, workspace_id, mark=mark, now=now):
        return "waiting_for_razorpay"
    async with db.transaction(workspace_id=workspace_id) as session:
        left = await _not_due(session, workspace_id, now)  # restored meanwhile
        if left is not None:
            return left
        for payment_id, amount, currency in await subscriptions.held_for_refund(
            session, workspace_id
        ):
            # The purge deletes the payment's rows: this line is what is left of it.
            log.warning(
                "workspace %s purged with payment %s (%s %s) held for a refund",
                workspace_id,
                payment_id,
                currency,
                amount,
            )
        # Its export rows go here, first: a build finishing mid-purge then finds no row and
        # deletes its own zip (deleted last, with the other tables, the row kept the zip).
        await exports.remove_workspace_exports(session, settings, workspace_id=workspace_id)
        # Notifications and the invitations' mails (the invitations go with the tables below).
        mail_ids = await mail_repo.forget_about(session, workspace_id)

        await indexes.drop_as_definer(session, workspace_id)
        tables = purge_order(await repo.tenant_tables(session))
    if mailer is not None:
        await mailer.forget_files(mail_ids)
    # Table by table, in batches, each in its own transaction: a large workspace never holds
    # one long transaction or runs into the statement timeout.
    for table in tables:
        while True:
            async with db.transaction(workspace_id=workspace_id) as session:
                deleted = await repo.delete_tenant_rows(
                    session, table=table, workspace_id=workspace_id
                )
            if deleted < repo.PURGE_BATCH:
                break
    async with db.transaction(workspace_id=workspace_id) as session:
        await repo.delete_workspace_row(session, workspace_id=workspace_id)
    if redis is not None:
        await _purge_redis(redis, workspace_id)
    if cache is not None:
        cache.forget_workspace_here(workspace_id)
    log.info("workspace %s purged", workspace_id)
    return "purged"


async def _not_due(session: AsyncSession, workspace_id: uuid.UUID, now: datetime) -> str | None:
    """Why the workspace is not to be purged at ``now`` (gone, restored, not due), or None."""
    workspace = await ws_repo.get_workspace(session, workspace_id, deleted=True)
    if workspace is None:
        return "gone"
    if workspace.deleted_at is None:
        return "restored"
    if workspace.purge_after is not None and workspace.purge_after > now:
        return "not_due"
    return None


async def _purge_redis(redis: Redis, workspace_id: uuid.UUID) -> int:
    """Every key naming the workspace (response cache, rate limits, job leases): a UUID in a key
    is this workspace's and no other's."""
    removed = 0
    batch: list[bytes | str] = []
    async for key in redis.scan_iter(match=f"*{workspace_id}*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            removed += int(await redis.delete(*batch))
            batch.clear()
    if batch:
        removed += int(await redis.delete(*batch))
    return removed


async def due_for_purge(db: Database, *, now: datetime) -> list[uuid.UUID]:
    """Deleted workspaces whose grace period is over (the scheduled sweep)."""
    async with db.transaction(lookup=repo.PURGE_LOOKUP) as session:
        return await repo.workspaces_due_for_purge(session, now=now, limit=500)
