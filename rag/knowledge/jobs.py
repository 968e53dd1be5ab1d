"""Chunks out (the job side): ``ingest_document`` turns a submitted document into embedded chunks;
``maintain_index`` keeps a workspace's vector index in line with its size. Re-embedding and
re-chunking after a model or format change (``trulybot reindex``) are ``rag.knowledge.reindexing``.

The job carries ids only and is idempotent: it processes a document only while it is ``queued``
or ``processing`` (a crashed run can be re-run), writes only the revision it read, and counts
usage once per document (``counted``) plus the chunks it actually embedded. ``JOBS`` is what the
api layer registers with the job queue (in-process, or arq in ``trulybot worker``); the job
context carries an ``IngestionDeps`` under ``DEPS_KEY`` (both in ``rag.knowledge.ingestion_deps``,
importable from here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core import metrics
from core.errors import AppError
from core.jobs import GAVE_UP, QUEUE_STOPPING, JobFunction
from core.logging import workspace_context
from core.models import utcnow
from rag.knowledge import indexing, lexical, robots
from rag.knowledge.chunking import EMBED_FORMAT, Piece, chunk_document
from rag.knowledge.fetch import fetch_url
from rag.knowledge.ingestion_deps import DEPS_KEY as DEPS_KEY
from rag.knowledge.ingestion_deps import IngestionDeps as IngestionDeps
from rag.knowledge.ingestion_deps import OwnerAlerts as OwnerAlerts
from rag.knowledge.ingestion_deps import deps_from as _deps
from rag.knowledge.limits import (
    check_chunk_quota,
    check_room_for_a_document,
    notify_stored_quotas,
    parse_limits,
)
from rag.knowledge.models import Document, content_hash
from rag.knowledge.parse_isolation import parse_in_child
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.unfinished import (
    INTERRUPTED,
    given_up,
    interrupted,
    mark_failed,
    requeue_after_stop,
)
from workspaces import repository as ws_repo
from workspaces import usage

log = logging.getLogger(__name__)

INGEST_JOB = "ingest_document"
INDEX_JOB = "maintain_vector_index"
EMBED_BATCH = 64


class _Superseded(Exception):
    """The document changed or vanished while the job ran: a newer job owns it."""


def plan_chunks(
    new: Sequence[Piece],
    old: Sequence[tuple[uuid.UUID, str]],
    metadata: Callable[[Piece], dict[str, Any]],
) -> tuple[list[chunk_repo.ChunkRow], list[uuid.UUID]]:
    """Match new chunks to old rows by content hash: keep those rows, delete the rest."""
    pool: dict[str, list[uuid.UUID]] = defaultdict(list)
    for chunk_id, digest in old:
        pool[digest].append(chunk_id)
    rows: list[chunk_repo.ChunkRow] = []
    for chunk in new:
        keep = pool[chunk.content_hash].pop(0) if pool.get(chunk.content_hash) else None
        rows.append(
            chunk_repo.ChunkRow(
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


def _terms_of(rows: Sequence[chunk_repo.ChunkRow], stop: threading.Event) -> list[Counter[str]]:
    """Each row's BM25 terms (run in a thread); cut short, its result unused, once ``stop``
    is set (the embedding failed or the job was cancelled)."""
    terms = []
    for r in rows:
        if stop.is_set():
            break
        terms.append(lexical.chunk_terms(r.text, r.metadata))
    return terms


async def _set_progress(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    revision: int,
    value: float,
) -> None:
    """Only while the run still owns the document: a second run of the job on the same
    revision may have finished it (``ready`` at 1.0) while this one embedded."""
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        if not await document_repo.set_progress(
            session,
            workspace_id,
            document_id,
            revision=revision,
            progress=round(min(max(value, 0.0), 1.0), 3),
        ):
            raise _Superseded


async def _fail(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    revision: int,
    reason: str,
    code: str,
) -> None:
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        document = await document_repo.get_document(
            session, workspace_id, document_id, for_update=True
        )
        if document is None or document.revision != revision:
            return
        await mark_failed(session, workspace_id, document, reason=reason, code=code)


@dataclass(frozen=True)
class _Loaded:
    data: bytes
    content_type: str | None
    url: str | None
    validators: dict[str, Any]
    """A web page's etag / last_modified (for the next sync's conditional request)."""


async def _load_bytes(deps: IngestionDeps, document: Document, body: bytes | None) -> _Loaded:
    """The document's bytes, content type and URL: a web page is fetched now, unless a sync
    already fetched it and stored its bytes (``rag.knowledge.sync``)."""
    if document.source_type in ("url", "sitemap"):
        if body is not None:
            return _Loaded(body, document.content_type, document.source, {})
        s = deps.settings
        if document.source_type == "sitemap":  # crawled by us: the site's robots.txt decides
            await robots.check_allowed(document.source, s)
        page = await fetch_url(
            document.source,
            allow_private=s.allow_private_urls,
            timeout=s.fetch_timeout_seconds,
            max_bytes=s.fetch_max_bytes,
            max_redirects=s.fetch_max_redirects,
        )
        return _Loaded(
            page.data,
            page.content_type,
            page.final_url,
            {"etag": page.etag, "last_modified": page.last_modified, "missing_syncs": 0},
        )
    if body is None:
        raise AppError("The document has no stored content", code="no_content")
    return _Loaded(body, document.content_type, None, {})


async def _embed(
    deps: IngestionDeps,
    texts: list[str],
    on_progress: Callable[[float], Awaitable[None]],
) -> np.ndarray:
    """The vectors of ``texts``, ``EMBED_BATCH`` at a time. Each batch's progress is written
    while the model embeds the next one (awaited before the one after: its error, such as the
    document being superseded, ends the job a batch later at most); the last batch's is not
    written, the caller's final transaction writes 1.0."""
    if not texts:
        return np.zeros((0, deps.embedder.dimensions), dtype=np.float32)
    parts = []
    progress: asyncio.Future[None] | None = None
    try:
        for start in range(0, len(texts), EMBED_BATCH):
            parts.append(await deps.embedder.embed_documents(texts[start : start + EMBED_BATCH]))
            if progress is not None:
                await progress
                progress = None
            if start + EMBED_BATCH < len(texts):
                progress = asyncio.ensure_future(on_progress((start + EMBED_BATCH) / len(texts)))
    finally:
        if progress is not None:  # the embedding failed: the write is rolled back
            progress.cancel()
            await asyncio.wait({progress})
            if not progress.cancelled():
                progress.exception()  # retrieved: the embedding's error is the one raised
    return np.vstack(parts)


async def ingest_document(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    queue_stopping: asyncio.Event | None = None,
) -> str:
    """Process one document; returns what happened (ready, failed, skipped, missing, superseded).

    A cancelled run (the worker's job timeout, or its shutdown) leaves the document ``failed``
    with the code ``interrupted`` instead of ``queued``/``processing`` for good: a timed-out job
    is not run again, so the owner sees why and may retry. A run again after a shutdown
    (arq runs a cancelled job again) processes an ``interrupted`` document as if queued; an
    ``abandoned`` one (its runs took their process down) is skipped. Cancelled because the
    in-process queue running it stops with its server (``queue_stopping`` set): ``queued``
    again for the next start, a few times in a row at most (``requeue_after_stop``)."""
    try:
        return await _ingest(deps, workspace_id, document_id)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            if queue_stopping is not None and queue_stopping.is_set():
                await asyncio.shield(requeue_after_stop(deps.db, workspace_id, document_id))
            else:
                await asyncio.shield(interrupted(deps.db, workspace_id, document_id))
        raise


async def _ingest(deps: IngestionDeps, workspace_id: uuid.UUID, document_id: uuid.UUID) -> str:
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        document = await document_repo.get_document(
            session, workspace_id, document_id, for_update=True
        )
        if document is None:
            return "missing"
        if document.status == "ready" or (
            document.status == "failed" and document.error_code != INTERRUPTED
        ):
            return "skipped"
        revision = document.revision
        await document_repo.update_document(
            session,
            workspace_id,
            document_id,
            status="processing",
            progress=0.05,
            error=None,
            error_code=None,
        )
        body = await document_repo.get_body(session, workspace_id, document_id)
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
    async with deps.db.transaction(workspace_id=ws) as session:
        workspace = await ws_repo.get_workspace(session, ws)
        if workspace is None:
            raise _Superseded
        # A workspace already full (documents queued together, a retry): refused now, not
        # after fetching, parsing and chunking a document that cannot fit.
        await check_room_for_a_document(session, workspace, doc_id)
    loaded = await _load_bytes(deps, document, body)
    data, content_type, url = loaded.data, loaded.content_type, loaded.url
    web = document.source_type in ("url", "sitemap")
    digest = content_hash(data)
    parsed = await parse_in_child(
        data,
        filename=document.source.rsplit("/", 1)[-1],
        content_type=content_type,
        limits=parse_limits(s),
    )
    title = document.title if document.source_type == "text" else parsed.title
    parser_titles = (document.source.rsplit("/", 1)[-1], parsed.title, parsed.source_title)
    if document.source_type == "upload" and document.title not in parser_titles:
        title = document.title  # a title the owner chose (not one an older parser gave it)
    pieces = await asyncio.to_thread(
        chunk_document,
        parsed,
        title=title,
        max_tokens=s.chunk_tokens,
        overlap=s.chunk_overlap_tokens,
        min_tokens=s.chunk_min_tokens,
    )
    if not pieces:
        raise AppError("No text could be extracted from this document", code="nothing_extractable")
    await _set_progress(deps, ws, doc_id, revision, 0.2)

    def metadata(chunk: Piece) -> dict[str, Any]:
        found = {
            "title": title,
            "heading_path": chunk.heading_path,
            "heading_text": " > ".join(chunk.heading_path),
            "page": chunk.page,
            "url": url,
            "embed_format": EMBED_FORMAT,
        }
        if chunk.headings:  # not embedded: the content hash and the vector do not change
            found["headings_within"] = list(chunk.headings)
        return found

    async with deps.db.transaction(workspace_id=ws) as session:
        workspace = await ws_repo.get_workspace(session, ws)
        if workspace is None:
            raise _Superseded
        # The chunk count is known now: refuse before embedding anything (and again at the
        # commit below, where documents finishing at the same time are counted too).
        await check_chunk_quota(session, workspace, doc_id, len(pieces))
        old = await chunk_repo.chunk_hashes(session, ws, doc_id)
    rows, leftover = plan_chunks(pieces, old, metadata)
    todo = [i for i, row in enumerate(rows) if row.keep_id is None]

    async def embed_progress(fraction: float) -> None:
        await _set_progress(deps, ws, doc_id, revision, 0.2 + 0.7 * fraction)

    # BM25 terms (only with the lexical weight on: else none are stored) need each chunk's text
    # and metadata, not its vector: computed in a thread while the model embeds (about 0.7 ms
    # a chunk), and before the transaction below, which holds the workspace's quota lock to
    # its commit.
    with_terms = deps.settings.retrieval_lexical_weight > 0
    stop = threading.Event()
    terms = (
        asyncio.ensure_future(asyncio.to_thread(_terms_of, list(rows), stop))
        if with_terms
        else None
    )
    try:
        vectors = await _embed(deps, [pieces[i].embed_text for i in todo], embed_progress)
        counts = await terms if terms is not None else None
    finally:  # the embedding failed: the terms are not wanted (nor their error, if any)
        if terms is not None and not terms.done():
            # Cancelling the task would not stop its thread: it stops at its next row, and
            # the job waits for it (no thread stemming the rest after the job ended).
            stop.set()
            await asyncio.wait({terms})
        if terms is not None and not terms.cancelled():
            terms.exception()
    for i, vector in zip(todo, vectors, strict=True):
        rows[i] = replace(rows[i], embedding=vector)
    if counts is not None:
        rows = [replace(r, terms=c) for r, c in zip(rows, counts, strict=True)]

    async with deps.db.transaction(workspace_id=ws) as session:
        current = await document_repo.get_document(session, ws, doc_id, for_update=True)
        if current is None or current.revision != revision or current.status != "processing":
            raise _Superseded
        workspace = await ws_repo.get_workspace(session, ws)
        if workspace is None:
            raise _Superseded
        # Serialized per workspace until the commit: documents finishing at the same time
        # are counted too.
        await check_chunk_quota(session, workspace, doc_id, len(rows), serialized=True)
        was_counted = current.counted
        own_chunks = await chunk_repo.count_chunks(session, ws, of_document=doc_id)
        terms_changed = await chunk_repo.replace_chunks(
            session, ws, doc_id, rows, leftover, with_terms=with_terms
        )
        stored_at = utcnow()
        await document_repo.update_document(
            session,
            ws,
            doc_id,
            status="ready",
            progress=1.0,
            chunk_count=len(rows),
            content_hash=digest,
            content_type=content_type,
            title=title[:300],
            # ready, but not whole (a PDF's unreadable pages): the owner is told what is missing
            error=parsed.warning.message if parsed.warning else None,
            error_code=parsed.warning.code if parsed.warning else None,
            processed_at=stored_at,
            ingested_at=stored_at,  # the version answering from now on (unfinished.mark_failed)
            ingested_hash=digest,
            ingested_notice=parsed.warning.message if parsed.warning else None,
            ingested_notice_code=parsed.warning.code if parsed.warning else None,
            counted=True,
            stop_requeues=0,
            **loaded.validators,
            **({"body": None} if web else {}),  # a page's bytes are fetched, not kept
        )
        await notify_stored_quotas(
            session,
            workspace,
            added_documents=0 if was_counted else 1,
            added_chunks=len(rows) - own_chunks,
        )
        await usage.increment(session, ws, documents=0 if was_counted else 1, chunks=len(todo))
        # A kept chunk whose terms were stored or forgotten changes the BM25 order while
        # RETRIEVAL_LEXICAL_WEIGHT is above 0: the cached answers keyed on the version go too.
        if todo or leftover or not was_counted or terms_changed:
            await ws_repo.bump_knowledge_version(session, ws)
        maintenance = await indexing.maintenance_due(session, ws, deps.index_policy)
    if parsed.warning:
        log.info("document %s: %s", doc_id, parsed.warning.message)
    log.info(
        "document %s ready: %d chunks (%d embedded, %d reused, %d removed)",
        doc_id,
        len(rows),
        len(todo),
        len(rows) - len(todo),
        len(leftover),
    )
    if maintenance:
        await deps.jobs.enqueue(INDEX_JOB, workspace_id=str(ws))
    return "ready"


async def maintain_index(deps: IngestionDeps, workspace_id: uuid.UUID) -> str:
    try:
        return await indexing.maintain(
            workspace_id, db=deps.db, owner_url=deps.owner_url, policy=deps.index_policy
        )
    except Exception:
        log.exception("vector index maintenance failed for workspace %s", workspace_id)
        return "failed"


# --- job functions (arq signature), registered by the api/cli layer ----------------------------


async def ingest_document_job(ctx: dict[str, Any], workspace_id: str, document_id: str) -> str:
    with workspace_context(workspace_id):  # the job's log lines carry its workspace
        return await ingest_document(
            _deps(ctx),
            uuid.UUID(workspace_id),
            uuid.UUID(document_id),
            queue_stopping=ctx.get(QUEUE_STOPPING),
        )


async def maintain_index_job(ctx: dict[str, Any], workspace_id: str) -> str:
    with workspace_context(workspace_id):
        return await maintain_index(_deps(ctx), uuid.UUID(workspace_id))


async def ingest_abandoned_job(ctx: dict[str, Any], workspace_id: str, document_id: str) -> None:
    """The in-process queue stopped before this document's job ran (the server is stopping):
    it stays ``queued``, and the next start runs it (``api.schedule.resume_queued_documents``;
    with several processes, or with Redis later, the ``requeue_queued_documents`` sweep). Never
    started, it cannot be what stopped the server. A worker gave the job up (``GAVE_UP``, its
    runs died): ``failed`` (abandoned), not run again."""
    db, ws, document = _deps(ctx).db, uuid.UUID(workspace_id), uuid.UUID(document_id)
    with workspace_context(workspace_id):
        if starts := ctx.get(GAVE_UP):
            await given_up(db, ws, document, starts=int(starts))
        else:
            log.info("document %s left queued: the server stopped before its job ran", document)


JOBS: dict[str, JobFunction] = {
    INGEST_JOB: ingest_document_job,
    INDEX_JOB: maintain_index_job,
}
ABANDONED: dict[str, JobFunction] = {INGEST_JOB: ingest_abandoned_job}
