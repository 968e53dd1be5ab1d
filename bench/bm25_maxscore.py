"""Exact Okapi BM25 over a workspace's stored terms by rare terms first (MaxScore), with the
statistics kept in the process per knowledge version: a **bench lever, not the product's
search** (issue 12; docs/retrieval.md, "Thirteenth session"). Measured by
``python -m bench.lexical_scale`` against the product's single statement
(``bench.bm25_exact``, what ``retrieval`` called until 0048): a quarter faster at 100k chunks but
slower at p95 at 10k (a rare-terms page that fails costs a second statement), so it was not
shipped; kept here so the measurement stays reproducible, and held exact by
``tests/bench/test_bm25_maxscore.py``.

The result is ``bm25_exact.exact_search``'s, the same chunks, order and scores, found in two
steps:

- **Statistics per knowledge version, in the process.** The chunk count, the total length and
  each question term's document frequency are read once per (workspace, ``knowledge_version``)
  and kept (``_STATISTICS``). Every transaction that writes, rewrites or deletes chunks or their
  terms bumps the version (ingestion, a kept chunk whose terms are stored or forgotten, a
  document or web source deleted, a page gone from a sitemap, reindex, ``fill_terms``), and
  the scoring statement returns the version of its own snapshot: when it is not the version
  of the statistics used, the statistics are read again and the page scored again, so a
  statistic and the postings it scores are always of one state. After ``RETRIES`` changes
  in a row the single self-contained statement answers.
- **Rare terms first (MaxScore), else every posting.** A term adds at most ``idf x (k1 + 1)``
  to a chunk's score. The question's terms sorted by document frequency, the rarest ones with
  at most ``RARE_POSTINGS`` postings together are *essential*: their postings give every chunk
  that has one a partial score, and the best of those (``HEAD_FACTOR x n``, then at most
  ``TAIL_FACTOR x n`` more that could still reach the n-th score) get the other terms' scores
  from their own rows (by the primary key ``(chunk_id, term)``), not from the common terms'
  postings. A chunk without an essential term scores at most the rest terms' bound, one the
  tail left out at most its least partial score plus that bound: when both are below the n-th
  best score found, the page is the exact one. Otherwise (and when no term is that rare, or
  all are) one statement scores every posting of every term with the kept idf: the single
  statement's work without its statistics.
"""

from __future__ import annotations

import math
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench import bm25_exact
from bench import bm25_maxscore_sql as bm25_repo
from core.direct import Executor
from rag.knowledge.repository.search import SearchRow

RARE_POSTINGS = 3000
"""The essential terms: the rarest ones with at most this many postings together."""
HEAD_FACTOR = 2
"""The chunks of best partial score completed first: this many times ``n``."""
TAIL_FACTOR = 4
"""At most this many times ``n`` more chunks completed before the full scan answers."""
RETRIES = 3
"""Statistics read again at most this many times when the workspace's version moved."""
WORKSPACES_KEPT = 128
TERMS_KEPT = 4096
"""Document frequencies kept per (workspace, version); beyond, the kept ones are dropped."""
_SLACK = 1e-9
"""Relative margin on the rest terms' bound: float sums in another order differ by ulps."""


@dataclass
class _Statistics:
    version: int
    chunks: int
    total_length: int
    missing: int
    df: dict[str, int]


_STATISTICS: OrderedDict[tuple[uuid.UUID, int], _Statistics] = OrderedDict()
_LATEST: dict[uuid.UUID, int] = {}
"""The version each workspace's statements last returned (the key of its statistics)."""


def forget() -> None:
    """Drop every kept statistic (tests, benchmarks)."""
    _STATISTICS.clear()
    _LATEST.clear()


def _keep(workspace_id: uuid.UUID, stats: _Statistics) -> _Statistics:
    key = (workspace_id, stats.version)
    _STATISTICS[key] = stats
    _STATISTICS.move_to_end(key)
    while len(_STATISTICS) > WORKSPACES_KEPT:
        old, _ = _STATISTICS.popitem(last=False)
        if _LATEST.get(old[0]) == old[1]:
            del _LATEST[old[0]]
    _LATEST[workspace_id] = stats.version
    return stats


async def _statistics(
    session: Executor, workspace_id: uuid.UUID, terms: Sequence[str]
) -> tuple[_Statistics | None, bool]:
    """The workspace's statistics with the document frequencies of ``terms``: kept ones, the
    missing frequencies read (one statement), everything read when the version moved; and
    whether a statement of this call confirmed their version (else only the page can)."""
    version = _LATEST.get(workspace_id)
    stats = None if version is None else _STATISTICS.get((workspace_id, version))
    if stats is not None:
        _STATISTICS.move_to_end((workspace_id, stats.version))
        need = [t for t in terms if t not in stats.df]
        if not need:
            return stats, False
        read = await bm25_repo.term_statistics(session, workspace_id, need, totals=False)
        if read is None:
            return None, True
        if read.version == stats.version:
            if len(stats.df) + len(need) > TERMS_KEPT:
                stats.df.clear()
            stats.df.update({t: read.df.get(t, 0) for t in need})
            return stats, True
    read = await bm25_repo.term_statistics(session, workspace_id, terms, totals=True)
    if read is None:
        return None, True
    stats = _Statistics(
        version=read.version,
        chunks=int(read.chunks or 0),
        total_length=int(read.total_length or 0),
        missing=int(read.missing or 0),
        df={t: read.df.get(t, 0) for t in terms},
    )
    return _keep(workspace_id, stats), True


def idf(chunks: int, df: int) -> float:
    """BM25's inverse document frequency, ``ln(1 + (N - df + 0.5) / (df + 0.5))`` (the SQL's)."""
    return math.log(1 + (chunks - df + 0.5) / (df + 0.5))


def _bound(weights: Sequence[tuple[str, float]], k1: float) -> float:
    """The most ``weights``' terms can add to a chunk's score, with the float margin."""
    total = sum(w * (k1 + 1) for _, w in weights)
    return total * (1 + _SLACK) + _SLACK if weights else 0.0


def _rare_split(terms: Sequence[tuple[str, float, int]], rare_postings: int) -> int:
    """How many of the rarest ``terms`` (term, idf, df; rarest first) are essential: as many
    as have at most ``rare_postings`` postings together."""
    postings = 0
    for i, (_, _, df) in enumerate(terms):
        postings += df
        if postings > rare_postings:
            return i
    return len(terms)


async def search(
    session: Executor,
    workspace_id: uuid.UUID,
    terms: Sequence[str],
    query_vector: np.ndarray,
    n: int,
    *,
    k1: float,
    b: float,
    rare_postings: int = RARE_POSTINGS,
    tail_factor: int = TAIL_FACTOR,
    trace: list[tuple[int, int]] | None = None,
) -> list[SearchRow] | None:
    """``bm25_exact.exact_search``'s result (the ``n`` best chunks by BM25 over ``terms``,
    with their cosine to ``query_vector``; None when a chunk of the workspace has no stored
    terms; an empty list when none has any of ``terms``), by the steps above. ``trace``
    (tests, benchmarks) gets (essential terms, terms) for each page scored, (0, 0) for the
    single statement."""
    terms = list(dict.fromkeys(terms))
    n = max(1, int(n))
    for _ in range(RETRIES):
        stats, confirmed = await _statistics(session, workspace_id, terms)
        if stats is None:
            return []
        present = sorted(
            ((t, idf(stats.chunks, stats.df[t]), stats.df[t]) for t in terms if stats.df[t]),
            key=lambda item: (item[2], item[0]),
        )
        if stats.missing or not stats.total_length or not present:
            # Answered without a page: only by statistics of the current version.
            if not confirmed:
                read = await bm25_repo.term_statistics(session, workspace_id, [], totals=False)
                if read is None:
                    return []
                if read.version != stats.version:
                    _LATEST[workspace_id] = read.version
                    continue
            return None if stats.missing else []
        split = _rare_split(present, rare_postings)
        scoring = bm25_repo.Scoring(n, k1, b, stats.total_length / stats.chunks, query_vector)
        if 0 < split < len(present):
            essential = [(t, w) for t, w, _ in present[:split]]
            rest = [(t, w) for t, w, _ in present[split:]]
            bound = _bound(rest, k1)
            tail = max(1, tail_factor) * n
            page = await bm25_repo.maxscore_page(
                session,
                workspace_id,
                scoring,
                essential=essential,
                rest=rest,
                rest_bound=bound,
                head=HEAD_FACTOR * n,
                tail=tail,
            )
            if page is None:
                return []
            if trace is not None:
                trace.append((split, len(present)))
            if page.version != stats.version:
                _LATEST[workspace_id] = page.version
                continue
            rows = page.rows
            if len(rows) >= n:
                # Chunks without an essential term score at most ``bound``; those the tail
                # left out (it was full) at most its least partial score plus ``bound``.
                cut = page.tail_least if page.tail >= tail else None
                reach = bound if cut is None else cut + bound
                if reach < rows[n - 1][4]:
                    return rows
        full = await bm25_repo.full_page(
            session, workspace_id, scoring, weights=[(t, w) for t, w, _ in present]
        )
        if full is None:
            return []
        if trace is not None:
            trace.append((len(present), len(present)))
        if full[0] != stats.version:
            _LATEST[workspace_id] = full[0]
            continue
        return full[1]
    if trace is not None:
        trace.append((0, 0))
    return await bm25_exact.exact_search(session, workspace_id, terms, query_vector, n, k1=k1, b=b)
