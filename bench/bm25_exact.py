"""The exact BM25 statement the product ran before its postings budget (issue 12): every
posting of every question term scored, the chunk count and average length read from every
chunk's ``term_count`` and each term's document frequency counted over its postings, per
question. A **bench lever, not the product's search** (``search.lexical_search`` is the bounded
one since migration 0048): ``bench.lexical_scale`` times both and checks the new one against this
(equal when the budget holds every term); ``bench.bm25_maxscore`` falls back to it.
"""

# SQL text only ever inlines a workspace_literal() of a uuid.UUID

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Float, bindparam, text

from core.direct import Executor, Prepared, fetch
from rag.knowledge.repository.chunks import vector_sql, vector_value, workspace_literal
from rag.knowledge.repository.search import SearchRow, search_rows

_STATEMENTS_KEPT = 1024


@functools.lru_cache(maxsize=_STATEMENTS_KEPT)
def _exact_statement(workspace_id: uuid.UUID) -> Prepared:
    ws = workspace_literal(workspace_id)
    return Prepared(
        text(
            "WITH st AS (SELECT count(*)::float8 AS n, avg(term_count)::float8 AS avgdl,"
            "  count(*) FILTER (WHERE term_count IS NULL) AS missing"
            f"  FROM chunks WHERE workspace_id = {ws}),"
            " p AS (SELECT term, chunk_id, tf, len FROM chunk_terms"
            f"  WHERE workspace_id = {ws} AND term = ANY(CAST(:terms AS text[]))),"
            " df AS (SELECT term, count(*)::float8 AS df FROM p GROUP BY term),"
            " sc AS (SELECT p.chunk_id,"
            "  sum(ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5)) * p.tf * (:k1 + 1)"
            "   / (p.tf + :k1 * (1 - :b + :b * p.len / st.avgdl))) AS score"
            "  FROM p JOIN df ON df.term = p.term CROSS JOIN st"
            "  WHERE st.missing = 0 AND st.avgdl > 0"
            "  GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT :n)"
            " SELECT c.id, c.document_id, c.text, c.metadata, sc.score,"
            f" 1 - (c.embedding <=> {vector_sql('qvec')}) AS similarity, st.missing"
            " FROM st LEFT JOIN (sc JOIN chunks c"
            f"  ON c.id = sc.chunk_id AND c.workspace_id = {ws}) ON true"
            " ORDER BY sc.score DESC NULLS LAST, c.id"
        ).bindparams(
            bindparam("k1", type_=Float()),
            bindparam("b", type_=Float()),
        )
    )


async def exact_search(
    session: Executor,
    workspace_id: uuid.UUID,
    terms: Sequence[str],
    query_vector: np.ndarray,
    n: int,
    *,
    k1: float,
    b: float,
) -> list[SearchRow] | None:
    """The ``n`` best chunks of the workspace by Okapi BM25 over ``terms`` (distinct), every
    statistic counted in the statement; ``similarity`` the cosine to ``query_vector``. None
    when a chunk of the workspace has no stored terms; an empty list when no chunk has any."""
    rows = await fetch(
        session,
        _exact_statement(workspace_id),
        {
            "terms": list(terms),
            "qvec": vector_value(np.asarray(query_vector, dtype=np.float32).ravel()),
            "n": n,
            "k1": k1,
            "b": b,
        },
    )
    if not rows or rows[0][6]:
        return None
    return search_rows([row for row in rows if row[0] is not None])
