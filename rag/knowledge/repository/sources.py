"""SQL of the sources and source_syncs tables (and the documents a source keeps)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import utcnow
from core.pagination import newest_first
from rag.knowledge.models import Document, Source, SourceSync

FINISHED = ("ok", "partial", "failed")
"""Statuses of a sync that ran to its end (not running, not interrupted)."""
DUE_LOOKUP = "sources:due"
"""The ``app.lookup`` value under which the scheduler sees every workspace's due sources
(migration 0008s1)."""


async def ensure_source(
    session: AsyncSession, workspace_id: uuid.UUID, *, url: str, kind: str
) -> Source:
    """The workspace's source for ``(kind, url)``, created (schedule never) when new."""
    await session.execute(
        insert(Source)
        .values(id=uuid.uuid4(), workspace_id=workspace_id, url=url, kind=kind)
        .on_conflict_do_nothing(index_elements=["workspace_id", "kind", "url"])
    )
    result = await session.execute(
        select(Source)
        .where(Source.workspace_id == workspace_id, Source.kind == kind, Source.url == url)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one()


async def find_source(
    session: AsyncSession, workspace_id: uuid.UUID, *, url: str, kind: str
) -> Source | None:
    """The workspace's source for ``(kind, url)``, if any."""
    result = await session.execute(
        select(Source).where(
            Source.workspace_id == workspace_id, Source.kind == kind, Source.url == url
        )
    )
    return result.scalar_one_or_none()


async def get_source(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Source | None:
    stmt = select(Source).where(Source.workspace_id == workspace_id, Source.id == source_id)
    if for_update:
        stmt = stmt.with_for_update()
    result = await session.execute(stmt.execution_options(populate_existing=True))
    return result.scalar_one_or_none()


async def list_sources(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    limit: int,
    offset: int = 0,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[list[Source], int]:
    """Newest first by (created_at, id), after the key ``after`` (a keyset page), or ``offset``
    rows in (deprecated), and how many there are in all."""
    where = Source.workspace_id == workspace_id
    total = (await session.execute(select(func.count()).select_from(Source).where(where))).scalar()
    stmt = newest_first(select(Source).where(where), Source, after=after, limit=limit)
    rows = await session.execute(stmt.offset(offset) if offset else stmt)
    return list(rows.scalars()), int(total or 0)


async def update_source(
    session: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID, **values: Any
) -> None:
    await session.execute(
        update(Source)
        .where(Source.workspace_id == workspace_id, Source.id == source_id)
        .values(**values, updated_at=utcnow())
    )


async def delete_source(
    session: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID
) -> None:
    await session.execute(
        delete(Source).where(Source.workspace_id == workspace_id, Source.id == source_id)
    )


async def exclude_page_everywhere(session: AsyncSession, workspace_id: uuid.UUID, url: str) -> None:
    """Leave ``url`` out of the syncs of every sitemap source of the workspace (its owner
    deleted that page): another sitemap listing it too brought it back."""
    await session.execute(
        update(Source)
        .where(
            Source.workspace_id == workspace_id,
            Source.kind == "sitemap",
            ~func.coalesce(func.array_position(Source.excluded_urls, url) > 0, False),
        )
        .values(excluded_urls=func.array_append(Source.excluded_urls, url))
    )


async def other_lister(
    session: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID, url: str
) -> uuid.UUID | None:
    """Another sitemap source of the workspace whose last listing names ``url`` (and that
    does not leave it out), or None: the page goes to it rather than away."""
    result = await session.execute(
        select(Source.id)
        .where(
            Source.workspace_id == workspace_id,
            Source.kind == "sitemap",
            Source.id != source_id,
            func.coalesce(func.array_position(Source.listed_urls, url) > 0, False),
            ~func.coalesce(func.array_position(Source.excluded_urls, url) > 0, False),
        )
        .order_by(Source.created_at, Source.id)
        .limit(1)
    )
    return result.scalar_one_or_none()


async def linked_elsewhere(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    source_type: str,
    urls: Sequence[str],
) -> set[str]:
    """Of ``urls``, the pages another (live) source keeps: that source fetches them."""
    if not urls:
        return set()
    result = await session.execute(
        select(Document.source).where(
            Document.workspace_id == workspace_id,
            Document.source_type == source_type,
            Document.source_id.is_not(None),
            Document.source_id != source_id,
            Document.source.in_(list(urls)),
        )
    )
    return set(result.scalars())


async def sitemap_files(
    session: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID
) -> bytes | None:
    """The source's stored sitemap files (``sitemaps.pack_files``), or None."""
    result = await session.execute(
        select(Source.sitemap_files).where(
            Source.workspace_id == workspace_id, Source.id == source_id
        )
    )
    return result.scalar_one_or_none()


async def link_documents(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    document_ids: Sequence[uuid.UUID],
) -> None:
    if document_ids:
        await session.execute(
            update(Document)
            .where(Document.workspace_id == workspace_id, Document.id.in_(list(document_ids)))
            .values(source_id=source_id)
        )


async def source_documents(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    source_type: str,
    *,
    for_update: bool = False,
) -> list[Document]:
    """The documents a source keeps: linked to it, or (pages stored before sources existed) of
    its kind with no source yet are adopted by the caller. ``for_update``: every one locked
    until the commit, in id order, before the caller deletes any (a deletion then takes the
    workspace's BM25 statistics row, which an ingestion holding a later page's row waits for:
    a deadlock, had that page's row not been taken first)."""
    stmt = (
        select(Document)
        .where(
            Document.workspace_id == workspace_id,
            Document.source_type == source_type,
            Document.source_id == source_id,
        )
        .execution_options(populate_existing=True)
    )
    if for_update:
        stmt = stmt.order_by(Document.id).with_for_update()
    result = await session.execute(stmt)
    return list(result.scalars())


async def unlinked_documents(
    session: AsyncSession, workspace_id: uuid.UUID, source_type: str, urls: Sequence[str]
) -> list[Document]:
    if not urls:
        return []
    result = await session.execute(
        select(Document).where(
            Document.workspace_id == workspace_id,
            Document.source_type == source_type,
            Document.source_id.is_(None),
            Document.source.in_(list(urls)),
        )
    )
    return list(result.scalars())


# --- leases -----------------------------------------------------------------------------------


async def claim_due(
    session: AsyncSession, *, now: datetime, holder: str, lease_until: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Lease up to ``limit`` due sources of any workspace (run under ``DUE_LOOKUP``); rows
    another transaction is claiming are skipped, so concurrent schedulers never share one.
    Returns (workspace_id, source_id) pairs."""
    due = (
        select(Source.id)
        .where(
            Source.next_due_at.is_not(None),
            Source.next_due_at <= now,
            or_(Source.lease_until.is_(None), Source.lease_until < now),
        )
        .order_by(Source.next_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(Source)
        .where(Source.id.in_(due.scalar_subquery()))
        .values(leased_by=holder, lease_until=lease_until)
        .returning(Source.workspace_id, Source.id)
    )
    return [(row[0], row[1]) for row in result.all()]


async def claim_one(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    *,
    now: datetime,
    holder: str,
    lease_until: datetime,
) -> bool:
    """Lease one source now (sync now) unless a live lease holds it."""
    result = await session.execute(
        update(Source)
        .where(
            Source.workspace_id == workspace_id,
            Source.id == source_id,
            or_(Source.lease_until.is_(None), Source.lease_until < now),
        )
        .values(leased_by=holder, lease_until=lease_until)
        .returning(Source.id)
    )
    return result.scalar_one_or_none() is not None


async def holds_lease(
    session: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID, holder: str, now: datetime
) -> Source | None:
    """The source, locked, while ``holder``'s lease on it is live; else None."""
    result = await session.execute(
        select(Source)
        .where(
            Source.workspace_id == workspace_id,
            Source.id == source_id,
            and_(Source.leased_by == holder, Source.lease_until >= now),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def renew_lease(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    holder: str,
    until: datetime,
) -> bool:
    """Extend ``holder``'s lease to ``until`` (the row stays locked until the commit, so no
    claim takes it meanwhile); False when another sync has taken the source over (or ended)."""
    result = await session.execute(
        update(Source)
        .where(
            Source.workspace_id == workspace_id,
            Source.id == source_id,
            Source.leased_by == holder,
        )
        .values(lease_until=until)
        .returning(Source.id)
    )
    return result.scalar_one_or_none() is not None


# --- sync records -----------------------------------------------------------------------------


async def start_sync(
    session: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID, *, trigger: str
) -> SourceSync:
    """A new running record; records a crashed run left running are marked interrupted."""
    await session.execute(
        update(SourceSync)
        .where(
            SourceSync.workspace_id == workspace_id,
            SourceSync.source_id == source_id,
            SourceSync.status == "running",
        )
        .values(status="interrupted", finished_at=utcnow())
    )
    record = SourceSync(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        source_id=source_id,
        trigger=trigger,
        status="running",
        started_at=utcnow(),
        errors=[],
    )
    session.add(record)
    await session.flush()
    return record


async def finish_sync(
    session: AsyncSession, workspace_id: uuid.UUID, sync_id: uuid.UUID, **values: Any
) -> None:
    await session.execute(
        update(SourceSync)
        .where(SourceSync.workspace_id == workspace_id, SourceSync.id == sync_id)
        .values(**values, finished_at=utcnow())
    )


async def round_had_failure(
    session: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID, sync: SourceSync
) -> bool:
    """Whether a sync of the sitemap round ``sync`` belongs to failed before it: one started
    after the last earlier sync that completed a round."""
    mine = and_(
        SourceSync.workspace_id == workspace_id,
        SourceSync.source_id == source_id,
        SourceSync.id != sync.id,
        SourceSync.started_at <= sync.started_at,
    )
    round_start = (
        select(func.max(SourceSync.started_at))
        .where(mine, SourceSync.complete.is_(True), SourceSync.status.in_(FINISHED))
        .scalar_subquery()
    )
    failed = select(SourceSync.id).where(
        mine,
        SourceSync.status == "failed",
        or_(round_start.is_(None), SourceSync.started_at > round_start),
    )
    return bool(await session.scalar(select(failed.exists())))


async def list_syncs(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    *,
    limit: int,
    offset: int = 0,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[list[SourceSync], int]:
    """Newest first by (started_at, id), after the key ``after`` (a keyset page), or ``offset``
    rows in (deprecated), and how many there are in all."""
    where = and_(SourceSync.workspace_id == workspace_id, SourceSync.source_id == source_id)
    total = (
        await session.execute(select(func.count()).select_from(SourceSync).where(where))
    ).scalar()
    stmt = newest_first(
        select(SourceSync).where(where),
        SourceSync,
        after=after,
        limit=limit,
        by=SourceSync.started_at,
    )
    rows = await session.execute(stmt.offset(offset) if offset else stmt)
    return list(rows.scalars()), int(total or 0)


async def newest_sitemaps(
    session: AsyncSession, workspace_id: uuid.UUID, *, limit: int
) -> list[Source]:
    """The workspace's newest sitemap sources (the knowledge page's list)."""
    stmt = newest_first(
        select(Source).where(Source.workspace_id == workspace_id, Source.kind == "sitemap"),
        Source,
        after=None,
        limit=limit,
    )
    return list((await session.execute(stmt)).scalars())


async def page_counts(
    session: AsyncSession, workspace_id: uuid.UUID, source_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many documents each of these sources keeps."""
    rows = await session.execute(
        select(Document.source_id, func.count())
        .where(Document.workspace_id == workspace_id, Document.source_id.in_(source_ids))
        .group_by(Document.source_id)
    )
    return {source_id: int(count) for source_id, count in rows.all() if source_id is not None}


async def latest_syncs(
    session: AsyncSession, workspace_id: uuid.UUID, source_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, SourceSync]:
    """Each of these sources' latest sync record (by ``started_at``)."""
    rows = await session.execute(
        select(SourceSync)
        .where(SourceSync.workspace_id == workspace_id, SourceSync.source_id.in_(source_ids))
        .order_by(SourceSync.source_id, SourceSync.started_at.desc(), SourceSync.id.desc())
        .ext(distinct_on(SourceSync.source_id))
    )
    return {record.source_id: record for record in rows.scalars()}


async def free_leases(session: AsyncSession) -> int:
    """Give back every source's lease (run under ``DUE_LOOKUP``, by a single process at its
    start: no other process can hold one); how many were held."""
    result = await session.execute(
        update(Source)
        .where(Source.lease_until.is_not(None))
        .values(leased_by=None, lease_until=None)
        .returning(Source.id)
    )
    return len(result.all())
