"""The BM25 statement (``search_repo.lexical_search``) on tables PostgreSQL never analyzed, as on
a fresh deployment, a test cluster, or minutes after a first large ingestion (docs/retrieval.md,
"Fifteenth session: the BM25 statement without table statistics"), under a custom plan and under
a generic one (asyncpg prepares the statement: PostgreSQL plans the first five executions with
the values, then may keep a generic plan). What it reads, by PostgreSQL's counters: from
``chunk_terms`` the postings budget plus one key probe per candidate and question term, from
``lexical_df`` a row per question term, from ``chunks`` a row per chunk returned; not the
workspace. The statement before read every ``chunk_terms`` entry of the workspace once per
candidate; with any one of its reads put back (the terms' frequencies by the term list, the
chunks by a join, the candidates' rows by the term list) the test fails.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from bench.lexical_plan import TABLES, _owner_run, read_between, table_reads
from bench.lexical_scale import load
from core.db import Database, create_engine
from core.embedded import EmbeddedPostgres
from rag.knowledge import lexical
from rag.knowledge.repository import search as search_repo
from tests.bench.test_bm25_maxscore import PAGES, _questions, _reference, _same, _stored, _windows
from tests.bench.test_bm25_maxscore import _write as write_document
from tests.conftest import APP_ROLE
from tests.own_database import migrated

DATABASE = "trulybot_lexical_plan"
LARGE = 4000
"""The eight pages' 60-word chunks, then copies with words dropped (as ``bench.lexical_scale``
builds its workspaces): about 180,000 ``chunk_terms`` rows. Below some 40,000 rows, without
statistics, PostgreSQL's costs for a (chunk_id, term) probe through the primary key and through
(workspace_id, term) tie, and its tie-break may take the second, which reads the term's
postings (docs/retrieval.md, same section): the small workspace (the pages alone) is held to
that looser bound there."""
N = 40
BUDGET = 1000
SCORING: dict[str, Any] = {"k1": lexical.K1, "b": lexical.B, "postings": BUDGET}
ONES = np.ones(384, dtype=np.float32)


async def _drop(pg: EmbeddedPostgres) -> None:
    engine = create_engine(pg.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@pytest.fixture
async def never_analyzed(pg: EmbeddedPostgres) -> AsyncIterator[tuple[str, Database, Database]]:
    """(owner URL, owner, app) on a new migrated database whose tables the statement reads are
    never analyzed: autovacuum is off on them (it would analyze them a minute after the
    writes). Dropped when the test ends."""
    cluster = await migrated(pg, DATABASE, recreate=True)
    owner = Database.from_url(cluster.owner_url(), pool_size=1, max_overflow=1)
    app = Database.from_url(cluster.app_url(APP_ROLE), pool_size=1, max_overflow=1)
    try:
        async with owner.transaction() as session:
            for table in TABLES:
                await session.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        yield cluster.owner_url(), owner, app
    finally:
        await app.dispose()
        await owner.dispose()
        await _drop(pg)


async def _analyzed(owner: Database) -> list[str]:
    """The tables of ``TABLES`` PostgreSQL has a row count or column statistics for."""
    async with owner.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT relname FROM pg_class WHERE relname = ANY(:t) AND (reltuples >= 0"
                " OR EXISTS (SELECT 1 FROM pg_statistic WHERE starelid = pg_class.oid))"
            ),
            {"t": list(TABLES)},
        )
        return [r[0] for r in rows.all()]


async def _bounds(
    owner: Database, ws: uuid.UUID, terms: list[str], candidates: int
) -> tuple[int, int, bool]:
    """What the statement may read from ``chunk_terms``: the postings of the rarest terms within
    ``BUDGET``, plus per candidate chunk (the best partial scores and the vector candidates)
    one probe for each question term a chunk has (keyed), or each such term's postings; and
    whether every such term is within the budget."""
    async with owner.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT df FROM lexical_df WHERE workspace_id = :ws AND term = ANY(:t)"
                " ORDER BY df, term"
            ),
            {"ws": ws, "t": terms},
        )
        frequencies = [int(r[0]) for r in rows.all()]
    postings = 0
    for df in frequencies:
        if postings + df > BUDGET:
            break
        postings += df
    scored = search_repo.LEXICAL_CANDIDATES_FACTOR * N + candidates
    every_term = sum(frequencies) <= BUDGET
    return postings + scored * len(frequencies), postings + scored * sum(frequencies), every_term


async def _search_reads(
    app: Database, ws: uuid.UUID, terms: list[str], candidates: list[Any], plan: str
) -> tuple[list[Any], dict[str, Any]]:
    """``lexical_search``'s rows under a ``plan`` forced, and what it read from each table; the
    statement's planner setting must not outlive it."""
    local = {"plan_cache_mode": f"force_{plan}_plan"}
    async with app.transaction(workspace_id=ws, local=local) as session:
        before = await table_reads(session)
        rows = await search_repo.lexical_search(
            session, ws, terms, ONES, N, candidates=candidates, **SCORING
        )
        after = await table_reads(session)
        setting = await session.execute(text("SHOW enable_indexonlyscan"))
        assert setting.scalar() == "on"
    assert rows is not None
    return rows, read_between(before, after)


@pytest.mark.parametrize("large", [True, False], ids=["4000-chunks", "the-pages"])
async def test_on_never_analyzed_tables_the_statement_reads_the_budget_and_the_candidates_rows(
    never_analyzed: tuple[str, Database, Database], large: bool
) -> None:
    owner_url, owner, app = never_analyzed
    ws = uuid.uuid4()
    if large:  # bulk loaded
        base = [(w, {"title": page, "url": page}) for page in PAGES for w in _windows(page)]
        table = await load(owner_url, ws, base, LARGE, analyze=False)
    else:  # written as ingestion writes them
        await load(owner_url, ws, [], 0, analyze=False)  # the workspace alone
        for seed, page in enumerate(PAGES):
            await write_document(owner, app, ws, page, _windows(page), seed)
        table = 0
    assert await _analyzed(owner) == []
    chunks = await _stored(owner, ws)
    ids = sorted(chunk for chunk, _ in chunks)
    for index, question in enumerate(_questions()[:12]):
        terms = lexical.query_terms(question)
        candidates = random.Random(index).sample(ids, N)
        keyed, postings, every_term = await _bounds(owner, ws, terms, len(candidates))
        bound = keyed if large else postings
        if large:  # a term's postings read per candidate would pass it
            assert table > 20 * bound
        want = _reference(chunks, terms)
        score = dict(want)
        for plan in ("custom", "generic"):
            rows, read = await _search_reads(app, ws, terms, candidates, plan)
            found = [(r[0], r[4]) for r in rows]
            assert read["chunk_terms"].entries <= bound, (question, plan, read, bound)
            # A row for each question term a chunk has, one for each chunk returned: not the
            # workspace's (live rows: the index entries of rows updated since are not counted).
            assert read["lexical_df"].rows <= len(set(terms)), (question, plan, read)
            assert read["chunks"].rows <= N, (question, plan, read)
            # Still the search it was: each chunk returned carries its full BM25 score, and
            # with every term within the budget it is the exact BM25.
            for chunk, got in found:
                assert abs(score[chunk] - got) <= 1e-9 * got
            if every_term:
                _same(found, want, N)
    assert await _analyzed(owner) == []  # what was measured was the plan without statistics


async def test_on_vacuumed_and_analyzed_tables_a_candidate_is_probed_by_its_key(
    never_analyzed: tuple[str, Database, Database],
) -> None:
    """The steady state of a workspace (autovacuum has vacuumed and analyzed its tables): each
    candidate's rows are still read by the key (chunk_id, term), not by a term's postings with
    the candidate as a filter. PostgreSQL preferred the latter as an index-only scan of
    (workspace_id, term) once the visibility map was set: 1.9 million entries a call at 10k
    real chunks (docs/retrieval.md, "Fifteenth session: the BM25 statement on analyzed tables")."""
    owner_url, owner, app = never_analyzed
    ws = uuid.uuid4()
    base = [(w, {"title": page, "url": page}) for page in PAGES for w in _windows(page)]
    await load(owner_url, ws, base, LARGE, analyze=False)
    # Real documentation has tens of thousands of distinct terms, most in a chunk or two (the
    # python docs: 574k rows at 10k chunks): what makes one term's postings look as short as a
    # key's row. Thirty words of its own for each chunk (not in any question).
    await _owner_run(
        owner_url,
        [
            "INSERT INTO chunk_terms (workspace_id, chunk_id, term, tf, len)"
            " SELECT c.workspace_id, c.chunk_id, 'zz' || md5(c.chunk_id::text || g), 1, c.len"
            " FROM (SELECT DISTINCT ON (chunk_id) workspace_id, chunk_id, len FROM chunk_terms)"
            " c, generate_series(1, 30) g"  # this database holds this workspace alone
        ],
    )
    await _owner_run(owner_url, [f"VACUUM ANALYZE {table}" for table in TABLES])
    assert sorted(await _analyzed(owner)) == sorted(TABLES)
    chunks = await _stored(owner, ws)
    ids = sorted(chunk for chunk, _ in chunks)
    for index, question in enumerate(_questions()[:12]):
        terms = lexical.query_terms(question)
        candidates = random.Random(index).sample(ids, N)
        keyed, _, _ = await _bounds(owner, ws, terms, len(candidates))
        score = dict(_reference(chunks, terms))
        for plan in ("custom", "generic"):
            rows, read = await _search_reads(app, ws, terms, candidates, plan)
            assert read["chunk_terms"].entries <= keyed, (question, plan, read, keyed)
            for chunk, got in [(r[0], r[4]) for r in rows]:
                assert abs(score[chunk] - got) <= 1e-9 * got
