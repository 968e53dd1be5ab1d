"""``trulybot reindex``'s work on one workspace: the documents chunked in an older format than
``EMBED_FORMAT`` (``outdated_documents``) parsed, chunked and embedded again
(``reprocess_document``, through the ingestion job's own path), the terms of chunks written
before 0047 stored (``fill_terms``, no embedding), and every chunk re-embedded with the current
embedder (``reembed_workspace``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from rag.knowledge import lexical
from rag.knowledge.chunking import EMBED_FORMAT, stored_embedding_text
from rag.knowledge.ingestion_deps import IngestionDeps
from rag.knowledge.jobs import ingest_document
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as document_repo
from rag.knowledge.repository import terms as terms_repo
from workspaces import repository as ws_repo


async def reembed_workspace(
    deps: IngestionDeps,
    workspace_id: uuid.UUID,
    *,
    page_size: int = 256,
    skip_documents: frozenset[uuid.UUID] = frozenset(),
    on_progress: Callable[[int], Any] | None = None,
) -> int:
    """Re-embed every chunk of a workspace with the current embedder (`trulybot reindex`), each
    in the format it was chunked for (``stored_embedding_text``); chunks of ``skip_documents``
    (just reprocessed) are left alone."""
    done = 0
    after: uuid.UUID | None = None
    while True:
        async with deps.db.transaction(workspace_id=workspace_id) as session:
            page = await chunk_repo.iter_chunk_texts(
                session, workspace_id, after=after, limit=page_size
            )
        if not page:
            break
        after = page[-1][0]
        todo = [row for row in page if row[1] not in skip_documents]
        if todo:
            texts = [stored_embedding_text(text, meta) for _, _, text, meta in todo]
            vectors = await deps.embedder.embed_documents(texts)
            async with deps.db.transaction(workspace_id=workspace_id) as session:
                await chunk_repo.set_embeddings(
                    session, workspace_id, [row[0] for row in todo], vectors
                )
                await ws_repo.bump_knowledge_version(session, workspace_id)
        done += len(todo)
        if on_progress is not None:
            on_progress(len(todo))
    return done


async def fill_terms(deps: IngestionDeps, workspace_id: uuid.UUID, *, page_size: int = 500) -> int:
    """Store the BM25 terms of every chunk of the workspace that has none (written before
    0047), a page per transaction, and bump the knowledge version (the search's order may
    change: cached answers retire). Until the last page, the workspace's search keeps the
    vector order. The vectors are untouched."""
    done = 0
    while True:
        async with deps.db.transaction(workspace_id=workspace_id) as session:
            page = await terms_repo.chunks_without_terms(session, workspace_id, limit=page_size)
            if not page:
                return done
            await terms_repo.store_terms(
                session,
                workspace_id,
                [(chunk_id, lexical.chunk_terms(text, meta)) for chunk_id, text, meta in page],
            )
            await ws_repo.bump_knowledge_version(session, workspace_id)
        done += len(page)


async def outdated_documents(deps: IngestionDeps, workspace_id: uuid.UUID) -> list[uuid.UUID]:
    """Documents whose chunks were cut and embedded in an older format than ``EMBED_FORMAT``."""
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        return await chunk_repo.outdated_documents(session, workspace_id, EMBED_FORMAT)


async def reprocess_document(
    deps: IngestionDeps, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> str:
    """Parse, chunk and embed a ready document again (`trulybot reindex` after a format change);
    its old chunks answer until the new ones replace them in one transaction."""
    async with deps.db.transaction(workspace_id=workspace_id) as session:
        document = await document_repo.get_document(
            session, workspace_id, document_id, for_update=True
        )
        if document is None:
            return "missing"
        if document.status == "ready":
            await document_repo.update_document(
                session,
                workspace_id,
                document_id,
                status="queued",
                progress=0.0,
                revision=document.revision + 1,
            )
    return await ingest_document(deps, workspace_id, document_id)
