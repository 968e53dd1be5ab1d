"""Who acts for a workspace: its members (accounts with a role) and its API keys. People join
through invitations (workspaces/invitations.py).

Services take a session and never commit; each starts with the permission table's check
(``workspaces.permissions``) and records the audit entry the table asks for.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import lock_workspace, set_tenant
from core.errors import Conflict, Forbidden, NotFound
from core.pagination import cursor_scope, decode_cursor, encode_key, page_of
from workspaces import account_repository as accounts_repo
from workspaces import audit, security
from workspaces import repository as repo
from workspaces import team_repository as team_repo
from workspaces.models import ApiKey, Membership
from workspaces.more_workspaces import FreeRoom, check_room_to_own
from workspaces.permissions import Action, allowed, authorize
from workspaces.service import WorkspaceAccess, require_verified

# --- members ---------------------------------------------------------------------------------


async def list_members(session: AsyncSession, access: WorkspaceAccess) -> Sequence[Any]:
    authorize(access, Action.MEMBERS_READ)
    return await repo.list_members(session, access.workspace.id)


MEMBERS_PAGE = 50
ROLE_CHANGED = "member.role_changed"  # the audit event of Action.MEMBER_ROLE_CHANGE
"""Members on one page of the dashboard's team page (a workspace without a members limit may
hold thousands)."""


async def members_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    limit: int = MEMBERS_PAGE,
    cursor: str | None = None,
) -> tuple[list[Any], str | None]:
    """A page of the members in the order they joined (the founder first) and the cursor of the
    next page (None: there is none); a cursor of another list is 422 ``invalid_cursor``."""
    authorize(access, Action.MEMBERS_READ)
    scope = cursor_scope("members", access.workspace.id)
    rows = await team_repo.members_page(
        session,
        access.workspace.id,
        limit=limit + 1,
        after=decode_cursor(cursor, scope=scope) if cursor else None,
    )
    page = list(rows[:limit])
    more = len(rows) > limit
    return page, encode_key(page[-1].created_at, page[-1].key_id, scope=scope) if more else None


async def member_emails(
    session: AsyncSession, access: WorkspaceAccess, user_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The emails of those of ``user_ids`` who are members now (who made a key, who acted in
    the audit log: whichever page of the members they are on)."""
    authorize(access, Action.MEMBERS_READ)
    return await team_repo.member_emails(session, access.workspace.id, set(user_ids))


async def _member(session: AsyncSession, access: WorkspaceAccess, user_id: uuid.UUID) -> Membership:
    membership = await repo.get_membership(
        session, workspace_id=access.workspace.id, user_id=user_id
    )
    if membership is None:
        raise _member_not_found()
    return membership


def _member_not_found() -> NotFound:
    return NotFound("Member not found", code="member_not_found")


async def _keep_an_owner(
    session: AsyncSession, access: WorkspaceAccess, user_id: uuid.UUID
) -> None:
    """409 ``last_owner`` when ``user_id`` is the workspace's only owner (rows locked, so two
    owners demoting each other at once cannot both succeed)."""
    owners = await accounts_repo.lock_owners(session, access.workspace.id)
    if owners == [user_id]:
        raise Conflict(
            "A workspace needs an owner: make someone else owner first", code="last_owner"
        )


async def only_owner(session: AsyncSession, access: WorkspaceAccess) -> bool:
    """Whether the person of ``access`` is the workspace's only owner: leaving, being removed
    or another role would be refused (409 ``last_owner``), so the team page offers none."""
    user_id = access.principal.user_id
    return user_id is not None and await team_repo.some_owners(session, access.workspace.id) == [
        user_id
    ]


async def change_role(
    session: AsyncSession,
    access: WorkspaceAccess,
    user_id: uuid.UUID,
    *,
    role: str,
    room: FreeRoom,
) -> Membership:
    """Give a member another role (owners only). The last owner cannot be demoted. Audited
    ``member.role_changed``; the same role again changes nothing and records nothing. Made a
    member (who may not make API keys), their keys are revoked: a key acts with an admin's
    reach, which the member no longer has. Made owner, the workspace counts against what they
    may own for free (``room``; 429 ``quota_exceeded``, ``more_workspaces.check_room_to_own``)."""
    permit = authorize(access, Action.MEMBER_ROLE_CHANGE)
    membership = await _member(session, access, user_id)
    if membership.role == role:
        return membership
    before = membership.role
    if before == "owner":
        await _keep_an_owner(session, access, user_id)
    if role == "owner":
        await check_room_to_own(session, user_id, access.workspace, room, themselves=False)
        # the acting owner's context again (``access_workspace``)
        await set_tenant(
            session, workspace_id=access.workspace.id, user_id=access.principal.user_id
        )
    if not await repo.update_member_role(
        session, workspace_id=access.workspace.id, user_id=user_id, role=role
    ):  # they left, or another owner removed them, since their row was read
        raise _member_not_found()
    membership.role = role
    details = {"from": before, "to": role} | await _reach_of_role(
        session, workspace_id=access.workspace.id, user_id=user_id, role=role
    )
    await permit.record(session, target_type="user", target_id=user_id, details=details)
    return membership


async def _reach_of_role(
    session: AsyncSession, *, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> dict[str, Any]:
    """What a member given ``role`` may no longer do stops acting for them: made a member,
    the API keys they made are revoked; their webhook URL is paused where the role may not
    set one, their invitations withdrawn where it may not invite. What went, for the audit
    entry."""
    details: dict[str, Any] = {}
    now = datetime.now(UTC)
    if not allowed(Action.API_KEY_CREATE, kind="user", role=role):  # type: ignore[arg-type]
        details["api_keys_revoked"] = await repo.revoke_api_keys_made_by(
            session, workspace_id=workspace_id, user_id=user_id, when=now
        )
    # The webhook URL they set as an admin: their say over it ends with the role.
    if not allowed(
        Action.WORKSPACE_UPDATE,
        kind="user",
        role=role,  # type: ignore[arg-type]
    ) and await team_repo.pause_webhook_set_by(
        session, workspace_id=workspace_id, user_id=user_id, when=now
    ):
        details["webhook_paused"] = True
    if not allowed(Action.MEMBER_ADD, kind="user", role=role):  # type: ignore[arg-type]
        # An invitation they sent as an owner would let someone in with an owner's say.
        withdrawn = await accounts_repo.revoke_invitations_sent_by(
            session, workspace_id, user_id, now=now
        )
        if withdrawn:
            details["invitations_revoked"] = withdrawn
    return details


async def restored_as_admin(
    session: AsyncSession, access: WorkspaceAccess, user_ids: list[uuid.UUID]
) -> None:
    """Owners of a workspace being restored who have no room left to own it for free
    (``more_workspaces.co_owners_without_room``) come back as admins: what an admin may not
    do stops acting for them, and ``member.role_changed`` says why (``free_workspaces``),
    recorded as the restorer's."""
    for user_id in user_ids:
        if not await repo.update_member_role(
            session, workspace_id=access.workspace.id, user_id=user_id, role="admin"
        ):
            continue  # they left meanwhile (an account deleted): nothing to change
        details = {"from": "owner", "to": "admin", "reason": "free_workspaces"}
        details |= await _reach_of_role(
            session, workspace_id=access.workspace.id, user_id=user_id, role="admin"
        )
        await audit.record(
            session,
            workspace_id=access.workspace.id,
            actor=audit.Actor.of(access),
            action=ROLE_CHANGED,
            target_type="user",
            target_id=user_id,
            details=details,
        )


async def remove_member(session: AsyncSession, access: WorkspaceAccess, user_id: uuid.UUID) -> None:
    """Remove a member (owners only): their access to the workspace ends at their next request,
    and so does the access of the API keys they made (a key would otherwise keep a removed
    admin's reach); a webhook URL they set is paused until an owner confirms it. The last owner
    cannot be removed. Audited ``member.removed``. Removing oneself is leaving (``leave``),
    open to every role."""
    if user_id == access.principal.user_id:
        await leave(session, access)
        return
    permit = authorize(access, Action.MEMBER_REMOVE)
    membership = await _member(session, access, user_id)
    details = await _drop(session, access, membership)
    await permit.record(session, target_type="user", target_id=user_id, details=details)


async def leave(session: AsyncSession, access: WorkspaceAccess) -> None:
    """The signed-in caller leaves the workspace, whatever their role: as a removal, their
    access ends, the keys they made stop working and the invitations they sent are withdrawn.
    The last owner cannot leave (409 ``last_owner``: make someone else owner first, or delete
    the workspace). An API key cannot leave (403 ``insufficient_role``). Audited
    ``member.left``, the person who left as the actor."""
    user_id = access.principal.user_id
    if user_id is None:
        raise Forbidden(
            "An API key cannot leave a workspace; revoke it instead", code="insufficient_role"
        )
    membership = await _member(session, access, user_id)
    details = await _drop(session, access, membership)
    await audit.record(
        session,
        workspace_id=access.workspace.id,
        actor=audit.Actor.of(access),
        action=audit.MEMBER_LEFT,
        target_type="user",
        target_id=user_id,
        details=details,
    )


async def _drop(
    session: AsyncSession, access: WorkspaceAccess, membership: Membership
) -> dict[str, Any]:
    """Delete the membership (never the last owner's) with the keys its person made and the
    invitations they sent; what went, for the audit entry. The owners' rows are locked first
    whatever the role read before: one made owner meanwhile counts as one."""
    user_id = membership.user_id
    await _keep_an_owner(session, access, user_id)
    if not await accounts_repo.delete_membership(
        session, workspace_id=access.workspace.id, user_id=user_id
    ):  # gone since their row was read (they left, another owner removed them): once is enough
        raise _member_not_found()
    details = await withdraw_reach(
        session, workspace_id=access.workspace.id, user_id=user_id, now=datetime.now(UTC)
    )
    return {"role": membership.role, **details}


async def withdraw_reach(
    session: AsyncSession, *, workspace_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """What a person leaves behind in a workspace they no longer belong to (removed, left, or
    their account deleted: ``lifecycle.deletion``) stops acting for them: the API keys they
    made are revoked, the invitations they sent withdrawn, the webhook URL they set paused.
    What went, for the audit entry."""
    revoked = await repo.revoke_api_keys_made_by(
        session, workspace_id=workspace_id, user_id=user_id, when=now
    )
    # Their pending invitations go too: one sent as an owner would bring in an owner of their
    # choosing after they were removed.
    withdrawn = await accounts_repo.revoke_invitations_sent_by(
        session, workspace_id, user_id, now=now
    )
    details: dict[str, Any] = {"api_keys_revoked": revoked}
    if withdrawn:
        details["invitations_revoked"] = withdrawn
    # The webhook URL they set keeps the workspace's events going to an address of their
    # choosing: it waits for an owner to confirm it (``service.confirm_webhook``).
    if await team_repo.pause_webhook_set_by(
        session, workspace_id=workspace_id, user_id=user_id, when=now
    ):
        details["webhook_paused"] = True
    return details


# --- API keys --------------------------------------------------------------------------------


async def api_key_labels(
    session: AsyncSession, access: WorkspaceAccess, key_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """ "name (prefix…)" of each of ``key_ids`` the workspace holds, revoked ones too (an audit
    entry names the key that acted, whether or not it still works)."""
    authorize(access, Action.API_KEYS_READ)
    labels = await team_repo.api_key_labels(session, access.workspace.id, set(key_ids))
    return {key_id: f"{name} ({prefix}…)" for key_id, (name, prefix) in labels.items()}


MAX_LIVE_API_KEYS = 50
"""Keys not revoked a workspace may hold at once: one more is a 409 ``too_many_api_keys``
(revoke one first). A page of the list holds them all by default."""


async def api_keys_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    revoked: bool = False,
    limit: int = MAX_LIVE_API_KEYS,
    cursor: str | None = None,
) -> tuple[list[ApiKey], str | None]:
    """A page of the workspace's live keys (``revoked``: its revoked ones), newest first, and
    the cursor of the next page (None: there is none)."""
    authorize(access, Action.API_KEYS_READ)
    workspace_id = access.workspace.id
    scope = cursor_scope("api_keys", workspace_id, "revoked" if revoked else "live")
    rows = await repo.api_keys_page(
        session,
        workspace_id,
        revoked=revoked,
        limit=limit + 1,
        after=decode_cursor(cursor, scope=scope) if cursor else None,
    )
    return page_of(rows, limit, scope=scope)


# A new key's prefix (32 random bits) is unique across every workspace's keys: drawn again when
# taken, at most this many times.
KEY_PREFIX_DRAWS = 5


async def create_api_key(
    session: AsyncSession, access: WorkspaceAccess, *, name: str
) -> tuple[ApiKey, str]:
    """A new key and its secret (shown once). Audited (name and prefix, never the secret).

    The maker's membership is read again, its row share-locked until the commit: a removal or
    demotion committed since the request's access check refuses the key (404 / 403), and one
    still running waits for the key's commit, then revokes it with the maker's other keys."""
    permit = authorize(access, Action.API_KEY_CREATE)
    await require_verified(session, access)  # a key outlasts the account's sessions
    user_id = access.principal.user_id
    if user_id is not None:
        role = await repo.lock_membership_role(
            session, workspace_id=access.workspace.id, user_id=user_id
        )
        if role is None:
            raise NotFound("Workspace not found")
        authorize(replace(access, role=role), Action.API_KEY_CREATE)
    # One creation per workspace at a time counts the live keys: two at once cannot both pass.
    await lock_workspace(session, "api_keys", access.workspace.id)
    if await repo.count_live_api_keys(session, access.workspace.id) >= MAX_LIVE_API_KEYS:
        raise Conflict(
            f"This workspace has {MAX_LIVE_API_KEYS} live API keys, the most it may hold;"
            " revoke one it no longer uses first",
            code="too_many_api_keys",
            details=[{"limit": MAX_LIVE_API_KEYS}],
        )
    for _ in range(KEY_PREFIX_DRAWS):
        new = security.generate_api_key()
        row = await repo.insert_api_key(
            session,
            {
                "id": uuid.uuid4(),
                "workspace_id": access.workspace.id,
                "name": name,
                "prefix": new.prefix,
                "key_hash": new.key_hash,
                "created_by": user_id,
                "created_at": datetime.now(UTC),
            },
        )
        if row is not None:
            break
    else:  # every draw taken: practically never, and no fault of the request
        raise Conflict("Could not make a key just now; try again", code="api_key_busy")
    await permit.record(
        session,
        target_type="api_key",
        target_id=row.id,
        details={"name": row.name, "prefix": row.prefix},
    )
    return row, new.secret


async def revoke_api_key(
    session: AsyncSession, access: WorkspaceAccess, key_id: uuid.UUID
) -> ApiKey:
    permit = authorize(access, Action.API_KEY_REVOKE)
    key = await repo.get_api_key(session, workspace_id=access.workspace.id, key_id=key_id)
    if key is None:
        raise NotFound("API key not found")
    revoked = await repo.revoke_api_key(session, key, datetime.now(UTC))
    await session.refresh(key)
    if not revoked:  # already revoked (maybe a moment ago): nothing changes, nothing to record
        return key
    await permit.record(
        session,
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name, "prefix": key.prefix},
    )
    return key
