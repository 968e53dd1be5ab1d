"""Documents in (the request side): uploads, texts, web pages and sitemaps, replaced, retried,
deleted. The caller commits, then enqueues the ingestion job (``rag.knowledge.jobs``).

Each function takes the caller's ``WorkspaceAccess`` and asks ``workspaces.permissions`` first
(``document.write``, ``document.retry``, ``document.delete``); a refusal changes nothing.
Operator tools pass ``WorkspaceAccess.operator(...)``.

Identity of a document inside a workspace is ``(source_type, source)``: the upload's file name
(or its path relative to the folder given to ``trulybot ingest``), the text's title, or the URL.
- Identical content (sha256 of the bytes) already stored: the existing document is returned
  (``duplicate``), nothing is queued; unless that document failed, which is queued again (as
  Retry does) and returned as a new version of it.
- Same identity, new content (re-upload of ``guide.md``, the same URL posted again, or
  ``PUT .../documents/{id}``): the document gets a new revision and is re-processed; chunks whose
  content hash is unchanged keep their row and embedding, only changed chunks are embedded.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.db import released
from core.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from rag.knowledge import robots
from rag.knowledge.addresses import check_url
from rag.knowledge.decoding import declared_charset
from rag.knowledge.limits import check_quotas, parse_limits
from rag.knowledge.models import Document, content_hash
from rag.knowledge.parsing import check_upload, kind_by_name
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import sources as source_repo
from rag.knowledge.sitemaps import pack_files, read_sitemap, sitemap_fetch_slots
from workspaces import repository as ws_repo
from workspaces.models import Workspace
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess

MAX_NAME_BYTES = 1024
"""An upload's file name (or path, for ``trulybot ingest``) is its identity, kept in a unique
index whose rows PostgreSQL bounds (about 2.7 KB)."""
MAX_CONTENT_TYPE = 200
"""``documents.content_type``'s width."""
MAX_TITLE = 300
"""A document's title (and a text document's identity): ``POST {title, text}`` takes as many."""

NUL_IN_TEXT = "Text must be valid UTF-8 without NUL characters"
"""The answer (422 ``invalid_text``) the API gives for a NUL wherever text is stored."""


def stored_content_type(content_type: str | None) -> str | None:
    """What is kept of an upload's Content-Type: all of it when it fits the column; else its
    media type with its charset (the one parameter parsing reads), the other parameters dropped
    (some clients and proxies add long ones: a 500 before). A media type alone longer than the
    column is refused (422 ``content_type_too_long``)."""
    if content_type is None or len(content_type) <= MAX_CONTENT_TYPE:
        return content_type
    media = content_type.split(";", 1)[0].strip()
    charset = declared_charset(content_type)
    for kept in (f"{media}; charset={charset}" if charset else media, media):
        if len(kept) <= MAX_CONTENT_TYPE:
            return kept
    raise ValidationFailed(
        f"The file's content type may be at most {MAX_CONTENT_TYPE} characters long",
        code="content_type_too_long",
        details={"limit": MAX_CONTENT_TYPE},
    )


def refuse_nul(text: str, field: str = "text") -> None:
    """422 ``invalid_text`` for text holding a NUL, at once: it was accepted (202), took a
    document slot and a job, then failed as a file "holding binary data"."""
    if "\x00" in text:
        raise ValidationFailed(
            NUL_IN_TEXT,
            code="invalid_text",
            details=[{"field": field, "message": "contains a NUL character"}],
        )


@dataclass(frozen=True)
class Submission:
    document: Document
    created: bool
    duplicate: bool = False

    @property
    def needs_job(self) -> bool:
        return not self.duplicate


async def _submit(
    session: AsyncSession,
    workspace: Workspace,
    *,
    source_type: str,
    source: str,
    title: str,
    content_type: str | None,
    data: bytes | None,
) -> Submission:
    digest = content_hash(data) if data is not None else None
    # Before looking: the same new name submitted twice at once (a double click, a client's
    # retry) found no document in both requests and the second insert failed with a 500.
    await document_repo.lock_document_source(session, workspace.id, source_type, source)
    # The document this is a new version of comes first: matched by content first, an update
    # of "Refund policy" to the text another document holds answered with that one as a
    # duplicate, and "Refund policy" kept its old text.
    existing = await document_repo.find_by_source(session, workspace.id, source_type, source)
    if existing is not None:
        # Locked and read again: a replacement (PUT) committing meanwhile had its revision
        # number written a second time, for other content.
        existing = await document_repo.get_document(
            session, workspace.id, existing.id, for_update=True
        )
    if (
        existing is not None
        and digest is not None
        and existing.content_hash == digest
        and existing.status != "failed"  # a failed one is queued again, below
    ):
        return Submission(document=existing, created=False, duplicate=True)  # unchanged
    if existing is None and digest is not None:
        same = await document_repo.find_by_hash(session, workspace.id, digest)
        if same is not None and same.status == "failed":
            # The owner sent it again after a failure (a queue or embedder outage): run it
            # again, as Retry would; answered as a duplicate, it stayed failed. Of another
            # source (a text, another name): its own content type and name are kept.
            same = await document_repo.get_document(session, workspace.id, same.id, for_update=True)
            if same is not None and same.status == "failed":
                await _requeue(session, same, data=None, digest=None, content_type=None)
                return Submission(document=same, created=False)
        if same is not None:
            return Submission(document=same, created=False, duplicate=True)
    if existing is not None:
        await _requeue(session, existing, data=data, digest=digest, content_type=content_type)
        return Submission(document=existing, created=False)
    await check_quotas(session, workspace, new_documents=1)
    document = Document(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        title=title[:300] or "Untitled",
        source_type=source_type,
        source=source,
        content_type=content_type,
        content_hash=digest,
        body=data,
        status="queued",
        progress=0.0,
        chunk_count=0,
        revision=1,
        counted=False,
    )
    await document_repo.insert_document(session, document)
    return Submission(document=document, created=True)


async def _requeue(
    session: AsyncSession,
    document: Document,
    *,
    data: bytes | None,
    digest: str | None,
    content_type: str | None,
) -> None:
    values: dict[str, Any] = {
        "status": "queued",
        "progress": 0.0,
        "error": None,
        "error_code": None,
        "revision": document.revision + 1,
    }
    if data is not None:
        values.update(body=data, content_hash=digest, content_type=content_type)
    await document_repo.update_document(session, document.workspace_id, document.id, **values)
    await session.refresh(document)


async def _check_upload(
    data: bytes, *, filename: str | None, content_type: str | None, settings: Settings
) -> None:
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"Files may be at most {settings.max_upload_bytes} bytes",
            details={"limit": settings.max_upload_bytes, "size": len(data)},
        )
    if not data:
        raise ValidationFailed("The file is empty", code="empty_file")
    # 415: unsupported; 413: a DOCX that expands past the bound. In a thread: reading a zip's
    # directory is CPU work, which on the event loop held every other request of the process.
    await asyncio.to_thread(
        check_upload,
        data,
        filename=filename,
        content_type=content_type,
        limits=parse_limits(settings),
    )


async def submit_upload(
    session: AsyncSession,
    access: WorkspaceAccess,
    *,
    data: bytes,
    filename: str,
    content_type: str | None,
    settings: Settings,
    title: str | None = None,
) -> Submission:
    authorize(access, Action.DOCUMENT_WRITE)
    if len(filename.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        # The name is the document's identity: past what the unique index holds, a 500.
        raise ValidationFailed(
            f"The file name may be at most {MAX_NAME_BYTES} bytes long",
            code="name_too_long",
            details={"limit": MAX_NAME_BYTES},
        )
    content_type = stored_content_type(content_type)
    await _check_upload(data, filename=filename, content_type=content_type, settings=settings)
    return await _submit(
        session,
        access.workspace,
        source_type="upload",
        source=filename,
        title=title or filename.rsplit("/", 1)[-1],
        content_type=content_type,
        data=data,
    )


async def submit_text(
    session: AsyncSession, access: WorkspaceAccess, *, title: str, text: str, settings: Settings
) -> Submission:
    authorize(access, Action.DOCUMENT_WRITE)
    refuse_nul(title, "title")
    refuse_nul(text)
    data = text.encode("utf-8")
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"Text may be at most {settings.max_upload_bytes} bytes",
            details={"limit": settings.max_upload_bytes, "size": len(data)},
        )
    return await _submit(
        session,
        access.workspace,
        source_type="text",
        source=title,
        title=title,
        content_type="text/plain; charset=utf-8",
        data=data,
    )


async def submit_url(
    session: AsyncSession, access: WorkspaceAccess, *, url: str, settings: Settings
) -> Submission:
    authorize(access, Action.DOCUMENT_WRITE)
    await check_url(url, allow_private=settings.allow_private_urls)  # 422 url_not_allowed now
    submission = await _submit(
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


async def submit_sitemap(
    session: AsyncSession, access: WorkspaceAccess, *, sitemap_url: str, settings: Settings
) -> SitemapSubmission:
    """Download the sitemap and add its pages. The download (up to FETCH_TIMEOUT_SECONDS per
    file) runs with the session's connection back in the pool (``released``: what the
    transaction did so far, authentication, is committed first) and at most
    SITEMAP_FETCHES_AT_ONCE at once per process, half of them per workspace (``SitemapSlots``)."""
    authorize(access, Action.DOCUMENT_WRITE)
    workspace = access.workspace
    slots = sitemap_fetch_slots(settings)
    async with released(session), slots.slot(workspace.id):
        listing = await read_sitemap(
            sitemap_url,
            max_pages=settings.sitemap_max_pages,
            allow_private=settings.allow_private_urls,
            timeout=settings.fetch_timeout_seconds,
            max_bytes=settings.fetch_max_bytes,
            max_redirects=settings.fetch_max_redirects,
        )
        screened = await robots.screen(
            listing.pages,
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
    fresh = [
        url
        for url in pages
        if await document_repo.find_by_source(session, workspace.id, "sitemap", url) is None
    ]
    await check_quotas(session, workspace, new_documents=len(fresh))
    out = []
    for url in pages:
        out.append(
            await _submit(
                session,
                workspace,
                source_type="sitemap",
                source=url,
                title=url,
                content_type=None,
                data=None,
            )
        )
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
    )


async def replace_document(
    session: AsyncSession,
    access: WorkspaceAccess,
    document_id: uuid.UUID,
    *,
    data: bytes,
    content_type: str | None,
    settings: Settings,
    title: str | None = None,
    as_text: bool = False,
) -> Submission:
    """New content for an existing document (PUT): same id, new revision, only changes embedded.
    ``as_text``: the content is pasted text (JSON ``{text}``), refused (422
    ``not_replaceable_by_text``) for an uploaded PDF or DOCX, which a new file replaces.

    ``title`` renames an upload or a text document. A text document's title is its identity
    (``source``), so both change, and a title another text document has is refused (409
    ``title_taken``). The same content and title as stored is a duplicate: nothing queued (a
    failed document is queued again). A new
    title alone makes a new revision: every chunk carries the title, in what is embedded too."""
    authorize(access, Action.DOCUMENT_WRITE)
    workspace = access.workspace
    if title is not None:
        title = title.strip()[:MAX_TITLE] or None
        refuse_nul(title or "", "title")
    content_type = stored_content_type(content_type)
    document = await document_repo.get_document(session, workspace.id, document_id)
    if document is None:
        raise NotFound("Document not found")
    if title is not None and document.source_type == "text" and title != document.source:
        # The new identity's lock before the row's, the order every submission takes them.
        await document_repo.lock_document_source(session, workspace.id, "text", title)
    document = await document_repo.get_document(session, workspace.id, document_id, for_update=True)
    if document is None:
        raise NotFound("Document not found")
    if document.source_type in ("url", "sitemap"):
        raise ValidationFailed(
            "A web page is refreshed by posting its URL again", code="not_replaceable"
        )
    if as_text and (kind := kind_by_name(document.source)) in ("pdf", "docx"):
        # The document stays a file of that format: text was checked as one (415 "does not
        # look like a valid PDF").
        raise ValidationFailed(
            f"{document.source!r} is a {(kind or '').upper()} file: replace it by uploading a"
            " file (multipart `file`); text replaces text, Markdown and HTML documents",
            code="not_replaceable_by_text",
            details={"kind": kind, "accepts": "multipart file"},
        )
    await _check_upload(
        data, filename=document.source, content_type=content_type, settings=settings
    )
    digest = content_hash(data)
    new_title = None if title == document.title else title
    if digest == document.content_hash and new_title is None and document.status != "failed":
        return Submission(document=document, created=False, duplicate=True)
    renamed: dict[str, str] = {}
    if new_title is not None:
        renamed["title"] = new_title
        if document.source_type == "text" and new_title != document.source:
            other = await document_repo.find_by_source(session, workspace.id, "text", new_title)
            if other is not None and other.id != document.id:
                raise Conflict(
                    f"Another text document is titled {new_title!r}",
                    code="title_taken",
                    details={"document_id": str(other.id)},
                )
            renamed["source"] = new_title
    if renamed:
        await document_repo.update_document(session, workspace.id, document.id, **renamed)
    await _requeue(session, document, data=data, digest=digest, content_type=content_type)
    return Submission(document=document, created=False)


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
    pages = await source_repo.source_documents(session, workspace_id, source_id, kind)
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


async def retry_document(
    session: AsyncSession, access: WorkspaceAccess, document_id: uuid.UUID
) -> Document:
    """Re-run a failed document; one left queued or processing (a crash) is returned as is, for
    the caller to enqueue again."""
    authorize(access, Action.DOCUMENT_RETRY)
    document = await document_repo.get_document(
        session, access.workspace.id, document_id, for_update=True
    )
    if document is None:
        raise NotFound("Document not found")
    if document.status == "failed":
        await _requeue(session, document, data=None, digest=None, content_type=None)
    return document


async def delete_document(
    session: AsyncSession, access: WorkspaceAccess, document_id: uuid.UUID
) -> None:
    """Delete a document and its chunks (audited); cached answers are invalidated."""
    permit = authorize(access, Action.DOCUMENT_DELETE)
    workspace_id = access.workspace.id
    document = await document_repo.get_document(session, workspace_id, document_id)
    if document is None:
        raise NotFound("Document not found")
    # A sitemap sync adding pages takes this lock too: it adds this page back only if it
    # looked before this deletion (and its exclusion) committed, never after.
    await document_repo.lock_document_source(
        session, workspace_id, document.source_type, document.source
    )
    if not await document_repo.delete_document(session, workspace_id, document_id):
        raise NotFound("Document not found")
    if document.source_type == "url" and document.source_id is not None:
        # A deleted web page is not brought back by its schedule: its page source goes too.
        await source_repo.delete_source(session, workspace_id, document.source_id)
    elif document.source_type == "sitemap":
        # Nor by a sitemap's next sync (it came back): every sitemap source of the workspace
        # leaves it out from now on (another sitemap listing it too brought it back).
        await source_repo.exclude_page_everywhere(session, workspace_id, document.source)
    await ws_repo.bump_knowledge_version(session, workspace_id)
    await permit.record(session, target_type="document", target_id=document_id)
