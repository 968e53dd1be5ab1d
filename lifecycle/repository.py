"""SQL of the lifecycle package's deletions: marking and purging a workspace, deleting an
account, and the retention sweep. Erasing a visitor is in lifecycle/erasure_repository.py; the
export rows and the streamed reads an export is built from are in lifecycle/export_repository.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from lifecycle.erasure_repository import count_messages
from rag.chat.models import Conversation, UnansweredQuestion, WebhookDelivery
from rag.chat.repository import analytics as analytics_repo
from workspaces.models import Lead, LeadSubmission, User, Workspace

# --- deletion ---------------------------------------------------------------------------------

# The app.lookup value under which RLS shows deleted workspaces (migration 0006b3).
PURGE_LOOKUP = "workspaces:purge"
PURGE_BATCH = 5000


async def mark_workspace_deleted(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    deleted_at: datetime | None,
    purge_after: datetime | None,
) -> None:
    """Set (or, with None, clear) a workspace's deletion."""
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(deleted_at=deleted_at, purge_after=purge_after, updated_at=utcnow())
    )


async def workspaces_due_for_purge(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[uuid.UUID]:
    """Deleted workspaces whose grace period is over (the caller sets ``PURGE_LOOKUP``)."""
    result = await session.execute(
        select(Workspace.id)
        .where(Workspace.deleted_at.is_not(None), Workspace.purge_after <= now)
        .order_by(Workspace.purge_after)
        .limit(limit)
    )
    return list(result.scalars().all())


async def tenant_tables(session: AsyncSession) -> list[str]:
    """Every table of the schema with a ``workspace_id`` column, from the catalog: a table added
    later is purged without a change here."""
    result = await session.execute(
        text(
            "SELECT c.relname FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE a.attname = 'workspace_id' AND NOT a.attisdropped"
            " AND c.relkind IN ('r', 'p') AND n.nspname = current_schema()"
            " ORDER BY c.relname"
        )
    )
    return [str(name) for name in result.scalars().all()]


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected table name {name!r}")
    return f'"{name}"'


async def delete_tenant_rows(
    session: AsyncSession, *, table: str, workspace_id: uuid.UUID, limit: int = PURGE_BATCH
) -> int:
    """Delete up to ``limit`` of the workspace's rows of ``table``; how many went."""
    quoted = _identifier(table)
    result = await session.execute(
        text(
            f"DELETE FROM {quoted} WHERE ctid IN"  # noqa: S608 - a catalog name, quoted
            f" (SELECT ctid FROM {quoted} WHERE workspace_id = :ws LIMIT :n)"
        ),
        {"ws": workspace_id, "n": limit},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_workspace_row(session: AsyncSession, *, workspace_id: uuid.UUID) -> bool:
    """The workspace row; what still refers to it goes through ON DELETE CASCADE (the audit log
    among them: its append-only trigger lets a cascade through)."""
    result = await session.execute(
        delete(Workspace).where(Workspace.id == workspace_id).returning(Workspace.id)
    )
    return result.scalar_one_or_none() is not None


async def delete_user(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """The account; its memberships go by cascade."""
    await session.execute(delete(User).where(User.id == user_id))


# --- retention ----------------------------------------------------------------------------------

# The app.lookup value under which RLS shows every workspace not deleted (migration 0006b4).
SWEEP_LOOKUP = "workspaces:sweep"
RETENTION_BATCH = 1000


async def workspaces_page(
    session: AsyncSession, *, after: uuid.UUID | None, limit: int
) -> Sequence[Workspace]:
    """Workspaces not deleted, by id after ``after`` (the caller sets ``SWEEP_LOOKUP``)."""
    stmt = select(Workspace).where(Workspace.deleted_at.is_(None))
    if after is not None:
        stmt = stmt.where(Workspace.id > after)
    result = await session.execute(stmt.order_by(Workspace.id).limit(limit))
    return result.scalars().all()


async def set_retention(
    session: AsyncSession, *, workspace_id: uuid.UUID, days: int | None
) -> None:
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(conversation_retention_days=days, updated_at=utcnow())
    )


@dataclass(frozen=True)
class Purged:
    """One batch of the retention sweep: the conversations deleted, their messages, and whether
    the batch was full (more conversations may be past the retention)."""

    ids: list[uuid.UUID]
    messages: int
    full: bool


async def delete_conversations_before(
    session: AsyncSession, *, workspace_id: uuid.UUID, before: datetime, limit: int
) -> Purged:
    """Delete up to ``limit`` conversations whose last message is older than ``before``, the
    oldest first (their messages and feedback by cascade, their unanswered questions).

    The batch's conversations are locked first, by id, before their leads (as a chat turn, a
    visitor's form and an erasure take them: ``erasure_repository.lock_conversations``), and
    their age is read again on the locked row: PostgreSQL re-evaluates the WHERE of a SELECT
    ... FOR UPDATE on the newest version of a row it waited for, so one a visitor wrote in
    meanwhile is left out (the batch is still ``full``: the next one goes on). Unlocked, the
    sweep waited for such a conversation in its DELETE and deleted it with the fresh message
    (the DELETE re-checked its ids only), and a turn filling the lead the sweep had unlinked
    deadlocked with it. The batch is read from the (workspace, last message) index; ordered by
    id and limited in the locking SELECT, PostgreSQL walked the primary key instead, ten times
    as long (docs/benchmarks.md, ``bench/retention_batch_lock.py``)."""
    old = (Conversation.workspace_id == workspace_id, Conversation.last_message_at < before)
    batch = list(
        (
            await session.execute(
                select(Conversation.id)
                .where(*old)
                .order_by(Conversation.last_message_at)
                .limit(limit)
            )
        ).scalars()
    )
    if not batch:
        return Purged([], 0, full=False)
    ids = list(
        (
            await session.execute(
                select(Conversation.id)
                .where(*old, Conversation.id.in_(batch))
                .order_by(Conversation.id)
                .with_for_update()
            )
        ).scalars()
    )
    full = len(batch) >= limit
    if not ids:
        return Purged([], 0, full=full)
    await analytics_repo.keep_deleted(session, workspace_id=workspace_id, conversation_ids=ids)
    messages = await count_messages(session, workspace_id=workspace_id, conversation_ids=set(ids))
    # The visitors' words kept outside the conversation go with it: its unanswered questions
    # (no longer left behind unlinked, where no erasure could find them).
    await session.execute(
        delete(UnansweredQuestion).where(
            UnansweredQuestion.workspace_id == workspace_id,
            UnansweredQuestion.conversation_id.in_(ids),
        )
    )
    # Leads outlive their conversations: unlinked here, noting when (the keys would set the ids
    # NULL alone, and the lead page could not tell a deleted conversation from none).
    now = utcnow()
    for table in (Lead, LeadSubmission):
        await session.execute(
            update(table)
            .where(table.workspace_id == workspace_id, table.conversation_id.in_(ids))
            .values(conversation_id=None, conversation_deleted_at=now)
        )
    await session.execute(
        delete(Conversation).where(
            Conversation.workspace_id == workspace_id, Conversation.id.in_(ids)
        )
    )
    return Purged(ids, messages, full=full)


async def delete_quotes_before(
    session: AsyncSession, *, workspace_id: uuid.UUID, before: datetime
) -> tuple[int, int]:
    """What retention deletes besides conversations: webhook deliveries made before ``before``
    (a handoff's payload quotes the visitor's message and session id; every attempt is long
    over), and unanswered questions asked before then whose conversation is already gone (left
    unlinked by a retention purge before this rule); (deliveries, questions) deleted."""
    result = await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.workspace_id == workspace_id, WebhookDelivery.created_at < before
        )
    )
    deliveries = int(result.rowcount)  # type: ignore[attr-defined]
    result = await session.execute(
        delete(UnansweredQuestion).where(
            UnansweredQuestion.workspace_id == workspace_id,
            UnansweredQuestion.conversation_id.is_(None),
            UnansweredQuestion.created_at < before,
        )
    )
    return deliveries, int(result.rowcount)  # type: ignore[attr-defined]
