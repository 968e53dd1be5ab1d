"""Keyset pages of a workspace's documents, web sources and a source's syncs, for the API's
lists (newest first; ``offset`` still read, deprecated). Each cursor is bound to its list and
workspace, a sync's to its source too, a document's to the ``status`` filter
(``core.pagination.cursor_scope``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import counted_page, cursor_scope
from rag.knowledge import sync
from rag.knowledge.models import Document, Source, SourceSync
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import sources as source_repo
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess


async def documents_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
    offset: int = 0,
) -> tuple[list[Document], int, str | None]:
    """A page of the workspace's documents (of one ``status`` when given) after ``cursor`` (one
    handed out with the same ``status``: another's is 422 ``invalid_cursor``), or ``offset``
    rows in (deprecated), the total, and the cursor of the next page (None: none)."""
    workspace_id = access.workspace.id
    return await counted_page(
        lambda after, size, skip: document_repo.list_documents(
            session, workspace_id, status=status, limit=size, offset=skip, after=after
        ),
        limit=limit,
        cursor=cursor,
        offset=offset,
        scope=cursor_scope("documents", workspace_id, filters={"status": status}),
    )


async def sources_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    limit: int,
    cursor: str | None,
    offset: int = 0,
) -> tuple[list[Source], int, str | None]:
    """A page of the workspace's web sources, newest first, after ``cursor`` or ``offset`` rows
    in (deprecated), the total, and the cursor of the next page (None: none)."""
    authorize(access, Action.SOURCES_READ)
    workspace_id = access.workspace.id
    return await counted_page(
        lambda after, size, skip: source_repo.list_sources(
            session, workspace_id, limit=size, offset=skip, after=after
        ),
        limit=limit,
        cursor=cursor,
        offset=offset,
        scope=cursor_scope("sources", workspace_id),
    )


async def syncs_page(
    session: AsyncSession,
    access: WorkspaceAccess,
    source_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
    offset: int = 0,
) -> tuple[list[SourceSync], int, str | None]:
    """A page of a source's sync records, newest started first, after ``cursor`` (one this
    source's list handed out) or ``offset`` rows in (deprecated), the total, and the cursor of
    the next page (None: none). 404 for a source not in the workspace."""
    source = await sync.get_source(session, access, source_id)
    return await counted_page(
        lambda after, size, skip: source_repo.list_syncs(
            session, source.workspace_id, source.id, limit=size, offset=skip, after=after
        ),
        limit=limit,
        cursor=cursor,
        offset=offset,
        scope=cursor_scope("syncs", source.workspace_id, source.id),
        moment=lambda record: record.started_at,
    )


@dataclass(frozen=True)
class SitemapState:
    """A sitemap as the knowledge page shows it: its source (``state``, ``last_error``), the
    pages it keeps, and what its latest read or sync noted (pages left out, files not read)."""

    source: Source
    pages: int
    notes: list[str]


async def sitemap_states(
    session: AsyncSession, access: WorkspaceAccess, *, limit: int
) -> list[SitemapState]:
    """The workspace's ``limit`` newest sitemaps, each with its pages and latest notes."""
    authorize(access, Action.SOURCES_READ)
    workspace_id = access.workspace.id
    sources = await source_repo.newest_sitemaps(session, workspace_id, limit=limit)
    ids = [s.id for s in sources]
    counts = await source_repo.page_counts(session, workspace_id, ids)
    latest = await source_repo.latest_syncs(session, workspace_id, ids)
    return [
        SitemapState(
            source,
            counts.get(source.id, 0),
            [
                str(e.get("message") or "")
                for e in (latest[source.id].errors if source.id in latest else [])
                if e.get("message") and e.get("message") != source.last_error
            ],
        )
        for source in sources
    ]
