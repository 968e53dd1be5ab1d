"""The bench's BM25 search by rare terms first with statistics kept per knowledge version
(``bench.bm25_maxscore``, a measured lever, not the product's search) returns exactly the
chunks, order and scores of Okapi BM25 computed from the chunks' own texts, on real text (the
Python documentation's sources), for the shipped questions, with every way of splitting the
terms; and after chunks are written or deleted (the version bumped in the same transaction, as
every writer does) its kept statistics are not used. The product's single statement
(``bench.bm25_exact``, the product's until migration 0048) is held to the same reference.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from bench import bm25_exact
from bench import bm25_maxscore as bm25
from core.db import Database
from rag.knowledge import lexical
from rag.knowledge.repository import chunks as chunk_repo
from rag.knowledge.repository import documents as document_repo
from tests.conftest import RuntimeFactory, client_for, insert_document, signup
from workspaces import repository as ws_repo

SOURCES = Path("/usr/share/doc/python3.11/html/_sources/library")
PAGES = ("csv", "json", "pathlib", "asyncio-task", "os", "re", "datetime", "logging")
QUESTIONS = Path(__file__).resolve().parents[2] / "eval" / "python-docs.jsonl"
WINDOW = 60  # words a chunk
ON = {"retrieval_lexical_weight": 0.3}


def _windows(page: str) -> list[str]:
    words = re.sub(r"\s+", " ", (SOURCES / f"{page}.rst.txt").read_text()).split(" ")
    return [" ".join(words[i : i + WINDOW]) for i in range(0, len(words), WINDOW)]


def _questions() -> list[str]:
    lines = QUESTIONS.read_text().splitlines()
    asked = [json.loads(line)["question"] for line in lines if line.strip()]
    # Only common words: every split but the full scan leaves a bound above the n-th score.
    return [*asked[:40], "the file and the function", "use the module to return a string"]


def _reference(
    chunks: list[tuple[uuid.UUID, Counter[str]]], terms: list[str]
) -> list[tuple[uuid.UUID, float]]:
    """Every chunk with a term, by Okapi BM25 straight from the definition (k1, b and idf as
    ``lexical``'s), best first."""
    count = len(chunks)
    average = sum(sum(c.values()) for _, c in chunks) / count
    df = {t: sum(1 for _, c in chunks if t in c) for t in terms}
    scores = []
    for chunk_id, counts in chunks:
        length = sum(counts.values())
        score = 0.0
        for t in terms:
            tf = counts.get(t, 0)
            if tf:
                idf = math.log(1 + (count - df[t] + 0.5) / (df[t] + 0.5))
                k = lexical.K1 * (1 - lexical.B + lexical.B * length / average)
                score += idf * tf * (lexical.K1 + 1) / (tf + k)
        if score > 0:
            scores.append((chunk_id, score))
    scores.sort(key=lambda s: (-s[1], str(s[0])))
    return scores


def _same(
    found: list[tuple[uuid.UUID, float]], want: list[tuple[uuid.UUID, float]], n: int
) -> None:
    """``found`` is the top ``n`` of ``want``: as many distinct chunks, each with its reference
    score, and the same sequence of scores (chunks whose scores differ only in the last bits,
    summed in another order, may come in either order)."""
    assert len(found) == min(n, len(want))
    assert len({c for c, _ in found}) == len(found)
    score = dict(want)
    for (chunk, got), (_, expected) in zip(found, want, strict=False):
        assert got == pytest.approx(expected, rel=1e-9)
        assert score[chunk] == pytest.approx(got, rel=1e-9)


async def _stored(owner_db: Database, ws: uuid.UUID) -> list[tuple[uuid.UUID, Counter[str]]]:
    """The workspace's chunks and their terms, from their texts (not the stored terms)."""
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text("SELECT id, text, metadata FROM chunks WHERE workspace_id = :ws"), {"ws": ws}
        )
        return [(r[0], lexical.chunk_terms(r[1], r[2] or {})) for r in rows.all()]


async def _write(
    owner_db: Database, db: Database, ws: uuid.UUID, title: str, texts: list[str], seed: int
) -> uuid.UUID:
    """A document of ``texts`` (random vectors), its terms and the version bump in the chunk
    writing transaction, as ingestion does."""
    rng = np.random.default_rng(seed)
    doc = await insert_document(owner_db, ws, title)
    rows = [
        chunk_repo.ChunkRow(
            position=i,
            text=body,
            metadata={"title": title},
            token_count=WINDOW,
            content_hash=f"{title}-{i}",
            embedding=rng.standard_normal(384).astype(np.float32),
        )
        for i, body in enumerate(texts)
    ]
    async with db.transaction(workspace_id=ws) as session:
        await chunk_repo.replace_chunks(session, ws, doc, rows, [], with_terms=True)
        await ws_repo.bump_knowledge_version(session, ws)
    return doc


async def _analyze(owner_db: Database) -> None:
    """The planner's statistics of the chunks just written, as autovacuum would soon take them:
    planned for the empty tables of a fresh database, each rest-terms lookup read every posting
    of the workspace (about 40 ms a page, most of this file's time)."""
    async with owner_db.transaction() as session:
        await session.execute(text("ANALYZE chunks, chunk_terms"))


async def _both(
    db: Database, ws: uuid.UUID, terms: list[str], n: int, rare_postings: int, tail: int = 4
) -> tuple[list[tuple[uuid.UUID, float]], list[tuple[uuid.UUID, float]], list[tuple[int, int]]]:
    """(the new search's chunks and scores, the single statement's, the pages scored)."""
    q = np.ones(384, dtype=np.float32)
    trace: list[tuple[int, int]] = []
    async with db.transaction(workspace_id=ws) as session:
        new = await bm25.search(
            session,
            ws,
            terms,
            q,
            n,
            k1=lexical.K1,
            b=lexical.B,
            rare_postings=rare_postings,
            tail_factor=tail,
            trace=trace,
        )
        old = await bm25_exact.exact_search(session, ws, terms, q, n, k1=lexical.K1, b=lexical.B)
    assert new is not None
    assert old is not None
    return [(r[0], r[4]) for r in new], [(r[0], r[4]) for r in old], trace


async def test_the_search_is_exact_bm25_on_real_text_for_every_split(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        for seed, page in enumerate(PAGES):
            await _write(owner_db, db, ws, page, _windows(page), seed)
        await _analyze(owner_db)
        chunks = await _stored(owner_db, ws)
        assert len(chunks) > 300
        kinds: Counter[str] = Counter()
        bm25.forget()
        for question in _questions():
            terms = lexical.query_terms(question)
            want = _reference(chunks, terms)
            splits = ((3, 30, 4), (10, 100, 4), (40, 30, 4), (40, 300, 4), (10, 300, 1))
            for n, rare, tail in (*splits, (40, bm25.RARE_POSTINGS, bm25.TAIL_FACTOR)):
                new, old, trace = await _both(db, ws, terms, n, rare, tail)
                _same(old, want, n)
                _same(new, want, n)
                assert (0, 0) not in trace  # the kept statistics were of this version
                if trace[-1][0] < trace[-1][1]:
                    kinds["rare terms"] += 1
                else:
                    kinds["then every posting" if len(trace) > 1 else "full"] += 1
        # Each way ran: exact from the rare terms, the full scan after them, the full scan.
        assert kinds["rare terms"] > 0, kinds
        assert kinds["then every posting"] > 0, kinds
        assert kinds["full"] > 0, kinds


async def test_kept_statistics_are_not_used_once_chunks_are_written_or_deleted(
    runtime_factory: RuntimeFactory, db: Database, owner_db: Database
) -> None:
    question = "how do I read a file line by line"
    terms = lexical.query_terms(question)
    async with runtime_factory(**ON) as runtime, client_for(runtime) as client:
        ws = uuid.UUID((await signup(client)).workspace_id)
        await _write(owner_db, db, ws, "csv", _windows("csv"), 1)
        bm25.forget()
        new, _, _ = await _both(db, ws, terms, 5, 30)
        _same(new, _reference(await _stored(owner_db, ws), terms), 5)
        assert (await _both(db, ws, ["frobnicatorix"], 5, 30))[0] == []  # kept: no chunk has it
        # Every term of the question kept: only the page's version tells the state moved.
        lines = [f"read the file line by line, then the next line {i}" for i in range(6)]
        lines.append("the frobnicatorix reads nothing")
        doc = await _write(owner_db, db, ws, "lines", lines, 2)
        new, _, trace = await _both(db, ws, terms, 5, 30)
        want = _reference(await _stored(owner_db, ws), terms)
        _same(new, want, 5)
        assert {c for c, _ in want[:5]} & {c for c, _ in await _chunks_of(owner_db, doc)}
        assert len(trace) >= 2  # a page of the old version, then of the new one
        found, _, _ = await _both(db, ws, ["frobnicatorix"], 5, 30)
        assert len(found) == 1  # its document frequency kept as 0 was of the old version
        async with db.transaction(workspace_id=ws) as session:
            assert await document_repo.delete_document(session, ws, doc)
            await ws_repo.bump_knowledge_version(session, ws)
        new, _, _ = await _both(db, ws, terms, 5, 30)
        _same(new, _reference(await _stored(owner_db, ws), terms), 5)


async def _chunks_of(owner_db: Database, doc: uuid.UUID) -> list[tuple[uuid.UUID, float]]:
    async with owner_db.transaction() as session:
        rows = await session.execute(
            text("SELECT id FROM chunks WHERE document_id = :d"), {"d": doc}
        )
        return [(r[0], 0.0) for r in rows.all()]
