"""Who acts for a workspace: its members (accounts with a role) and its API keys.

Services take a session and never commit; each starts with the permission table's check
(``workspaces.permissions``) and records the audit entry the table asks for.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from workspaces import repository as repo
from workspaces import security
from workspaces.models import ApiKey, Membership, User
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess
from workspaces.usage import effective_plan, ensure_within

# --- members ---------------------------------------------------------------------------------


async def list_members(session: AsyncSession, access: WorkspaceAccess) -> Sequence[Any]:
    authorize(access, Action.MEMBERS_READ)
    return await repo.list_members(session, access.workspace.id)


async def add_member(
    session: AsyncSession, access: WorkspaceAccess, *, email: str, role: str
) -> tuple[User, Membership]:
    """Add an account to the workspace, or change the role of one that belongs already.
    Owners only, signed in as themselves (an API key is a shared secret: whoever holds it must
    not grant lasting access to an account). Audited: ``member.added`` or
    ``member.role_changed``; the same role again changes nothing and records nothing."""
    permit = authorize(access, Action.MEMBER_ADD)
    user = await repo.get_user_by_email(session, email)
    if user is None:
        raise NotFound(
            "No account with this email; ask them to sign up first", code="user_not_found"
        )
    existing = await repo.get_membership(session, workspace_id=access.workspace.id, user_id=user.id)
    if existing is not None:
        if existing.role != role:
            change = authorize(access, Action.MEMBER_ROLE_CHANGE)
            before = existing.role
            await repo.update_member_role(
                session, workspace_id=access.workspace.id, user_id=user.id, role=role
            )
            existing.role = role
            await change.record(
                session,
                target_type="user",
                target_id=user.id,
                details={"from": before, "to": role},
            )
        return user, existing
    members = await repo.count_members(session, access.workspace.id)
    ensure_within(
        plan_code=effective_plan(access.workspace), metric="members", used=members, resets_at=None
    )
    membership = await repo.insert_membership(
        session, workspace_id=access.workspace.id, user_id=user.id, role=role
    )
    assert membership is not None
    await permit.record(session, target_type="user", target_id=user.id, details={"role": role})
    return user, membership


# --- API keys --------------------------------------------------------------------------------


async def list_api_keys(session: AsyncSession, access: WorkspaceAccess) -> Sequence[ApiKey]:
    authorize(access, Action.API_KEYS_READ)
    return await repo.list_api_keys(session, access.workspace.id)


async def create_api_key(
    session: AsyncSession, access: WorkspaceAccess, *, name: str
) -> tuple[ApiKey, str]:
    """A new key and its secret (shown once). Audited (name and prefix, never the secret)."""
    permit = authorize(access, Action.API_KEY_CREATE)
    new = security.generate_api_key()
    row = ApiKey(
        id=uuid.uuid4(),
        workspace_id=access.workspace.id,
        name=name,
        prefix=new.prefix,
        key_hash=new.key_hash,
        created_by=access.principal.user_id,
        created_at=datetime.now(UTC),
    )
    await repo.insert_api_key(session, row)
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
    await repo.revoke_api_key(session, key, datetime.now(UTC))
    await session.refresh(key)
    await permit.record(
        session,
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name, "prefix": key.prefix},
    )
    return key
