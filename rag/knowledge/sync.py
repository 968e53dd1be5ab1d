"""Sources that re-sync: web pages and sitemaps kept fresh on a schedule or on request.

A source is a page URL or a sitemap URL the workspace added (``submit_url`` /
``submit_sitemap`` create it; migration 0008s1 backfilled the URL documents stored before).
A sync of a source:

- asks each page conditionally (If-None-Match / If-Modified-Since with the validators of its
  last fetch): a 304 downloads nothing and embeds nothing;
- a 200 whose bytes hash like the stored content changes nothing but the validators;
- changed bytes are stored on the document and its ingestion job is queued: the job re-embeds
  only the chunks whose content hash changed (``rag.knowledge.jobs.plan_chunks``);
- a page new to a sitemap becomes a document (quota checked as for uploads);
- a page that answers 404/410, or that the sitemap no longer lists, is removed only when it
  was gone on two syncs in a row (once: kept, ``missing_syncs`` = 1);
- documents are keyed by (workspace, kind, URL), so repeated syncs never create duplicates.

Every fetch goes through ``rag.knowledge.fetch`` (the SSRF guard on each hop, redirects too).
A sitemap sync checks at most SOURCE_SYNC_MAX_PAGES pages (in URL order) and stores where it
stopped (``Source.cursor``); the source stays due, so the next scheduler tick continues.

Exactly once: the periodic job ``sync_due_sources`` (api/schedule.py) leases due sources with
``FOR UPDATE SKIP LOCKED`` and a lease column (``lease_until``), then enqueues one sync job per
source carrying the lease holder; a sync runs only while its holder's lease is live. A sync
whose process died keeps the source due; once the lease has expired the next tick claims it
again (its record is marked ``interrupted``). A source whose syncs fail
SOURCE_FAILING_AFTER times in a row is flagged ``failing``; the owner is told once, through the
workspace webhook (event ``source.failing``, when a webhook is configured), and sees it on the
source and in its sync records.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AppError, Conflict, NotFound
from core.jobs import JobFunction
from core.logging import workspace_context
from core.models import utcnow
from rag.knowledge.addresses import FetchFailed
from rag.knowledge.fetch import FetchedPage, fetch_sitemap, fetch_url
from rag.knowledge.jobs import INGEST_JOB, IngestionDeps, _deps
from rag.knowledge.limits import check_quotas
from rag.knowledge.models import Document, Source, SourceSync, content_hash
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import sources as repo
from workspaces import repository as ws_repo
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess

log = logging.getLogger(__name__)

SYNC_JOB = "sync_source"
FAILING_EVENT = "source.failing"
"""The owner alert (webhook event) sent when a source is first flagged failing."""
GONE_STATUSES = (404, 410)
REMOVE_AFTER_MISSING = 2
"""A page gone (404/410 or dropped from its sitemap) on this many syncs in a row is removed."""
MAX_ERRORS = 20
"""Errors kept on one sync record (the counts cover them all)."""
INTERVALS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def next_due(schedule: str, after: datetime) -> datetime | None:
    interval = INTERVALS.get(schedule)
    return after + interval if interval else None


@dataclass
class SyncStats:
    checked: int = 0
    changed: int = 0
    added: int = 0
    removed: int = 0
    failed: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    requeue: list[uuid.UUID] = field(default_factory=list)
    """Documents whose ingestion job is queued once the sync's writes are committed."""

    def error(self, url: str, exc: AppError) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"url": url, "code": exc.code, "message": exc.message[:500]})


# --- owner actions ------------------------------------------------------------------------------


async def list_sources(
    session: AsyncSession, access: WorkspaceAccess, *, limit: int, offset: int
) -> tuple[list[Source], int]:
    authorize(access, Action.SOURCES_READ)
    return await repo.list_sources(session, access.workspace.id, limit=limit, offset=offset)


async def get_source(
    session: AsyncSession, access: WorkspaceAccess, source_id: uuid.UUID
) -> Source:
    authorize(access, Action.SOURCES_READ)
    source = await repo.get_source(session, access.workspace.id, source_id)
    if source is None:
        raise NotFound("Source not found")
    return source


async def list_syncs(
    session: AsyncSession,
    access: WorkspaceAccess,
    source_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
) -> tuple[list[SourceSync], int]:
    source = await get_source(session, access, source_id)
    return await repo.list_syncs(
        session, source.workspace_id, source.id, limit=limit, offset=offset
    )


async def set_schedule(
    session: AsyncSession, access: WorkspaceAccess, source_id: uuid.UUID, schedule: str
) -> Source:
    """Change how often the source re-syncs; the first scheduled sync is one interval from now
    (or from the last sync, if that is sooner). Audited."""
    permit = authorize(access, Action.SOURCE_UPDATE)
    ws = access.workspace.id
    source = await repo.get_source(session, ws, source_id, for_update=True)
    if source is None:
        raise NotFound("Source not found")
    now = utcnow()
    values: dict[str, Any] = {"schedule": schedule}
    if source.lease_until is None or source.lease_until < now:
        # (A sync in flight keeps its due time; it computes the next one from this schedule.)
        due = next_due(schedule, source.last_synced_at or now)
        if due is not None and (due < now or source.cursor is not None):
            due = now  # overdue, or a sitemap round in progress: continue at once
        values["next_due_at"] = due
    await repo.update_source(session, ws, source_id, **values)
    await permit.record(
        session, target_type="source", target_id=source_id, details={"schedule": schedule}
    )
    refreshed = await repo.get_source(session, ws, source_id)
    assert refreshed is not None
    return refreshed


async def request_sync(
    session: AsyncSession,
    access: WorkspaceAccess,
    source_id: uuid.UUID,
    *,
    lease: timedelta,
) -> str:
    """Lease the source for a sync now; the lease holder the caller enqueues the job with
    (after commit). 409 ``sync_in_progress`` while another sync holds it. Audited."""
    permit = authorize(access, Action.SOURCE_SYNC)
    ws = access.workspace.id
    source = await repo.get_source(session, ws, source_id)
    if source is None:
        raise NotFound("Source not found")
    now = utcnow()
    holder = f"manual:{uuid.uuid4().hex}"
    if not await repo.claim_one(
        session, ws, source_id, now=now, holder=holder, lease_until=now + lease
    ):
        raise Conflict("A sync of this source is running", code="sync_in_progress")
    # Due now: should this process die before the sync finishes, the scheduler re-runs it
    # once the lease has expired.
    await repo.update_source(session, ws, source_id, next_due_at=now)
    await permit.record(session, target_type="source", target_id=source_id)
    return holder


# --- scheduling ---------------------------------------------------------------------------------


def _lease(deps: IngestionDeps) -> timedelta:
    return timedelta(seconds=deps.settings.source_sync_lease_seconds)


async def sync_due_sources(deps: IngestionDeps, now: datetime) -> int:
    """Lease the due sources of every workspace and enqueue one sync job each; how many."""
    holder = f"sched:{uuid.uuid4().hex}"
    async with deps.db.transaction(lookup=repo.DUE_LOOKUP) as session:
        claimed = await repo.claim_due(
            session,
            now=now,
            holder=holder,
            lease_until=now + _lease(deps),
            limit=deps.settings.source_sync_batch,
        )
    for workspace_id, source_id in claimed:
        await deps.jobs.enqueue(
            SYNC_JOB,
            workspace_id=str(workspace_id),
            source_id=str(source_id),
            holder=holder,
            trigger="schedule",
        )
    return len(claimed)


# --- the sync -----------------------------------------------------------------------------------


async def sync_source(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    *,
    holder: str,
    trigger: str = "schedule",
) -> str:
    """Run one sync of a leased source; returns its status (ok, partial, failed) or
    ``not_leased`` when ``holder`` no longer holds the lease (a duplicate or stale job)."""
    ws = workspace_id
    async with deps.db.transaction(workspace_id=ws) as session:
        source = await repo.holds_lease(session, ws, source_id, holder, utcnow())
        if source is None:
            return "not_leased"
        record = await repo.start_sync(session, ws, source_id, trigger=trigger)
    stats = SyncStats()
    fatal: AppError | None = None
    cursor: str | None = None
    listed_hash: str | None = None
    # A cancelled sync (shutdown) records nothing: its lease expires and the sync runs again,
    # its record then marked interrupted, as after a crash.
    try:
        if source.kind == "sitemap":
            cursor, listed_hash = await _sync_sitemap(deps, source, stats)
        else:
            await _sync_page_source(deps, source, stats)
    except AppError as exc:
        fatal = exc
        stats.error(source.url, exc)
    except Exception as exc:
        log.exception("sync of source %s failed", source_id)
        fatal = AppError(f"Internal error: {type(exc).__name__}", code="internal_error")
        stats.error(source.url, fatal)
    status = await _finish(deps, source, record, stats, holder, fatal, cursor, listed_hash)
    for document_id in stats.requeue:
        await deps.jobs.enqueue(INGEST_JOB, workspace_id=str(ws), document_id=str(document_id))
    return status


async def _finish(
    deps: IngestionDeps,
    source: Source,
    record: SourceSync,
    stats: SyncStats,
    holder: str,
    fatal: AppError | None,
    cursor: str | None,
    listed_hash: str | None,
) -> str:
    ws, now = source.workspace_id, utcnow()
    useful = stats.changed + stats.unchanged + stats.added + stats.removed
    failed = fatal is not None or (stats.failed > 0 and useful == 0)
    status = "failed" if failed else ("partial" if cursor is not None else "ok")
    async with deps.db.transaction(workspace_id=ws) as session:
        await repo.finish_sync(
            session,
            ws,
            record.id,
            status=status,
            pages_checked=stats.checked,
            pages_changed=stats.changed,
            pages_added=stats.added,
            pages_removed=stats.removed,
            pages_failed=stats.failed,
            pages_unchanged=stats.unchanged,
            complete=cursor is None,
            errors=stats.errors,
        )
        current = await repo.get_source(session, ws, source.id, for_update=True)
        if current is None:
            return status
        failures = current.consecutive_failures + 1 if failed else 0
        values: dict[str, Any] = {
            "last_status": status,
            "last_error": fatal.message[:2000] if fatal is not None else None,
            "last_synced_at": now,
            "consecutive_failures": failures,
            "failing": failures >= deps.settings.source_failing_after,
            "cursor": None if failed else cursor,
        }
        if listed_hash is not None:
            values["content_hash"] = listed_hash
        alert: uuid.UUID | None = None
        flagged = failed and failures == deps.settings.source_failing_after
        if flagged and deps.alerts is not None:
            workspace = await ws_repo.get_workspace(session, ws)
            if workspace is not None:
                alert = await deps.alerts.record(
                    session,
                    workspace,
                    FAILING_EVENT,
                    {
                        "source_id": str(source.id),
                        "url": source.url,
                        "kind": source.kind,
                        "consecutive_failures": failures,
                        "sync_id": str(record.id),
                        "error": fatal.message[:500] if fatal is not None else None,
                    },
                )
        if current.leased_by == holder:
            values.update(leased_by=None, lease_until=None)
            values["next_due_at"] = (
                now if cursor is not None and not failed else next_due(current.schedule, now)
            )
        await repo.update_source(session, ws, source.id, **values)
    if alert is not None and deps.alerts is not None:
        deps.alerts.send(ws, alert)
    if flagged:
        log.warning(
            "source %s (%s) is failing: %d syncs in a row failed", source.id, source.url, failures
        )
    return status


async def _sync_page_source(deps: IngestionDeps, source: Source, stats: SyncStats) -> None:
    ws = source.workspace_id
    async with deps.db.transaction(workspace_id=ws) as session:
        documents = await repo.source_documents(session, ws, source.id, "url")
        if not documents:
            documents = await repo.unlinked_documents(session, ws, "url", [source.url])
            await repo.link_documents(session, ws, source.id, [d.id for d in documents])
    if not documents:  # its document was deleted: nothing to keep fresh
        await _add_page(deps, source, source.url, "url", stats)
        return
    await _check_page(deps, source, documents[0], stats)
    async with deps.db.transaction(workspace_id=ws) as session:
        document = await document_repo.get_document(session, ws, documents[0].id)
        if document is None:  # removed (gone twice): the source stops re-syncing it
            await repo.update_source(
                session,
                ws,
                source.id,
                schedule="never",
                consecutive_missing=0,
                etag=None,
                last_modified=None,
            )
            return
        await repo.update_source(
            session,
            ws,
            source.id,
            etag=document.etag,
            last_modified=document.last_modified,
            consecutive_missing=document.missing_syncs,
            content_hash=document.content_hash,
        )


async def _sync_sitemap(
    deps: IngestionDeps, source: Source, stats: SyncStats
) -> tuple[str | None, str]:
    """Check one bounded batch of the sitemap's pages; returns the cursor to resume from
    (None: the round is complete) and the hash of the sitemap's page list."""
    s, ws = deps.settings, source.workspace_id
    listed = await fetch_sitemap(
        source.url,
        max_pages=s.sitemap_max_pages,
        allow_private=s.allow_private_urls,
        timeout=s.fetch_timeout_seconds,
        max_bytes=s.fetch_max_bytes,
        max_redirects=s.fetch_max_redirects,
    )
    listed_set = set(listed)
    listed_hash = hashlib.sha256("\n".join(sorted(listed_set)).encode()).hexdigest()
    async with deps.db.transaction(workspace_id=ws) as session:
        adopted = await repo.unlinked_documents(session, ws, "sitemap", listed)
        await repo.link_documents(session, ws, source.id, [d.id for d in adopted])
        documents = {
            d.source: d for d in await repo.source_documents(session, ws, source.id, "sitemap")
        }
    work = sorted(listed_set | set(documents))
    if source.cursor is not None:
        work = [url for url in work if url > source.cursor]
    batch = work[: s.source_sync_max_pages]
    cursor = batch[-1] if len(work) > len(batch) else None
    for url in batch:
        document = documents.get(url)
        if document is None:
            await _add_page(deps, source, url, "sitemap", stats)
        elif url not in listed_set:
            stats.checked += 1
            await _missing(deps, document, stats)
        else:
            await _check_page(deps, source, document, stats)
    return cursor, listed_hash


async def _fetch(deps: IngestionDeps, url: str, document: Document | None) -> FetchedPage:
    s = deps.settings
    ready = document is not None and document.status == "ready"
    return await fetch_url(
        url,
        allow_private=s.allow_private_urls,
        timeout=s.fetch_timeout_seconds,
        max_bytes=s.fetch_max_bytes,
        max_redirects=s.fetch_max_redirects,
        etag=document.etag if ready and document is not None else None,
        last_modified=document.last_modified if ready and document is not None else None,
    )


async def _add_page(
    deps: IngestionDeps, source: Source, url: str, source_type: str, stats: SyncStats
) -> None:
    """A page new to the source: fetched now (a listed page that is gone is not added), stored
    with its bytes and validators, and its ingestion job queued."""
    ws = source.workspace_id
    stats.checked += 1
    try:
        page = await _fetch(deps, url, None)
        async with deps.db.transaction(workspace_id=ws) as session:
            workspace = await ws_repo.get_workspace(session, ws)
            if workspace is None:
                return
            existing = await document_repo.find_by_source(session, ws, source_type, url)
            if existing is not None:  # stored meanwhile (posted by hand): link, never duplicate
                await repo.link_documents(session, ws, source.id, [existing.id])
                stats.unchanged += 1
                return
            await check_quotas(session, workspace, new_documents=1)
            document = Document(
                id=uuid.uuid4(),
                workspace_id=ws,
                title=url[:300],
                source_type=source_type,
                source=url,
                content_type=page.content_type,
                body=page.data,
                status="queued",
                progress=0.0,
                chunk_count=0,
                revision=1,
                counted=False,
                source_id=source.id,
                etag=page.etag,
                last_modified=page.last_modified,
                missing_syncs=0,
            )
            await document_repo.insert_document(session, document)
    except AppError as exc:
        stats.error(url, exc)
        return
    stats.added += 1
    stats.requeue.append(document.id)


async def _missing(deps: IngestionDeps, document: Document, stats: SyncStats) -> None:
    """The page is gone this sync: count it, remove the document on the second time in a row."""
    ws = document.workspace_id
    async with deps.db.transaction(workspace_id=ws) as session:
        current = await document_repo.get_document(session, ws, document.id, for_update=True)
        if current is None:
            return
        missing = current.missing_syncs + 1
        if missing >= REMOVE_AFTER_MISSING:
            await document_repo.delete_document(session, ws, document.id)
            await ws_repo.bump_knowledge_version(session, ws)
            stats.removed += 1
            log.info(
                "removed document %s: %s gone on %d syncs", document.id, current.source, missing
            )
        else:
            await document_repo.update_document(session, ws, document.id, missing_syncs=missing)
            stats.unchanged += 1


async def _check_page(
    deps: IngestionDeps, source: Source, document: Document, stats: SyncStats
) -> None:
    """One conditional fetch of a stored page; changed bytes requeue its ingestion."""
    ws, url = document.workspace_id, document.source
    stats.checked += 1
    try:
        page = await _fetch(deps, url, document)
    except FetchFailed as exc:
        status = exc.details.get("status") if isinstance(exc.details, dict) else None
        if status in GONE_STATUSES:
            await _missing(deps, document, stats)
        else:
            stats.error(url, exc)
        return
    except AppError as exc:
        stats.error(url, exc)
        return
    validators = {"etag": page.etag, "last_modified": page.last_modified, "missing_syncs": 0}
    try:
        async with deps.db.transaction(workspace_id=ws) as session:
            current = await document_repo.get_document(session, ws, document.id, for_update=True)
            if current is None:
                return
            digest = content_hash(page.data) if not page.not_modified else current.content_hash
            if page.not_modified or (digest == current.content_hash and current.status == "ready"):
                await document_repo.update_document(session, ws, document.id, **validators)
                stats.unchanged += 1
                return
            workspace = await ws_repo.get_workspace(session, ws)
            if workspace is None:
                return
            await check_quotas(session, workspace, new_documents=0)
            await document_repo.update_document(
                session,
                ws,
                document.id,
                **validators,
                body=page.data,
                content_type=page.content_type,
                status="queued",
                progress=0.0,
                error=None,
                error_code=None,
                revision=current.revision + 1,
            )
    except AppError as exc:
        stats.error(url, exc)
        return
    stats.changed += 1
    stats.requeue.append(document.id)


# --- job function (arq signature), registered by the api/cli layer ----------------------------


async def sync_source_job(
    ctx: dict[str, Any], workspace_id: str, source_id: str, holder: str, trigger: str = "schedule"
) -> str:
    with workspace_context(workspace_id):
        return await sync_source(
            _deps(ctx),
            uuid.UUID(workspace_id),
            uuid.UUID(source_id),
            holder=holder,
            trigger=trigger,
        )


JOBS: dict[str, JobFunction] = {SYNC_JOB: sync_source_job}
