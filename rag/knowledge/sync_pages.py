"""The page steps of a sync round (``rag.knowledge.sync_round``): add a page new to a source,
check a stored page again, count a page gone; and the lease each step's writes hold.

Every step that writes renews the sync's lease in its own transaction (``Lease.keep``): a sync
outliving its lease (a stalled worker, a slow round) finds another sync has taken the source
over and stops (``LeaseLost``) before writing anything, instead of running beside it (both
counted a dropped page missing, so it was removed after one absence).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AppError
from core.models import utcnow
from rag.knowledge.addresses import FetchFailed, page_url
from rag.knowledge.fetch import FetchedPage, fetch_url
from rag.knowledge.jobs import IngestionDeps
from rag.knowledge.limits import check_quotas
from rag.knowledge.models import Document, Source, content_hash
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import sources as repo
from rag.knowledge.unfinished import INTERRUPTED, UNTIL_FETCHED
from workspaces import repository as ws_repo

log = logging.getLogger(__name__)

GONE_STATUSES = (404, 410)
REMOVE_AFTER_MISSING = 2
"""A page gone (404/410 or dropped from its sitemap) on this many syncs in a row is removed."""
MAX_ERRORS = 20
"""Errors kept on one sync record (the counts cover them all)."""
RUN_AGAIN = frozenset({INTERRUPTED, "internal_error", "embedding_failed"})
"""Failures that say nothing about the page's bytes (a stopped worker, an embedder outage): a
sync that fetches the same bytes runs them again. Any other failure (``nothing_extractable``,
``parse_failed``, ``quota_exceeded``...) of the same bytes is not run again by a sync: no new
revision, no second ``ingestion.failed`` mail; the owner's Retry, or a change of the page, is."""


class LeaseLost(Exception):
    """Another sync holds the source now: this one stops and writes nothing more."""


@dataclass(frozen=True)
class Lease:
    holder: str
    seconds: float

    async def keep(self, session: AsyncSession, source: Source) -> None:
        """In the transaction of a step's writes: the lease runs ``seconds`` from now, or
        ``LeaseLost`` (and the transaction's writes are rolled back)."""
        until = utcnow() + timedelta(seconds=self.seconds)
        if not await repo.renew_lease(session, source.workspace_id, source.id, self.holder, until):
            raise LeaseLost(f"source {source.id}: another sync took it over from {self.holder}")


@dataclass
class SyncStats:
    checked: int = 0
    changed: int = 0
    added: int = 0
    removed: int = 0
    failed: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    requeue: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    """Documents (and the revision written) whose ingestion job is queued once the sync's
    writes are committed."""

    incomplete: bool = False
    """The sitemap's listing could not be read in full (a child sitemap failed): no page was
    counted missing for not being listed, and the sync is at best ``partial``."""

    def recorded(self) -> dict[str, Any]:
        """The counts and errors as a sync record's columns (``pages_checked``...)."""
        return {
            "pages_checked": self.checked,
            "pages_changed": self.changed,
            "pages_added": self.added,
            "pages_removed": self.removed,
            "pages_failed": self.failed,
            "pages_unchanged": self.unchanged,
            "errors": self.errors,
        }

    def error(self, url: str, exc: AppError) -> None:
        self.failed += 1
        self.note({"url": url, "code": exc.code, "message": exc.message[:500]})

    def note(self, error: dict[str, Any]) -> None:
        """Record a problem that is not a failed page (a child sitemap that was not read)."""
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


def excluded_pages(source: Source) -> set[str]:
    """The pages the source leaves out (its owner deleted them), in ``page_url``'s spelling:
    one left out as a sitemap spelled it before (``HTTP://Example.com/b``) came back."""
    return {page_url(url) for url in source.excluded_urls or ()}


async def respell_pages(session: AsyncSession, source: Source, listed: Sequence[str]) -> None:
    """The sitemap's pages stored under an older spelling (``HTTP://Example.com``, ``/a#top``)
    that it lists in ``page_url``'s: their documents take it. Counted missing and added again,
    each was fetched and embedded again, answered twice for a round, and refused at a full
    documents quota (the page gone a round once the old copy was removed)."""
    ws, wanted = source.workspace_id, set(listed)
    for document in await repo.source_documents(session, ws, source.id, "sitemap"):
        url = page_url(document.source)
        if url == document.source or url not in wanted:
            continue
        await document_repo.lock_document_source(session, ws, "sitemap", url)
        # Stored under this spelling too: the old copy is left, to go as a missing page.
        if await document_repo.respell(session, document, url):
            wanted.discard(url)  # (two older spellings of one page: the first takes it)


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


async def add_page(
    deps: IngestionDeps,
    source: Source,
    url: str,
    source_type: str,
    stats: SyncStats,
    lease: Lease,
) -> None:
    """A page new to the source: fetched now (a listed page that is gone is not added), stored
    with its bytes and validators, and its ingestion job queued. Not when the source is gone or
    its owner deleted the page since the sync began (read again under the page's lock, which a
    deletion holds until it commits)."""
    ws = source.workspace_id
    stats.checked += 1
    try:
        page = await _fetch(deps, url, None)
        async with deps.db.transaction(workspace_id=ws) as session:
            workspace = await ws_repo.get_workspace(session, ws)
            if workspace is None:
                return
            await document_repo.lock_document_source(session, ws, source_type, url)
            await lease.keep(session, source)
            current = await repo.get_source(session, ws, source.id)
            if current is None or url in excluded_pages(current):
                return
            existing = await document_repo.find_by_source(session, ws, source_type, url)
            if existing is not None:  # stored meanwhile: never duplicated
                if existing.source_id is None:  # posted by hand: this source keeps it
                    await repo.link_documents(session, ws, source.id, [existing.id])
                # (Kept by another sitemap listing it too: left to that one, not taken over.)
                stats.unchanged += 1
                return
            if source_type == "sitemap" and await document_repo.find_by_source(
                session, ws, "url", url
            ):
                # Posted by hand since the round began (``submit_url`` takes this lock too):
                # its page source keeps it; stored here too, it was a second copy.
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
    stats.requeue.append((document.id, document.revision))


async def _still_kept(
    session: AsyncSession, source: Source, document: Document, stats: SyncStats
) -> Document | None:
    """The round's page locked, or None when it is gone or another source keeps it since the
    round read it (posted by hand, handed over: counted unchanged, left to that source)."""
    ws = document.workspace_id
    current = await document_repo.get_document(session, ws, document.id, for_update=True)
    if current is not None and current.source_id != source.id:
        stats.unchanged += 1
        return None
    return current


async def missing(
    deps: IngestionDeps, source: Source, document: Document, stats: SyncStats, lease: Lease
) -> None:
    """The page is gone this sync: count it, remove the document on the second time in a row;
    unless another sitemap source still lists it, which then keeps it. Not when another source
    keeps it since the round read it (posted by hand, handed over): that one counts its own
    absences (counted here too, a page source removed it after a single 404 of its own)."""
    ws = document.workspace_id
    async with deps.db.transaction(workspace_id=ws) as session:
        await lease.keep(session, source)
        current = await _still_kept(session, source, document, stats)
        if current is None:
            return
        count = current.missing_syncs + 1
        if count < REMOVE_AFTER_MISSING:
            await document_repo.update_document(session, ws, document.id, missing_syncs=count)
            stats.unchanged += 1
            return
        heir = None
        if current.source_type == "sitemap":
            heir = await repo.other_lister(session, ws, source.id, current.source)
        if heir is not None:
            await document_repo.update_document(
                session, ws, document.id, source_id=heir, missing_syncs=0
            )
            stats.unchanged += 1
            log.info("document %s: %s handed over to source %s", document.id, current.source, heir)
            return
        await document_repo.delete_document(session, ws, document.id)
        await ws_repo.bump_knowledge_version(session, ws)
        stats.removed += 1
        log.info("removed document %s: %s gone on %d syncs", document.id, current.source, count)


async def check_page(
    deps: IngestionDeps, source: Source, document: Document, stats: SyncStats, lease: Lease
) -> None:
    """One conditional fetch of a stored page; changed bytes requeue its ingestion. Not when
    another source keeps it since the round read it (posted by hand, handed over): that one
    fetches it itself (written here too, the page was ingested a second time)."""
    ws, url = document.workspace_id, document.source
    stats.checked += 1
    try:
        page = await _fetch(deps, url, document)
    except FetchFailed as exc:
        status = exc.details.get("status") if isinstance(exc.details, dict) else None
        if status in GONE_STATUSES:
            await missing(deps, source, document, stats, lease)
        else:
            stats.error(url, exc)
        return
    except AppError as exc:
        stats.error(url, exc)
        return
    validators = {"etag": page.etag, "last_modified": page.last_modified, "missing_syncs": 0}
    async with deps.db.transaction(workspace_id=ws) as session:
        await lease.keep(session, source)
        current = await _still_kept(session, source, document, stats)
        if current is None:
            return
        digest = content_hash(page.data) if not page.not_modified else current.content_hash
        if page.not_modified or (digest == current.content_hash and current.status == "ready"):
            await document_repo.update_document(session, ws, document.id, **validators)
            stats.unchanged += 1
            return
        if await _failed_before(session, current, digest):
            await document_repo.update_document(session, ws, document.id, **validators)
            stats.error(url, _still_failing(current))
            return
        revision = current.revision + 1
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
            revision=revision,
        )
    stats.changed += 1
    stats.requeue.append((document.id, revision))


async def _failed_before(session: AsyncSession, document: Document, digest: str | None) -> bool:
    """The page failed to ingest and serves the very bytes that failed (for a reason of
    theirs, not ``RUN_AGAIN``): running them again would fail again, with a mail each time."""
    if document.status != "failed" or document.error_code in RUN_AGAIN or digest is None:
        return False
    body = await document_repo.get_body(session, document.workspace_id, document.id)
    return body is not None and content_hash(body) == digest


def _still_failing(document: Document) -> AppError:
    kept = (
        f"its last good version keeps answering {UNTIL_FETCHED}"
        if document.chunk_count
        else f"it answers nothing {UNTIL_FETCHED}"
    )
    return AppError(
        f"The page is unchanged and still fails to ingest ({document.error or 'failed'}); {kept}",
        code=document.error_code or "ingestion_failed",
    )
