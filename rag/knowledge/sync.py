"""Sources that re-sync: web pages and sitemaps kept fresh on a schedule or on request.

A source is a page URL or a sitemap URL the workspace added (``submit_url`` /
``submit_sitemap`` create it; migration 0008s1 backfilled the URL documents stored before).
This module holds the owner's actions on sources, the scheduling and leasing, and the record of
each sync; the round itself (conditional fetches, change detection, adding and removing pages)
is ``rag.knowledge.sync_round``. A sitemap sync checks at most SOURCE_SYNC_MAX_PAGES pages and
stores where it stopped (``Source.cursor``); the source stays due, so the next scheduler tick
continues.

Exactly once: the periodic job ``sync_due_sources`` (api/schedule.py) leases due sources with
``FOR UPDATE SKIP LOCKED`` and a lease column (``lease_until``), then enqueues one sync job per
source carrying the lease holder; a sync runs only while its holder's lease is live. A sync
whose process died keeps the source due; once the lease has expired the next tick claims it
again (its record is marked ``interrupted``). A source whose syncs fail
SOURCE_FAILING_AFTER times in a row is flagged ``failing``; the owner is told once per streak
through ``deps.alerts`` (the api layer wires a ``source.failing`` notification mail and, when a
webhook is configured, the webhook event), and sees it on the source and in its sync records.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AppError, Conflict, NotFound
from core.jobs import JobFunction, enqueue_retried
from core.logging import workspace_context
from core.models import utcnow
from rag.knowledge import requeue
from rag.knowledge.jobs import IngestionDeps, _deps
from rag.knowledge.models import Source, SourceSync
from rag.knowledge.repository import sources as repo
from rag.knowledge.sync_round import Lease, LeaseLost, SyncStats, sync_page_source, sync_sitemap
from workspaces import repository as ws_repo
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess

log = logging.getLogger(__name__)

SYNC_JOB = "sync_source"
FAILING_EVENT = "source.failing"
"""The owner alert (webhook event) sent when a source is first flagged failing."""
INTERVALS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def next_due(schedule: str, after: datetime) -> datetime | None:
    interval = INTERVALS.get(schedule)
    return after + interval if interval else None


# --- owner actions ------------------------------------------------------------------------------


async def get_source(
    session: AsyncSession, access: WorkspaceAccess, source_id: uuid.UUID
) -> Source:
    authorize(access, Action.SOURCES_READ)
    source = await repo.get_source(session, access.workspace.id, source_id)
    if source is None:
        raise NotFound("Source not found")
    return source


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


async def enqueue_requested_sync(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    holder: str,
    *,
    trigger: str = "manual",
) -> bool:
    """Enqueue the sync ``request_sync`` leased the source for (after the request's commit),
    tried again while the queue is unreachable (``requeue.ENQUEUE_DELAYS``). When it still
    fails, the lease is given back: the source would otherwise answer 409 ``sync_in_progress``
    for SOURCE_SYNC_LEASE_SECONDS with no sync behind it. It stays due, so the scheduler syncs
    it once the queue is back, and "Sync now" may be asked again; whether it was enqueued."""
    enqueued = await enqueue_retried(
        lambda: deps.jobs.enqueue(
            SYNC_JOB,
            workspace_id=str(workspace_id),
            source_id=str(source_id),
            holder=holder,
            trigger=trigger,
        ),
        requeue.ENQUEUE_DELAYS,
        what=f"sync of source {source_id}",
    )
    if not enqueued:
        log.error("source %s: sync not enqueued; its lease is given back", source_id)
        await release_lease(deps, workspace_id, source_id, holder)
    return enqueued


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


async def resume_left_reads(deps: IngestionDeps) -> int:
    """At the start of a `serve` that runs jobs in-process (one process, no Redis): the leases
    the last run's syncs and sitemap reads left on their sources are given back (no other
    process can hold one), so the scheduler's next tick runs them again (each is due) instead
    of once its lease has expired (SOURCE_SYNC_LEASE_SECONDS: a sitemap posted just before a
    crash said "reading" for 30 minutes); how many."""
    async with deps.db.transaction(lookup=repo.DUE_LOOKUP) as session:
        return await repo.free_leases(session)


# --- the sync -----------------------------------------------------------------------------------


async def sync_source(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    *,
    holder: str,
    trigger: str = "schedule",
) -> str:
    """Run one sync of a leased source; returns its status (ok, partial, failed),
    ``not_leased`` when ``holder`` no longer holds the lease (a duplicate or stale job), or
    ``lease_lost`` when it ran past its lease and another sync took the source over meanwhile
    (each step renews the lease; its record is ``interrupted``)."""
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
    # A cancelled sync (a shutdown) marks its record interrupted and gives its lease back, so
    # the next run (the scheduler's, an owner's "Sync now") need not wait out the lease (30
    # minutes of 409 sync_in_progress after every deploy). A crash leaves both to the lease.
    lease = Lease(holder, deps.settings.source_sync_lease_seconds)
    try:
        if source.kind == "sitemap":
            cursor, listed_hash = await sync_sitemap(deps, source, stats, lease)
        else:
            await sync_page_source(deps, source, stats, lease)
    except asyncio.CancelledError:
        await asyncio.shield(release_lease(deps, ws, source_id, holder, record_id=record.id))
        raise
    except LeaseLost:
        # It outlived its lease and another sync has the source now: this one stops, its
        # record says so, and the source's state is the other sync's to write.
        log.warning("sync of source %s stopped: its lease was taken over", source_id)
        await _lease_lost(deps, ws, record.id, stats)
        await _requeue(deps, ws, source_id, stats)
        return "lease_lost"
    except AppError as exc:
        fatal = exc
        stats.error(source.url, exc)
    except Exception as exc:
        log.exception("sync of source %s failed", source_id)
        fatal = AppError(f"Internal error: {type(exc).__name__}", code="internal_error")
        stats.error(source.url, fatal)
    status = await _finish(deps, source, record, stats, holder, fatal, cursor, listed_hash)
    await _requeue(deps, ws, source_id, stats)
    return status


async def _requeue(
    deps: IngestionDeps, ws: uuid.UUID, source_id: uuid.UUID, stats: SyncStats
) -> None:
    # Under the revision's job id, as a submission's: the requeue sweep, finding a page still
    # queued behind lagging workers, adds no second job (both embedded, one committed). An
    # enqueue that keeps failing leaves the page queued for that sweep; the others still go.
    for document_id, revision in stats.requeue:
        if not await requeue.enqueue_retrying(deps.jobs, ws, document_id, revision):
            log.warning("page %s of source %s left for the requeue sweep", document_id, source_id)


async def _lease_lost(
    deps: IngestionDeps, ws: uuid.UUID, record_id: uuid.UUID, stats: SyncStats
) -> None:
    """The record of a sync stopped because another one took its source over."""
    stats.note(
        {
            "url": "",
            "code": "lease_lost",
            "message": "This sync ran past its lease (SOURCE_SYNC_LEASE_SECONDS) and another"
            " sync took the source over; it stopped",
        }
    )
    async with deps.db.transaction(workspace_id=ws) as session:
        await repo.finish_sync(
            session,
            ws,
            record_id,
            status="interrupted",
            complete=False,
            **stats.recorded(),
        )


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
    # A failed batch of a sitemap round (every page of it failed) moves the round on, like any
    # batch; only a sync that could not run (``fatal``) keeps the stored cursor.
    if fatal is not None:
        cursor = source.cursor
    partial = cursor is not None or stats.incomplete
    status = "failed" if failed else ("partial" if partial else "ok")
    # Why it failed: the fatal error, else (every page failed: a page source whose page answers
    # 500) the first page's error; it was null then, on the source and in source.failing.
    error: str | None = fatal.message if fatal is not None else None
    if error is None and (failed or stats.incomplete) and stats.errors:
        error = str(stats.errors[0].get("message") or "") or None
    async with deps.db.transaction(workspace_id=ws) as session:
        await repo.finish_sync(
            session,
            ws,
            record.id,
            status=status,
            complete=cursor is None,
            **stats.recorded(),
        )
        current = await repo.get_source(session, ws, source.id, for_update=True)
        if current is None:
            return status
        # Failed syncs count up. A success clears them only when it ends a round none of whose
        # syncs failed: mid-round, or after a failed batch of the round, they stand, so a batch
        # that fails every round still flags the source failing.
        failures = current.consecutive_failures
        if failed:
            failures += 1
        elif cursor is None and (
            source.kind != "sitemap"
            or not await repo.round_had_failure(session, ws, source.id, record)
        ):
            failures = 0
        values: dict[str, Any] = {
            "last_status": status,
            "last_error": error[:2000] if error is not None else None,
            "last_synced_at": now,
            "consecutive_failures": failures,
            "failing": failures >= deps.settings.source_failing_after,
            "cursor": cursor,
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
                        "error": error[:500] if error is not None else None,
                    },
                )
        if current.leased_by == holder:
            values.update(leased_by=None, lease_until=None)
            values["next_due_at"] = (
                now if cursor is not None and fatal is None else next_due(current.schedule, now)
            )
        await repo.update_source(session, ws, source.id, **values)
    if alert is not None and deps.alerts is not None:
        deps.alerts.send(ws, alert)
    if flagged:
        log.warning(
            "source %s (%s) is failing: %d syncs in a row failed", source.id, source.url, failures
        )
    return status


async def release_lease(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    holder: str,
    *,
    record_id: uuid.UUID | None = None,
) -> None:
    """A sync that will not run on (stopped, or never started): its record, if any, is
    ``interrupted`` and the lease is free again if ``holder`` still holds it. Best effort: a
    failure here leaves the lease to expire."""
    try:
        async with deps.db.transaction(workspace_id=workspace_id) as session:
            if record_id is not None:
                await repo.finish_sync(session, workspace_id, record_id, status="interrupted")
            current = await repo.get_source(session, workspace_id, source_id, for_update=True)
            if current is not None and current.leased_by == holder:
                await repo.update_source(
                    session, workspace_id, source_id, leased_by=None, lease_until=None
                )
    except Exception:
        log.exception("source %s: could not give its lease back; it expires", source_id)


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


async def sync_abandoned_job(
    ctx: dict[str, Any], workspace_id: str, source_id: str, holder: str, trigger: str = "schedule"
) -> None:
    """The in-process queue stopped before this sync ran: its lease is given back."""
    with workspace_context(workspace_id):
        await release_lease(_deps(ctx), uuid.UUID(workspace_id), uuid.UUID(source_id), holder)


JOBS: dict[str, JobFunction] = {SYNC_JOB: sync_source_job}
ABANDONED: dict[str, JobFunction] = {SYNC_JOB: sync_abandoned_job}
