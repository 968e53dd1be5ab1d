"""All SQL of the workspaces domain. Callers pass a session whose tenant context is set."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from core.db import lock_workspace, set_lookup
from core.models import utcnow
from core.pagination import newest_first
from workspaces.models import (
    ApiKey,
    Membership,
    User,
    Workspace,
)

# --- users -----------------------------------------------------------------------------------


def same_email(column: Any, email: str) -> ColumnElement[bool]:
    """``column`` names the address ``email``, as the database identifies an account (the
    unique index on ``lower(email)``): both sides lowered by PostgreSQL. Python's ``str.lower``
    disagrees with it outside ASCII (a Greek final sigma, a Turkish dotted capital I), so an
    address lowered in Python would miss the account its own sign-up created."""
    return func.lower(column) == func.lower(email)


USER_EMAIL_LOOKUP = "users:email:"


def email_lookup(email: str) -> str:
    """The ``app.lookup`` that opens the account of ``email`` to reads (and to its sign-up):
    ``users:email:<address>``, compared by the policy as the unique index compares, lowered
    by PostgreSQL (migration 0036)."""
    return USER_EMAIL_LOOKUP + email


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The account of ``email``, if any. Sets the transaction's ``app.lookup`` to the address
    (``email_lookup``; the workspace and user context stay): ``users`` shows an account to a
    transaction that names it."""
    await set_lookup(session, email_lookup(email))
    result = await session.execute(select(User).where(same_email(User.email, email)))
    return result.scalar_one_or_none()


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def insert_user(
    session: AsyncSession, *, email: str, password_hash: str, name: str | None
) -> User | None:
    """Insert a user; None when the email (case-insensitively) is taken. Sets the
    transaction's ``app.lookup`` to the address, as ``get_user_by_email`` does: the policy
    admits a new account of the address the transaction names."""
    await set_lookup(session, email_lookup(email))
    stmt = (
        insert(User)
        .values(id=uuid.uuid4(), email=email, password_hash=password_hash, name=name)
        .on_conflict_do_nothing(index_elements=[func.lower(User.email)])
        .returning(User.id)
    )
    user_id = (await session.execute(stmt)).scalar_one_or_none()
    if user_id is None:
        return None
    return await session.get(User, user_id)


@dataclass(frozen=True)
class Credentials:
    """An account and its stored password hash, read in one transaction (``credentials``):
    what a password is checked against between transactions, and the hash a change then
    expects to find."""

    user: User
    password_hash: str


async def password_hash(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """The stored hash of the account the transaction names: its own (``app.user_id``) or the
    one its lookup names by address (``get_user_by_email``). None for any other account (a
    member seen through the workspace) and for one that is gone: the app role cannot read the
    column itself (migration 0038, ``tb_password_hash``)."""
    result = await session.execute(select(func.tb_password_hash(user_id)))
    return result.scalar_one_or_none()


async def login_credentials(session: AsyncSession, email: str) -> Credentials | None:
    """The account of ``email`` with its stored hash, in one statement (a sign-in's read):
    the address's lookup, set as ``get_user_by_email`` sets it, lets the transaction read
    that account's hash alone."""
    await set_lookup(session, email_lookup(email))
    found = await session.execute(
        select(User, func.tb_password_hash(User.id)).where(same_email(User.email, email))
    )
    row = found.one_or_none()
    if row is None or row[1] is None:
        return None
    return Credentials(user=row[0], password_hash=row[1])


async def credentials(session: AsyncSession, user: User | None) -> Credentials | None:
    """``user`` with its stored hash (``password_hash``); None without either."""
    if user is None or (stored := await password_hash(session, user.id)) is None:
        return None
    return Credentials(user=user, password_hash=stored)


async def update_password_hash(
    session: AsyncSession, user_id: uuid.UUID, new_hash: str, *, expected: str
) -> bool:
    """Store ``new_hash`` on the transaction's own account (``app.user_id``), only while its
    stored hash is still ``expected`` (the hash a password was checked against). Whether it
    was stored (``tb_set_password_hash``, 0038)."""
    changed = select(func.tb_set_password_hash(user_id, new_hash, expected))
    return bool((await session.execute(changed)).scalar_one())


async def lock_password_hash(
    session: AsyncSession, user_id: uuid.UUID, *, exclusive: bool = False
) -> str | None:
    """The stored hash of the transaction's own account (``app.user_id``), its row locked until
    the transaction ends (shared, or exclusive to change it next): a password change waits for
    this transaction, or this one reads what the change committed. None when the account is
    gone, or is not the transaction's own (``tb_lock_password_hash``, 0038)."""
    locked = select(func.tb_lock_password_hash(user_id, exclusive))
    return (await session.execute(locked)).scalar_one_or_none()


# --- workspaces ------------------------------------------------------------------------------


async def insert_workspace(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    name: str,
    slug: str,
    plan: str,
    public_key: str,
    persona: str,
) -> bool:
    """Insert a workspace; False when the slug is taken (by any tenant)."""
    stmt = (
        insert(Workspace)
        .values(
            id=workspace_id,
            name=name,
            slug=slug,
            plan=plan,
            public_key=public_key,
            persona=persona,
            widget_config={},
        )
        .on_conflict_do_nothing(index_elements=[Workspace.slug])
        .returning(Workspace.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def get_workspace(
    session: AsyncSession, workspace_id: uuid.UUID, *, deleted: bool = False
) -> Workspace | None:
    """The workspace; a deleted one (awaiting its purge) only when ``deleted`` is asked for."""
    stmt = select(Workspace).where(Workspace.id == workspace_id)
    if not deleted:
        stmt = stmt.where(Workspace.deleted_at.is_(None))
    result = await session.execute(stmt.execution_options(populate_existing=True))
    return result.scalar_one_or_none()


async def get_workspace_by_public_key(session: AsyncSession, public_key: str) -> Workspace | None:
    result = await session.execute(
        select(Workspace).where(Workspace.public_key == public_key, Workspace.deleted_at.is_(None))
    )
    return result.scalar_one_or_none()


_VERSION: Any = literal_column("workspaces.xmin::text")


async def get_workspace_version_by_public_key(
    session: AsyncSession, public_key: str
) -> tuple[Workspace, str] | None:
    """The workspace of a widget key and its row's version (``xmin``: new with every update)."""
    result = await session.execute(
        select(Workspace, _VERSION).where(
            Workspace.public_key == public_key, Workspace.deleted_at.is_(None)
        )
    )
    row = result.first()
    return None if row is None else (row[0], str(row[1]))


def workspace_version(workspace_id: uuid.UUID | BindParameter[Any]) -> Any:
    """The row version of ``workspace_id`` (or of a bind parameter's) as a scalar subquery, for
    a statement that returns it beside its own columns
    (``rag.chat.repository.turn_statements.record_message_metered``)."""
    table: Any = Workspace.__table__
    return select(_VERSION).select_from(table).where(table.c.id == workspace_id).scalar_subquery()


async def update_workspace(
    session: AsyncSession, workspace_id: uuid.UUID, values: dict[str, Any]
) -> Workspace | None:
    if values:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == workspace_id)
            .values(**values, updated_at=utcnow())
        )
    workspace = await get_workspace(session, workspace_id)
    if workspace is not None:
        await session.refresh(workspace)
    return workspace


async def bump_knowledge_version(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    result = await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(knowledge_version=Workspace.knowledge_version + 1)
        .returning(Workspace.knowledge_version)
    )
    return int(result.scalar_one())


# Operator lookups across workspaces, for the CLI tools (migration 0006f).


async def all_workspace_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every workspace: on the owner connection (the table's owner may read every row)."""
    result = await session.execute(select(Workspace.id).order_by(Workspace.created_at))
    return list(result.scalars())


async def workspace_id_by_slug(session: AsyncSession, slug: str) -> uuid.UUID | None:
    """For operator tools, on any connection and without a tenant: the migration's SECURITY
    DEFINER function (0006f) returns the id and nothing else of the workspace."""
    result = await session.execute(select(func.tb_workspace_id_by_slug(slug)))
    found = result.scalar_one_or_none()
    return uuid.UUID(str(found)) if found is not None else None


# --- memberships -----------------------------------------------------------------------------


async def insert_membership(
    session: AsyncSession, *, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> Membership | None:
    stmt = (
        insert(Membership)
        .values(id=uuid.uuid4(), workspace_id=workspace_id, user_id=user_id, role=role)
        .on_conflict_do_nothing(index_elements=[Membership.workspace_id, Membership.user_id])
        .returning(Membership.id)
    )
    membership_id = (await session.execute(stmt)).scalar_one_or_none()
    return None if membership_id is None else await session.get(Membership, membership_id)


async def get_membership(
    session: AsyncSession, *, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    result = await session.execute(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    return result.scalar_one_or_none()


async def lock_membership_role(
    session: AsyncSession, *, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> str | None:
    """The member's current role, their row share-locked until the transaction ends: a removal
    or a role change waits for this transaction's commit (and then sees what it wrote). None
    when they are no longer a member."""
    result = await session.execute(
        select(Membership.role)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        .with_for_update(read=True)
    )
    return result.scalar_one_or_none()


async def list_user_workspaces(
    session: AsyncSession, user_id: uuid.UUID, *, include_deleted: bool = False
) -> Sequence[tuple[Workspace, str]]:
    """The user's workspaces and roles; with ``include_deleted``, also those deleted and not yet
    purged (context: that user)."""
    query = (
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at)
    )
    if not include_deleted:
        query = query.where(Workspace.deleted_at.is_(None))
    result = await session.execute(query)
    return [(ws, role) for ws, role in result.all()]


async def lock_owned_workspaces(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Until the transaction ends, one transaction per account counts and adds the workspaces
    it owns (the workspaces-per-account limit, exact under concurrent creations)."""
    await lock_workspace(session, "owned_workspaces", user_id)


def _owned_by(user_id: uuid.UUID) -> Select[Workspace]:
    return (
        select(Workspace)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id, Membership.role == "owner")
    )


async def owned_workspaces(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Workspace]:
    """The workspaces ``user_id`` owns that are not deleted (context: that user)."""
    result = await session.execute(
        _owned_by(user_id)
        .where(Workspace.deleted_at.is_(None))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars())


async def restorable_workspaces(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime
) -> Sequence[Workspace]:
    """The deleted workspaces ``user_id`` owns whose grace period still runs, the soonest purged
    first (context: that user)."""
    result = await session.execute(
        _owned_by(user_id)
        .where(Workspace.deleted_at.is_not(None), Workspace.purge_after > now)
        .order_by(Workspace.purge_after)
    )
    return list(result.scalars())


async def list_members(session: AsyncSession, workspace_id: uuid.UUID) -> Sequence[Any]:
    result = await session.execute(
        select(User.id, User.email, User.name, Membership.role, Membership.created_at)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(Membership.created_at)
    )
    return list(result.all())


async def count_members(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count()).select_from(Membership).where(Membership.workspace_id == workspace_id)
    )
    return int(result.scalar_one())


async def update_member_role(
    session: AsyncSession, *, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> bool:
    """Whether the member's row was there to change (removed meanwhile: False)."""
    result = await session.execute(
        update(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        .values(role=role)
        .returning(Membership.id)
    )
    return result.scalar_one_or_none() is not None


# --- API keys --------------------------------------------------------------------------------


async def insert_api_key(session: AsyncSession, values: dict[str, Any]) -> ApiKey | None:
    """Insert a key; None when its prefix is taken (by any workspace's key)."""
    stmt = (
        insert(ApiKey)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[ApiKey.prefix])
        .returning(ApiKey.id)
    )
    key_id = (await session.execute(stmt)).scalar_one_or_none()
    return None if key_id is None else await session.get(ApiKey, key_id)


async def api_keys_page(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    revoked: bool,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> Sequence[ApiKey]:
    """The live keys (or the revoked ones), newest first by (created_at, id), after ``after``."""
    state = ApiKey.revoked_at.is_not(None) if revoked else ApiKey.revoked_at.is_(None)
    stmt = select(ApiKey).where(ApiKey.workspace_id == workspace_id, state)
    result = await session.execute(newest_first(stmt, ApiKey, after=after, limit=limit))
    return list(result.scalars())


async def count_live_api_keys(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.workspace_id == workspace_id, ApiKey.revoked_at.is_(None))
    )
    return int(result.scalar_one())


async def get_api_key(
    session: AsyncSession, *, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey | None:
    result = await session.execute(
        select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
    )
    return result.scalar_one_or_none()


async def get_api_key_by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    result = await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
    return result.scalar_one_or_none()


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID, when: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))


async def revoke_api_keys_made_by(
    session: AsyncSession, *, workspace_id: uuid.UUID, user_id: uuid.UUID, when: datetime
) -> int:
    """Revoke the workspace's live keys that ``user_id`` made; how many."""
    result = await session.execute(
        update(ApiKey)
        .where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.created_by == user_id,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=when)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def revoke_api_key(session: AsyncSession, key: ApiKey, when: datetime) -> bool:
    """Revoke ``key`` unless it is already; whether this call revoked it."""
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_widget_installed(
    session: AsyncSession, workspace_id: uuid.UUID, *, origin: str, at: datetime
) -> None:
    """Record the widget's first site (once: a later origin changes nothing)."""
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id, Workspace.widget_installed_at.is_(None))
        .values(widget_installed_at=at, widget_installed_origin=origin[:300])
    )
