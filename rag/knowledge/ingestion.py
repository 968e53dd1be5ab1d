"""Documents in, chunks out: the submission service (request side) and the ingestion job.

Identity of a document inside a workspace is ``(source_type, source)``: the upload's file name
(or its path relative to the folder given to ``trulybot ingest``), the text's title, or the URL.
- Identical content (sha256 of the bytes) already stored: the existing document is returned
  (``duplicate``), nothing is queued.
- Same identity, new content (re-upload of ``guide.md``, the same URL posted again, or
  ``PUT .../documents/{id}``): the document gets a new revision and is re-processed; chunks whose
  content hash is unchanged keep their row and embedding, only changed chunks are embedded.

The job (``ingest_document``) carries ids only and is idempotent: it processes a document only
while it is ``queued`` or ``processing`` (a crashed run can be re-run), writes only the revision it
read, and counts usage once per document (``counted``) plus the chunks it actually embedded.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics
from core.config import Settings
from core.db import Database
from core.errors import AppError, NotFound, PayloadTooLarge, QuotaExceeded, ValidationFailed
from core.jobs import JobFunction, JobQueue
from core.models import utcnow
from rag.knowledge import indexing
from rag.knowledge import repository as repo
from rag.knowledge.chunking import Chunk as TextChunk
from rag.knowledge.chunking import chunk_document
from rag.knowledge.embeddings import Embedder
from rag.knowledge.fetch import check_url, fetch_sitemap, fetch_url
from rag.knowledge.models import Document
from rag.knowledge.parsing import MIB, ParseLimits, check_size, detect_kind, parse_isolated
from workspaces import repository as ws_repo
from workspaces import usage
from workspaces.models import Workspace

log = logging.getLogger(__name__)

DEPS_KEY = "rag"
INGEST_JOB = "ingest_document"
INDEX_JOB = "maintain_vector_index"
EMBED_BATCH = 64


@dataclass
class IngestionDeps:
    """What the jobs need; stored in the job context under ``DEPS_KEY``."""

    db: Database
    settings: Settings
    embedder: Embedder
    jobs: JobQueue | None = None
    owner_url: str | None = None
    index_policy: indexing.IndexPolicy = field(default_factory=indexing.IndexPolicy)


@dataclass(frozen=True)
class Submission:
    document: Document
    created: bool
    duplicate: bool = False

    @property
    def needs_job(self) -> bool:
        return not self.duplicate


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- quotas ----------------------------------------------------------------------------------


async def check_quotas(session: AsyncSession, workspace: Workspace, *, new_documents: int) -> None:
    """Documents and chunks quotas count what is stored (429 ``quota_exceeded``)."""
    if new_documents:
        usage.ensure_within(
            plan_code=usage.effective_plan(workspace),
            metric="documents",
            used=await repo.count_documents(session, workspace.id),
            adding=new_documents,
            resets_at=None,
        )
    usage.ensure_within(
        plan_code=usage.effective_plan(workspace),
        metric="chunks",
        used=await repo.count_chunks(session, workspace.id),
        adding=1,
        resets_at=None,
    )


async def _check_chunk_quota(
    session: AsyncSession, workspace: Workspace, document_id: uuid.UUID, chunks: int
) -> None:
    """429 ``quota_exceeded`` when this document's ``chunks`` (replacing its old ones) do not
    fit the plan beside the chunks of the workspace's other documents."""
    used = await repo.count_chunks(session, workspace.id, excluding_document=document_id)
    try:
        usage.ensure_within(
            plan_code=usage.effective_plan(workspace),
            metric="chunks",
            used=used,
            adding=chunks,
            resets_at=None,
        )
    except QuotaExceeded as exc:
        raise QuotaExceeded(
            f"This document makes {chunks} chunks and the workspace's other documents hold"
            f" {used}: {exc.message}. Split the document, remove documents or upgrade the plan.",
            details={**(exc.details or {}), "document_chunks": chunks},
        ) from exc


# --- submissions (request side; the caller commits, then enqueues) ---------------------------


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
    if digest is not None:
        same = await repo.find_by_hash(session, workspace.id, digest)
        if same is not None:
            return Submission(document=same, created=False, duplicate=True)
    existing = await repo.find_by_source(session, workspace.id, source_type, source)
    if existing is not None:
        await check_quotas(session, workspace, new_documents=0)
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
    await repo.insert_document(session, document)
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
    await repo.update_document(session, document.workspace_id, document.id, **values)
    await session.refresh(document)


def _check_upload(
    data: bytes, *, filename: str | None, content_type: str | None, settings: Settings
) -> None:
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"Files may be at most {settings.max_upload_bytes} bytes",
            details={"limit": settings.max_upload_bytes, "size": len(data)},
        )
    if not data:
        raise ValidationFailed("The file is empty", code="empty_file")
    kind = detect_kind(data, filename=filename, content_type=content_type)  # 415: unsupported
    check_size(data, kind, parse_limits(settings))  # 413: a DOCX that expands past the bound


def parse_limits(settings: Settings) -> ParseLimits:
    """What parsing one document may cost, from the ``PARSE_*`` settings."""
    return ParseLimits(
        max_decoded_bytes=settings.parse_max_decoded_bytes,
        max_pages=settings.parse_max_pages,
        timeout_seconds=settings.parse_timeout_seconds,
        max_memory_bytes=settings.parse_max_memory_mb * MIB or None,
    )


async def submit_upload(
    session: AsyncSession,
    workspace: Workspace,
    *,
    data: bytes,
    filename: str,
    content_type: str | None,
    settings: Settings,
    title: str | None = None,
) -> Submission:
    _check_upload(data, filename=filename, content_type=content_type, settings=settings)
    return await _submit(
        session,
        workspace,
        source_type="upload",
        source=filename,
        title=title or filename.rsplit("/", 1)[-1],
        content_type=content_type,
        data=data,
    )


async def submit_text(
    session: AsyncSession, workspace: Workspace, *, title: str, text: str, settings: Settings
) -> Submission:
    data = text.encode("utf-8")
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"Text may be at most {settings.max_upload_bytes} bytes",
            details={"limit": settings.max_upload_bytes, "size": len(data)},
        )
    return await _submit(
        session,
        workspace,
        source_type="text",
        source=title,
        title=title,
        content_type="text/plain; charset=utf-8",
        data=data,
    )


async def submit_url(
    session: AsyncSession, workspace: Workspace, *, url: str, settings: Settings
) -> Submission:
    await check_url(url, allow_private=settings.allow_private_urls)  # 422 url_not_allowed now
    return await _submit(
        session,
        workspace,
        source_type="url",
        source=url,
        title=url,
        content_type=None,
        data=None,
    )


async def submit_sitemap(
    session: AsyncSession, workspace: Workspace, *, sitemap_url: str, settings: Settings
) -> list[Submission]:
    pages = await fetch_sitemap(
        sitemap_url,
        max_pages=settings.sitemap_max_pages,
        allow_private=settings.allow_private_urls,
        timeout=settings.fetch_timeout_seconds,
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
    )
    if not pages:
        raise ValidationFailed("The sitemap lists no pages", code="empty_sitemap")
    fresh = [
        url
        for url in pages
        if await repo.find_by_source(session, workspace.id, "sitemap", url) is None
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
    return out


async def replace_document(
    session: AsyncSession,
    workspace: Workspace,
    document_id: uuid.UUID,
    *,
    data: bytes,
    content_type: str | None,
    settings: Settings,
    title: str | None = None,
) -> Submission:
    """New content for an existing document (PUT): same id, new revision, only changes embedded."""
    document = await repo.get_document(session, workspace.id, document_id, for_update=True)
    if document is None:
        raise NotFound("Document not found")
    if document.source_type in ("url", "sitemap"):
        raise ValidationFailed(
            "A web page is refreshed by posting its URL again", code="not_replaceable"
        )
    _check_upload(data, filename=document.source, content_type=content_type, settings=settings)
    digest = content_hash(data)
    if digest == document.content_hash and (title is None or title == document.title):
        return Submission(document=document, created=False, duplicate=True)
    await check_quotas(session, workspace, new_documents=0)
    if title is not None and document.source_type == "upload":
        await repo.update_document(session, workspace.id, document.id, title=title[:300])
    await _requeue(session, document, data=data, digest=digest, content_type=content_type)
    return Submission(document=document, created=False)


async def retry_document(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> Document:
    document = await repo.get_document(session, workspace_id, document_id, for_update=True)
    if document is None:
        raise NotFound("Document not found")
    if document.status == "failed":
        await _requeue(session, document, data=None, digest=None, content_type=None)
    return document


async def delete_document(
    session: AsyncSession, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> None:
    """Delete a document and its chunks; cached answers are invalidated."""
    if not await repo.delete_document(session, workspace_id, document_id):
        raise NotFound("Document not found")
    await ws_repo.bump_knowledge_version(session, workspace_id)


async def index_maintenance_due(
    session: AsyncSession, workspace_id: uuid.UUID, policy: indexing.IndexPolicy
) -> bool:
    count = await repo.count_chunks(session, workspace_id)
    state = await indexing.index_state(session, workspace_id)
    return indexing.decision(count, state, policy) != "unchanged"


# --- the job ---------------------------------------------------------------------------------


class _Superseded(Exception):
    """The document changed or vanished while the job ran: a newer job owns it."""


def plan_chunks(
    new: Sequence[TextChunk],
    old: Sequence[tuple[uuid.UUID, str]],
    metadata: Callable[[TextChunk], dict[str, Any]],
) -> tuple[list[repo.ChunkRow], list[uuid.UUID]]:
    """Match new chunks to old rows by content hash: keep those rows, delete the rest."""
    pool: dict[str, list[uuid.UUID]] = defaultdict(list)
    for chunk_id, digest in old:
        pool[digest].append(chunk_id)
    rows: list[repo.ChunkRow] = []
    for chunk in new:
        keep = pool[chunk.content_hash].pop(0) if pool.get(chunk.content_hash) else None
        rows.append(
            repo.ChunkRow(
                position=chunk.position,
                text=chunk.text,
                metadata=metadata(chunk),
                token_count=chunk.token_count,
                content_hash=chunk.content_hash,
                keep_id=keep,
            )
        )
    leftover = [chunk_id for ids in pool.values() for chunk_id in ids]
    return rows, leftover


async def _set_progress(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    revision: int,
    value: float,
) -> None:
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        document = await repo.get_document(session, workspace_id, document_id)
        if document is None or document.revision != revision:
            raise _Superseded
        await repo.update_document(
            session, workspace_id, document_id, progress=round(min(max(value, 0.0), 1.0), 3)
        )


async def _fail(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    revision: int,
    reason: str,
    code: str,
) -> None:
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        document = await repo.get_document(session, workspace_id, document_id, for_update=True)
        if document is None or document.revision != revision:
            return
        await repo.update_document(
            session,
            workspace_id,
            document_id,
            status="failed",
            error=reason[:2000],
            error_code=code[:64],
            processed_at=utcnow(),
        )


async def _load_bytes(
    deps: IngestionDeps, document: Document, body: bytes | None
) -> tuple[bytes, str | None, str | None]:
    """The document's bytes, content type and URL (fetched now for web pages)."""
    if document.source_type in ("url", "sitemap"):
        s = deps.settings
        page = await fetch_url(
            document.source,
            allow_private=s.allow_private_urls,
            timeout=s.fetch_timeout_seconds,
            max_bytes=s.fetch_max_bytes,
            max_redirects=s.fetch_max_redirects,
        )
        return page.data, page.content_type, page.final_url
    if body is None:
        raise AppError("The document has no stored content", code="no_content")
    return body, document.content_type, None


async def _embed(
    deps: IngestionDeps,
    texts: list[str],
    on_progress: Callable[[float], Any],
) -> np.ndarray:
    if not texts:
        return np.zeros((0, deps.embedder.dimensions), dtype=np.float32)
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        parts.append(await deps.embedder.embed_documents(texts[start : start + EMBED_BATCH]))
        await on_progress(min(len(texts), start + EMBED_BATCH) / len(texts))
    return np.vstack(parts)


async def ingest_document(
    deps: IngestionDeps, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> str:
    """Process one document; returns what happened (ready, failed, skipped, missing, superseded)."""
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        document = await repo.get_document(session, workspace_id, document_id, for_update=True)
        if document is None:
            return "missing"
        if document.status in ("ready", "failed"):
            return "skipped"
        revision = document.revision
        await repo.update_document(
            session,
            workspace_id,
            document_id,
            status="processing",
            progress=0.05,
            error=None,
            error_code=None,
        )
        body = await repo.get_body(session, workspace_id, document_id)
        await session.refresh(document)
    started = time.perf_counter()
    outcome = "failed"
    try:
        outcome = await _process(deps, document, body, revision)
        return outcome
    except _Superseded:
        outcome = "superseded"
        return outcome
    except AppError as exc:
        await _fail(deps, workspace_id, document_id, revision, exc.message, exc.code)
        return "failed"
    except Exception as exc:
        await _fail(
            deps,
            workspace_id,
            document_id,
            revision,
            f"Internal error: {type(exc).__name__}",
            "internal_error",
        )
        raise
    finally:
        metrics.observe_ingestion(
            document.source_type,
            time.perf_counter() - started,
            "ok" if outcome == "ready" else outcome,
        )


async def _process(
    deps: IngestionDeps, document: Document, body: bytes | None, revision: int
) -> str:
    ws, doc_id, s = document.workspace_id, document.id, deps.settings
    data, content_type, url = await _load_bytes(deps, document, body)
    digest = content_hash(data)
    parsed = await asyncio.to_thread(
        parse_isolated,
        data,
        filename=document.source.rsplit("/", 1)[-1],
        content_type=content_type,
        limits=parse_limits(s),
    )
    pieces = await asyncio.to_thread(
        chunk_document, parsed, max_tokens=s.chunk_tokens, overlap=s.chunk_overlap_tokens
    )
    if not pieces:
        raise AppError("No text could be extracted from this document", code="nothing_extractable")
    title = document.title if document.source_type == "text" else parsed.title
    if document.source_type == "upload" and document.title != document.source.rsplit("/", 1)[-1]:
        title = document.title  # a title the owner chose
    await _set_progress(deps, ws, doc_id, revision, 0.2)

    def metadata(chunk: TextChunk) -> dict[str, Any]:
        return {
            "title": title,
            "heading_path": chunk.heading_path,
            "heading_text": " > ".join(chunk.heading_path),
            "page": chunk.page,
            "url": url,
        }

    async with deps.db.transaction(workspace_id=ws) as session:
        workspace = await ws_repo.get_workspace(session, ws)
        if workspace is None:
            raise _Superseded
        # The chunk count is known now: refuse before embedding anything (and again at the
        # commit below, where documents finishing at the same time are counted too).
        await _check_chunk_quota(session, workspace, doc_id, len(pieces))
        old = await repo.chunk_hashes(session, ws, doc_id)
    rows, leftover = plan_chunks(pieces, old, metadata)
    todo = [i for i, row in enumerate(rows) if row.keep_id is None]

    async def embed_progress(fraction: float) -> None:
        await _set_progress(deps, ws, doc_id, revision, 0.2 + 0.7 * fraction)

    vectors = await _embed(deps, [rows[i].text for i in todo], embed_progress)
    for i, vector in zip(todo, vectors, strict=True):
        r = rows[i]
        rows[i] = repo.ChunkRow(
            position=r.position,
            text=r.text,
            metadata=r.metadata,
            token_count=r.token_count,
            content_hash=r.content_hash,
            embedding=vector,
        )

    async with deps.db.transaction(workspace_id=ws) as session:
        current = await repo.get_document(session, ws, doc_id, for_update=True)
        if current is None or current.revision != revision or current.status != "processing":
            raise _Superseded
        workspace = await ws_repo.get_workspace(session, ws)
        if workspace is None:
            raise _Superseded
        await _check_chunk_quota(session, workspace, doc_id, len(rows))
        was_counted = current.counted
        await repo.replace_chunks(session, ws, doc_id, rows, leftover)
        await repo.update_document(
            session,
            ws,
            doc_id,
            status="ready",
            progress=1.0,
            chunk_count=len(rows),
            content_hash=digest,
            content_type=content_type,
            title=title[:300],
            error=None,
            error_code=None,
            processed_at=utcnow(),
            counted=True,
        )
        await usage.increment(session, ws, documents=0 if was_counted else 1, chunks=len(todo))
        if todo or leftover or not was_counted:
            await ws_repo.bump_knowledge_version(session, ws)
        maintenance = await index_maintenance_due(session, ws, deps.index_policy)
    log.info(
        "document %s ready: %d chunks (%d embedded, %d reused, %d removed)",
        doc_id,
        len(rows),
        len(todo),
        len(rows) - len(todo),
        len(leftover),
    )
    if maintenance:
        if deps.jobs is not None:
            await deps.jobs.enqueue(INDEX_JOB, workspace_id=str(ws))
        else:
            await maintain_index(deps, ws)
    return "ready"


async def maintain_index(deps: IngestionDeps, workspace_id: uuid.UUID) -> str:
    try:
        return await indexing.maintain(
            workspace_id, db=deps.db, owner_url=deps.owner_url, policy=deps.index_policy
        )
    except Exception:
        log.exception("vector index maintenance failed for workspace %s", workspace_id)
        return "failed"


async def reembed_workspace(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    *,
    page_size: int = 256,
    on_progress: Callable[[int], Any] | None = None,
) -> int:
    """Re-embed every chunk of a workspace with the current embedder (`trulybot reindex`)."""
    done = 0
    after: uuid.UUID | None = None
    while True:
        async with deps.db.transaction(workspace_id=workspace_id) as session:
            page = await repo.iter_chunk_texts(session, workspace_id, after=after, limit=page_size)
        if not page:
            break
        vectors = await deps.embedder.embed_documents([t for _, t in page])
        async with deps.db.transaction(workspace_id=workspace_id) as session:
            await repo.set_embeddings(session, workspace_id, [i for i, _ in page], vectors)
            await ws_repo.bump_knowledge_version(session, workspace_id)
        after = page[-1][0]
        done += len(page)
        if on_progress is not None:
            on_progress(len(page))
    return done


# --- job functions (arq signature), registered by the api/cli layer ----------------------------


def _deps(ctx: dict[str, Any]) -> IngestionDeps:
    deps = ctx.get(DEPS_KEY)
    if not isinstance(deps, IngestionDeps):
        raise RuntimeError(f"job context lacks {DEPS_KEY!r}")
    return deps


async def ingest_document_job(ctx: dict[str, Any], workspace_id: str, document_id: str) -> str:
    return await ingest_document(_deps(ctx), uuid.UUID(workspace_id), uuid.UUID(document_id))


async def maintain_index_job(ctx: dict[str, Any], workspace_id: str) -> str:
    return await maintain_index(_deps(ctx), uuid.UUID(workspace_id))


JOBS: dict[str, JobFunction] = {
    INGEST_JOB: ingest_document_job,
    INDEX_JOB: maintain_index_job,
}
