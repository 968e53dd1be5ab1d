"""The BM25 statement's edge cases (``search_repo.lexical_search``; docs/retrieval.md,
"Fifteenth session: the BM25 statement without table statistics"): repeated terms and
candidates, no terms or none the workspace has, no candidates, n above the chunks, more
candidates than n, ties (score, then chunk id), another workspace's chunk passed as a candidate,
and a workspace with a chunk without stored terms (None). Every exact answer is compared with
Okapi BM25 computed in Python from the stored terms.
"""

from __future__ import annotations

import uuid

import numpy as np
from sqlalchemy import text

from core.db import Database
from rag.knowledge import lexical
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import search as search_repo
from tests.bench.test_bm25_maxscore import _reference, _same, _stored
from tests.bench.test_bm25_maxscore import _write as write_document
from tests.conftest import RuntimeFactory, client_for, insert_document, signup

ON = {"retrieval_lexical_weight": 0.3}
EVERYTHING = 10_000_000
TEXTS = [f"the ledger entry {i} names a parrot" for i in range(5)] + [
    "parrot parrot ledger",
    "a quiet heron by the river",
    "heron ledger heron",
    "twin words here",
    "twin words here",
    "twin words here",
]


async def _search(
    db: Database,
    ws: uuid.UUID,
    terms: list[str],
    n: int,
    postings: int = EVERYTHING,
    candidates: list[uuid.UUID] | None = None,
    *,
    generic: bool = False,
) -> tuple[list[tuple[uuid.UUID, float]] | None, list[tuple[int, int]]]:
    """(chunks and scores or None, the trace); ``generic``: under PostgreSQL's generic plan."""
    trace: list[tuple[int, int]] = []
    async with db.transaction(workspace_id=ws) as session:
        if generic:
            await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        rows = await search_repo.lexical_search(
            session,
            ws,
            terms,
            np.ones(384, dtype=np.float32),
            n,
            k1=lexical.K1,
            b=lexical.B,
            candidates=candidates or [],
            postings=postings,
            trace=trace,
        )
    return (None if rows is None else [(r[0], r[4]) for r in rows]), trace


async def _ids(owner_db: Database, ws: uuid.UUID) -> dict[str, list[uuid.UUID]]:
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text("SELECT id, text FROM chunks WHERE workspace_id = :ws ORDER BY id"), {"ws": ws}
        )
        out: dict[str, list[uuid.UUID]] = {}
        for chunk, body in rows.all():
            out.setdefault(body, []).append(chunk)
        return out


async def test_edge_cases_of_the_terms_the_candidates_and_n_give_exact_bm25(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        await write_document(owner_db, db, ws, "edges", TEXTS, 7)
        stored = await _stored(owner_db, ws)
        ids = await _ids(owner_db, ws)
        terms = lexical.query_terms("parrot ledger heron")
        assert len(terms) == 3
        want = _reference(stored, terms)
        # n above the chunks: every chunk with a term, exact.
        found, trace = await _search(db, ws, terms, 50)
        assert found is not None
        _same(found, want, 50)
        assert len(found) == len(want) == 8
        assert trace == [(3, 3)]
        # Repeated terms and candidates: the same answer as without repeats.
        again, trace = await _search(
            db, ws, terms + terms[::-1], 50, candidates=[c for c, _ in want] * 2
        )
        assert again == found
        assert trace == [(3, 3)]
        # Under a generic plan (asyncpg prepares the statement): the same answers.
        assert await _search(db, ws, terms, 50, generic=True) == (found, trace)
        few_generic = await _search(db, ws, terms, 3, 0, [c for c, _ in want], generic=True)
        assert few_generic == await _search(db, ws, terms, 3, 0, [c for c, _ in want])
        # No terms; only terms no chunk has (with candidates): nothing, no term present.
        assert await _search(db, ws, [], 5, candidates=[want[0][0]]) == ([], [(0, 0)])
        absent = ["zzzunknownzzz", "qqqnothingqqq"]
        assert await _search(db, ws, absent, 5, candidates=[want[0][0]]) == ([], [(0, 0)])
        # Known and unknown terms: the unknown ones change nothing.
        mixed, trace = await _search(db, ws, [*absent, *terms], 50)
        assert mixed == found
        assert trace == [(3, 3)]
        # Budget 0, more candidates than n: the n best candidates by full score.
        everyone = [c for c, _ in want]
        few, trace = await _search(db, ws, terms, 3, postings=0, candidates=everyone[::-1])
        assert trace == [(0, 3)]
        assert few is not None
        _same(few, want, 3)
        # A candidate with none of the terms is not returned.
        twin = ids["twin words here"][0]
        only, _ = await _search(db, ws, terms, 5, postings=0, candidates=[twin])
        assert only == []


async def test_ties_come_by_score_then_chunk_id(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        await write_document(owner_db, db, ws, "ties", TEXTS, 8)
        twins = sorted((await _ids(owner_db, ws))["twin words here"])
        assert len(twins) == 3
        terms = lexical.query_terms("twin words")
        for postings, candidates in ((EVERYTHING, []), (0, twins[::-1])):
            for n in (1, 2, 3, 10):
                found, _ = await _search(db, ws, terms, n, postings, candidates)
                assert found is not None
                assert [c for c, _ in found] == twins[:n]
                assert len({s for _, s in found}) == 1


async def test_another_workspaces_chunk_passed_as_a_candidate_never_comes_back(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ours = uuid.UUID((await signup(client)).workspace_id)
        theirs = uuid.UUID((await signup(client)).workspace_id)
        await write_document(owner_db, db, ours, "ours", TEXTS[:5], 9)
        await write_document(owner_db, db, theirs, "theirs", TEXTS, 10)
        foreign = [c for cs in (await _ids(owner_db, theirs)).values() for c in cs]
        own = [c for cs in (await _ids(owner_db, ours)).values() for c in cs]
        terms = lexical.query_terms("parrot ledger heron twin")
        # As the app's role (row-level security) and as the owner (none: the literal alone).
        for database in (db, owner_db):
            for postings in (0, 1, EVERYTHING):
                found, _ = await _search(database, ours, terms, 50, postings, foreign)
                assert found is not None
                assert {c for c, _ in found} <= set(own)
                if postings == EVERYTHING:
                    _same(found, _reference(await _stored(owner_db, ours), terms), 50)


async def test_a_candidate_deleted_before_the_lookup_or_unknown_is_left_out(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        await write_document(owner_db, db, ws, "gone", TEXTS[:6], 12)
        ids = await _ids(owner_db, ws)
        gone = ids["parrot parrot ledger"][0]
        async with db.transaction(workspace_id=ws) as session:
            await session.execute(text("DELETE FROM chunks WHERE id = :id"), {"id": gone})
        terms = lexical.query_terms("parrot ledger")
        for postings in (0, EVERYTHING):
            found, _ = await _search(db, ws, terms, 10, postings, [gone, uuid.uuid4()])
            assert found is not None
            assert gone not in {c for c, _ in found}
        found, _ = await _search(db, ws, terms, 10)
        assert found is not None
        _same(found, _reference(await _stored(owner_db, ws), terms), 10)


async def test_a_chunk_without_stored_terms_gives_none(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        # No chunk yet: nothing to fuse, no term present.
        assert await _search(db, ws, lexical.query_terms("parrot"), 5) == ([], [(0, 0)])
        await write_document(owner_db, db, ws, "with", TEXTS[:5], 11)
        doc = await insert_document(owner_db, ws, "without")
        row = chunk_repo.ChunkRow(
            position=0,
            text="a parrot without terms",
            metadata={"title": "without"},
            token_count=4,
            content_hash="without-0",
            embedding=np.ones(384, dtype=np.float32),
        )
        async with db.transaction(workspace_id=ws) as session:
            await chunk_repo.replace_chunks(session, ws, doc, [row], [], with_terms=False)
        found, trace = await _search(db, ws, lexical.query_terms("parrot ledger"), 5)
        assert found is None
        assert trace == []
