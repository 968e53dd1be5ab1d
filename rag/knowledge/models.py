"""Documents and their chunks; the schema is defined by migrations/versions/0002_knowledge.py
(and 0003_document_error_code.py)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, deferred, mapped_column

from core.models import Base, new_id, utcnow

DocumentStatus = Literal["queued", "processing", "ready", "failed"]
SourceType = Literal["upload", "text", "url", "sitemap"]
STATUSES: tuple[DocumentStatus, ...] = ("queued", "processing", "ready", "failed")


def content_hash(data: bytes) -> str:
    """A document's ``content_hash``: the sha256 of its bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(300))
    source_type: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The uploaded bytes (or the text), kept so a job carrying ids only can (re)process them.
    body: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The stable code of that error (quota_exceeded, document_too_large, parse_timeout...).
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Bumped on every change request; a job only writes the revision it read.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # Whether the monthly `documents` usage counter already counted this document.
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Times in a row its job was put back in the queue because the server running it in-process
    # stopped mid-run (rag/knowledge/unfinished.py, MAX_STOP_REQUEUES); 0 once ready or failed.
    stop_requeues: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # When the version whose chunks answer was ingested (0051): set with the chunks, kept by a
    # replacement that fails (its old chunks keep answering); None: nothing ingested yet, or not
    # known (a document failed or queued before 0051).
    ingested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # That version's ``content_hash`` (0052): a failure of stored content equal to it ran the
    # version answering again (a re-indexing, a Retry of one), not a replacement; None: not
    # known (nothing ingested, or a document not ready since 0052).
    ingested_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # That version's warning (0054): what it lacks (``pages_unreadable``: a PDF page left out),
    # kept while a replacement is queued and after it fails; None: none (or not known).
    ingested_notice: Mapped[str | None] = mapped_column(Text, nullable=True)
    ingested_notice_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Web pages (0008s1): the source that keeps this page fresh, the validators of its last
    # fetch (conditional requests) and how many syncs in a row found it gone.
    source_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sources.id", ondelete="SET NULL"), nullable=True
    )
    etag: Mapped[str | None] = mapped_column(String(300), nullable=True)
    last_modified: Mapped[str | None] = mapped_column(String(100), nullable=True)
    missing_syncs: Mapped[int] = mapped_column(Integer, default=0)


SourceKind = Literal["page", "sitemap"]
SyncSchedule = Literal["never", "daily", "weekly"]
SCHEDULES: tuple[SyncSchedule, ...] = ("never", "daily", "weekly")


class Source(Base):
    """A web page or sitemap the workspace keeps fresh (migration 0008s1)."""

    __tablename__ = "sources"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    schedule: Mapped[str] = mapped_column(String(16), default="never")
    etag: Mapped[str | None] = mapped_column(String(300), nullable=True)
    last_modified: Mapped[str | None] = mapped_column(String(100), nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consecutive_missing: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing: Mapped[bool] = mapped_column(Boolean, default=False)
    last_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # A sitemap sync bounded by SOURCE_SYNC_MAX_PAGES stops after this page URL; the next run
    # continues after it. None: the next run starts at the beginning.
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Pages deleted from a sitemap source by its owner: its syncs leave them out (migration 0014).
    excluded_urls: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    # The pages its last read listing named (a sitemap source; migration 0029): a page two
    # sitemaps list goes to the other one, not away, when this one deletes or drops it.
    listed_urls: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    # Its sitemap files' validators and listings (``rag.knowledge.sitemaps``; 0029).
    sitemap_files: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    leased_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def state(self) -> str:
        """What an owner reads of it: ``reading`` while a read or sync of it runs (or its
        process died and the scheduler runs it again: the lease is still on the row) or a
        sitemap round continues at the next tick (due now, where it stopped); ``failed`` when
        its last sync failed (why: ``last_error``); else ``ready``. A round a failed sync
        stopped keeps its cursor but is not due (a sitemap posted once: never again), so it
        is ``failed``, not reading for ever."""
        if self.lease_until is not None or self._round_continues():
            return "reading"
        return "failed" if self.last_status == "failed" else "ready"

    def _round_continues(self) -> bool:
        """A sitemap round stopped at its page bound, due for the scheduler's next tick."""
        due = self.next_due_at
        return self.cursor is not None and due is not None and due <= utcnow()


class SourceSync(Base):
    """The record of one sync of a source."""

    __tablename__ = "source_syncs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    source_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sources.id", ondelete="CASCADE")
    )
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    pages_checked: Mapped[int] = mapped_column(Integer, default=0)
    pages_changed: Mapped[int] = mapped_column(Integer, default=0)
    pages_added: Mapped[int] = mapped_column(Integer, default=0)
    pages_removed: Mapped[int] = mapped_column(Integer, default=0)
    pages_failed: Mapped[int] = mapped_column(Integer, default=0)
    pages_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    # False when the sync stopped at its page bound; the next run continues (``Source.cursor``).
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)


class Chunk(Base):
    __tablename__ = "chunks"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    token_count: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    # The vector and tsvector are read and written with explicit SQL in rag/repository.py.
    tsv: Mapped[Any] = deferred(mapped_column(TSVECTOR))
