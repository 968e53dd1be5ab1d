"""Request and response shapes of a workspace's documents, chunks and search (the JSON API's
/documents and /search; the router is ``api/routers/documents.py``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from rag.knowledge import retrieval, robots
from rag.knowledge.models import STATUSES, Document, Source

DocStatus = Literal["queued", "processing", "ready", "failed"]
assert set(STATUSES) == {"queued", "processing", "ready", "failed"}


class DocumentOut(BaseModel):
    id: uuid.UUID
    title: str
    source_type: str
    source: str
    content_type: str | None
    content_hash: str | None
    status: str
    progress: float
    chunk_count: int
    error: str | None
    error_code: str | None = None
    revision: int
    created_at: datetime
    updated_at: datetime
    processed_at: datetime | None
    ingested_at: datetime | None = Field(
        default=None,
        description="when the version whose chunks answer (`chunk_count` of them) was ingested;"
        " a failed replacement keeps the last good version's, which keeps answering; null:"
        " nothing ingested yet (or not known, for a document not ready since 0051)",
    )
    ingested_notice: str | None = Field(
        default=None,
        description="what the version answering lacks (a PDF page left out), kept while a"
        " replacement is queued and after it fails; null: nothing (or not known, 0054)",
    )
    ingested_notice_code: str | None = Field(
        default=None, description="its stable code (`pages_unreadable`); null: no notice"
    )

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        return cls.model_validate(document, from_attributes=True)


class SubmissionOut(DocumentOut):
    duplicate: bool = False
    updated: bool = False


class SitemapOut(BaseModel):
    count: int
    documents: list[SubmissionOut]
    skipped: int = Field(
        default=0,
        description="pages the sitemap lists past SITEMAP_MAX_PAGES, not added (0: none)",
    )
    too_long: int = Field(
        default=0,
        description="pages the sitemap lists whose URL is longer than 2048 bytes, not added"
        " (0: none)",
    )
    disallowed: int = Field(
        default=0,
        description="pages their site's robots.txt disallows for TrulyBot, not added (0: none)",
    )
    robots_unavailable: int = Field(
        default=0,
        description="pages on another site whose robots.txt could not be read (5xx, no"
        " answer, a host that does not resolve), not added (0: none); a later sync adds them"
        " once it can be read",
    )
    too_many_sites: int = Field(
        default=0,
        description=f"pages on the sites past the first {robots.MAX_SITES} the pages are on"
        " (the sitemap's own site first, then those with the most pages), whose robots.txt is"
        " not read: not added (0: none)",
    )
    unread_sitemaps: int = Field(
        default=0,
        description="child sitemap files of an index that were not read (an error, no time"
        " left in the request, nested too deep, too many): the pages they list were not added"
        " (0: none); a sync reads them again",
    )


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    total: int
    limit: int
    offset: int = Field(description="deprecated: the `offset` asked for (0 with a cursor)")
    next_cursor: str | None = Field(
        default=None, description="the `cursor` of the next page; null on the last one"
    )


class ChunkOut(BaseModel):
    id: uuid.UUID
    position: int
    text: str
    token_count: int
    content_hash: str
    metadata: dict[str, Any]


class ChunkPage(BaseModel):
    items: list[ChunkOut]
    total: int
    limit: int
    offset: int


class TextIn(BaseModel):
    # Stripped first: a title or a text of blanks is refused now (422), not accepted and then
    # failed by the job.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1)


class UrlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl


class SourceOut(BaseModel):
    id: uuid.UUID
    url: str
    kind: str
    schedule: str
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    consecutive_missing: int
    consecutive_failures: int
    failing: bool
    last_status: str | None
    last_error: str | None
    last_synced_at: datetime | None
    next_due_at: datetime | None
    syncing: bool
    resumes_after: str | None
    excluded_urls: list[str]
    created_at: datetime
    state: Literal["reading", "ready", "failed"] = Field(
        description="reading: a read or sync of it runs, or resumes (a posted sitemap's pages"
        " appear as they are found); failed: its last sync failed, why in `last_error`; ready"
    )

    @classmethod
    def of(cls, source: Source) -> SourceOut:
        return cls(
            **{
                name: getattr(source, name)
                for name in cls.model_fields
                if name not in ("syncing", "resumes_after", "state")
            },
            state=source.state,
            syncing=source.lease_until is not None,
            resumes_after=source.cursor,
        )


class SitemapReadingOut(BaseModel):
    """A sitemap posted with ``Prefer: respond-async``: read by a job, its pages added as they
    are found; follow ``source`` (GET .../sources/{id}) and its sync records."""

    status: Literal["reading"] = "reading"
    source: SourceOut


class SitemapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sitemap_url: HttpUrl


class ReplaceTextIn(BaseModel):
    """New text for a document (PUT), as JSON."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    title: str | None = Field(
        default=None,
        max_length=300,
        description="renames the document (an upload or a text document; a text document's"
        " title is its identity: 409 title_taken when another text document has it)",
    )


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=5, ge=1, le=retrieval.MAX_K)
    mode: retrieval.Mode = retrieval.DEFAULT_MODE
    per_document: bool = Field(
        default=True,
        description="one hit per document (its best chunk; in vector mode documents are ordered"
        " by their two best chunks, RETRIEVAL_SECOND_CHUNK_WEIGHT, after a second search with"
        " pseudo-relevance feedback, RETRIEVAL_FEEDBACK_WEIGHT, and fused with BM25,"
        " RETRIEVAL_LEXICAL_WEIGHT); false: the k best chunks",
    )


class HitOut(BaseModel):
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    title: str
    url: str | None
    page: int | None
    heading_path: list[str]
    text: str
    score: float
    similarity: float | None


class SearchOut(BaseModel):
    mode: str
    reranker: str = Field(
        description="The reranker configured (RERANKER): none, llm, maxsim or cross-encoder"
    )
    reranker_fallback: str | None = Field(
        default=None,
        description=(
            "Why the retrieval order was kept (timeout, error, malformed, no_model,"
            " daily_token_cap: the workspace's daily LLM token cap is reached), if so"
        ),
    )
    results: list[HitOut]
