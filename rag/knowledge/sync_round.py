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
- documents are keyed by (workspace, kind, URL), so repeated syncs never create duplicates;
  a page two sitemaps list is kept (fetched, counted missing) by one of them only, and goes to
  the other one rather than away when the first drops it or is deleted;
- the same bytes that failed to ingest (unparseable, over quota) are not run again: the page
  counts as failed in the sync record (its last good version, if any, keeps answering);
- each sitemap file is asked conditionally too (its validators and listing are kept on the
  source, ``Source.sitemap_files``): an unchanged sitemap is not downloaded again;
- a site whose robots.txt cannot be read withholds its own pages only (not fetched, not
  counted missing); the sync fails when it is the sitemap's own site, or every site.

Each step renews the sync's lease (``sync_pages.Lease``): a sync that outlived it stops
(``LeaseLost``) instead of running beside the one that took the source over.

Every fetch goes through ``rag.knowledge.fetch`` (the SSRF guard on each hop, redirects too).
A sitemap round checks at most SOURCE_SYNC_MAX_PAGES pages (in URL order) and returns where it
stopped; the caller stores it (``Source.cursor``) and the next round continues from there.
"""

from __future__ import annotations

import hashlib
import logging

from core.errors import ValidationFailed
from rag.knowledge import robots
from rag.knowledge.addresses import MAX_URL_LENGTH
from rag.knowledge.jobs import IngestionDeps
from rag.knowledge.models import Source
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import sources as repo
from rag.knowledge.sitemaps import pack_files, read_sitemap, unpack_files
from rag.knowledge.sync_pages import (
    REMOVE_AFTER_MISSING,
    Lease,
    LeaseLost,
    SyncStats,
    add_page,
    check_page,
    excluded_pages,
    missing,
    respell_pages,
)

log = logging.getLogger(__name__)

__all__ = [
    "REMOVE_AFTER_MISSING",
    "Lease",
    "LeaseLost",
    "SyncStats",
    "sync_page_source",
    "sync_sitemap",
]


async def sync_page_source(
    deps: IngestionDeps, source: Source, stats: SyncStats, lease: Lease
) -> None:
    ws = source.workspace_id
    async with deps.db.transaction(workspace_id=ws) as session:
        await lease.keep(session, source)
        documents = await repo.source_documents(session, ws, source.id, "url")
        if not documents:
            documents = await repo.unlinked_documents(session, ws, "url", [source.url])
            await repo.link_documents(session, ws, source.id, [d.id for d in documents])
    if not documents:  # its document was deleted: nothing to keep fresh
        await add_page(deps, source, source.url, "url", stats, lease)
        return
    await check_page(deps, source, documents[0], stats, lease)
    async with deps.db.transaction(workspace_id=ws) as session:
        await lease.keep(session, source)
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
    deps: IngestionDeps, source: Source, stats: SyncStats, lease: Lease
) -> tuple[str | None, str]:
    """Check one bounded batch of the sitemap's pages; returns the cursor to resume from
    (None: the round is complete) and the hash of the sitemap's page list."""
    s, ws = deps.settings, source.workspace_id
    async with deps.db.transaction(workspace_id=ws) as session:
        known = [d.source for d in await repo.source_documents(session, ws, source.id, "sitemap")]
        cached = unpack_files(await repo.sitemap_files(session, ws, source.id))
    listing = await read_sitemap(
        source.url,
        max_pages=s.sitemap_max_pages,
        allow_private=s.allow_private_urls,
        timeout=s.fetch_timeout_seconds,
        max_bytes=s.fetch_max_bytes,
        max_redirects=s.fetch_max_redirects,
        known=known,
        cached=cached,
    )
    listed_hash = hashlib.sha256("\n".join(sorted(set(listing.pages))).encode()).hexdigest()
    for problem in listing.errors:
        stats.note(problem)
    if not listing.pages:  # never "every page is gone": the sync fails and removes nothing
        raise ValidationFailed("The sitemap lists no pages", code="empty_sitemap")
    # Pages its owner deleted stay deleted, also those left out under an older spelling.
    excluded = excluded_pages(source)
    # robots.txt read again each round: a page it disallows is neither added nor fetched again
    # (one already stored is left as it was); a site that cannot say withholds its own pages
    # this round, and fails it only when it is the sitemap's own site (or every site is).
    screened = await robots.screen(
        listing.pages,
        sitemap_url=source.url,
        allow_private=s.allow_private_urls,
        timeout=s.fetch_timeout_seconds,
        max_redirects=s.fetch_max_redirects,
    )
    fatal = screened.fatal(source.url)
    if fatal is not None:
        raise fatal
    if screened.blocked:
        stats.note(
            {
                "url": source.url,
                "code": "robots_disallowed",
                "message": f"The site's robots.txt disallows {len(screened.blocked)} listed"
                " page(s); those were not fetched",
            }
        )
    if (note := screened.note()) is not None:
        stats.note(note)
    if (note := screened.crowd_note(source.url)) is not None:
        stats.note(note)
    blocked = screened.left_out
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
        await lease.keep(session, source)
        await repo.update_source(
            session,
            ws,
            source.id,
            listed_urls=listing.pages,
            sitemap_files=pack_files(listing.files),
        )
        adopted = await repo.unlinked_documents(session, ws, "sitemap", listed)
        await repo.link_documents(session, ws, source.id, [d.id for d in adopted])
        await respell_pages(session, source, listed)
        # Listed here and kept by another sitemap that lists them too: that one fetches them.
        elsewhere = await repo.linked_elsewhere(session, ws, source.id, "sitemap", listed)
        documents = {
            d.source: d for d in await repo.source_documents(session, ws, source.id, "sitemap")
        }
        # Added by hand (``{"url"}``, a page source): that source keeps it fresh. Stored for
        # the sitemap too, it was fetched twice a round, counted twice against the documents
        # quota and its passages answered twice. (A copy stored before is kept, as it was.)
        elsewhere |= set(await document_repo.stored_as(session, ws, "url", listed)) - set(documents)
    if not listing.complete:
        # A page the listing does not show may be in a sitemap that was not read: left alone.
        documents = {url: d for url, d in documents.items() if listing.listed(url)}
    work = sorted((listed_set | set(documents)) - blocked - elsewhere)
    if source.cursor is not None:
        work = [url for url in work if url > source.cursor]
    batch = work[: s.source_sync_max_pages]
    cursor = batch[-1] if len(work) > len(batch) else None
    for url in batch:
        document = documents.get(url)
        if document is None:
            await add_page(deps, source, url, "sitemap", stats, lease)
        elif not listing.listed(url):  # listed past SITEMAP_MAX_PAGES: still listed
            stats.checked += 1
            await missing(deps, source, document, stats, lease)
        else:
            await check_page(deps, source, document, stats, lease)
    return cursor, listed_hash
