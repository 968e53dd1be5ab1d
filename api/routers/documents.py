"""Documents, chunks and search of one workspace's knowledge."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request, Response, status
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.deps import (
    CursorDep,
    DeprecatedOffsetDep,
    LimitDep,
    OffsetDep,
    ReadSessionDep,
    RuntimeDep,
    SessionDep,
    WorkspaceDep,
    end_transaction,
    read_only,
)
from api.errors import json_parse_error
from api.form_text import refuse_lone_surrogates
from api.ingest_limit import DocumentRetryLimit, DocumentWriteLimit
from api.ingestion import enqueue_after_commit, read_sitemap_after_commit
from api.input_guard import media_type
from api.openapi import answers, document_body
from core.errors import NotFound, UnsupportedMediaType, ValidationFailed, refuse_nul
from rag.knowledge import indexing, listing, retrieval, submissions
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge.capped_rerank import rerank_within_cap
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.schemas import (
    ChunkOut,
    ChunkPage,
    DocStatus,
    DocumentOut,
    DocumentPage,
    HitOut,
    ReplaceTextIn,
    SearchIn,
    SearchOut,
    SitemapIn,
    SitemapOut,
    SitemapReadingOut,
    SourceOut,
    SubmissionOut,
    TextIn,
    UrlIn,
)

router = APIRouter(tags=["documents"])

CREATE_BODY = document_body(
    [TextIn, UrlIn, SitemapIn],
    description="A multipart upload (`file`, optional `title`), or JSON: {title, text} for"
    " text, {url} for a web page, {sitemap_url} for every page of a sitemap (with the header"
    " `Prefer: respond-async`: read by a job, 202 `{status: reading, source}` at once)",
)
REPLACE_BODY = document_body(
    [ReplaceTextIn],
    description="A multipart upload (`file`, optional `title`), or JSON {text, title?}. A"
    " `title` renames the document, a text document included (409 title_taken when another"
    " text document has that title); the same content and title as stored answer 200"
    " `duplicate` and queue nothing",
)


PREFER_HEADER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "`respond-async` with {sitemap_url}: the sitemap is read by a job and the"
    " answer (202, `Preference-Applied: respond-async`) is its source, `state` reading",
}

UPLOAD_FIELDS = frozenset({"file", "title"})

# --- helpers ---------------------------------------------------------------------------------


def _submission_out(sub: submissions.Submission) -> SubmissionOut:
    base = DocumentOut.of(sub.document).model_dump()
    # updated: a new version of a document already there (not a duplicate, which changes nothing)
    return SubmissionOut(
        **base, duplicate=sub.duplicate, updated=not sub.created and not sub.duplicate
    )


def _validation(exc: ValidationError) -> ValidationFailed:
    return ValidationFailed(
        "Invalid input",
        details=[
            {
                "field": ".".join(str(p) for p in e["loc"]) or None,
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors()
        ],
    )


async def _read_upload(request: Request, limit: int) -> tuple[bytes, str, str | None, str | None]:
    await refuse_lone_surrogates(request)
    form = await request.form()
    if unknown := sorted(set(form.keys()) - UPLOAD_FIELDS):  # as a JSON body's are refused
        raise ValidationFailed(
            "Invalid input",
            details=[
                {
                    "field": key,
                    "message": "Extra inputs are not permitted",
                    "type": "extra_forbidden",
                }
                for key in unknown
            ],
        )
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationFailed(
            "Send the document as the multipart field `file`",
            details=[{"field": "file", "message": "required"}],
        )
    data = await upload.read(limit + 1)
    title = form.get("title")
    title = title.strip() if isinstance(title, str) and title.strip() else None
    if title is not None and len(title) > submissions.MAX_TITLE:
        raise _title_too_long()  # as a JSON title is (it was cut to the limit unsaid)
    return data, upload.filename or "upload", upload.content_type, title


def _title_too_long() -> ValidationFailed:
    return ValidationFailed(
        "Invalid input",
        details=[
            {"field": "title", "message": f"a string of at most {submissions.MAX_TITLE} characters"}
        ],
    )


def _is_upload(request: Request) -> bool:
    """True for a multipart upload, False for a JSON body (or none named: read as JSON, as
    before); 415 ``unsupported_media_type`` for any other media type, which Starlette's form
    parser or the JSON guard would not read as the route does. Media types compare in any case:
    ``Multipart/Form-Data`` is an upload too."""
    kind = media_type(request.headers.get("content-type"))
    if kind == "multipart/form-data":
        return True
    if kind in ("", "application/json") or (
        kind.startswith("application/") and kind.endswith("+json")
    ):
        return False
    raise UnsupportedMediaType(
        "Send the document as multipart/form-data or JSON (application/json)",
        details=[{"field": None, "content_type": kind}],
    )


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except RecursionError as exc:  # JsonInputGuardMiddleware refuses these first
        raise ValidationFailed("The JSON body is nested too deep", code="json_too_deep") from exc
    except ValueError as exc:
        malformed = json_parse_error(exc)
        if malformed is None:  # pragma: no cover - json.loads raises one of those two
            raise ValidationFailed("The body must be JSON or multipart/form-data") from exc
        raise malformed from exc
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object")
    return body


def _respond_async(request: Request) -> bool:
    """``Prefer: respond-async`` (RFC 7240): the client takes a 202 before the work is done."""
    preferences = ",".join(request.headers.getlist("prefer")).lower()
    return any(p.split(";")[0].strip() == "respond-async" for p in preferences.split(","))


async def _read_sitemap_later(
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
    sitemap_url: str,
) -> SitemapReadingOut:
    """A sitemap read by a job (``submissions.queue_sitemap``), enqueued after the commit."""
    reading = await submissions.queue_sitemap(
        session,
        access,
        sitemap_url=sitemap_url,
        settings=runtime.settings,
    )
    read_sitemap_after_commit(background, runtime.ingestion, reading)
    return SitemapReadingOut(source=SourceOut.of(reading.source))


# --- endpoints -------------------------------------------------------------------------------


@router.post(
    "/workspaces/{workspace_id}/documents",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmissionOut | SitemapOut | SitemapReadingOut,
    responses=answers(
        status.HTTP_200_OK,
        SubmissionOut,
        "The same content is stored already (`duplicate`): nothing is queued",
    ),
    dependencies=[DocumentWriteLimit],
    openapi_extra={"requestBody": CREATE_BODY, "parameters": [PREFER_HEADER]},
)
async def create_document(
    request: Request,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
    response: Response,
) -> Any:
    """Multipart upload (`file`, optional `title`) or JSON {title, text} | {url} | {sitemap_url}."""
    settings = runtime.settings
    if _is_upload(request):
        data, filename, content_type, title = await _read_upload(
            request, runtime.settings.max_upload_bytes
        )
        subs = [
            await submissions.submit_upload(
                session,
                access,
                data=data,
                filename=filename,
                content_type=content_type,
                settings=settings,
                title=title,
            )
        ]
    else:
        body = await _json(request)
        try:
            if "sitemap_url" in body and _respond_async(request):
                sitemap = SitemapIn.model_validate(body)
                response.headers["Preference-Applied"] = "respond-async"
                return await _read_sitemap_later(
                    access, session, runtime, background, str(sitemap.sitemap_url)
                )
            if "sitemap_url" in body:
                sitemap = SitemapIn.model_validate(body)
                added = await submissions.submit_sitemap(
                    session, access, sitemap_url=str(sitemap.sitemap_url), settings=settings
                )
                subs = added.submissions
                enqueue_after_commit(background, runtime.jobs, subs, ingestion=runtime.ingestion)
                return SitemapOut(
                    count=len(subs),
                    documents=[_submission_out(s) for s in subs],
                    skipped=added.skipped,
                    too_long=added.too_long,
                    disallowed=added.disallowed,
                    robots_unavailable=added.robots_unavailable,
                    too_many_sites=added.too_many_sites,
                    unread_sitemaps=added.unread_sitemaps,
                )
            if "url" in body:
                url = UrlIn.model_validate(body)
                subs = [
                    await submissions.submit_url(
                        session, access, url=str(url.url), settings=settings
                    )
                ]
            else:
                payload = TextIn.model_validate(body)
                subs = [
                    await submissions.submit_text(
                        session,
                        access,
                        title=payload.title,
                        text=payload.text,
                        settings=settings,
                    )
                ]
        except ValidationError as exc:
            raise _validation(exc) from exc
    if subs[0].duplicate:
        response.status_code = status.HTTP_200_OK
    enqueue_after_commit(background, runtime.jobs, subs, ingestion=runtime.ingestion)
    return _submission_out(subs[0])


@router.get("/workspaces/{workspace_id}/documents", response_model=DocumentPage)
async def list_documents(
    access: WorkspaceDep,
    session: ReadSessionDep,
    limit: LimitDep,
    status: DocStatus | None = None,
    cursor: CursorDep = None,
    offset: DeprecatedOffsetDep = 0,
) -> DocumentPage:
    """Newest first; `next_cursor` continues after the last document of the page."""
    items, total, next_cursor = await listing.documents_page(
        session, access, status=status, limit=limit, cursor=cursor, offset=offset
    )
    return DocumentPage(
        items=[DocumentOut.of(d) for d in items],
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=next_cursor,
    )


@router.get("/workspaces/{workspace_id}/documents/{document_id:uuid}", response_model=DocumentOut)
async def get_document(
    document_id: uuid.UUID, access: WorkspaceDep, session: SessionDep
) -> DocumentOut:
    document = await document_repo.get_document(session, access.workspace.id, document_id)
    if document is None:
        raise NotFound("Document not found")
    return DocumentOut.of(document)


@router.put(
    "/workspaces/{workspace_id}/documents/{document_id:uuid}",
    response_model=SubmissionOut,
    responses=answers(
        status.HTTP_202_ACCEPTED, SubmissionOut, "The new content is queued for processing"
    ),
    dependencies=[DocumentWriteLimit],
    openapi_extra={"requestBody": REPLACE_BODY},
)
async def replace_document(
    document_id: uuid.UUID,
    request: Request,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
    response: Response,
) -> SubmissionOut:
    """New content for a document: multipart `file` (optional `title`) or JSON {text, title?}
    (text for a text, Markdown or HTML document; an uploaded PDF or DOCX takes a file: 422
    not_replaceable_by_text). `title` renames an upload or a text document (a text document's
    title is its identity: 409 title_taken when another text document has it). Returns 202, or
    200 `duplicate` when content and title are those stored (nothing queued)."""
    as_text = not _is_upload(request)
    if not as_text:
        data, _filename, content_type, title = await _read_upload(
            request, runtime.settings.max_upload_bytes
        )
    else:
        body = await _json(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValidationFailed(
                "Send {text} or a multipart `file`",
                details=[{"field": "text", "message": "required"}],
            )
        try:  # unknown fields are refused, as on every body (422 extra_forbidden)
            ReplaceTextIn.model_validate(body)
        except ValidationError as exc:
            raise _validation(exc) from exc
        refuse_nul(text)  # 422 invalid_text, as POST {title, text} answers
        raw_title = body.get("title")
        if raw_title is not None and (
            not isinstance(raw_title, str) or len(raw_title.strip()) > submissions.MAX_TITLE
        ):
            raise _title_too_long()
        data, content_type = text.encode("utf-8"), "text/plain; charset=utf-8"
        title = raw_title if isinstance(raw_title, str) and raw_title.strip() else None
    sub = await submissions.replace_document(
        session,
        access,
        document_id,
        data=data,
        content_type=content_type,
        settings=runtime.settings,
        title=title,
        as_text=as_text,
    )
    response.status_code = status.HTTP_200_OK if sub.duplicate else status.HTTP_202_ACCEPTED
    enqueue_after_commit(background, runtime.jobs, [sub], ingestion=runtime.ingestion)
    return _submission_out(sub)


@router.post(
    "/workspaces/{workspace_id}/documents/{document_id:uuid}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentOut,
    dependencies=[DocumentRetryLimit],
)
async def retry_document(
    document_id: uuid.UUID,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> DocumentOut:
    """Re-run a failed document (or one left queued/processing by a crash)."""
    document = await submissions.retry_document(session, access, document_id)
    sub = submissions.Submission(document=document, created=False)
    if document.status != "ready":
        enqueue_after_commit(background, runtime.jobs, [sub], ingestion=runtime.ingestion)
    return DocumentOut.of(document)


@router.delete(
    "/workspaces/{workspace_id}/documents/{document_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_document(
    document_id: uuid.UUID,
    access: WorkspaceDep,
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> Response:
    await submissions.delete_document(session, access, document_id)
    if await indexing.maintenance_due(session, access.workspace.id, runtime.ingestion.index_policy):
        background.add_task(
            runtime.jobs.enqueue,
            knowledge_jobs.INDEX_JOB,
            workspace_id=str(access.workspace.id),
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/workspaces/{workspace_id}/documents/{document_id:uuid}/chunks", response_model=ChunkPage
)
async def list_chunks(
    document_id: uuid.UUID,
    access: WorkspaceDep,
    session: SessionDep,
    limit: LimitDep,
    offset: OffsetDep = 0,
) -> ChunkPage:
    if await document_repo.get_document(session, access.workspace.id, document_id) is None:
        raise NotFound("Document not found")
    items, total = await chunk_repo.list_chunks(
        session, access.workspace.id, document_id, limit=limit, offset=offset
    )
    return ChunkPage(
        items=[
            ChunkOut(
                id=c.id,
                position=c.position,
                text=c.text,
                token_count=c.token_count,
                content_hash=c.content_hash,
                metadata=c.metadata_,
            )
            for c in items
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/workspaces/{workspace_id}/search", response_model=SearchOut)
@read_only
async def search(
    body: SearchIn, access: WorkspaceDep, session: SessionDep, runtime: RuntimeDep
) -> SearchOut:
    """The best ``k`` hits, reranked (RERANKER), with no pooled connection held while a model
    runs (an LLM's call or maxsim's CPU held one each: a few searches took the whole pool): the
    hits are read in a short transaction of their own (the replica's when it may serve)."""
    await end_transaction(session)
    embedding = None
    if body.mode != "fulltext":
        embedding = await runtime.embedder.embed_query(body.query)
    reads = runtime.reads.transaction(
        workspace_id=access.workspace.id, user_id=access.principal.user_id
    )
    async with reads as read_session:
        hits = await retrieval.search(
            read_session,
            workspace_id=access.workspace.id,
            query=body.query,
            query_embedding=embedding,
            k=min(runtime.reranker.pool(body.k), retrieval.MAX_K),
            mode=body.mode,
            weights=retrieval.Weights.of(runtime.settings),  # as chat ranks
            per_document=body.per_document,
        )
    # An LLM reranker runs only under the daily token cap, its tokens metered (as in chat).
    ranked = await rerank_within_cap(
        runtime.db, access.workspace, runtime.reranker, body.query, hits, body.k
    )
    return SearchOut(
        mode=body.mode,
        reranker=ranked.reranker,
        reranker_fallback=ranked.fallback,
        results=[HitOut.model_validate(h, from_attributes=True) for h in ranked.items],
    )
