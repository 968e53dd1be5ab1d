"""Keyset pages of a workspace's documents, for the API's list (newest first)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.pagination import counted_page, cursor_scope
from rag.knowledge.models import Document
from rag.knowledge.repository import documents as document_repo
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
    """A page of the workspace's documents (of one ``status`` when given) after ``cursor``, or
    ``offset`` rows in (deprecated), the total, and the cursor of the next page (None: none)."""
    workspace_id = access.workspace.id
    return await counted_page(
        lambda after, size, skip: document_repo.list_documents(
            session, workspace_id, status=status, limit=size, offset=skip, after=after
        ),
        limit=limit,
        cursor=cursor,
        offset=offset,
        scope=cursor_scope("documents", workspace_id),
    )
