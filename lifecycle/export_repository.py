"""SQL of workspace exports: the export rows, and the streamed reads an export is built from.

Reads stream with a server-side cursor (``yield_per``), so an export holds a batch of rows in
memory, never a workspace.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.models import utcnow
from lifecycle.models import WorkspaceExport
from rag.chat.models import (
    ChatMessage,
    Conversation,
    Faq,
    MessageFeedback,
    UnansweredQuestion,
)
from rag.chat.repository.analytics import ROUTED
from rag.knowledge.models import Chunk, Document, Source
from workspaces.models import LeadSubmission

# The app.lookup value under which RLS shows every workspace's exports (migration 0006b2).
EXPORT_SWEEP_LOOKUP = "workspace_exports:sweep"
BATCH = 500

# --- export rows ------------------------------------------------------------------------------


async def insert_export(session: AsyncSession, export: WorkspaceExport) -> WorkspaceExport:
    session.add(export)
    await session.flush()
    return export


async def get_export(
    session: AsyncSession, *, workspace_id: uuid.UUID, export_id: uuid.UUID
) -> WorkspaceExport | None:
    result = await session.execute(
        select(WorkspaceExport)
        .where(WorkspaceExport.workspace_id == workspace_id, WorkspaceExport.id == export_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def list_exports(
    session: AsyncSession, *, workspace_id: uuid.UUID, limit: int
) -> Sequence[WorkspaceExport]:
    result = await session.execute(
        select(WorkspaceExport)
        .where(WorkspaceExport.workspace_id == workspace_id)
        .order_by(WorkspaceExport.created_at.desc(), WorkspaceExport.id.desc())
        .limit(limit)
    )
    return result.scalars().all()


async def fail_stale_exports(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    queued_before: datetime,
    started_before: datetime,
    error: str,
) -> int:
    """Failed: exports still queued that were requested before ``queued_before``, and exports
    running since before ``started_before`` (claimed before 0020: requested before)."""
    started = func.coalesce(WorkspaceExport.started_at, WorkspaceExport.created_at)
    result = await session.execute(
        update(WorkspaceExport)
        .where(
            WorkspaceExport.workspace_id == workspace_id,
            or_(
                and_(
                    WorkspaceExport.status == "queued",
                    WorkspaceExport.created_at < queued_before,
                ),
                and_(WorkspaceExport.status == "running", started < started_before),
            ),
        )
        .values(status="failed", error=error, finished_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count_active_exports(session: AsyncSession, *, workspace_id: uuid.UUID) -> int:
    result = await session.execute(
        select(WorkspaceExport.id).where(
            WorkspaceExport.workspace_id == workspace_id,
            WorkspaceExport.status.in_(("queued", "running")),
        )
    )
    return len(result.all())


async def update_export(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    export_id: uuid.UUID,
    values: Mapping[str, Any],
    only_status: Sequence[str] | None = None,
) -> bool:
    stmt = update(WorkspaceExport).where(
        WorkspaceExport.workspace_id == workspace_id, WorkspaceExport.id == export_id
    )
    if only_status is not None:
        stmt = stmt.where(WorkspaceExport.status.in_(tuple(only_status)))
    result = await session.execute(stmt.values(**values).returning(WorkspaceExport.id))
    return result.scalar_one_or_none() is not None


async def expired_exports(
    session: AsyncSession, *, now: datetime, limit: int
) -> Sequence[tuple[uuid.UUID, uuid.UUID, str | None]]:
    """(id, workspace id, file name) of ready exports past their expiry, every workspace's:
    the caller sets ``app.lookup`` to ``EXPORT_SWEEP_LOOKUP``."""
    result = await session.execute(
        select(WorkspaceExport.id, WorkspaceExport.workspace_id, WorkspaceExport.file_name)
        .where(WorkspaceExport.status == "ready", WorkspaceExport.expires_at <= now)
        .order_by(WorkspaceExport.expires_at)
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in result.all()]


async def mark_expired(
    session: AsyncSession, *, workspace_id: uuid.UUID, export_id: uuid.UUID
) -> None:
    await session.execute(
        update(WorkspaceExport)
        .where(WorkspaceExport.workspace_id == workspace_id, WorkspaceExport.id == export_id)
        .values(status="expired", file_name=None)
    )


async def delete_exports(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> list[tuple[uuid.UUID, str | None]]:
    """Delete the workspace's export rows; (id, file name) of each as it was deleted: a build
    that committed ``ready`` while this waited for its row is read after its commit (a SELECT
    before the DELETE would not see that file name)."""
    result = await session.execute(
        delete(WorkspaceExport)
        .where(WorkspaceExport.workspace_id == workspace_id)
        .returning(WorkspaceExport.id, WorkspaceExport.file_name)
    )
    return [(row[0], row[1]) for row in result.all()]


async def held_file_names(session: AsyncSession, *, names: Sequence[str]) -> set[str]:
    """Which of ``names`` an export row holds, in any workspace (the caller sets ``app.lookup``
    to ``EXPORT_SWEEP_LOOKUP``)."""
    if not names:
        return set()
    result = await session.execute(
        select(WorkspaceExport.file_name).where(WorkspaceExport.file_name.in_(list(names)))
    )
    return {name for (name,) in result.all() if name}


async def withdraw_exports(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    running_error: str,
    ready_error: str,
) -> tuple[list[uuid.UUID], list[str]]:
    """What a visitor's erasure does to the workspace's exports (the caller holds
    ``exports.REQUEST_LOCK``, so no export is requested meanwhile): the queued ones are locked
    until the caller's transaction ends (a build claiming one waits, then reads after the
    erasure), the running ones become ``failed`` with ``running_error`` (their build finds its
    row no longer running and deletes its zip), and the ready ones ``expired`` with
    ``ready_error`` and no file name. In that order: a build that commits ``ready`` while the
    running ones are failed is withdrawn by the next statement. (ids withdrawn, the file names
    the ready ones held: the caller deletes those files after its commit.)"""
    ws = WorkspaceExport.workspace_id == workspace_id
    await session.execute(
        select(WorkspaceExport.id).where(ws, WorkspaceExport.status == "queued").with_for_update()
    )
    now = utcnow()
    failed = await session.execute(
        update(WorkspaceExport)
        .where(ws, WorkspaceExport.status == "running")
        .values(status="failed", error=running_error, finished_at=now)
        .returning(WorkspaceExport.id)
    )
    ids = list(failed.scalars().all())
    ready = (
        await session.execute(
            select(WorkspaceExport.id, WorkspaceExport.file_name)
            .where(ws, WorkspaceExport.status == "ready")
            .with_for_update()
        )
    ).all()
    if ready:
        await session.execute(
            update(WorkspaceExport)
            .where(ws, WorkspaceExport.id.in_([row[0] for row in ready]))
            .values(
                status="expired",
                error=ready_error,
                file_name=None,
                expires_at=func.least(WorkspaceExport.expires_at, now),
            )
        )
    ids.extend(row[0] for row in ready)
    return ids, [row[1] for row in ready if row[1]]


# --- what an export reads ----------------------------------------------------------------------


async def stream_rows(session: AsyncSession, stmt: Any) -> AsyncIterator[Mapping[str, Any]]:
    result = await session.stream(stmt.execution_options(yield_per=BATCH))
    async for row in result.mappings():
        yield dict(row)


DOCUMENT_COLUMNS = (
    Document.id,
    Document.title,
    Document.source_type,
    Document.source,
    Document.content_type,
    Document.content_hash,
    Document.status,
    Document.chunk_count,
    Document.error_code,
    Document.revision,
    Document.created_at,
    Document.updated_at,
    Document.processed_at,
    Document.ingested_at,  # when the version whose chunks answer was ingested (0051)
    Document.ingested_hash,  # that version's content hash (0052): which content answers
    Document.ingested_notice_code,  # what that version lacks (0054: pages_unreadable)
)


def stream_documents(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    stmt = (
        select(*DOCUMENT_COLUMNS, (Document.body.is_not(None)).label("has_original"))
        .where(Document.workspace_id == workspace_id)
        .order_by(Document.created_at, Document.id)
    )
    return stream_rows(session, stmt)


def stream_chunks(
    session: AsyncSession, *, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    stmt = (
        select(Chunk.position, Chunk.text)
        .where(Chunk.workspace_id == workspace_id, Chunk.document_id == document_id)
        .order_by(Chunk.position)
    )
    return stream_rows(session, stmt)


async def document_original(
    session: AsyncSession, *, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> bytes | None:
    result = await session.execute(
        select(Document.body).where(
            Document.workspace_id == workspace_id, Document.id == document_id
        )
    )
    body: bytes | None = result.scalar_one_or_none()
    return body


def stream_faqs(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    stmt = (
        select(
            Faq.id,
            Faq.question,
            Faq.answer,
            Faq.alt_questions,
            Faq.enabled,
            Faq.created_at,
            Faq.updated_at,
        )
        .where(Faq.workspace_id == workspace_id)
        .order_by(Faq.created_at, Faq.id)
    )
    return stream_rows(session, stmt)


def stream_lead_submissions(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    stmt = (
        select(
            LeadSubmission.id,
            LeadSubmission.lead_id,
            LeadSubmission.email,
            LeadSubmission.name,
            LeadSubmission.phone,
            LeadSubmission.message,
            LeadSubmission.source,
            LeadSubmission.conversation_id,
            LeadSubmission.conversation_deleted_at,
            LeadSubmission.created_at,
        )
        .where(LeadSubmission.workspace_id == workspace_id)
        .order_by(LeadSubmission.lead_id, LeadSubmission.created_at, LeadSubmission.id)
    )
    return stream_rows(session, stmt)


def stream_conversation_messages(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    """Every message with its conversation's fields and its feedback, grouped by conversation
    (a conversation without messages comes as one row with NULL message fields).
    ``sales_routed``: the message is a sales lead's fallback sent to the team, the analytics'
    ``ROUTED`` expression (it reads the message as ``m``), as the conversation export has it."""
    m = aliased(ChatMessage, name="m")
    stmt = (
        select(
            Conversation.id.label("conversation_id"),
            Conversation.session_id,
            Conversation.channel,
            Conversation.status.label("conversation_status"),
            Conversation.lead_id,
            Conversation.created_at.label("conversation_created_at"),
            Conversation.last_message_at,
            m.id.label("message_id"),
            m.role,
            m.text,
            m.intent,
            m.source,
            m.citations,
            m.created_at,
            MessageFeedback.rating.label("feedback_rating"),
            MessageFeedback.rater.label("feedback_rater"),
            MessageFeedback.comment.label("feedback_comment"),
            MessageFeedback.created_at.label("feedback_at"),
            literal_column(ROUTED).label("sales_routed"),
        )
        .select_from(Conversation)
        .outerjoin(
            m,
            (m.conversation_id == Conversation.id) & (m.workspace_id == workspace_id),
        )
        .outerjoin(
            MessageFeedback,
            (MessageFeedback.message_id == m.id) & (MessageFeedback.workspace_id == workspace_id),
        )
        .where(Conversation.workspace_id == workspace_id)
        .order_by(Conversation.created_at, Conversation.id, m.created_at, m.id)
    )
    return stream_rows(session, stmt)


def stream_unanswered(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    stmt = (
        select(
            UnansweredQuestion.id,
            UnansweredQuestion.question,
            UnansweredQuestion.resolved,
            UnansweredQuestion.conversation_id,
            UnansweredQuestion.message_id,
            UnansweredQuestion.created_at,
        )
        .where(UnansweredQuestion.workspace_id == workspace_id)
        .order_by(UnansweredQuestion.created_at, UnansweredQuestion.id)
    )
    return stream_rows(session, stmt)


def stream_sources(
    session: AsyncSession, *, workspace_id: uuid.UUID
) -> AsyncIterator[Mapping[str, Any]]:
    """The web sources as an owner set them up (not their sync leases or HTTP validators)."""
    stmt = (
        select(
            Source.id,
            Source.url,
            Source.kind,
            Source.schedule,
            Source.excluded_urls,
            Source.failing,
            Source.last_status,
            Source.last_error,
            Source.last_synced_at,
            Source.next_due_at,
            Source.created_at,
            Source.updated_at,
        )
        .where(Source.workspace_id == workspace_id)
        .order_by(Source.created_at, Source.id)
    )
    return stream_rows(session, stmt)
