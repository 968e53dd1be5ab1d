"""SQL of the documents table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import lock_workspace
from core.models import utcnow
from core.pagination import newest_first
from rag.knowledge.models import Document
from rag.knowledge.repository.terms import lock_statistics, repairing_drift


async def insert_document(session: AsyncSession, document: Document) -> Document:
    session.add(document)
    await session.flush()
    return document


async def get_document(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Document | None:
    stmt = select(Document).where(Document.workspace_id == workspace_id, Document.id == document_id)
    if for_update:
        stmt = stmt.with_for_update()
    result = await session.execute(stmt.execution_options(populate_existing=True))
    return result.scalar_one_or_none()


async def get_body(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> bytes | None:
    result = await session.execute(
        select(Document.body).where(
            Document.workspace_id == workspace_id, Document.id == document_id
        )
    )
    return result.scalar_one_or_none()


async def find_by_hash(
    session: AsyncSession, workspace_id: uuid.UUID, content_hash: str
) -> Document | None:
    result = await session.execute(
        select(Document)
        .where(Document.workspace_id == workspace_id, Document.content_hash == content_hash)
        .order_by(Document.created_at)
        .limit(1)
    )
    return result.scalar_one_or_none()


async def find_by_source(
    session: AsyncSession, workspace_id: uuid.UUID, source_type: str, source: str
) -> Document | None:
    result = await session.execute(
        select(Document).where(
            Document.workspace_id == workspace_id,
            Document.source_type == source_type,
            Document.source == source,
        )
    )
    return result.scalar_one_or_none()


async def stored_as(
    session: AsyncSession, workspace_id: uuid.UUID, source_type: str, sources: Sequence[str]
) -> dict[str, Document]:
    """Of ``sources`` (URLs), those stored as documents of ``source_type``, by URL."""
    if not sources:
        return {}
    result = await session.execute(
        select(Document).where(
            Document.workspace_id == workspace_id,
            Document.source_type == source_type,
            Document.source.in_(list(sources)),
        )
    )
    return {d.source: d for d in result.scalars()}


async def list_documents(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    offset: int = 0,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[list[Document], int]:
    """Newest first by (created_at, id), after the key ``after`` (a keyset page: a document
    added or deleted meanwhile moves no other one between pages), or ``offset`` rows in (the
    deprecated scheme, which does), and how many there are in all."""
    where = [Document.workspace_id == workspace_id]
    if status is not None:
        where.append(Document.status == status)
    total = (
        await session.execute(select(func.count()).select_from(Document).where(*where))
    ).scalar_one()
    stmt = newest_first(select(Document).where(*where), Document, after=after, limit=limit)
    rows = await session.execute(stmt.offset(offset) if offset else stmt)
    return list(rows.scalars()), int(total)


async def update_document(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID, **values: Any
) -> None:
    await session.execute(
        update(Document)
        .where(Document.workspace_id == workspace_id, Document.id == document_id)
        .values(**values, updated_at=utcnow())
    )


async def respell(session: AsyncSession, document: Document, url: str) -> bool:
    """A web page's document stored under an older spelling of its address (``HTTP://...``,
    ``/guide#top``) takes ``url`` (``page_url``'s), and its title too while that was the old
    address; unless a document of its kind is stored as ``url`` already (the old copy is left
    as it is). Whether it moved. The caller holds the lock of ``url``
    (``lock_document_source``). Written with ``update_document``: ``updated_at`` moves, the
    address (often the title) the owner's documents list shows having changed."""
    ws = document.workspace_id
    if await find_by_source(session, ws, document.source_type, url) is not None:
        return False
    title = url[:300] if document.title == document.source[:300] else document.title
    await update_document(session, ws, document.id, source=url, title=title)
    return True


async def set_progress(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    revision: int,
    progress: float,
) -> bool:
    """The progress of a job's run, written only while the document is still ``processing``
    at ``revision`` (checked by the ``UPDATE`` itself, after any lock it waited for): False
    when the run no longer owns it (deleted, re-uploaded, or finished by another run)."""
    result = await session.execute(
        update(Document)
        .where(
            Document.workspace_id == workspace_id,
            Document.id == document_id,
            Document.revision == revision,
            Document.status == "processing",
        )
        .values(progress=progress, updated_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


async def unchanged_since(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    status: str,
    before: datetime,
    limit: int,
) -> list[tuple[uuid.UUID, int]]:
    """(id, revision) of the workspace's documents in ``status`` whose row was last written
    before ``before``, the oldest first."""
    result = await session.execute(
        select(Document.id, Document.revision)
        .where(
            Document.workspace_id == workspace_id,
            Document.status == status,
            Document.updated_at < before,
        )
        .order_by(Document.updated_at)
        .limit(limit)
    )
    return [(row.id, row.revision) for row in result]


async def delete_document(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> bool:
    """Delete the document, its chunks and their terms (``ON DELETE CASCADE``); whether it was
    there. Its row, then the workspace's statistics row (``terms.lock_statistics``), before
    the cascade locks its chunks: the order of the ingestion job and ``fill_terms``, which would
    else deadlock with it (the cascade's chunks locked, then the statistics row by the
    triggers)."""
    found = await session.execute(
        select(Document.id)
        .where(Document.workspace_id == workspace_id, Document.id == document_id)
        .with_for_update()
    )
    if found.scalar_one_or_none() is None:
        return False
    await lock_statistics(session, workspace_id)
    statement = (
        delete(Document)
        .where(Document.workspace_id == workspace_id, Document.id == document_id)
        .returning(Document.id)
    )
    result = await repairing_drift(session, workspace_id, lambda: session.execute(statement))
    return result.scalar_one_or_none() is not None


async def lock_document_quota(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Until the transaction ends, one transaction per workspace adds documents under the
    documents quota: the next one counts after this one committed (READ COMMITTED)."""
    await lock_workspace(session, "document_quota", workspace_id)


async def lock_document_source(
    session: AsyncSession, workspace_id: uuid.UUID, source_type: str, source: str
) -> None:
    """Until the transaction ends, one transaction per workspace and identity ``(source_type,
    source)`` looks up, adds or deletes the document of that identity: the same new file, title
    or URL submitted twice at once is added once (the second finds the first), and a sitemap
    sync does not add back a page whose deletion commits meanwhile."""
    await lock_workspace(session, f"document_source:{source_type}:{source}", workspace_id)


async def count_documents(
    session: AsyncSession, workspace_id: uuid.UUID, *, ingested_only: bool = False
) -> int:
    """The workspace's documents; with ``ingested_only`` those ingested at least once."""
    stmt = select(func.count()).select_from(Document).where(Document.workspace_id == workspace_id)
    if ingested_only:
        stmt = stmt.where(Document.counted.is_(True))
    result = await session.execute(stmt)
    return int(result.scalar_one())


async def document_sources(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    result = await session.execute(
        select(Document.id, Document.source).where(
            Document.workspace_id == workspace_id, Document.id.in_(list(ids))
        )
    )
    return {row[0]: row[1] for row in result.all()}
