"""Searching one workspace's chunks: vector, full text, or both fused by reciprocal rank.

``search`` runs in two steps: ``candidates`` (the best ``candidate_count(k)`` chunks, fused and
ordered by score), then ``group_by_document`` (one hit per document, its best chunk, so k hits
are k distinct pages; chunk-level results when ``per_document`` is off). How the pages are
ranked is one ``Weights`` (the RETRIEVAL_* settings: ``Weights.of(settings)``). In vector mode the
documents are ordered by their best chunk's score plus ``Weights.second`` times their second best
candidate chunk's (a page with two relevant passages rises over a page that mentions the topic
once; docs/retrieval.md). In vector mode the grouped search also uses pseudo-relevance feedback
(``Weights.feedback``, Rocchio): the query vector moves towards the mean of its
``FEEDBACK_CHUNKS`` best candidates and the candidates are fetched again with it, so a page
whose passages resemble the best matches rises; the hits' ``similarity`` stays the cosine to
the question itself. A post-processing
stage such as a reranker goes between the grouping and the cut to ``k``: it receives the
grouped candidates (more than ``k`` of them) and returns them in its order.

The workspace filter is applied here (an explicit predicate on the validated id, plus RLS on the
caller's session); it is never taken from query text. See docs/retrieval.md for the index design.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import numpy as np

from core.direct import Executor
from rag.knowledge import lexical
from rag.knowledge.indexing import EF_SEARCH
from rag.knowledge.repository import search as search_repo

Mode = Literal["vector", "fulltext", "hybrid"]
MODES: tuple[Mode, ...] = get_args(Mode)
# Chosen by the eval over the Python documentation (docs/retrieval.md).
DEFAULT_MODE: Mode = "vector"
RRF_K = 60
MAX_K = 100
MIN_CANDIDATES = 40  # chunks fetched to fill k distinct documents (see candidate_count)
# A page's second best candidate chunk counts this much in its rank (vector mode; the
# RETRIEVAL_SECOND_CHUNK_WEIGHT setting, 0 ranks pages by their best chunk alone).
SECOND_CHUNK_WEIGHT = 0.5
# Pseudo-relevance feedback in grouped vector search: the query vector + this x the mean of its
# FEEDBACK_CHUNKS nearest chunks, and the candidates for that vector (the
# RETRIEVAL_FEEDBACK_WEIGHT setting; 0: the question's vector alone). Chosen in
# docs/retrieval.md (fourth session).
FEEDBACK_WEIGHT = 0.25
FEEDBACK_CHUNKS = 10


@dataclass(frozen=True)
class Weights:
    """How grouped vector search (``search``) ranks pages: the second chunk's weight, the
    pseudo-relevance feedback's, BM25's, BM25's postings budget and the lead's. The product's
    are the RETRIEVAL_* settings (``of``): /search, chat, ``trulybot eval`` and the
    benchmarks that measure the shipped path take them from there. The defaults here are the
    vector path alone (BM25 and the lead off), not the shipped settings."""

    second: float = SECOND_CHUNK_WEIGHT
    feedback: float = FEEDBACK_WEIGHT
    bm25: float = 0.0
    postings: int = lexical.POSTINGS
    lead: float = 0.0

    @classmethod
    def of(cls, settings: Any) -> Weights:
        return cls(
            second=settings.retrieval_second_chunk_weight,
            feedback=settings.retrieval_feedback_weight,
            bm25=settings.retrieval_lexical_weight,
            postings=settings.retrieval_lexical_postings,
            lead=settings.retrieval_lead_weight,
        )


@dataclass(frozen=True)
class Hit:
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    title: str
    url: str | None
    page: int | None
    heading_path: list[str]
    text: str
    score: float
    similarity: float | None  # cosine similarity for vector/hybrid hits, None for fulltext-only
    page_score: float | None = None
    """The score that placed this hit in the order (higher first): in the grouped order its
    page's (the fused page score with BM25, the two-chunk page score, else the best chunk's
    score); in a chunk-level order (``per_document`` off) its own ``score``, each chunk its
    own unit; None for a page's further chunk added by ``fill_from`` (a reranker fuses with
    it, e.g. ``maxsim_rerank``, and keeps the hits without one in their places)."""
    embed_format: int = 1
    """The chunk's ``embed_format`` (its metadata): with ``title`` and ``heading_path`` it
    gives the text that was embedded for it (``chunking.stored_embedding_text``)."""
    second: Hit | None = None
    """The page's next candidate chunk after this one, when the search's candidates hold one:
    its chunks among the vector candidates best first, then among the BM25 candidates best
    first (``fuse_lexical``), so the second best vector candidate, else the best BM25 chunk
    that is not this one. A reranker may score the page by it too (``maxsim_rerank``); None
    for a chunk-level hit, a further chunk added by ``fill_from`` or a page with one
    candidate chunk."""
    headings_within: tuple[str, ...] = ()
    """Headings inside ``text`` that ``heading_path`` does not name (the chunk's metadata
    ``headings_within``: small sections joined into its own at ingestion)."""


def hybrid_candidates(k: int) -> int:
    """How many candidates each list contributes to the fusion."""
    return max(4 * k, 40)


def candidate_count(k: int) -> int:
    """How many chunks are fetched so that ``k`` distinct documents usually remain once they
    are grouped (a page often has several chunks among the best ones)."""
    return max(4 * k, MIN_CANDIDATES)


def ef_search_for(k: int, mode: Mode, ef_search: int = EF_SEARCH) -> int:
    """The ``hnsw.ef_search`` ``search`` sets for ``k`` hits in ``mode``: a caller that sets it
    with its transaction's other settings (``Database.transaction(local=...)``) passes
    ``ef_search=None`` to ``search`` and saves a round trip. At most pgvector's maximum
    (``search_repo.MAX_EF_SEARCH``)."""
    n = candidate_count(max(1, min(int(k), MAX_K)))
    wanted = max(ef_search, hybrid_candidates(n) if mode == "hybrid" else 4 * n)
    return search_repo.bounded_ef_search(wanted)


def group_by_document(
    hits: Sequence[Hit], k: int | None = None, second_weight: float = 0.0
) -> list[Hit]:
    """One hit per document, its best chunk (``hits`` come best first). With ``second_weight``
    0 the documents keep the order of their best chunks; else a document ranks by its best
    chunk's score + ``second_weight`` x its second best chunk's among ``hits``, and a document
    with a single chunk among them counts the lowest score of ``hits`` as its second (its next
    chunk scores at most that). Each hit carries its document's second best chunk among
    ``hits`` (``Hit.second``)."""
    if not second_weight:
        out = [replace(hit, page_score=hit.score) for hit in _with_seconds(hits).values()]
    else:
        out = [replace(hit, page_score=s) for hit, s in document_scores(hits, second_weight)]
    return out if k is None else out[:k]


def _with_seconds(hits: Sequence[Hit]) -> dict[uuid.UUID, Hit]:
    """Each document's first hit among ``hits`` (best first), carrying its next one as
    ``second``; in the order of the first hits."""
    best: dict[uuid.UUID, Hit] = {}
    for hit in hits:
        first = best.get(hit.document_id)
        if first is None:
            best[hit.document_id] = hit
        elif first.second is None and hit.chunk_id != first.chunk_id:
            best[hit.document_id] = replace(first, second=hit)
    return best


def document_scores(hits: Sequence[Hit], second_weight: float) -> list[tuple[Hit, float]]:
    """Each document's best hit (carrying its second best, ``Hit.second``) and its page score
    (``group_by_document``), best first."""
    best = _with_seconds(hits)
    floor = min((h.score for h in hits), default=0.0)
    page = {
        d: h.score + second_weight * (h.second.score if h.second else floor)
        for d, h in best.items()
    }
    # stable: ties keep best-chunk order
    return sorted(((h, page[h.document_id]) for h in best.values()), key=lambda item: -item[1])


def fuse_lexical(
    vector_hits: Sequence[Hit],
    lexical_hits: Sequence[Hit],
    second_weight: float,
    lexical_weight: float,
    lead: dict[uuid.UUID, float] | None = None,
    lead_weight: float = 0.0,
) -> list[Hit]:
    """The documents of the vector candidates (ranked by ``document_scores``) and of the BM25
    candidates (a document by its best chunk's BM25 score) in ``lexical.fused``'s order (with
    ``lead``, each document's first chunk's cosine to the question, weighed by
    ``lead_weight``); a document's hit is its best vector candidate, or its best BM25 chunk
    when the vector candidates hold none of it. Each hit carries its page's fused score
    (``page_score``) and its page's next candidate chunk (``Hit.second``: its second vector
    candidate, else its best BM25 candidate that is not the hit's chunk)."""
    vector = document_scores(vector_hits, second_weight)
    hit_of = {h.document_id: h for h, _ in vector}
    lexical_pages: dict[uuid.UUID, float] = {}
    for hit in lexical_hits:  # best first
        if hit.document_id not in lexical_pages:
            lexical_pages[hit.document_id] = hit.score
            hit_of.setdefault(hit.document_id, replace(hit, score=hit.similarity or 0.0))
        page_hit = hit_of[hit.document_id]
        if page_hit.second is None and hit.chunk_id != page_hit.chunk_id:
            hit_of[hit.document_id] = replace(page_hit, second=hit)
    order = lexical.fused(
        [(h.document_id, score) for h, score in vector],
        list(lexical_pages.items()),
        lexical_weight,
        lead,
        lead_weight,
    )
    return [replace(hit_of[d], page_score=score) for d, score in order]


def feedback_vector(query: np.ndarray, centroid: np.ndarray, weight: float) -> np.ndarray:
    """``normalize(query + weight * centroid)``: the query moved towards its best matches."""
    moved = (
        np.asarray(query, dtype=np.float32).ravel()
        + weight * np.asarray(centroid, dtype=np.float32).ravel()
    )
    norm = float(np.linalg.norm(moved))
    return moved / norm if norm > 0 else moved


def _hit(row: search_repo.SearchRow) -> Hit:
    chunk_id, document_id, text, metadata, score, similarity = row
    meta: dict[str, Any] = metadata or {}
    page = meta.get("page")
    return Hit(
        chunk_id=chunk_id,
        document_id=document_id,
        title=str(meta.get("title") or ""),
        url=meta.get("url"),
        page=int(page) if page is not None else None,
        heading_path=[str(h) for h in meta.get("heading_path") or []],
        text=text,
        score=score,
        similarity=similarity,
        embed_format=int(meta.get("embed_format") or 1),
        headings_within=tuple(str(h) for h in meta.get("headings_within") or ()),
    )


async def search(
    session: Executor,
    *,
    workspace_id: uuid.UUID,
    query: str,
    query_embedding: np.ndarray | None,
    k: int,
    mode: Mode,
    weights: Weights,
    per_document: bool = True,
    ef_search: int | None = EF_SEARCH,
    fill: bool = False,
) -> list[Hit]:
    """The top ``k`` hits of ``workspace_id`` for ``query`` in ``mode``: with ``per_document``
    (the default) k distinct documents, each with its best chunk, else the k best chunks.
    ``fill``: when the candidates hold fewer than k documents (a workspace of a few long
    documents), the remaining places go to their next best chunks (``fill_from``), so chat
    still gets k passages; the order of the documents is the same.
    ``weights`` rank the documents of grouped vector search (every caller that serves or
    measures the product passes ``Weights.of(settings)``, so /search, chat and the eval rank
    alike): ``weights.second`` ranks documents by their two best candidate chunks
    (``group_by_document``), and ``weights.feedback`` fetches the candidates for the query
    moved towards its ``FEEDBACK_CHUNKS`` best chunks (``feedback_candidates``, one statement);
    full text and hybrid rank them by their best chunk, in one search (both were measured on
    vector search only). ``weights.bm25`` above 0 fuses the documents with the workspace's
    BM25 order (``fuse_lexical``; one more statement, ``search_repo.lexical_search`` within
    ``weights.postings``, the vector candidates among its candidates); a workspace whose
    chunks' terms are not all stored keeps the vector order. ``weights.lead`` above 0 adds
    that x each candidate document's first chunk's cosine to the question to its fused score
    (one more statement, ``search_repo.lead_similarities``). Chunk-level search
    (``per_document`` off) uses none of them.

    ``query_embedding`` is required for vector and hybrid modes. ``ef_search`` None: the
    caller's transaction set ``ef_search_for(k, mode)`` already.
    """
    k = max(1, min(int(k), MAX_K))
    n = candidate_count(k) if per_document else k
    if per_document and mode == "vector" and weights.feedback:
        found = await feedback_candidates(
            session,
            workspace_id=workspace_id,
            query_embedding=query_embedding,
            n=n,
            weight=weights.feedback,
            ef_search=ef_search,
        )
    else:
        found = await candidates(
            session,
            workspace_id=workspace_id,
            query=query,
            query_embedding=query_embedding,
            n=n,
            mode=mode,
            ef_search=ef_search,
        )
    if not per_document:
        # Each chunk is ranked alone: its own score is what a reranker fuses with.
        return [replace(hit, page_score=hit.score) for hit in found]
    # A reranking stage would reorder group_by_document(found) here, before the cut to k.
    grouped = None
    if mode == "vector" and (weights.bm25 > 0 or weights.lead > 0) and query_embedding is not None:
        grouped = await _lexically_fused(
            session, workspace_id, query, query_embedding, found, n, weights
        )
    if grouped is None:
        grouped = group_by_document(found, k, weights.second if mode == "vector" else 0.0)
    grouped = grouped[:k]
    return fill_from(grouped, found, k) if fill else grouped


async def _lexically_fused(
    session: Executor,
    workspace_id: uuid.UUID,
    query: str,
    query_embedding: np.ndarray,
    found: Sequence[Hit],
    n: int,
    weights: Weights,
) -> list[Hit] | None:
    """``fuse_lexical`` of ``found`` with the workspace's ``n`` best BM25 chunks for
    ``query`` (within ``weights.postings``, ``found`` among the candidates) and, with
    ``weights.lead``, the candidate documents' lead cosines; None (the vector order) when
    neither applies: the question has no term or the workspace's terms are incomplete, and no
    lead is weighed."""
    rows: list[search_repo.SearchRow] | None = None
    terms = lexical.query_terms(query) if weights.bm25 > 0 else []
    if terms:
        rows = await search_repo.lexical_search(
            session,
            workspace_id,
            terms,
            query_embedding,
            n,
            k1=lexical.K1,
            b=lexical.B,
            candidates=[h.chunk_id for h in found],
            postings=weights.postings,
        )
    if rows is None and weights.lead <= 0:
        return None
    lexical_hits = [_hit(r) for r in rows or []]
    lead: dict[uuid.UUID, float] = {}
    if weights.lead > 0:
        documents = [h.document_id for h in (*found, *lexical_hits)]
        lead = await search_repo.lead_similarities(
            session, workspace_id, documents, query_embedding
        )
    weight = weights.bm25 if rows is not None else 0.0
    return fuse_lexical(found, lexical_hits, weights.second, weight, lead, weights.lead)


def fill_from(grouped: Sequence[Hit], hits: Sequence[Hit], k: int) -> list[Hit]:
    """``grouped`` (one hit per document), then, while there are fewer than ``k``, the best of
    ``hits`` not among them: the documents' next best chunks, best first."""
    out = list(grouped)
    if len(out) >= k:
        return out
    taken = {h.chunk_id for h in out}
    for hit in hits:
        if hit.chunk_id not in taken:
            out.append(hit)
            taken.add(hit.chunk_id)
            if len(out) >= k:
                break
    return out


async def feedback_candidates(
    session: Executor,
    *,
    workspace_id: uuid.UUID,
    query_embedding: np.ndarray | None,
    n: int,
    weight: float,
    ef_search: int | None = EF_SEARCH,
) -> list[Hit]:
    """The ``n`` best chunks for the query vector moved by ``feedback_vector`` towards the mean
    of its ``FEEDBACK_CHUNKS`` nearest chunks, in one statement (``search_repo.
    feedback_search``): ``score`` is the cosine to the moved vector, ``similarity`` to the
    question's. ``hnsw.ef_search`` as ``candidates`` sets it for ``n`` (None: already set)."""
    if not isinstance(workspace_id, uuid.UUID):
        raise TypeError("workspace_id must be a uuid.UUID")
    if query_embedding is None:
        raise ValueError("feedback needs the query embedding")
    n = max(1, int(n))
    if ef_search is not None:
        await search_repo.set_ef_search(session, max(ef_search, 4 * n))
    rows = await search_repo.feedback_search(
        session, workspace_id, query_embedding, n, weight=weight, feedback_chunks=FEEDBACK_CHUNKS
    )
    return [_hit(r) for r in rows]


async def candidates(
    session: Executor,
    *,
    workspace_id: uuid.UUID,
    query: str,
    query_embedding: np.ndarray | None,
    n: int,
    mode: Mode,
    ef_search: int | None = EF_SEARCH,
) -> list[Hit]:
    """The ``n`` best chunks of ``workspace_id`` for ``query`` in ``mode``, best first
    (``ef_search`` None: already set in the transaction)."""
    if not isinstance(workspace_id, uuid.UUID):
        raise TypeError("workspace_id must be a uuid.UUID")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    k = max(1, int(n))
    if mode == "fulltext":
        if not query.strip():
            return []
        rows = await search_repo.fulltext_search(session, workspace_id, query, k)
        return [_hit(r) for r in rows]
    if query_embedding is None:
        raise ValueError(f"{mode} search needs a query embedding")
    vector = np.asarray(query_embedding, dtype=np.float32).ravel()
    if mode == "vector":
        if ef_search is not None:
            await search_repo.set_ef_search(session, max(ef_search, 4 * k))
        rows = await search_repo.vector_search(session, workspace_id, vector, k)
    else:
        candidates = hybrid_candidates(k)
        if ef_search is not None:
            await search_repo.set_ef_search(session, max(ef_search, candidates))
        rows = await search_repo.hybrid_search(
            session, workspace_id, query, vector, k, candidates=candidates, rrf_k=RRF_K
        )
    return [_hit(r) for r in rows]
