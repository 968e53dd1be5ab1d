"""Search over one workspace's chunks: vector, full text, and both fused by reciprocal rank.

The statements inline the workspace id as a literal (``chunks.workspace_literal``) so that
PostgreSQL matches a workspace's partial HNSW index even under a generic (prepared) plan. A
query vector is bound in pgvector's binary form (``chunks.vector_sql``, ``core.vector_codec``).
"""

# ruff: noqa: S608  # SQL text only ever inlines a workspace_literal() of a uuid.UUID

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Float, bindparam, text

from core.direct import Executor, Prepared, fetch
from rag.knowledge.repository.chunks import vector_sql, vector_value, workspace_literal

SearchRow = tuple[uuid.UUID, uuid.UUID, str, dict[str, Any], float, float | None]

# The query vector's bind parameter.
_VECTOR = vector_sql("qvec")

_OR_QUERY = "replace(plainto_tsquery('english', :query)::text, ' & ', ' | ')::tsquery"


_SET_EF_SEARCH = Prepared(text("SELECT set_config('hnsw.ef_search', :v, true)"))
# pgvector's largest hnsw.ef_search: set_config refuses more (k = MAX_K asks for 1,600).
MAX_EF_SEARCH = 1000


_INDEX_ONLY_OFF = Prepared(
    text(
        "SELECT current_setting('enable_indexonlyscan'),"
        " set_config('enable_indexonlyscan', 'off', true)"
    )
)
_INDEX_ONLY_BACK = Prepared(text("SELECT set_config('enable_indexonlyscan', :v, true)"))


async def set_ef_search(session: Executor, ef_search: int) -> None:
    """Transaction-local ``hnsw.ef_search`` (harmless when no HNSW index is used), at most
    ``MAX_EF_SEARCH``."""
    await fetch(session, _SET_EF_SEARCH, {"v": str(bounded_ef_search(ef_search))})


def bounded_ef_search(ef_search: int) -> int:
    """``ef_search`` within pgvector's range 1 .. ``MAX_EF_SEARCH``: every value the product
    sets goes through it (``set_ef_search``, ``retrieval.ef_search_for``)."""
    return max(1, min(int(ef_search), MAX_EF_SEARCH))


# The statements inline the workspace: one per workspace and kind, each built and compiled once
# (the bound records the most recent workspaces').
_STATEMENTS_KEPT = 1024


def _vector_candidates(ws: str, limit_param: str) -> str:
    # The ORDER BY expression is exactly the indexed operator on the column, and the WHERE
    # clause is exactly a partial index's predicate: PostgreSQL uses that workspace's HNSW
    # index when it exists and the btree on workspace_id (exact) otherwise.
    return (
        f"SELECT id, embedding <=> {_VECTOR} AS dist FROM chunks"
        f" WHERE workspace_id = {ws} ORDER BY embedding <=> {_VECTOR}"
        f" LIMIT :{limit_param}"
    )


def _fulltext_candidates(ws: str, limit_param: str) -> str:
    return (
        "SELECT c.id, ts_rank_cd(c.tsv, q.query) AS rank"
        f" FROM chunks c, (SELECT {_OR_QUERY} AS query) q"
        f" WHERE c.workspace_id = {ws} AND c.tsv @@ q.query"
        f" ORDER BY rank DESC, c.id LIMIT :{limit_param}"
    )


def search_rows(rows: Sequence[Any]) -> list[SearchRow]:
    """Rows of the columns id, document_id, text, metadata, score, similarity."""
    return [
        (
            row[0],
            row[1],
            row[2],
            row[3],
            float(row[4]),
            None if row[5] is None else float(row[5]),
        )
        for row in rows
    ]


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def _vector_statement(workspace_id: uuid.UUID) -> Prepared:
    ws = workspace_literal(workspace_id)
    return Prepared(
        text(
            "SELECT c.id, c.document_id, c.text, c.metadata, 1 - v.dist AS score,"
            " 1 - v.dist AS similarity"
            f" FROM ({_vector_candidates(ws, 'k')}) v JOIN chunks c ON c.id = v.id"
            f" WHERE c.workspace_id = {ws} ORDER BY v.dist, c.id"
        )
    )


async def vector_search(
    session: Executor, workspace_id: uuid.UUID, query_vector: np.ndarray, k: int
) -> list[SearchRow]:
    """The ``k`` chunks nearest ``query_vector``; ``score`` and ``similarity`` are their cosine
    similarity to it."""
    rows = await fetch(
        session, _vector_statement(workspace_id), {"qvec": vector_value(query_vector), "k": k}
    )
    return search_rows(rows)


async def feedback_search(
    session: Executor,
    workspace_id: uuid.UUID,
    query_vector: np.ndarray,
    k: int,
    *,
    weight: float,
    feedback_chunks: int,
) -> list[SearchRow]:
    """Pseudo-relevance feedback in one statement: the ``k`` chunks nearest the query vector
    moved towards the mean of its ``feedback_chunks`` nearest chunks, ``query + weight x
    mean`` (``retrieval.feedback_vector``; computed as ``query / weight + mean``, the same
    direction, since the cosine ignores length). ``score`` is the cosine to the moved vector,
    ``similarity`` to ``query_vector``. Both searches order by the indexed operator, so a
    workspace's partial HNSW index serves both (the moved vector is an InitPlan parameter)."""
    if weight <= 0:
        raise ValueError("feedback needs a positive weight")
    query = np.asarray(query_vector, dtype=np.float32).ravel()
    rows = await fetch(
        session,
        _feedback_prepared(workspace_id),
        {
            "qvec": vector_value(query),
            "scaled": vector_value(query / np.float32(weight)),
            "fb": feedback_chunks,
            "k": k,
        },
    )
    return search_rows(rows)


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def _feedback_prepared(workspace_id: uuid.UUID) -> Prepared:
    return Prepared(feedback_statement(workspace_id))


def feedback_statement(workspace_id: uuid.UUID) -> Any:
    """``feedback_search``'s statement (parameters qvec, scaled = qvec / weight, fb, k)."""
    ws = workspace_literal(workspace_id)
    moved = "(SELECT m FROM moved)"
    return text(
        "WITH best AS (SELECT embedding FROM chunks"
        f"  WHERE workspace_id = {ws} ORDER BY embedding <=> {_VECTOR} LIMIT :fb),"
        f" moved AS (SELECT {vector_sql('scaled')} + avg(embedding) AS m"
        "  FROM best)"
        " SELECT c.id, c.document_id, c.text, c.metadata, 1 - v.dist AS score,"
        f" 1 - (c.embedding <=> {_VECTOR}) AS similarity"
        f" FROM (SELECT id, embedding <=> {moved} AS dist FROM chunks"
        f"  WHERE workspace_id = {ws} ORDER BY embedding <=> {moved} LIMIT :k) v"
        f" JOIN chunks c ON c.id = v.id WHERE c.workspace_id = {ws} ORDER BY v.dist, c.id"
    )


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def _fulltext_statement(workspace_id: uuid.UUID) -> Prepared:
    ws = workspace_literal(workspace_id)
    return Prepared(
        text(
            "SELECT c.id, c.document_id, c.text, c.metadata, f.rank AS score,"
            " NULL::float8 AS similarity"
            f" FROM ({_fulltext_candidates(ws, 'k')}) f JOIN chunks c ON c.id = f.id"
            f" WHERE c.workspace_id = {ws} ORDER BY f.rank DESC, c.id"
        )
    )


async def fulltext_search(
    session: Executor, workspace_id: uuid.UUID, query: str, k: int
) -> list[SearchRow]:
    rows = await fetch(session, _fulltext_statement(workspace_id), {"query": query, "k": k})
    return search_rows(rows)


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def _hybrid_statement(workspace_id: uuid.UUID) -> Prepared:
    ws = workspace_literal(workspace_id)
    return Prepared(
        text(
            "WITH v AS (SELECT id, row_number() OVER (ORDER BY dist, id) AS r"
            f"  FROM ({_vector_candidates(ws, 'n')}) s),"
            " f AS (SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS r"
            f"  FROM ({_fulltext_candidates(ws, 'n')}) s),"
            " fused AS (SELECT id, sum(1.0 / (:rrf + r)) AS score"
            "  FROM (SELECT id, r FROM v UNION ALL SELECT id, r FROM f) u"
            "  GROUP BY id ORDER BY score DESC, id LIMIT :k)"
            " SELECT c.id, c.document_id, c.text, c.metadata, fused.score,"
            f" 1 - (c.embedding <=> {_VECTOR}) AS similarity"
            f" FROM fused JOIN chunks c ON c.id = fused.id WHERE c.workspace_id = {ws}"
            " ORDER BY fused.score DESC, c.id"
        )
    )


async def hybrid_search(
    session: Executor,
    workspace_id: uuid.UUID,
    query: str,
    query_vector: np.ndarray,
    k: int,
    *,
    candidates: int,
    rrf_k: int = 60,
) -> list[SearchRow]:
    """Reciprocal rank fusion of the vector and full-text candidate lists, in one statement."""
    rows = await fetch(
        session,
        _hybrid_statement(workspace_id),
        {
            "qvec": vector_value(query_vector),
            "query": query,
            "n": candidates,
            "k": k,
            "rrf": rrf_k,
        },
    )
    return search_rows(rows)


LEXICAL_CANDIDATES_FACTOR = 4
"""The chunks of best partial score rescored on every term: this many times ``n``."""


def _bm25(weights: str) -> str:
    """One posting's BM25 term score (``p`` the posting, ``weights.idf`` its term's idf, ``st``
    the workspace's statistics)."""
    return f"{weights}.idf * p.tf * (:k1 + 1) / (p.tf + :k1 * (1 - :b + :b * p.len / st.avgdl))"


def _stats(ws: str) -> str:
    """The kept statistics (migration 0048) as ``st``: no row, no chunk."""
    return (
        "WITH st AS (SELECT chunks::float8 AS n, total_terms::float8 / chunks AS avgdl,"
        "  chunks_without_terms AS missing FROM lexical_stats"
        f"  WHERE workspace_id = {ws} AND chunks > 0),"
    )


# The question's terms (``d``: term, df) some chunk has, rarest first, with the postings up to
# each; the rarest within the budget; the chunks to score on every term; the columns returned.
_TERMS = (
    " q AS (SELECT d.term, ln(1 + (st.n - d.df + 0.5) / (d.df + 0.5)) AS idf,"
    "  sum(d.df) OVER (ORDER BY d.df, d.term ROWS UNBOUNDED PRECEDING) AS reach"
)
_WITHIN_BUDGET = " e AS (SELECT term, idf FROM q WHERE reach <= :budget),"
_CANDIDATES = (
    " cand AS (SELECT chunk_id FROM part UNION SELECT unnest(CAST(:candidates AS uuid[]))),"
)
_COLUMNS = (
    " SELECT c.id, c.document_id, c.text, c.metadata, sc.score,"
    f" 1 - (c.embedding <=> {_VECTOR}) AS similarity, st.missing,"
    " (SELECT count(*) FROM e) AS essential, (SELECT count(*) FROM q) AS present"
)


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def lexical_prepared(workspace_id: uuid.UUID) -> Prepared:
    """``lexical_search``'s statement (its parameters: ``lexical_parameters``). Every read is a
    probe of a key by equality, each in a LATERAL subquery fenced by ``OFFSET 0`` (the planner
    cannot turn it into a join driven from the other side): a question term's ``lexical_df``
    row, a budget term's postings through ``(workspace_id, term)``, a (candidate, term) row
    through ``chunk_terms``' primary key, a returned chunk through ``chunks``' primary key. On
    tables never analyzed PostgreSQL estimates ``workspace_id = ...`` as selective as a key (one
    row in 200), and with joins to choose it read the whole workspace once per candidate
    (docs/retrieval.md, "Fifteenth session: the BM25 statement without table statistics")."""
    ws = workspace_literal(workspace_id)
    return Prepared(
        text(
            _stats(ws)
            # The question's terms some chunk has: one probe each.
            + _TERMS
            + "  FROM unnest(CAST(:terms AS text[])) t (term) CROSS JOIN LATERAL"
            "  (SELECT term, df FROM lexical_df"
            f"   WHERE workspace_id = {ws} AND term = t.term OFFSET 0) d CROSS JOIN st"
            "  WHERE st.missing = 0 AND st.avgdl > 0),"
            # The rarest terms within the budget: their postings (read term by term) give each
            # chunk a partial score.
            + _WITHIN_BUDGET
            + f" part AS (SELECT p.chunk_id, sum({_bm25('e')}) AS partial FROM e CROSS JOIN LATERAL"
            "  (SELECT chunk_id, tf, len FROM chunk_terms"
            f"   WHERE workspace_id = {ws} AND term = e.term OFFSET 0) p CROSS JOIN st"
            "  GROUP BY p.chunk_id ORDER BY partial DESC, p.chunk_id LIMIT :m),"
            + _CANDIDATES
            # Each candidate scored on every term: one probe of the key (chunk_id, term) per
            # candidate and term, at most one row.
            + f" sc AS (SELECT cand.chunk_id, sum({_bm25('q')}) AS score FROM cand CROSS JOIN q"
            "  CROSS JOIN LATERAL (SELECT tf, len FROM chunk_terms WHERE chunk_id = cand.chunk_id"
            f"   AND term = q.term AND workspace_id = {ws} OFFSET 0) p CROSS JOIN st"
            "  GROUP BY cand.chunk_id ORDER BY score DESC, cand.chunk_id LIMIT :n)"
            + _COLUMNS
            # The chunks returned, one probe of their key each.
            + " FROM (SELECT 1) one LEFT JOIN st ON true LEFT JOIN (sc CROSS JOIN LATERAL"
            "  (SELECT id, document_id, text, metadata, embedding FROM chunks"
            f"   WHERE id = sc.chunk_id AND workspace_id = {ws} OFFSET 0) c) ON st.missing = 0"
            " ORDER BY sc.score DESC NULLS LAST, c.id"
        ).bindparams(
            bindparam("k1", type_=Float()),
            bindparam("b", type_=Float()),
        )
    )


def lexical_parameters(
    terms: Sequence[str],
    query_vector: np.ndarray,
    n: int,
    *,
    k1: float,
    b: float,
    candidates: Sequence[uuid.UUID],
    postings: int,
) -> dict[str, Any]:
    """``lexical_prepared``'s parameters (``lexical_search``'s arguments; terms and candidates
    without repeats: the statement probes each term once per candidate)."""
    return {
        "terms": list(dict.fromkeys(terms)),
        "candidates": list(dict.fromkeys(candidates)),
        "qvec": vector_value(np.asarray(query_vector, dtype=np.float32).ravel()),
        "n": n,
        "m": LEXICAL_CANDIDATES_FACTOR * n,
        "budget": postings,
        "k1": k1,
        "b": b,
    }


async def lexical_search(
    session: Executor,
    workspace_id: uuid.UUID,
    terms: Sequence[str],
    query_vector: np.ndarray,
    n: int,
    *,
    k1: float,
    b: float,
    candidates: Sequence[uuid.UUID] = (),
    postings: int,
    trace: list[tuple[int, int]] | None = None,
) -> list[SearchRow] | None:
    """The ``n`` best chunks of the workspace by Okapi BM25 over ``terms`` (distinct) within a
    budget of ``postings``, in one statement (docs/retrieval.md, fourteenth session). The
    chunk count, total length and document frequencies are the kept ``lexical_stats`` and
    ``lexical_df`` (migration 0048); ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``. The terms
    no chunk has are dropped, the others ordered rarest first (df, then term); the longest such
    prefix whose document frequencies sum to at most ``postings`` is scored over its postings
    (a partial score), and the ``LEXICAL_CANDIDATES_FACTOR x n`` best chunks by it, with
    ``candidates`` (the vector search's chunks), are scored on every term from their own rows;
    the ``n`` best by that full score come back (score, then chunk id). Exact BM25 when the
    budget holds every term; otherwise a chunk with none of the budget's terms is found only
    among ``candidates`` (a chunk of common words only, which the vectors did not find, is left
    out). ``similarity`` is the cosine to ``query_vector``. None when a chunk of the workspace
    has no stored terms (the caller keeps the vector order). ``trace`` gets (terms within the
    budget, terms some chunk has)."""
    params = lexical_parameters(
        terms, query_vector, n, k1=k1, b=b, candidates=candidates, postings=postings
    )
    # Index-only scans off for this statement alone: on vacuumed, analyzed tables PostgreSQL
    # served a (candidate, term) probe from (workspace_id, term) by an index-only scan with the
    # candidate as a filter (every posting of the term, per candidate: 1.9 million entries a
    # call at 10k real chunks, p95 126 ms) instead of the primary key's one row (docs/retrieval.md,
    # "Fifteenth session: the BM25 statement on analyzed tables").
    was = await fetch(session, _INDEX_ONLY_OFF, {})
    rows = await fetch(session, lexical_prepared(workspace_id), params)
    await fetch(session, _INDEX_ONLY_BACK, {"v": was[0][0]})
    if rows[0][6]:
        return None
    if trace is not None:
        trace.append((int(rows[0][7]), int(rows[0][8])))
    return search_rows([row for row in rows if row[0] is not None])


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def _lead_prepared(workspace_id: uuid.UUID) -> Prepared:
    ws = workspace_literal(workspace_id)
    return Prepared(
        text(
            f"SELECT d.id, 1 - (c.embedding <=> {_VECTOR}) AS lead"
            " FROM unnest(CAST(:documents AS uuid[])) d(id) CROSS JOIN LATERAL"
            "  (SELECT embedding FROM chunks"
            f"   WHERE document_id = d.id AND workspace_id = {ws}"
            "   ORDER BY position LIMIT 1) c"
        )
    )


async def lead_similarities(
    session: Executor,
    workspace_id: uuid.UUID,
    documents: Sequence[uuid.UUID],
    query_vector: np.ndarray,
) -> dict[uuid.UUID, float]:
    """Each of ``documents``' cosine between ``query_vector`` and its first chunk (its lead:
    a man page's name and synopsis, a module's introduction), one probe of the (document,
    position) index per document; a document of another workspace or without chunks is
    left out."""
    if not documents:
        return {}
    rows = await fetch(
        session,
        _lead_prepared(workspace_id),
        {
            "documents": list(dict.fromkeys(documents)),
            "qvec": vector_value(np.asarray(query_vector, dtype=np.float32).ravel()),
        },
    )
    return {row[0]: float(row[1]) for row in rows}
