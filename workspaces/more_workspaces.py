"""More workspaces for one account: what counts against FREE_WORKSPACES_PER_ACCOUNT
(``counts_as_free``), the check before an account gets one more (a new one, or a deleted one
restored: ``check_room_for_workspace``; someone else's, as its owner: ``check_room_to_own``) and
creating it (``create_another_workspace``). The signup's first workspace is
``service.create_workspace`` alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import set_tenant
from core.errors import Forbidden, QuotaExceeded
from workspaces import repository as repo
from workspaces import usage
from workspaces.models import User, Workspace
from workspaces.plans import PLAN_RANK
from workspaces.service import create_workspace


def counts_as_free(workspace: Workspace, *, default_plan: str, now: datetime) -> bool:
    """Whether ``workspace`` counts against FREE_WORKSPACES_PER_ACCOUNT: no paid period runs on
    it and the plan in effect is at most the one a new workspace gets (free, DEFAULT_PLAN)."""
    if workspace.plan_expires_at is not None and now < workspace.plan_expires_at:
        return False  # a paid period runs
    plan = usage.effective_plan(workspace, now)
    return PLAN_RANK.get(plan, 0) <= PLAN_RANK.get(default_plan, 0)


async def check_room_for_workspace(
    session: AsyncSession,
    owner: User,
    *,
    default_plan: str,
    free_limit: int,
    adding: Workspace | None = None,
) -> None:
    """Before ``owner`` gets one more workspace (a new one on ``default_plan``, or ``adding``:
    a deleted one restored): 403 ``email_unverified`` unless it is their only one or their email
    is confirmed, and 429 ``quota_exceeded`` (``metric: "workspaces"``) when they already own
    ``free_limit`` workspaces that count as free and this one would too. Holds the account's
    lock (``repo.lock_owned_workspaces``) until the transaction ends."""
    await repo.lock_owned_workspaces(session, owner.id)
    owned = [
        w
        for w in await repo.owned_workspaces(session, owner.id)
        if adding is None or w.id != adding.id
    ]
    if owned and owner.email_verified_at is None:
        raise Forbidden(
            "Confirm your email address before creating another workspace: open the link we"
            " sent you (POST /api/v1/auth/verify-email/resend sends a new one)",
            code="email_unverified",
        )
    if default_plan == "unlimited":
        return  # every workspace has everything already: nothing to multiply
    now = datetime.now(UTC)
    if adding is not None and not counts_as_free(adding, default_plan=default_plan, now=now):
        return
    free = sum(counts_as_free(w, default_plan=default_plan, now=now) for w in owned)
    if free >= free_limit:
        raise QuotaExceeded(
            f"An account may own {free_limit} workspaces on the {default_plan} plan: upgrade"
            " one of your workspaces to a paid plan, or delete one, to create another",
            details={
                "metric": "workspaces",
                "limit": free_limit,
                "used": free,
                "plan": default_plan,
                "resets_at": None,
            },
        )


async def create_another_workspace(
    session: AsyncSession, *, owner: User, name: str, default_plan: str, free_limit: int
) -> Workspace:
    """A workspace a signed-in account creates (POST /api/v1/workspaces, the dashboard's "Create
    a workspace") on ``default_plan``, within ``check_room_for_workspace``. The signup's first
    workspace is ``create_workspace`` itself."""
    await set_tenant(session, user_id=owner.id)
    await check_room_for_workspace(session, owner, default_plan=default_plan, free_limit=free_limit)
    return await create_workspace(session, owner=owner, name=name, plan=default_plan)


@dataclass(frozen=True)
class FreeRoom:
    """What ``check_room_for_workspace`` counts against: DEFAULT_PLAN and
    FREE_WORKSPACES_PER_ACCOUNT (by default, the settings' defaults)."""

    default_plan: str = "free"
    free_limit: int = 2


async def check_room_to_own(
    session: AsyncSession,
    user_id: uuid.UUID,
    workspace: Workspace,
    room: FreeRoom,
    *,
    themselves: bool,
) -> None:
    """Before ``user_id`` becomes an owner of ``workspace``, someone else's (an invitation as
    owner accepted, a member made owner): 429 ``quota_exceeded`` (``metric: "workspaces"``)
    when they own ``room.free_limit`` workspaces that count as free already and this one would
    too, as when they create one. Otherwise a second account made them owner of one free
    workspace after another and left each: as many free workspaces as they liked.
    ``themselves``: they are the one asking, accepting an invitation (the refusal says "you"
    and ``details.join_as: "admin"``: the same link accepts as an admin), else "this person".
    Leaves the transaction's context at ``workspace`` and ``user_id``."""
    await set_tenant(session, workspace_id=workspace.id, user_id=user_id)  # their memberships
    owner = await repo.get_user(session, user_id)
    if owner is None:
        return
    await session.refresh(owner)  # an invitation accepted has just confirmed the address
    try:
        await check_room_for_workspace(
            session,
            owner,
            default_plan=room.default_plan,
            free_limit=room.free_limit,
            adding=workspace,
        )
    except QuotaExceeded as exc:
        who = "You own" if themselves else "This person owns"
        instead = (
            'accept this invitation as an admin instead (the same link: "as_admin": true),'
            " or leave or delete one of yours"
            if themselves
            else "make them an admin instead"
        )
        details = exc.details if isinstance(exc.details, dict) else {}
        raise QuotaExceeded(
            f"{who} {room.free_limit} workspaces on the {room.default_plan} plan already, the"
            f" most an account may own: {instead}, or upgrade this workspace to a paid plan",
            details={**details, "join_as": "admin"} if themselves else exc.details,
        ) from None


async def co_owners_without_room(
    session: AsyncSession, workspace: Workspace, room: FreeRoom, *, restorer: uuid.UUID
) -> list[uuid.UUID]:
    """A deleted ``workspace`` about to be restored by ``restorer``: its other owners who own
    ``room.free_limit`` workspaces that count as free already, when this one would count too.
    Restored, it would be one more for each (deleted, it counted for none of them, so they
    had room for another): they come back as admins (``lifecycle.deletion``). Every owner's
    account lock (``repo.lock_owned_workspaces``), the restorer's too, is taken here in one
    order, held until the transaction ends: two restores of workspaces the same two people
    own never wait for each other crosswise. Context: ``workspace`` and the restorer, then
    each owner in turn (the caller sets its own again)."""
    owners = {
        row.id for row in await repo.list_members(session, workspace.id) if row.role == "owner"
    }
    for user_id in sorted(owners | {restorer}):
        await repo.lock_owned_workspaces(session, user_id)
    now = datetime.now(UTC)
    if room.default_plan == "unlimited" or not counts_as_free(
        workspace, default_plan=room.default_plan, now=now
    ):
        return []
    crowded = []
    for user_id in sorted(owners - {restorer}):
        await set_tenant(session, workspace_id=workspace.id, user_id=user_id)
        free = sum(
            counts_as_free(w, default_plan=room.default_plan, now=now)
            for w in await repo.owned_workspaces(session, user_id)
            if w.id != workspace.id
        )
        if free >= room.free_limit:
            crowded.append(user_id)
    return crowded
