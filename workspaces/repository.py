"""All SQL of the workspaces domain. Callers pass a session whose tenant context is set."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import BindParameter

from core.db import lock_workspace
from core.models import utcnow
from workspaces.models import (
    ApiKey,
    Membership,
    UsageCounter,
    UsageDaily,
    User,
    Workspace,
)

# --- users -----------------------------------------------------------------------------------


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(func.lower(User.email) == email.lower()))
    return result.scalar_one_or_none()


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def insert_user(
    session: AsyncSession, *, email: str, password_hash: str, name: str | None
) -> User | None:
    """Insert a user; None when the email (case-insensitively) is taken."""
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


async def update_password_hash(session: AsyncSession, user_id: uuid.UUID, new_hash: str) -> None:
    await session.execute(update(User).where(User.id == user_id).values(password_hash=new_hash))


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
    (``rag.chat.repository.conversations.record_message_metered``)."""
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


async def list_user_workspaces(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[tuple[Workspace, str]]:
    result = await session.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user_id, Workspace.deleted_at.is_(None))
        .order_by(Membership.created_at)
    )
    return [(ws, role) for ws, role in result.all()]


async def lock_owned_workspaces(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Until the transaction ends, one transaction per account counts and adds the workspaces
    it owns (the workspaces-per-account limit, exact under concurrent creations)."""
    await lock_workspace(session, "owned_workspaces", user_id)


async def owned_workspaces(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Workspace]:
    """The workspaces ``user_id`` owns that are not deleted (context: that user)."""
    result = await session.execute(
        select(Workspace)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(
            Membership.user_id == user_id,
            Membership.role == "owner",
            Workspace.deleted_at.is_(None),
        )
        .execution_options(populate_existing=True)
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
) -> None:
    await session.execute(
        update(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        .values(role=role)
    )


# --- API keys --------------------------------------------------------------------------------


async def insert_api_key(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def list_api_keys(session: AsyncSession, workspace_id: uuid.UUID) -> Sequence[ApiKey]:
    result = await session.execute(
        select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.created_at)
    )
    return list(result.scalars())


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


# --- usage -----------------------------------------------------------------------------------

USAGE_FIELDS = ("conversations", "messages", "documents", "chunks", "llm_tokens")


async def increment_usage(
    session: AsyncSession, *, workspace_id: uuid.UUID, month: str, amounts: dict[str, int]
) -> UsageCounter:
    """One atomic upsert: exact under any number of concurrent increments."""
    values = {k: int(v) for k, v in amounts.items() if k in USAGE_FIELDS}
    base = insert(UsageCounter).values(workspace_id=workspace_id, month=month, **values)
    stmt = base.on_conflict_do_update(
        index_elements=[UsageCounter.workspace_id, UsageCounter.month],
        set_={
            **{k: getattr(UsageCounter, k) + base.excluded[k] for k in values},
            "updated_at": func.now(),
        },
    ).returning(UsageCounter)
    result = await session.execute(stmt.execution_options(populate_existing=True))
    return result.scalar_one()


def increment_usage_statement(
    *, workspace_id: uuid.UUID, month: str, amounts: dict[str, int]
) -> tuple[ReturningInsert[Any], dict[str, Any]]:
    """``increment_usage``'s upsert as a statement returning the incremented counters' new
    values, for a caller that sends it together with other writes (one round trip), and its
    parameters. The statement is built once per set of metrics (``_usage_upsert``): only the
    parameters change from call to call."""
    values = {k: int(v) for k, v in amounts.items() if k in USAGE_FIELDS}
    params: dict[str, Any] = {
        "u_ws": workspace_id,
        "u_month": month,
        **{f"u_{k}": values.get(k, 0) for k in USAGE_FIELDS},
        "u_updated_at": utcnow(),
    }
    return _usage_upsert(tuple(values)), params


@functools.cache
def _usage_upsert(fields: tuple[str, ...]) -> ReturningInsert[Any]:
    """This month's counters plus ``:u_<field>`` for every counter, returning ``fields`` (those
    incremented, in that order); bind parameters ``u_ws``, ``u_month``, ``u_updated_at``."""
    table: Any = UsageCounter.__table__  # Core: ORM-enabled DML treats a params dict as bulk mode
    base = insert(table).values(
        workspace_id=bindparam("u_ws", type_=table.c.workspace_id.type),
        month=bindparam("u_month", type_=table.c.month.type),
        **{k: bindparam(f"u_{k}", type_=table.c[k].type) for k in USAGE_FIELDS},
        updated_at=bindparam("u_updated_at", type_=table.c.updated_at.type),
    )
    return base.on_conflict_do_update(
        index_elements=[table.c.workspace_id, table.c.month],
        set_={**{k: table.c[k] + base.excluded[k] for k in fields}, "updated_at": func.now()},
    ).returning(*(table.c[k] for k in fields))


def _token_upserts() -> tuple[Any, Any]:
    """This month's LLM token counter plus ``:tok_tokens`` and that day's plus
    ``:tok_day_tokens`` (the tokens less what was reserved for them that day), as two constant
    upserts (bind parameters ``tok_ws``, ``tok_month``, ``tok_day``, ``tok_tokens``,
    ``tok_day_tokens``): built and compiled once, sent inside another statement
    (``TOKEN_UPSERTS``)."""
    counters: Any = UsageCounter.__table__
    daily: Any = UsageDaily.__table__
    ws = bindparam("tok_ws", type_=counters.c.workspace_id.type)
    tokens = bindparam("tok_tokens", type_=counters.c.llm_tokens.type)
    month = insert(counters).values(
        workspace_id=ws,
        month=bindparam("tok_month", type_=counters.c.month.type),
        **{k: tokens if k == "llm_tokens" else 0 for k in USAGE_FIELDS},
        updated_at=func.now(),
    )
    month = month.on_conflict_do_update(
        index_elements=[counters.c.workspace_id, counters.c.month],
        set_={
            "llm_tokens": counters.c.llm_tokens + month.excluded.llm_tokens,
            "updated_at": func.now(),
        },
    )
    day = insert(daily).values(
        workspace_id=ws,
        day=bindparam("tok_day", type_=daily.c.day.type),
        llm_tokens=bindparam("tok_day_tokens", type_=daily.c.llm_tokens.type),
    )
    day = day.on_conflict_do_update(
        index_elements=[daily.c.workspace_id, daily.c.day],
        set_={"llm_tokens": daily.c.llm_tokens + day.excluded.llm_tokens},
    )
    return month, day


TOKEN_UPSERTS = _token_upserts()
"""``record_llm_tokens``' two upserts, for a caller that sends them as CTEs of its own write
(``rag.chat.repository.conversations.record_answer``): one round trip, exact under concurrency
like ``increment_usage``."""


def token_params(
    *, workspace_id: uuid.UUID, month: str, day: date, tokens: int, reserved: int = 0
) -> dict[str, Any]:
    """``TOKEN_UPSERTS``' parameters: ``tokens`` this month, ``tokens - reserved`` on ``day``
    (``reserved`` of them were added to that day before the model ran)."""
    return {
        "tok_ws": workspace_id,
        "tok_month": month,
        "tok_day": day,
        "tok_tokens": int(tokens),
        "tok_day_tokens": int(tokens) - int(reserved),
    }


async def get_usage(session: AsyncSession, *, workspace_id: uuid.UUID, month: str) -> UsageCounter:
    result = await session.execute(
        select(UsageCounter).where(
            UsageCounter.workspace_id == workspace_id, UsageCounter.month == month
        )
    )
    counter = result.scalar_one_or_none()
    if counter is None:
        return UsageCounter(
            workspace_id=workspace_id,
            month=month,
            conversations=0,
            messages=0,
            documents=0,
            chunks=0,
            llm_tokens=0,
        )
    return counter


async def increment_daily_tokens(
    session: AsyncSession, *, workspace_id: uuid.UUID, day: date, tokens: int
) -> int:
    base = insert(UsageDaily).values(workspace_id=workspace_id, day=day, llm_tokens=tokens)
    stmt = base.on_conflict_do_update(
        index_elements=[UsageDaily.workspace_id, UsageDaily.day],
        set_={"llm_tokens": UsageDaily.llm_tokens + base.excluded.llm_tokens},
    ).returning(UsageDaily.llm_tokens)
    return int((await session.execute(stmt)).scalar_one())


def daily_reservation(
    workspace_id: uuid.UUID | BindParameter[Any],
    day: date | BindParameter[Any],
    tokens: int | BindParameter[Any],
    limit: int | BindParameter[Any],
) -> Any:
    """That day's LLM tokens plus ``tokens`` while they are below ``limit`` (one upsert: the
    row's lock orders concurrent reservations, each sees the ones before), returning the new
    count; no row when the day's count had reached ``limit`` (nothing changed)."""
    table: Any = UsageDaily.__table__
    base = insert(table).values(workspace_id=workspace_id, day=day, llm_tokens=tokens)
    return base.on_conflict_do_update(
        index_elements=[table.c.workspace_id, table.c.day],
        set_={"llm_tokens": table.c.llm_tokens + base.excluded.llm_tokens},
        where=table.c.llm_tokens < limit,
    ).returning(table.c.llm_tokens)


async def reserve_daily_tokens(
    session: AsyncSession, *, workspace_id: uuid.UUID, day: date, tokens: int, limit: int
) -> int | None:
    """``daily_reservation``: the day's count with ``tokens`` added, or None (cap reached)."""
    result = await session.execute(daily_reservation(workspace_id, day, tokens, limit))
    return result.scalar_one_or_none()


async def release_daily_tokens(
    session: AsyncSession, *, workspace_id: uuid.UUID, day: date, tokens: int
) -> None:
    """Take ``tokens`` reserved that day off its count again (a turn that failed)."""
    await session.execute(
        update(UsageDaily)
        .where(UsageDaily.workspace_id == workspace_id, UsageDaily.day == day)
        .values(llm_tokens=func.greatest(UsageDaily.llm_tokens - tokens, 0))
    )


def daily_tokens(
    workspace_id: uuid.UUID | BindParameter[Any], day: date | BindParameter[Any]
) -> Any:
    """``get_daily_tokens`` as a scalar subquery (NULL when nothing was counted that day), for a
    statement that returns it beside its own columns
    (``rag.chat.repository.conversations.record_message_metered``)."""
    table: Any = UsageDaily.__table__
    return (
        select(table.c.llm_tokens)
        .where(table.c.workspace_id == workspace_id, table.c.day == day)
        .scalar_subquery()
    )


async def get_daily_tokens(session: AsyncSession, *, workspace_id: uuid.UUID, day: date) -> int:
    result = await session.execute(
        select(UsageDaily.llm_tokens).where(
            UsageDaily.workspace_id == workspace_id, UsageDaily.day == day
        )
    )
    return int(result.scalar_one_or_none() or 0)


async def mark_widget_installed(
    session: AsyncSession, workspace_id: uuid.UUID, *, origin: str, at: datetime
) -> None:
    """Record the widget's first site (once: a later origin changes nothing)."""
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id, Workspace.widget_installed_at.is_(None))
        .values(widget_installed_at=at, widget_installed_origin=origin[:300])
    )
