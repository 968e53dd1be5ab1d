"""SQL of the bench's exact BM25 search by rare terms first (``bench.bm25_maxscore``, not the
product's): a workspace's term statistics, and one page of the best chunks scored MaxScore-style.

Both statements return the workspace's ``knowledge_version`` read in their own snapshot: the
caller keeps the statistics per version (every write of chunks bumps it in its transaction), so
a statistic and the postings scored with it are known to be of the same state.
"""

# SQL text only ever inlines a workspace_literal() of a uuid.UUID

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text

from core.direct import Executor, Prepared, fetch
from rag.knowledge.repository.chunks import vector_sql, vector_value, workspace_literal
from rag.knowledge.repository.search import SearchRow, search_rows

_STATEMENTS_KEPT = 1024


@dataclass(frozen=True)
class TermStatistics:
    """A workspace's BM25 statistics at ``version``: chunks, their total length (sum of
    ``term_count``), chunks without stored terms, and the document frequency of some terms
    (absent: none of its chunks has the term). ``chunks`` None: not read (terms only)."""

    version: int
    chunks: int | None
    total_length: int | None
    missing: int | None
    df: dict[str, int]


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def _statistics_statement(workspace_id: uuid.UUID, totals: bool) -> Prepared:
    ws = workspace_literal(workspace_id)
    if totals:
        st = (
            "(SELECT count(*) AS n, coalesce(sum(term_count), 0) AS total,"
            " count(*) FILTER (WHERE term_count IS NULL) AS missing"
            f" FROM chunks WHERE workspace_id = {ws})"
        )
    else:
        st = "(SELECT NULL::bigint AS n, NULL::bigint AS total, NULL::bigint AS missing)"
    return Prepared(
        text(
            "SELECT w.knowledge_version, st.n, st.total, st.missing, d.term, d.df"
            f" FROM workspaces w CROSS JOIN {st} st"
            " LEFT JOIN (SELECT term, count(*) AS df FROM chunk_terms"
            f"  WHERE workspace_id = {ws} AND term = ANY(CAST(:terms AS text[]))"
            "  GROUP BY term) d ON true"
            f" WHERE w.id = {ws}"
        )
    )


async def term_statistics(
    session: Executor, workspace_id: uuid.UUID, terms: Sequence[str], *, totals: bool
) -> TermStatistics | None:
    """The document frequencies of ``terms`` and (``totals``) the chunk count, total length and
    chunks without terms, in one statement; None when the workspace is not visible."""
    rows = await fetch(session, _statistics_statement(workspace_id, totals), {"terms": list(terms)})
    if not rows:
        return None
    first = rows[0]
    return TermStatistics(
        version=int(first[0]),
        chunks=None if first[1] is None else int(first[1]),
        total_length=None if first[2] is None else int(first[2]),
        missing=None if first[3] is None else int(first[3]),
        df={row[4]: int(row[5]) for row in rows if row[4] is not None},
    )


def _term_score(weights: str) -> str:
    """One posting's BM25 term score (``p`` the posting, ``weights.idf`` its term's idf), the
    same expression as ``search.lexical_search``'s."""
    return (
        f"{weights}.idf * p.tf * (CAST(:k1 AS float8) + 1)"
        " / (p.tf + CAST(:k1 AS float8) * (1 - CAST(:b AS float8)"
        " + CAST(:b AS float8) * p.len / CAST(:avgdl AS float8)))"
    )


def _returned(ws: str, extra: str = "") -> str:
    """The final SELECT of a scoring statement over its ``sc (chunk_id, score)``: the chunks,
    their cosine to the question, the workspace's knowledge version read in the statement's
    snapshot (one row of NULL chunk columns when ``sc`` is empty), then ``extra`` columns."""
    return (
        " SELECT c.id, c.document_id, c.text, c.metadata, sc.score,"
        f" 1 - (c.embedding <=> {vector_sql('qvec')}) AS similarity, w.knowledge_version{extra}"
        " FROM workspaces w LEFT JOIN (sc JOIN chunks c"
        f"  ON c.id = sc.chunk_id AND c.workspace_id = {ws}) ON true"
        f" WHERE w.id = {ws}"
        " ORDER BY sc.score DESC NULLS LAST, c.id"
    )


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def _page_statement(workspace_id: uuid.UUID) -> Prepared:
    ws = workspace_literal(workspace_id)
    # The rest terms' score of one chunk: its rows by the primary key (chunk_id, term).
    rest = (
        f"SELECT sum({_term_score('rq')}) AS s FROM chunk_terms p JOIN rq ON rq.term = p.term"
        " WHERE p.chunk_id = {id} AND p.term = ANY(CAST(:rterms AS text[]))"
        f" AND p.workspace_id = {ws}"
    )
    return Prepared(
        text(
            "WITH eq AS (SELECT * FROM unnest(CAST(:eterms AS text[]),"
            "  CAST(:eidf AS float8[])) AS q(term, idf)),"
            " rq AS (SELECT * FROM unnest(CAST(:rterms AS text[]),"
            "  CAST(:ridf AS float8[])) AS q(term, idf)),"
            f" e AS (SELECT p.chunk_id, sum({_term_score('eq')}) AS partial"
            "  FROM chunk_terms p JOIN eq ON eq.term = p.term"
            f"  WHERE p.workspace_id = {ws} AND p.term = ANY(CAST(:eterms AS text[]))"
            "  GROUP BY p.chunk_id),"
            " head AS (SELECT chunk_id, partial FROM e ORDER BY partial DESC, chunk_id"
            "  LIMIT :m),"
            " head_scored AS (SELECT h.chunk_id, h.partial + coalesce(r.s, 0) AS score"
            f"  FROM head h LEFT JOIN LATERAL ({rest.format(id='h.chunk_id')}) r ON true),"
            " bar AS (SELECT score FROM head_scored ORDER BY score DESC LIMIT 1"
            "  OFFSET :n - 1),"
            " tail AS (SELECT e.chunk_id, e.partial FROM e"
            "  WHERE e.partial + CAST(:ubr AS float8) >= (SELECT score FROM bar)"
            "  AND e.chunk_id NOT IN (SELECT chunk_id FROM head)"
            "  ORDER BY e.partial DESC, e.chunk_id LIMIT :t),"
            " tail_scored AS (SELECT t.chunk_id, t.partial + coalesce(r.s, 0) AS score"
            f"  FROM tail t LEFT JOIN LATERAL ({rest.format(id='t.chunk_id')}) r ON true),"
            " sc AS (SELECT chunk_id, score FROM"
            "  (SELECT chunk_id, score FROM head_scored UNION ALL"
            "   SELECT chunk_id, score FROM tail_scored) u"
            "  ORDER BY score DESC, chunk_id LIMIT :n)"
            + _returned(
                ws,
                ", (SELECT count(*) FROM tail) AS tail_count,"
                " (SELECT min(partial) FROM tail) AS tail_least",
            )
        )
    )


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def _full_statement(workspace_id: uuid.UUID) -> Prepared:
    ws = workspace_literal(workspace_id)
    return Prepared(
        text(
            "WITH q AS (SELECT * FROM unnest(CAST(:terms AS text[]),"
            "  CAST(:idf AS float8[])) AS q(term, idf)),"
            f" sc AS (SELECT p.chunk_id, sum({_term_score('q')}) AS score"
            "  FROM chunk_terms p JOIN q ON q.term = p.term"
            f"  WHERE p.workspace_id = {ws} AND p.term = ANY(CAST(:terms AS text[]))"
            "  GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT :n)" + _returned(ws)
        )
    )


@dataclass(frozen=True)
class Scoring:
    """What every scoring statement binds: the chunks wanted, BM25's parameters with the
    workspace's average length, and the question's vector (the cosine of the chunks returned)."""

    n: int
    k1: float
    b: float
    average_length: float
    query_vector: np.ndarray

    def params(self) -> dict[str, Any]:
        return {
            "n": int(self.n),
            "k1": float(self.k1),
            "b": float(self.b),
            "avgdl": float(self.average_length),
            "qvec": vector_value(np.asarray(self.query_vector, dtype=np.float32).ravel()),
        }


async def full_page(
    session: Executor,
    workspace_id: uuid.UUID,
    scoring: Scoring,
    *,
    weights: Sequence[tuple[str, float]],
) -> tuple[int, list[SearchRow]] | None:
    """(the workspace's knowledge version, the ``n`` best chunks by BM25 over ``weights``
    (term, idf): every posting of every term scored, in one statement). None when the
    workspace is not visible."""
    rows = await fetch(
        session,
        _full_statement(workspace_id),
        {
            "terms": [t for t, _ in weights],
            "idf": [float(i) for _, i in weights],
            **scoring.params(),
        },
    )
    if not rows:
        return None
    return int(rows[0][6]), search_rows([r for r in rows if r[0] is not None])


@dataclass(frozen=True)
class MaxScorePage:
    """A page of ``maxscore_page``: the version, the rows, and how many chunks the tail
    completed (at most its bound) with the least partial score among them (None: none)."""

    version: int
    rows: list[SearchRow]
    tail: int
    tail_least: float | None


async def maxscore_page(
    session: Executor,
    workspace_id: uuid.UUID,
    scoring: Scoring,
    *,
    essential: Sequence[tuple[str, float]],
    rest: Sequence[tuple[str, float]],
    rest_bound: float,
    head: int,
    tail: int,
) -> MaxScorePage | None:
    """The ``n`` best chunks among those with an ``essential`` term, in one statement. Each
    chunk's score is its BM25 over every term, ``essential`` and ``rest`` (term, idf): the
    essential terms' postings give each chunk its partial score; the ``head`` best partial
    scores get the rest terms' scores from their own rows (by the primary key), then at most
    ``tail`` more, best partial first, of those whose partial score plus ``rest_bound`` (above
    the most the rest terms can add) reaches the n-th best full score among the head's. Exact
    for the whole workspace when ``rest_bound`` is below the n-th returned score and, if the
    tail is full, ``tail_least + rest_bound`` too: the caller checks. None when the workspace
    is not visible."""
    rows = await fetch(
        session,
        _page_statement(workspace_id),
        {
            "eterms": [t for t, _ in essential],
            "eidf": [float(i) for _, i in essential],
            "rterms": [t for t, _ in rest],
            "ridf": [float(i) for _, i in rest],
            "ubr": float(rest_bound),
            "m": int(head),
            "t": int(tail),
            **scoring.params(),
        },
    )
    if not rows:
        return None
    first = rows[0]
    return MaxScorePage(
        version=int(first[6]),
        rows=search_rows([r for r in rows if r[0] is not None]),
        tail=int(first[7]),
        tail_least=None if first[8] is None else float(first[8]),
    )
