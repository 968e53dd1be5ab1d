"""Web pages in (the request side): a page's URL (``submit_url``), a sitemap's pages
(``submit_sitemap``: downloaded without a database connection, screened by robots.txt) and a
web source deleted with the pages it brought (``delete_source``). Importable from
``rag.knowledge.submissions`` as before; what a page becomes is ``document_versions``."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.db import released
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import utcnow
from rag.knowledge import robots
from rag.knowledge.addresses import check_url, page_url
from rag.knowledge.document_versions import Submission, submit_content
from rag.knowledge.limits import check_quotas
from rag.knowledge.models import Source
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import sources as source_repo
from rag.knowledge.sitemaps import pack_files, read_sitemap, sitemap_fetch_slots
from workspaces import repository as ws_repo
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess, person_behind


async def submit_url(
    session: AsyncSession, access: WorkspaceAccess, *, url: str, settings: Settings
) -> Submission:
    authorize(access, Action.DOCUMENT_WRITE)
    posted, url = url, page_url(url)
    await check_url(url, allow_private=settings.allow_private_urls)  # 422 url_not_allowed now
    ws = access.workspace.id
    await document_repo.lock_document_source(session, ws, "sitemap", url)
    await respell(session, ws, "page", posted, url)
    listed = await document_repo.find_by_source(session, ws, "sitemap", url)
    if listed is not None and not await document_repo.find_by_source(session, ws, "url", url):
        # Stored for a sitemap: the page becomes this page source's (its sitemaps leave it to
        # that source from then on), one document still; it was stored a second time, its
        # passages answered twice. (Stored by hand too, before: that one is refreshed and the
        # sitemap's copy kept as it was; turned ``url`` it broke the unique key, a 500.)
        listed.source_type, listed.source_id, listed.missing_syncs = "url", None, 0
        await session.flush()
    submission = await submit_content(
        session,
        access.workspace,
        source_type="url",
        source=url,
        title=url,
        content_type=None,
        data=None,
    )
    source = await source_repo.ensure_source(session, access.workspace.id, url=url, kind="page")
    await source_repo.link_documents(
        session, access.workspace.id, source.id, [submission.document.id]
    )
    return submission


async def respell(
    session: AsyncSession, workspace_id: uuid.UUID, kind: str, posted: str, url: str
) -> None:
    """A web source (and for a page, its document) stored as ``posted`` before URLs were
    spelled one way (``page_url``: ``HTTP://Example.com``), posted so again: moved to ``url``
    when nothing is stored there yet. It became a second source (and document) beside the
    first, the page fetched, counted against the documents quota and answered twice."""
    source_type = "url" if kind == "page" else None
    # Held to the commit, taken by every post of the source: one post at a time moves it or
    # adds it (a unique key broken meanwhile would be a 500); in one order, no deadlock.
    for spelling in sorted({posted, url}):
        await document_repo.lock_document_source(session, workspace_id, f"source:{kind}", spelling)
        if source_type is not None:
            await document_repo.lock_document_source(session, workspace_id, source_type, spelling)
    if posted == url:
        return
    old = await source_repo.find_source(session, workspace_id, url=posted, kind=kind)
    if old is not None and not await source_repo.find_source(
        session, workspace_id, url=url, kind=kind
    ):
        await source_repo.update_source(session, workspace_id, old.id, url=url)
    if source_type is None:
        return
    document = await document_repo.find_by_source(session, workspace_id, source_type, posted)
    if document is not None:
        await document_repo.respell(session, document, url)


@dataclass(frozen=True)
class SitemapSubmission:
    submissions: list[Submission]
    skipped: int = 0
    """Pages the sitemap lists past SITEMAP_MAX_PAGES, not added (0: none)."""
    too_long: int = 0
    """Pages the sitemap lists whose URL is longer than 2048 bytes, not added (0: none)."""
    disallowed: int = 0
    """Pages their site's robots.txt disallows for us, not added (0: none)."""
    robots_unavailable: int = 0
    """Pages on another site whose robots.txt could not be read, not added (0: none)."""
    too_many_sites: int = 0
    """Pages on sites past the ``robots.MAX_SITES`` whose robots.txt is read, not added."""
    unread_sitemaps: int = 0
    """Child sitemap files not read (an error, no time left, past the limits): the pages they
    list are not added; a sync reads them again (0: none)."""


LISTING_SHARE = 0.4
"""Of REQUEST_TIMEOUT_SECONDS, what a posted sitemap's slot wait and files may take: no child
sitemap file is read past it."""
ROBOTS_SHARE = 0.75
"""Of REQUEST_TIMEOUT_SECONDS, when its robots.txt reads end; the rest stores the pages."""


def _deadlines(settings: Settings) -> tuple[float | None, float | None]:
    """The event loop times by which a posted sitemap's files, then its sites' robots.txt,
    are read (None, None: REQUEST_TIMEOUT_SECONDS=0, no limit). Each file had
    FETCH_TIMEOUT_SECONDS, one after another: an index of slow files (up to 50), or pages on
    slow sites, ran the request into its 504 with nothing added."""
    if settings.request_timeout_seconds <= 0:
        return None, None
    now = asyncio.get_running_loop().time()
    return (
        now + settings.request_timeout_seconds * LISTING_SHARE,
        now + settings.request_timeout_seconds * ROBOTS_SHARE,
    )


async def submit_sitemap(
    session: AsyncSession, access: WorkspaceAccess, *, sitemap_url: str, settings: Settings
) -> SitemapSubmission:
    """Download the sitemap and add its pages. The download (up to FETCH_TIMEOUT_SECONDS per
    file) runs with the session's connection back in the pool (``released``: what the
    transaction did so far, authentication, is committed first) and at most
    SITEMAP_FETCHES_AT_ONCE at once per process, half of them per workspace and as many per
    person across their workspaces (``SitemapSlots``).
    Within REQUEST_TIMEOUT_SECONDS (``_deadlines``): no slot by ``LISTING_SHARE`` of it is 503
    ``sitemap_busy``; a child file not read by then is left out (``unread_sitemaps``), a site
    whose robots.txt is not read by ``ROBOTS_SHARE`` of it withholds its pages
    (``robots_unavailable``; the sitemap's own site is read first)."""
    authorize(access, Action.DOCUMENT_WRITE)
    posted, sitemap_url = sitemap_url, page_url(sitemap_url)
    workspace = access.workspace
    slots = sitemap_fetch_slots(settings)
    listed_by, robots_by = _deadlines(settings)
    loop = asyncio.get_running_loop()
    person = await person_behind(session, access)
    async with released(session), slots.slot(workspace.id, listed_by, person=person):
        timeout = settings.fetch_timeout_seconds
        if robots_by is not None:  # the root's own errors are said, whatever the children's
            timeout = max(min(timeout, robots_by - loop.time()), 0.001)
        listing = await read_sitemap(
            sitemap_url,
            max_pages=settings.sitemap_max_pages,
            allow_private=settings.allow_private_urls,
            timeout=timeout,
            max_bytes=settings.fetch_max_bytes,
            max_redirects=settings.fetch_max_redirects,
            deadline=listed_by,
        )
        screened = await robots.screen(
            listing.pages,
            sitemap_url=sitemap_url,
            deadline=robots_by,
            allow_private=settings.allow_private_urls,
            timeout=settings.fetch_timeout_seconds,
            max_redirects=settings.fetch_max_redirects,
        )
    fatal = screened.fatal(sitemap_url)
    if fatal is not None:
        raise fatal
    blocked = screened.blocked
    pages = [url for url in listing.pages if url not in screened.left_out]
    if not pages and blocked:
        raise ValidationFailed(
            "The site's robots.txt disallows every page the sitemap lists",
            code="robots_disallowed",
        )
    if not pages:
        raise ValidationFailed("The sitemap lists no pages", code="empty_sitemap")
    for url in sorted(pages):  # in one order, so two sitemaps sharing pages never deadlock
        await document_repo.lock_document_source(session, workspace.id, "sitemap", url)
    # A page added by hand (``{"url"}``) is that page source's: answered as it is, not stored
    # a second time (fetched twice, counted twice, its passages answered twice).
    by_hand = await document_repo.stored_as(session, workspace.id, "url", pages)
    fresh = [
        url
        for url in pages
        if url not in by_hand
        and await document_repo.find_by_source(session, workspace.id, "sitemap", url) is None
    ]
    await check_quotas(session, workspace, new_documents=len(fresh))
    out = []
    for url in pages:
        if url in by_hand:
            out.append(Submission(document=by_hand[url], created=False, duplicate=True))
            continue
        out.append(
            await submit_content(
                session,
                workspace,
                source_type="sitemap",
                source=url,
                title=url,
                content_type=None,
                data=None,
            )
        )
    await respell(session, workspace.id, "sitemap", posted, sitemap_url)
    source = await source_repo.ensure_source(session, workspace.id, url=sitemap_url, kind="sitemap")
    # Submitted again: every page it lists, deleted ones included. What it lists and its
    # files' validators are kept for its syncs (another sitemap's pages, its conditional reads).
    await source_repo.update_source(
        session,
        workspace.id,
        source.id,
        excluded_urls=[],
        listed_urls=listing.pages,
        sitemap_files=pack_files(listing.files),
    )
    await source_repo.link_documents(
        session,
        workspace.id,
        source.id,
        [s.document.id for s in out if s.created or s.document.source_id is None],
    )
    return SitemapSubmission(
        out,
        skipped=listing.skipped,
        too_long=listing.too_long,
        disallowed=len(blocked),
        robots_unavailable=len(screened.withheld),
        too_many_sites=len(screened.crowded),
        unread_sitemaps=listing.unread,
    )


@dataclass(frozen=True)
class SitemapReading:
    """A sitemap posted to be read in the background (``queue_sitemap``)."""

    source: Source
    holder: str | None
    """The lease its read job runs under (enqueue it after the commit); None: a read or sync
    of it is running already, which reads it (nothing to enqueue)."""


async def queue_sitemap(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    sitemap_url: str,
    settings: Settings,
) -> SitemapReading:
    """Post a sitemap to be read by a job (``rag.knowledge.sync``, trigger ``submit``): the
    address is checked now (422 ``url_not_allowed``, the SSRF rules of every fetch), and the
    documents quota must leave room for one page (429 ``quota_exceeded``); nothing is
    downloaded in the request. Its source is created (or posted again: every page it lists is
    taken, deleted ones too), leased for the read and due now, so should the process reading it
    die, the scheduler reads it again once the lease has expired (the state is the source's
    row, not the job's). The read adds its pages one by one, under SITEMAP_MAX_PAGES, the
    nested-index caps, robots.txt and the documents quota, as a sync does."""
    authorize(access, Action.DOCUMENT_WRITE)
    posted, sitemap_url = sitemap_url, page_url(sitemap_url)
    workspace = access.workspace
    await check_url(sitemap_url, allow_private=settings.allow_private_urls)
    await check_quotas(session, workspace, new_documents=1)
    await respell(session, workspace.id, "sitemap", posted, sitemap_url)
    source = await source_repo.ensure_source(session, workspace.id, url=sitemap_url, kind="sitemap")
    now, holder = utcnow(), f"submit:{uuid.uuid4().hex}"
    lease = timedelta(seconds=settings.source_sync_lease_seconds)
    claimed = await source_repo.claim_one(
        session, workspace.id, source.id, now=now, holder=holder, lease_until=now + lease
    )
    if claimed:
        await source_repo.update_source(
            session, workspace.id, source.id, excluded_urls=[], next_due_at=now
        )
    current = await source_repo.get_source(session, workspace.id, source.id)
    assert current is not None
    # Not claimed: a read or sync of it runs now, and reads it.
    return SitemapReading(current, holder if claimed else None)


async def delete_source(
    session: AsyncSession, access: WorkspaceAccess, source_id: uuid.UUID
) -> int:
    """Delete a web source and every page it brought (their chunks go with them; cached
    answers are retired), except the pages another sitemap source lists too, which that source
    keeps from now on; how many pages were deleted. 409 ``sync_in_progress`` while a sync of
    it runs. Audited like a document's deletion."""
    permit = authorize(access, Action.DOCUMENT_DELETE)
    workspace_id = access.workspace.id
    source = await source_repo.get_source(session, workspace_id, source_id, for_update=True)
    if source is None:
        raise NotFound("Source not found")
    if source.lease_until is not None and source.lease_until > datetime.now(UTC):
        raise Conflict(
            "A sync of this source is running; try again when it ends", code="sync_in_progress"
        )
    kind = "sitemap" if source.kind == "sitemap" else "url"
    pages = await source_repo.source_documents(
        session, workspace_id, source_id, kind, for_update=True
    )
    deleted = 0
    for page in pages:
        # A page another sitemap source lists too stays, kept by that one from now on.
        heir = None
        if kind == "sitemap":
            heir = await source_repo.other_lister(session, workspace_id, source_id, page.source)
        if heir is not None:
            await source_repo.link_documents(session, workspace_id, heir, [page.id])
            continue
        await document_repo.delete_document(session, workspace_id, page.id)
        deleted += 1
    await source_repo.delete_source(session, workspace_id, source_id)
    await ws_repo.bump_knowledge_version(session, workspace_id)
    await permit.record(
        session,
        target_type="source",
        target_id=source_id,
        details={
            "url": source.url,
            "kind": source.kind,
            "documents": deleted,
            "handed_over": len(pages) - deleted,
        },
    )
    return deleted
