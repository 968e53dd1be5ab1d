"""Documents in (the request side): uploads, texts, web pages and sitemaps, replaced, retried,
deleted. The caller commits, then enqueues the ingestion job (``rag.knowledge.jobs``).

Each function takes the caller's ``WorkspaceAccess`` and asks ``workspaces.permissions`` first
(``document.write``, ``document.retry``, ``document.delete``); a refusal changes nothing.
Operator tools pass ``WorkspaceAccess.operator(...)``.

What a submitted content becomes (a new document, a new revision, a duplicate) is
``rag.knowledge.document_versions``; web pages and sitemaps are ``web_submissions``, their
names importable from here.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed, refuse_nul
from rag.knowledge.decoding import declared_charset
from rag.knowledge.document_versions import Submission as Submission
from rag.knowledge.document_versions import requeue, submit_content
from rag.knowledge.limits import parse_limits
from rag.knowledge.models import Document, content_hash
from rag.knowledge.parsing import check_upload, kind_by_name
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import sources as source_repo
from rag.knowledge.web_submissions import SitemapSubmission as SitemapSubmission
from rag.knowledge.web_submissions import delete_source as delete_source
from rag.knowledge.web_submissions import queue_sitemap as queue_sitemap
from rag.knowledge.web_submissions import submit_sitemap as submit_sitemap
from rag.knowledge.web_submissions import submit_url as submit_url
from workspaces import repository as ws_repo
from workspaces.permissions import Action, authorize
from workspaces.service import WorkspaceAccess

MAX_NAME_BYTES = 1024
"""An upload's file name (or path, for ``trulybot ingest``) is its identity, kept in a unique
index whose rows PostgreSQL bounds (about 2.7 KB)."""
MAX_CONTENT_TYPE = 200
"""``documents.content_type``'s width."""
MAX_TITLE = 300
"""A document's title (and a text document's identity): ``POST {title, text}`` takes as many."""


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


def megabytes(size: int) -> str:
    """A size as an owner reads it: "10 MB", "2.5 MB" (MiB, as the limits are set), "512 KB"
    under one."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def _too_large(what: str, size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what} may be at most {megabytes(limit)}",
        details={"limit": limit, "size": size},
    )


async def _check_upload(
    data: bytes, *, filename: str | None, content_type: str | None, settings: Settings
) -> None:
    if len(data) > settings.max_upload_bytes:
        raise _too_large("Files", len(data), settings.max_upload_bytes)
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
    return await submit_content(
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
        raise _too_large("Text", len(data), settings.max_upload_bytes)
    return await submit_content(
        session,
        access.workspace,
        source_type="text",
        source=title,
        title=title,
        content_type="text/plain; charset=utf-8",
        data=data,
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
    await requeue(session, document, data=data, digest=digest, content_type=content_type)
    return Submission(document=document, created=False)


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
        await requeue(session, document, data=None, digest=None, content_type=None)
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
