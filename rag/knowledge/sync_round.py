"""One sync round of one source: fetch each page, compare it with what is stored, and act.

``rag.knowledge.sync`` leases the source, runs the round (``sync_page_source`` or
``sync_sitemap``) and records its outcome. The round:

- asks each page conditionally (If-None-Match / If-Modified-Since with the validators of its
  last fetch): a 304 downloads nothing and embeds nothing;
- a 200 whose bytes hash like the stored content changes nothing but the validators;
- changed bytes are stored on the document and its ingestion job is queued (after the sync's
  writes are committed, from ``SyncStats.requeue``): the job re-embeds only the chunks whose
  content hash changed (``rag.knowledge.jobs.plan_chunks``);
- a page new to a sitemap becomes a document (quota checked as for uploads);
- a page that answers 404/410, or that the sitemap no longer lists, is removed only when it
  was gone on two syncs in a row (once: kept, ``missing_syncs`` = 1);
- documents are keyed by (workspace, kind, URL), so repeated syncs never create duplicates.

Every fetch goes through ``rag.knowledge.fetch`` (the SSRF guard on each hop, redirects too).
A sitemap round checks at most SOURCE_SYNC_MAX_PAGES pages (in URL order) and returns where it
stopped; the caller stores it (``Source.cursor``) and the next round continues from there.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.errors import AppError, ValidationFailed
from rag.knowledge import robots
from rag.knowledge.addresses import MAX_URL_LENGTH, FetchFailed
from rag.knowledge.fetch import FetchedPage, fetch_url
from rag.knowledge.jobs import IngestionDeps
from rag.knowledge.limits import check_quotas
from rag.knowledge.models import Document, Source, content_hash
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import sources as repo
from rag.knowledge.sitemaps import read_sitemap
from workspaces import repository as ws_repo

log = logging.getLogger(__name__)

GONE_STATUSES = (404, 410)
REMOVE_AFTER_MISSING = 2
"""A page gone (404/410 or dropped from its sitemap) on this many syncs in a row is removed."""
MAX_ERRORS = 20
"""Errors kept on one sync record (the counts cover them all)."""


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

    def error(self, url: str, exc: AppError) -> None:
        self.failed += 1
        self.note({"url": url, "code": exc.code, "message": exc.message[:500]})

    def note(self, error: dict[str, Any]) -> None:
        """Record a problem that is not a failed page (a child sitemap that was not read)."""
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


async def sync_page_source(deps: IngestionDeps, source: Source, stats: SyncStats) -> None:
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


async def sync_sitemap(
    deps: IngestionDeps, source: Source, stats: SyncStats
) -> tuple[str | None, str]:
    """Check one bounded batch of the sitemap's pages; returns the cursor to resume from
    (None: the round is complete) and the hash of the sitemap's page list."""
    s, ws = deps.settings, source.workspace_id
    async with deps.db.transaction(workspace_id=ws) as session:
        known = [d.source for d in await repo.source_documents(session, ws, source.id, "sitemap")]
    listing = await read_sitemap(
        source.url,
        max_pages=s.sitemap_max_pages,
        allow_private=s.allow_private_urls,
        timeout=s.fetch_timeout_seconds,
        max_bytes=s.fetch_max_bytes,
        max_redirects=s.fetch_max_redirects,
        known=known,
    )
    listed_hash = hashlib.sha256("\n".join(sorted(set(listing.pages))).encode()).hexdigest()
    for problem in listing.errors:
        stats.note(problem)
    if not listing.pages:  # never "every page is gone": the sync fails and removes nothing
        raise ValidationFailed("The sitemap lists no pages", code="empty_sitemap")
    excluded = set(source.excluded_urls or ())  # pages its owner deleted stay deleted
    # robots.txt read again each round: a page it disallows is neither added nor fetched again
    # (one already stored is left as it was); a site that cannot say fails the round.
    blocked = await robots.disallowed(
        listing.pages,
        allow_private=s.allow_private_urls,
        timeout=s.fetch_timeout_seconds,
        max_redirects=s.fetch_max_redirects,
    )
    if blocked:
        stats.note(
            {
                "url": source.url,
                "code": "robots_disallowed",
                "message": f"The site's robots.txt disallows {len(blocked)} listed page(s);"
                " those were not fetched",
            }
        )
    listed = [url for url in listing.pages if url not in excluded and url not in blocked]
    listed_set = set(listed)
    stats.incomplete = not listing.complete
    if listing.skipped:
        stats.note(
            {
                "url": source.url,
                "code": "sitemap_truncated",
                "message": f"The sitemap lists {listing.skipped} more page(s) past the first"
                f" {s.sitemap_max_pages} (SITEMAP_MAX_PAGES); those were not added",
            }
        )
    if listing.too_long:
        stats.note(
            {
                "url": source.url,
                "code": "url_too_long",
                "message": f"The sitemap lists {listing.too_long} page(s) whose URL is longer"
                f" than {MAX_URL_LENGTH} bytes; those were not added",
            }
        )
    async with deps.db.transaction(workspace_id=ws) as session:
        adopted = await repo.unlinked_documents(session, ws, "sitemap", listed)
        await repo.link_documents(session, ws, source.id, [d.id for d in adopted])
        documents = {
            d.source: d for d in await repo.source_documents(session, ws, source.id, "sitemap")
        }
    if not listing.complete:
        # A page the listing does not show may be in a sitemap that was not read: left alone.
        documents = {url: d for url, d in documents.items() if listing.listed(url)}
    work = sorted((listed_set | set(documents)) - blocked)
    if source.cursor is not None:
        work = [url for url in work if url > source.cursor]
    batch = work[: s.source_sync_max_pages]
    cursor = batch[-1] if len(work) > len(batch) else None
    for url in batch:
        document = documents.get(url)
        if document is None:
            await _add_page(deps, source, url, "sitemap", stats)
        elif not listing.listed(url):  # listed past SITEMAP_MAX_PAGES: still listed
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
            current = await repo.get_source(session, ws, source.id)
            if current is None or url in (current.excluded_urls or ()):
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
    stats.requeue.append((document.id, document.revision))


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
    except AppError as exc:
        stats.error(url, exc)
        return
    stats.changed += 1
    stats.requeue.append((document.id, revision))
