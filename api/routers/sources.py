"""Web sources (pages and sitemaps) that re-sync, and their sync records (rag/knowledge/sync.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import (
    CursorDep,
    DeprecatedOffsetDep,
    LimitDep,
    RuntimeDep,
    SessionDep,
    WorkspaceDep,
)
from api.ingest_limit import SourceSyncLimit
from api.openapi import errors
from rag.knowledge import listing, submissions, sync
from rag.knowledge.models import SourceSync, SyncSchedule
from rag.knowledge.schemas import SourceOut

router = APIRouter(tags=["sources"])


class SourcePage(BaseModel):
    items: list[SourceOut]
    total: int
    limit: int
    offset: int = Field(description="deprecated: the `offset` asked for (0 with a cursor)")
    next_cursor: str | None = Field(
        default=None, description="the `cursor` of the next page; null on the last one"
    )


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: SyncSchedule


class SyncOut(BaseModel):
    id: uuid.UUID
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    pages_checked: int
    pages_changed: int
    pages_added: int
    pages_removed: int
    pages_failed: int
    pages_unchanged: int
    complete: bool
    errors: list[dict[str, Any]]

    @classmethod
    def of(cls, record: SourceSync) -> SyncOut:
        return cls.model_validate(record, from_attributes=True)


class SyncPage(BaseModel):
    items: list[SyncOut]
    total: int
    limit: int
    offset: int = Field(description="deprecated: the `offset` asked for (0 with a cursor)")
    next_cursor: str | None = Field(
        default=None, description="the `cursor` of the next page; null on the last one"
    )


class SyncRequested(BaseModel):
    source_id: uuid.UUID
    status: str = "queued"


@router.get("/workspaces/{workspace_id}/sources", response_model=SourcePage)
async def list_sources(
    access: WorkspaceDep,
    session: SessionDep,
    limit: LimitDep,
    cursor: CursorDep = None,
    offset: DeprecatedOffsetDep = 0,
) -> SourcePage:
    """Newest first; `next_cursor` continues after the last source of the page."""
    items, total, next_cursor = await listing.sources_page(
        session, access, limit=limit, cursor=cursor, offset=offset
    )
    return SourcePage(
        items=[SourceOut.of(s) for s in items],
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=next_cursor,
    )


@router.get("/workspaces/{workspace_id}/sources/{source_id:uuid}", response_model=SourceOut)
async def get_source(source_id: uuid.UUID, access: WorkspaceDep, session: SessionDep) -> SourceOut:
    return SourceOut.of(await sync.get_source(session, access, source_id))


@router.delete(
    "/workspaces/{workspace_id}/sources/{source_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(409),
)
async def delete_source(
    source_id: uuid.UUID, access: WorkspaceDep, session: SessionDep
) -> Response:
    """Delete the source and every page it brought (owners and admins); 409
    ``sync_in_progress`` while a sync of it runs."""
    await submissions.delete_source(session, access, source_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/workspaces/{workspace_id}/sources/{source_id:uuid}/schedule", response_model=SourceOut
)
async def set_schedule(
    source_id: uuid.UUID, body: ScheduleIn, access: WorkspaceDep, session: SessionDep
) -> SourceOut:
    """`{"schedule": "never" | "daily" | "weekly"}`."""
    return SourceOut.of(await sync.set_schedule(session, access, source_id, body.schedule))


@router.post(
    "/workspaces/{workspace_id}/sources/{source_id:uuid}/sync",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncRequested,
    responses=errors(409),
    dependencies=[SourceSyncLimit],
)
async def sync_now(
    source_id: uuid.UUID,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> SyncRequested:
    """Sync now (202); 409 ``sync_in_progress`` while a sync of it runs."""
    lease = timedelta(seconds=runtime.settings.source_sync_lease_seconds)
    holder = await sync.request_sync(session, access, source_id, lease=lease)
    # After the response, i.e. after the request's commit; a queue that cannot take it (Redis
    # down) gives the lease back instead of 409 sync_in_progress for the lease's length.
    background.add_task(
        sync.enqueue_requested_sync, runtime.ingestion, access.workspace.id, source_id, holder
    )
    return SyncRequested(source_id=source_id)


@router.get("/workspaces/{workspace_id}/sources/{source_id:uuid}/syncs", response_model=SyncPage)
async def list_syncs(
    source_id: uuid.UUID,
    access: WorkspaceDep,
    session: SessionDep,
    limit: LimitDep,
    cursor: CursorDep = None,
    offset: DeprecatedOffsetDep = 0,
) -> SyncPage:
    """Newest started first; `next_cursor` continues after the last sync of the page (a cursor
    of this source's list only)."""
    items, total, next_cursor = await listing.syncs_page(
        session, access, source_id, limit=limit, cursor=cursor, offset=offset
    )
    return SyncPage(
        items=[SyncOut.of(r) for r in items],
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=next_cursor,
    )
