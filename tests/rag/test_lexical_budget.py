"""BM25 within a postings budget (``search_repo.lexical_search``, RETRIEVAL_LEXICAL_POSTINGS;
docs/retrieval.md, fourteenth session) over the statistics kept by migration 0048's triggers.

- With a budget that holds every question term the statement is exact: the chunks, order and
  scores of Okapi BM25 computed in Python from the chunks' own texts (and of the exact statement
  the bench keeps, ``bench.bm25_exact``), on real text for the shipped questions; with a small
  one, every chunk it returns carries its full BM25 score.
- The documented approximation: a chunk of common words only, outside the vector candidates, is
  not returned at a small budget; among the candidates (or with a larger budget) it is.
- ``lexical_stats`` and ``lexical_df`` equal a recount from ``chunks`` and ``chunk_terms`` after
  every writer: an upload through the ingestion job, a re-ingestion that keeps chunks, forgetting
  terms (weight 0), ``fill_terms``, a document deleted through the API, a workspace deleted.
- Two transactions writing one workspace's terms in opposite orders wait for each other, never
  deadlock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter

import numpy as np
from sqlalchemy import text

from bench import bm25_exact
from core.db import Database
from rag.knowledge import lexical, reindexing
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import terms as terms_repo
from tests.bench.test_bm25_maxscore import (
    PAGES,
    _analyze,
    _questions,
    _reference,
    _same,
    _stored,
    _windows,
)
from tests.bench.test_bm25_maxscore import _write as write_document
from tests.conftest import RuntimeFactory, client_for, insert_document, signup
from tests.rag.test_answers import ingest
from tests.rag.test_lexical_edges import _search as scored

ON = {"retrieval_lexical_weight": 0.3}
EVERYTHING = 10_000_000  # a budget above any workspace's postings


async def _search(
    db: Database,
    ws: uuid.UUID,
    terms: list[str],
    n: int,
    postings: int,
    candidates: list[uuid.UUID] | None = None,
) -> tuple[list[tuple[uuid.UUID, float]], tuple[int, int]]:
    """(chunks and scores, (terms within the budget, terms some chunk has))."""
    found, trace = await scored(db, ws, terms, n, postings, candidates)
    assert found is not None
    return found, trace[0]


async def test_with_every_term_in_the_budget_the_statement_is_exact_bm25_on_real_text(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        for seed, page in enumerate(PAGES):
            await write_document(owner_db, db, ws, page, _windows(page), seed)
        await _analyze(owner_db)
        chunks = await _stored(owner_db, ws)
        assert len(chunks) > 300
        partial_pages = 0
        for question in _questions():
            terms = lexical.query_terms(question)
            want = _reference(chunks, terms)
            for n in (3, 40):
                found, (within, present) = await _search(db, ws, terms, n, EVERYTHING)
                assert within == present
                _same(found, want, n)
                async with db.transaction(workspace_id=ws) as session:
                    old = await bm25_exact.exact_search(
                        session, ws, terms, np.ones(384, np.float32), n, k1=lexical.K1, b=lexical.B
                    )
                assert old is not None
                _same([(r[0], r[4]) for r in old], want, n)
            # A small budget: fewer terms scored over their postings, each chunk returned still
            # carries its full BM25 score.
            found, (within, present) = await _search(db, ws, terms, 10, 30)
            partial_pages += within < present
            score = dict(want)
            for chunk, got in found:
                assert abs(score[chunk] - got) <= 1e-9 * got
        assert partial_pages > 10


async def test_a_chunk_of_common_words_outside_the_vector_candidates_is_left_out_at_a_small_budget(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    """The documented approximation, and what lifts it: the vector candidates, or the budget."""
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        # "file" and "line" in 8 chunks each, "zebra" (rare) in one of those; the chunk that
        # says "file line" twice scores best on the common terms alone.
        texts = [f"the file {i} has a line" for i in range(6)]
        texts += ["file line file line", "a zebra in the file on the line"]
        texts += [f"nothing common here {i}" for i in range(4)]
        doc = await write_document(owner_db, db, ws, "common", texts, 3)
        ids = {body: chunk for chunk, body in await _texts(owner_db, doc)}
        common, rare = ids["file line file line"], ids["a zebra in the file on the line"]
        terms = lexical.query_terms("zebra file line")
        # Budget 1: only "zebra" (df 1) is scored over its postings.
        found, trace = await _search(db, ws, terms, 2, 1)
        assert trace == (1, 3)
        assert [c for c, _ in found] == [rare]
        # The vector search found it: scored on every term, first by its score.
        found, _ = await _search(db, ws, terms, 2, 1, candidates=[common])
        assert [c for c, _ in found] == [rare, common] or [c for c, _ in found] == [common, rare]
        # Budget 0: the candidates alone are scored (the twelfth session's "pool" variant).
        assert await _search(db, ws, terms, 2, 0) == ([], (0, 3))
        found, _ = await _search(db, ws, terms, 2, 0, candidates=[common])
        assert [c for c, _ in found] == [common]
        # A budget holding every term: exact, the common chunk among the two best.
        found, trace = await _search(db, ws, terms, 2, EVERYTHING)
        assert trace == (3, 3)
        assert common in {c for c, _ in found}
        _same(found, _reference(await _stored(owner_db, ws), terms), 2)


async def _texts(owner_db: Database, doc: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text("SELECT id, text FROM chunks WHERE document_id = :d"), {"d": doc}
        )
        return [(r[0], r[1]) for r in rows.all()]


async def _kept_and_recounted(
    owner_db: Database, ws: uuid.UUID
) -> tuple[
    tuple[tuple[int, int, int], dict[str, int]], tuple[tuple[int, int, int], dict[str, int]]
]:
    """(kept, recounted): (chunks, total terms, chunks without terms) and each term's document
    frequency, from the kept tables and from ``chunks`` and ``chunk_terms`` (no row: zeros)."""
    async with owner_db.transaction() as session:
        kept_row = (
            await session.execute(
                text(
                    "SELECT chunks, total_terms, chunks_without_terms FROM lexical_stats"
                    " WHERE workspace_id = :ws"
                ),
                {"ws": ws},
            )
        ).one_or_none()
        recount = (
            await session.execute(
                text(
                    "SELECT count(*), coalesce(sum(term_count), 0),"
                    " count(*) FILTER (WHERE term_count IS NULL) FROM chunks"
                    " WHERE workspace_id = :ws"
                ),
                {"ws": ws},
            )
        ).one()
        kept_df = await session.execute(
            text("SELECT term, df FROM lexical_df WHERE workspace_id = :ws"), {"ws": ws}
        )
        df = await session.execute(
            text("SELECT term, count(*) FROM chunk_terms WHERE workspace_id = :ws GROUP BY term"),
            {"ws": ws},
        )
        kept = (
            tuple(int(v) for v in kept_row) if kept_row is not None else (0, 0, 0),
            {t: int(n) for t, n in kept_df.all()},
        )
        counted = (tuple(int(v) for v in recount), {t: int(n) for t, n in df.all()})
    return kept, counted  # type: ignore[return-value]


async def _exact(owner_db: Database, ws: uuid.UUID) -> tuple[tuple[int, int, int], int]:
    """The kept statistics equal the recount; (chunks, total, without) and the terms kept."""
    kept, counted = await _kept_and_recounted(owner_db, ws)
    assert kept == counted
    return kept[0], len(kept[1])


async def test_the_kept_statistics_equal_a_recount_after_every_writer(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    body = "# Flags\n\nPass --frobnicate-level=3 to raise it.\n\n# Other\n\nNothing here at all."
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        owner, other = await signup(client), await signup(client, "Other")
        ws, ws_other = uuid.UUID(owner.workspace_id), uuid.UUID(other.workspace_id)
        # An upload through the ingestion job, in both workspaces.
        doc = uuid.UUID(await ingest(client, owner, runtime, "Flags", body))
        await ingest(client, other, runtime, "Flags", body + " Elsewhere.")
        (chunks, total, without), terms = await _exact(owner_db, ws)
        assert (chunks >= 1, total > 0, without, terms > 0) == (True, True, 0, True)
        other_before = await _kept_and_recounted(owner_db, ws_other)
        # A bulk load (as bench.lexical_scale's COPY): chunks written with their term_count.
        async with owner_db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO chunks (id, workspace_id, document_id, position, text, metadata,"
                    " token_count, content_hash, embedding, term_count) SELECT gen_random_uuid(),"
                    " :ws, :doc, 100 + i, 'bulk bulk', '{}'::jsonb, 2, 'b' || i,"
                    " (SELECT embedding FROM chunks WHERE document_id = :doc LIMIT 1), 2"
                    " FROM generate_series(1, 3) i"
                ),
                {"ws": ws, "doc": doc},
            )
            await session.execute(
                text(
                    "INSERT INTO chunk_terms (workspace_id, chunk_id, term, tf, len)"
                    " SELECT :ws, id, 'bulk', 2, 2 FROM chunks WHERE content_hash LIKE 'b_'"
                    " AND document_id = :doc"
                ),
                {"ws": ws, "doc": doc},
            )
        (bulk_chunks, bulk_total, _), _ = await _exact(owner_db, ws)
        assert (bulk_chunks, bulk_total) == (chunks + 3, total + 6)
        # Another document's chunks written, then re-ingested: one chunk kept in place (new
        # metadata, so new terms), one deleted, one new.
        second = await write_document(owner_db, db, ws, "csv", _windows("csv")[:3], 1)
        async with db.transaction(workspace_id=ws) as session:
            kept_id, dropped = [c for c, _ in await chunk_repo.chunk_hashes(session, ws, second)][
                :2
            ]
            rows = [
                chunk_repo.ChunkRow(0, "csv reader rows", {"title": "Renamed"}, 3, "k", kept_id),
                chunk_repo.ChunkRow(
                    1, "a zebra", {"title": "New"}, 2, "n", embedding=np.ones(384, np.float32)
                ),
            ]
            await chunk_repo.replace_chunks(session, ws, second, rows, [dropped], with_terms=True)
        await _exact(owner_db, ws)
        # Re-ingested through the job at 0 (terms forgotten), again at 0.3 (stored again).
        off = dataclasses.replace(
            runtime.ingestion,
            settings=runtime.settings.model_copy(update={"retrieval_lexical_weight": 0.0}),
        )
        assert await reindexing.reprocess_document(off, ws, doc) == "ready"
        (_, _, without), _ = await _exact(owner_db, ws)
        assert without >= 1
        assert await reindexing.reprocess_document(runtime.ingestion, ws, doc) == "ready"
        assert (await _exact(owner_db, ws))[0][2] == 0
        # forget_terms itself, then fill_terms.
        async with db.transaction(workspace_id=ws) as session:
            assert await terms_repo.forget_terms(session, ws, [kept_id])
        assert (await _exact(owner_db, ws))[0][2] == 1
        assert await reindexing.fill_terms(runtime.ingestion, ws) == 1
        assert (await _exact(owner_db, ws))[0][2] == 0
        # A document deleted through the API (its chunks and their terms by cascade).
        r = await client.delete(owner.url(f"/documents/{second}"), headers=owner.headers)
        assert r.status_code == 204, r.text
        left, _ = await _exact(owner_db, ws)
        assert left[0] >= 1
        # The other workspace's statistics never moved.
        assert await _kept_and_recounted(owner_db, ws_other) == other_before
        # The workspace deleted: nothing of it is kept; the other's stay.
        async with owner_db.transaction() as session:
            await session.execute(text("DELETE FROM workspaces WHERE id = :ws"), {"ws": ws})
        async with owner_db.transaction() as session:
            for table in ("lexical_stats", "lexical_df"):
                gone = await session.execute(
                    text(f"SELECT count(*) FROM {table} WHERE workspace_id = :ws"),  # noqa: S608
                    {"ws": ws},
                )
                assert gone.scalar_one() == 0, table
        assert await _kept_and_recounted(owner_db, ws_other) == other_before


async def _lock_waiters(owner_db: Database) -> int:
    async with owner_db.transaction() as session:
        found = await session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
        )
        return int(found.scalar_one())


async def test_two_transactions_writing_one_workspaces_terms_wait_and_never_deadlock(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    """The first holds "zeta" and will want "alpha"; the second wants "alpha" then "zeta". Row
    locks on the terms alone deadlock (each statement in term order, but not the two
    statements of one transaction); the workspace's stats row, taken first, makes the second
    wait for the first's commit."""
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        doc = await insert_document(owner_db, ws, "held")
        rows = [
            chunk_repo.ChunkRow(i, f"chunk {i}", {}, 2, f"h{i}", embedding=np.ones(384, np.float32))
            for i in range(3)
        ]
        async with db.transaction(workspace_id=ws) as session:  # no terms yet
            await chunk_repo.replace_chunks(session, ws, doc, rows, [], with_terms=False)
            a, b, c = [chunk for chunk, _ in await chunk_repo.chunk_hashes(session, ws, doc)]
        first_holds = asyncio.Event()
        second_started = asyncio.Event()

        async def second() -> None:
            await first_holds.wait()
            async with db.transaction(workspace_id=ws) as session:
                second_started.set()
                await terms_repo.store_terms(session, ws, [(b, Counter(alpha=1, zeta=1))])

        task = asyncio.create_task(second())
        async with db.transaction(workspace_id=ws) as session:
            await terms_repo.store_terms(session, ws, [(a, Counter(zeta=1))])
            first_holds.set()
            await second_started.wait()
            for _ in range(500):  # until the second waits on a lock
                if await _lock_waiters(owner_db):
                    break
                await asyncio.sleep(0.01)
            assert await _lock_waiters(owner_db) == 1
            await terms_repo.store_terms(session, ws, [(c, Counter(alpha=2))])
        await task
        (chunks, total, without), _ = await _exact(owner_db, ws)
        assert (chunks, total, without) == (3, 5, 0)
        kept, _ = await _kept_and_recounted(owner_db, ws)
        assert kept[1] == {"alpha": 2, "zeta": 2}
