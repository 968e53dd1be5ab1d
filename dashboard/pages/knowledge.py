"""Knowledge: documents (live status, multi-file upload, a URL or a sitemap, retry, delete,
chunks) and the FAQs' list on the same page (their forms: dashboard/pages/faqs.py, which draws
this page again through ``knowledge_page`` when it refuses one)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import quote_plus, urlencode

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from api.deps import RuntimeDep, SessionDep
from api.ingest_limit import rate_limit_ingest
from api.ingestion import enqueue_after_commit, read_sitemap_after_commit
from api.runtime import Runtime
from core.errors import AppError, NotFound, ValidationFailed
from dashboard.page_route import PageRoute
from dashboard.pages.common import (
    Page,
    PageDep,
    ReadSessionDep,
    form_fields,
    ingest_refusal,
)
from dashboard.web import counted, is_htmx, redirect, render, with_signed_notice
from rag.chat import faq as faq_service
from rag.knowledge import listing, submissions
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as document_repo
from workspaces.permissions import Action

router = APIRouter(route_class=PageRoute)

PAGE_SIZE = 50
FAQ_PAGE_SIZE = 100
CHUNK_PAGE = 50
MAX_FILES = 10
SITEMAPS_SHOWN = 20


class WebSourceForm(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: HttpUrl
    kind: str = Field(default="page", pattern="^(page|sitemap)$")


def _busy(documents: list[document_repo.Document]) -> bool:
    return any(d.status in ("queued", "processing") for d in documents)


Cursor = Annotated[str | None, Query(max_length=200)]
"""A page's keyset cursor (``core.pagination``): a garbled one, or another list's, is the 422
page (``invalid_cursor``)."""


def _knowledge_url(page: Page, cursor: str | None, faq_cursor: str | None, anchor: str = "") -> str:
    """The knowledge page at these pages of documents and FAQs (None: the first)."""
    query = urlencode([(n, v) for n, v in (("cursor", cursor), ("faq_cursor", faq_cursor)) if v])
    return page.url("knowledge") + ("?" + query if query else "") + anchor


async def _documents_context(
    session: AsyncSession, page: Page, cursor: str | None, faq_cursor: str | None = None
) -> dict[str, object]:
    """A page of the documents after ``cursor``, newest first, and the links to the first page
    and the next one (the FAQs' page, ``faq_cursor``, kept in both)."""
    documents, total, next_cursor = await listing.documents_page(
        session, page.access, status=None, limit=PAGE_SIZE, cursor=cursor
    )
    here = urlencode([(n, v) for n, v in (("cursor", cursor), ("faq_cursor", faq_cursor)) if v])
    return {
        "documents": documents,
        "total": total,
        "first_page": not cursor,
        "documents_first_url": _knowledge_url(page, None, faq_cursor),
        "documents_next_url": _knowledge_url(page, next_cursor, faq_cursor)
        if next_cursor
        else None,
        # The poll and the delete forms: this page of documents again.
        "documents_query": "?" + here if here else "",
        "busy": _busy(documents),
        "page": page,
    }


async def knowledge_page(
    request: Request,
    page: Page,
    session: AsyncSession,
    *,
    cursor: str | None = None,
    faq_cursor: str | None = None,
    forms: Mapping[str, object] | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The knowledge page; a refused form comes back with what the owner typed and why
    (``forms``: ``web_values``/``web_errors``, ``faq_values``/``faq_errors``)."""
    context = await _documents_context(session, page, cursor, faq_cursor)
    context.update(await _sitemaps_context(session, page))
    faqs, faq_total, next_faq_cursor = await faq_service.list_page(
        session, workspace_id=page.workspace_id, limit=FAQ_PAGE_SIZE, cursor=faq_cursor
    )
    return render(
        request,
        "knowledge.html",
        {
            **context,
            "faqs": faqs,
            "faq_total": faq_total,
            "faqs_first_page": not faq_cursor,
            "faqs_first_url": _knowledge_url(page, cursor, None, "#faqs"),
            "faqs_next_url": _knowledge_url(page, cursor, next_faq_cursor, "#faqs")
            if next_faq_cursor
            else None,
            "max_files": MAX_FILES,
            "web_values": {"url": "", "kind": "page"},
            "web_errors": {},
            "faq_values": {"question": "", "answer": "", "alt_questions": []},
            "faq_errors": {},
            "import_error": None,
            "upload_error": None,
            **(forms or {}),
        },
        status_code=status_code,
        headers=headers,
    )


@router.get("/w/{workspace_id}/knowledge")
async def knowledge(
    request: Request,
    page: PageDep,
    session: ReadSessionDep,
    cursor: Cursor = None,
    faq_cursor: Cursor = None,
) -> Response:
    """The documents and the FAQs, each a page at a time (``cursor``, ``faq_cursor``)."""
    return await knowledge_page(
        request, page, session, cursor=cursor or None, faq_cursor=faq_cursor or None
    )


async def _sitemaps_context(session: AsyncSession, page: Page) -> dict[str, object]:
    """The newest sitemaps with their state; ``sitemaps_busy`` while one is being read."""
    sitemaps = await listing.sitemap_states(session, page.access, limit=SITEMAPS_SHOWN)
    return {
        "sitemaps": sitemaps,
        "sitemaps_busy": any(s.source.state == "reading" for s in sitemaps),
        "page": page,
    }


@router.get("/w/{workspace_id}/knowledge/sitemaps")
async def sitemaps_fragment(request: Request, page: PageDep, session: ReadSessionDep) -> Response:
    """The sitemaps' list alone: htmx polls it while a sitemap is being read."""
    return render(request, "_sitemaps.html", await _sitemaps_context(session, page))


@router.get("/w/{workspace_id}/knowledge/documents")
async def documents_fragment(
    request: Request,
    page: PageDep,
    session: ReadSessionDep,
    cursor: Cursor = None,
    faq_cursor: Cursor = None,
) -> Response:
    """The documents table alone (the page of it the owner is on): htmx polls it while a
    document is being processed."""
    context = await _documents_context(session, page, cursor or None, faq_cursor or None)
    return render(request, "_documents.html", context)


@router.post("/w/{workspace_id}/knowledge/upload")
async def upload(
    request: Request,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    """Add the files chosen (all or none). Refused (no file, a file refused, past the ingestion
    rate limit): the knowledge page with the reason beside the upload form; htmx's request
    gets it in the flash box (``X-Error-Message``), the page it is on unchanged."""
    try:
        await rate_limit_ingest(request, page.access, Action.DOCUMENT_WRITE)
        async with session.begin_nested():  # the page drawn after a refusal: as before it
            subs = await _submit_uploads(request, page, session, runtime)
    except AppError as exc:
        if is_htmx(request):
            raise
        reason, status, headers = ingest_refusal(exc)
        await session.refresh(page.access.workspace)  # expired by the savepoint's rollback
        forms = {"upload_error": reason}
        return await knowledge_page(
            request, page, session, forms=forms, status_code=status, headers=headers
        )
    enqueue_after_commit(background, runtime.jobs, subs, ingestion=runtime.ingestion)
    added = sum(not s.duplicate for s in subs)
    there = sum(s.duplicate for s in subs)
    # Counts only: a notice is signed as this server's words, and a file's name is the
    # uploader's (the documents list below shows the names).
    notice = f"{counted(added, 'file')} added" + (
        f", {there} already there with the same content (listed below)" if there else ""
    )
    return redirect(request, page.url("knowledge") + "?notice=" + quote_plus(notice))


async def _submit_uploads(
    request: Request, page: Page, session: AsyncSession, runtime: Runtime
) -> list[submissions.Submission]:
    """Each file chosen submitted for ingestion; the first refused names its file."""
    form = await request.form()
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    if not files:
        raise ValidationFailed("Choose at least one file to upload")
    if len(files) > MAX_FILES:
        raise ValidationFailed(f"Upload at most {MAX_FILES} files at a time")
    limit = runtime.settings.max_upload_bytes
    subs = []
    names = [f.filename or "upload" for f in files]
    for upload_file, name in zip(files, names, strict=True):
        data = await upload_file.read(limit + 1)
        try:
            sub = await submissions.submit_upload(
                session,
                page.access,
                data=data,
                filename=name,
                content_type=upload_file.content_type,
                settings=runtime.settings,
            )
        except AppError as exc:
            # Which file, and that the others were not added either (one unit of work).
            if len(files) > 1:
                exc.message = f"{name}: {exc.message}. None of the {len(files)} files was added."
            else:
                exc.message = f"{name}: {exc.message}"
            raise
        subs.append(sub)
    return subs


@router.post("/w/{workspace_id}/knowledge/web")
async def add_web(
    request: Request,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    fields = await form_fields(request)
    values = {"url": str(fields.get("url") or "").strip(), "kind": fields.get("kind") or "page"}
    try:
        await rate_limit_ingest(request, page.access, Action.DOCUMENT_WRITE)
        form = WebSourceForm.model_validate(values)
        if form.kind == "sitemap":
            reading = await submissions.queue_sitemap(
                session,
                page.access,
                sitemap_url=str(form.url),
                settings=runtime.settings,
            )
            read_sitemap_after_commit(background, runtime.ingestion, reading)
            subs = []
            notice = "Reading the sitemap: its pages appear under Sitemaps as they are found"
        else:
            subs = [
                await submissions.submit_url(
                    session, page.access, url=str(form.url), settings=runtime.settings
                )
            ]
            notice = "Page added"
    except (ValidationError, AppError) as exc:
        reason, status, headers = (
            ingest_refusal(exc)
            if isinstance(exc, AppError)
            else ("Enter a full web address (https://...)", 422, {})
        )
        forms = {"web_values": values, "web_errors": {"url": reason}}
        return await knowledge_page(
            request, page, session, forms=forms, status_code=status, headers=headers
        )
    enqueue_after_commit(background, runtime.jobs, subs, ingestion=runtime.ingestion)
    return redirect(request, page.url("knowledge") + "?notice=" + quote_plus(notice))


@router.post("/w/{workspace_id}/knowledge/documents/{document_id}/retry")
async def retry(
    request: Request,
    document_id: uuid.UUID,
    page: PageDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    await rate_limit_ingest(request, page.access, Action.DOCUMENT_RETRY)
    document = await submissions.retry_document(session, page.access, document_id)
    if document.status != "ready":
        enqueue_after_commit(
            background,
            runtime.jobs,
            [submissions.Submission(document, created=False)],
            ingestion=runtime.ingestion,
        )
    return redirect(request, page.url("knowledge"))


@router.post("/w/{workspace_id}/knowledge/documents/{document_id}/delete")
async def delete(
    request: Request,
    document_id: uuid.UUID,
    page: PageDep,
    session: SessionDep,
    cursor: Cursor = None,
    faq_cursor: Cursor = None,
) -> Response:
    """Back to the page of documents the owner was on (``cursor``: the page starts after the
    previous page's last document, so deleting this one moves no other off it), not the first."""
    back = _knowledge_url(page, cursor or None, faq_cursor or None)
    try:
        await submissions.delete_document(session, page.access, document_id)
    except NotFound:
        return await already_deleted(
            request, page, session, DOCUMENT_GONE, cursor=cursor, faq_cursor=faq_cursor
        )
    return redirect(request, back + ("&" if "?" in back else "?") + "notice=Document+deleted")


async def already_deleted(
    request: Request,
    page: Page,
    session: AsyncSession,
    notice: str,
    *,
    cursor: str | None = None,
    faq_cursor: str | None = None,
    anchor: str = "",
) -> Response:
    """A delete of a document or an FAQ deleted meanwhile (another tab, a teammate): 404, and
    the knowledge page again without it, saying so (htmx follows HX-Redirect before it takes
    the status as a failure; it flashed "not found" and left the row listed)."""
    if is_htmx(request):
        back = _knowledge_url(page, cursor or None, faq_cursor or None)
        gone = back + ("&" if "?" in back else "?") + "notice=" + quote_plus(notice) + anchor
        return Response(status_code=404, headers={"HX-Redirect": with_signed_notice(request, gone)})
    return await knowledge_page(
        request,
        page,
        session,
        cursor=cursor or None,
        faq_cursor=faq_cursor or None,
        forms={"notice": notice},
        status_code=404,
    )


DOCUMENT_GONE = "That document was already deleted (by a teammate, or in another tab)."
FAQ_GONE = "That FAQ was already deleted (by a teammate, or in another tab)."


@router.get("/w/{workspace_id}/knowledge/documents/{document_id}")
async def document_detail(
    request: Request,
    document_id: uuid.UUID,
    page: PageDep,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    document = await document_repo.get_document(session, page.workspace_id, document_id)
    if document is None:
        raise NotFound("Document not found")
    chunks, total = await chunk_repo.list_chunks(
        session, page.workspace_id, document_id, limit=CHUNK_PAGE, offset=offset
    )
    return render(
        request,
        "document.html",
        {
            "document": document,
            "chunks": chunks,
            "total": total,
            "offset": offset,
            "page_size": CHUNK_PAGE,
            "page": page,
        },
    )
