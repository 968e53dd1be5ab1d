"""The BM25 statement on tables PostgreSQL never analyzed, then analyzed: the fourteenth
session's statement ("before", kept here) against the product's (``search_repo.lexical_search``,
"now"), side by side (docs/retrieval.md, "Fifteenth session: the BM25 statement without table
statistics").

    .venv/bin/python -m bench.lexical_plan                          # 300, 3,000 and 10,000 chunks
    .venv/bin/python -m bench.lexical_plan --sizes 300 --questions 10

What runs: per size, a new database in an embedded PostgreSQL under --data-dir, migrated, with
autovacuum off on the four tables the statement reads (``chunks``, ``chunk_terms``,
``lexical_df``, ``lexical_stats``) so that they stay never analyzed (``pg_class.reltuples`` -1,
checked) as on a fresh deployment, a test cluster, or minutes after a first large ingestion; a
workspace of N chunks of the Python documentation loaded as ``bench.lexical_scale`` loads it
(COPY as the owner, the kept statistics by the triggers), without its ``VACUUM ANALYZE``. For
each question (the first --questions python questions): both statements, the order alternating
by question, under a custom plan and under a generic one (``plan_cache_mode`` forced for the
transaction: asyncpg prepares the statement, which PostgreSQL plans with the values for the
first five executions and may then keep a generic plan), each timed alone in its own transaction
as the app role, with a statement timeout (a statement cut off counts at the timeout). Then the
four tables are analyzed (``VACUUM ANALYZE``) and the same runs again. "rows read" are the index
entries and heap rows the statement read from a table (``table_reads``' ``entries``:
PostgreSQL's counters, whatever plan ran), median or max over the questions. Checked: both
statements return the same chunks and scores.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Float, bindparam, text
from sqlalchemy.exc import DBAPIError

from bench import common
from bench.common import ROOT, Table, pct
from bench.lexical_scale import APP_ROLE, base_chunks, load
from bench.search_http import load_average
from bench.search_workload import QUESTIONS
from core.direct import Executor, Prepared, fetch
from rag.knowledge.repository.chunks import workspace_literal
from rag.knowledge.repository.search import (
    _CANDIDATES,
    _COLUMNS,
    _TERMS,
    _WITHIN_BUDGET,
    _bm25,
    _stats,
)

TABLES = ("chunks", "chunk_terms", "lexical_df", "lexical_stats")
"""What the statement reads."""


@functools.lru_cache(maxsize=64)
def previous_statement(workspace_id: uuid.UUID) -> Prepared:
    """The fourteenth session's statement (the product's until this session), the same
    parameters as ``search_repo.lexical_search``'s: each candidate's rows fetched with every
    question term at once (``term = ANY(...)``)."""
    ws = workspace_literal(workspace_id)
    return Prepared(
        text(
            _stats(ws) + _TERMS + "  FROM lexical_df d CROSS JOIN st"
            f"  WHERE d.workspace_id = {ws} AND d.term = ANY(CAST(:terms AS text[]))"
            "  AND st.missing = 0 AND st.avgdl > 0),"
            + _WITHIN_BUDGET
            + f" part AS (SELECT p.chunk_id, sum({_bm25('e')}) AS partial"
            "  FROM chunk_terms p JOIN e ON e.term = p.term CROSS JOIN st"
            f"  WHERE p.workspace_id = {ws} AND p.term = ANY(ARRAY(SELECT term FROM e))"
            "  GROUP BY p.chunk_id ORDER BY partial DESC, p.chunk_id LIMIT :m),"
            + _CANDIDATES
            + f" sc AS (SELECT cand.chunk_id, sum({_bm25('q')}) AS score FROM cand CROSS JOIN"
            " LATERAL (SELECT term, tf, len FROM chunk_terms WHERE chunk_id = cand.chunk_id"
            "   AND term = ANY(ARRAY(SELECT term FROM q))"
            f"   AND workspace_id = {ws} OFFSET 0) p JOIN q ON q.term = p.term CROSS JOIN st"
            "  GROUP BY cand.chunk_id ORDER BY score DESC, cand.chunk_id LIMIT :n)"
            + _COLUMNS
            + " FROM (SELECT 1) one LEFT JOIN st ON true LEFT JOIN (sc JOIN chunks c"
            f"  ON c.id = sc.chunk_id AND c.workspace_id = {ws}) ON st.missing = 0"
            " ORDER BY sc.score DESC NULLS LAST, c.id"
        ).bindparams(
            bindparam("k1", type_=Float()),
            bindparam("b", type_=Float()),
        )
    )


_READS = Prepared(
    text(
        "SELECT t.relname, t.seq_tup_read + coalesce(t.idx_tup_fetch, 0),"
        " t.seq_tup_read + coalesce((SELECT sum(pg_stat_get_xact_tuples_returned(i.indexrelid))"
        "  FROM pg_index i WHERE i.indrelid = t.relid), 0)"
        " FROM pg_stat_xact_user_tables t"
        " WHERE t.schemaname = 'public' AND t.relname = ANY(:tables)"
    )
)


class Reads(NamedTuple):
    """What a backend's scans of one table read so far in its transaction."""

    rows: int
    """Live rows its scans returned: ``seq_tup_read + idx_tup_fetch`` of
    ``pg_stat_xact_user_tables`` (an index-only scan of an all-visible page, after a vacuum,
    returns rows without fetching them: not counted)."""
    entries: int
    """Heap rows its sequential scans read plus the index entries its index scans read, dead
    ones included (a row updated without HOT has an entry per version until a vacuum)."""


async def table_reads(session: Executor) -> dict[str, Reads]:
    """What this backend's scans of each of ``TABLES`` read so far (PostgreSQL's counters,
    which count a transaction's own statements, whatever plan ran). Taken before and after a
    statement in one transaction, the difference is what that statement read."""
    rows = await fetch(session, _READS, {"tables": list(TABLES)})
    return {str(name): Reads(int(live), int(entries)) for name, live, entries in rows}


def read_between(before: dict[str, Reads], after: dict[str, Reads]) -> dict[str, Reads]:
    """What was read between two ``table_reads``."""
    return {
        t: Reads(after[t].rows - before[t].rows, after[t].entries - before[t].entries)
        for t in TABLES
    }


async def statement_reads(
    session: Executor, prepared: Prepared, params: dict[str, Any]
) -> tuple[Sequence[Any], dict[str, Reads], float]:
    """``prepared``'s rows, the rows it read from each of ``TABLES`` and its time (ms)."""
    before = await table_reads(session)
    started = time.perf_counter()
    rows = await fetch(session, prepared, params)
    ms = (time.perf_counter() - started) * 1000
    return rows, read_between(before, await table_reads(session)), ms


STATEMENTS = ("before", "now")
PLANS = ("custom", "generic")


@dataclass
class Cell:
    """One statement under one plan over the questions."""

    times: list[float] = field(default_factory=list)
    reads: list[dict[str, Reads]] = field(default_factory=list)
    cut: int = 0  # statements that reached the timeout


async def _run(
    db: Any, ws: uuid.UUID, statement: str, plan: str, params: dict[str, Any], timeout_ms: int
) -> tuple[float, dict[str, Reads], list[tuple[Any, float]] | None]:
    """(ms, the rows read from each table, the chunks and scores; None when cut off)."""
    from rag.knowledge.repository import search as search_repo

    prepared = previous_statement(ws) if statement == "before" else search_repo.lexical_prepared(ws)
    local = {"plan_cache_mode": f"force_{plan}_plan", "statement_timeout": str(timeout_ms)}
    try:
        async with db.transaction(workspace_id=ws, local=local) as session:
            rows, reads, ms = await statement_reads(session, prepared, params)
    except DBAPIError as error:
        if "statement timeout" not in str(error):
            raise
        return float(timeout_ms), {}, None
    return ms, reads, [(r[0], float(r[4])) for r in rows if r[0] is not None]


def _same(a: list[tuple[Any, float]], b: list[tuple[Any, float]]) -> bool:
    """The same sequence of scores (to 1e-9) and the same chunks, but for which of the chunks
    tied at the last score (to 1e-9: summed in another order) made the cut
    (``bench.lexical_scale``'s check)."""
    if len(a) != len(b):
        return False
    close = lambda x, y: abs(x - y) <= 1e-9 * max(1.0, abs(x))  # noqa: E731
    if not all(close(x[1], y[1]) for x, y in zip(a, b, strict=True)):
        return False
    least = a[-1][1] if a else 0.0
    above = lambda rows: {c for c, s in rows if not close(s, least)}  # noqa: E731
    return above(a) == above(b)


async def measure(
    app_url: str, ws: uuid.UUID, questions: list[str], args: argparse.Namespace
) -> tuple[dict[tuple[str, str], Cell], int]:
    """Per statement and plan, the questions' figures; and how many questions differed."""
    from bench.lexical_scale import _chunk_ids
    from core.db import Database
    from rag.knowledge import lexical
    from rag.knowledge.repository import search as search_repo

    db = Database.from_url(app_url, statement_timeout_ms=0)
    ids = await _chunk_ids(app_url, ws)
    cells = {(s, p): Cell() for s in STATEMENTS for p in PLANS}
    differ = 0
    try:
        for index, question in enumerate(questions):
            found = random.Random(index).sample(ids, min(args.n, len(ids)))
            params = search_repo.lexical_parameters(
                lexical.query_terms(question),
                np.full(384, 0.05, dtype=np.float32),
                args.n,
                k1=lexical.K1,
                b=lexical.B,
                candidates=found,
                postings=args.budget,
            )
            order = STATEMENTS if index % 2 == 0 else STATEMENTS[::-1]
            for plan in PLANS:
                got = {}
                for statement in order:
                    ms, reads, rows = await _run(db, ws, statement, plan, params, args.timeout_ms)
                    cell = cells[(statement, plan)]
                    cell.times.append(ms)
                    if rows is None:
                        cell.cut += 1
                    else:
                        cell.reads.append(reads)
                        got[statement] = rows
                if len(got) == 2 and not _same(got["before"], got["now"]):
                    differ += 1
                    print(f"differs ({plan}): {question!r}", flush=True)
    finally:
        await db.dispose()
    return cells, differ


def _reads(cell: Cell, tables: tuple[str, ...], how: Any) -> str:
    """``how`` (median, max) over the questions of the rows read from ``tables``."""
    if not cell.reads:
        return ""
    return f"{how([sum(r[t].entries for t in tables) for r in cell.reads]):,.0f}"


async def _never_analyzed(owner_url: str) -> list[str]:
    """The tables of ``TABLES`` PostgreSQL has statistics for (none, on a fresh database)."""
    import asyncpg

    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relname = ANY($1::text[])"
            " AND (reltuples >= 0 OR EXISTS (SELECT 1 FROM pg_statistic WHERE starelid = oid))",
            list(TABLES),
        )
        return [r[0] for r in rows]
    finally:
        await conn.close()


async def _owner_run(owner_url: str, statements: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> str:
    from core import migrate
    from core.embedded import EmbeddedPostgres, embedded_postgres, ensure_database
    from rag.knowledge import eval as rag_eval

    base = base_chunks(args.data_dir.parent / "lexical-scale-chunks.pickle")
    questions = [q.question for q in rag_eval.load_questions(QUESTIONS)][: args.questions]
    args.data_dir.mkdir(parents=True, exist_ok=True)
    pg = await embedded_postgres(args.data_dir, database="trulybot_bench_plan", recreate=True)
    table = Table(
        [
            "chunks",
            "tables",
            "plan",
            "statement",
            "p50 ms",
            "p95 ms",
            "max ms",
            "cut off",
            "chunk_terms rows read p50",
            "max",
            "lexical_df + chunks rows read max",
            "load avg",
        ]
    )
    differ = 0
    for size in args.sizes:
        database = f"trulybot_bench_plan_{size}"
        await ensure_database(pg.socket_dir, database, recreate=True)
        cluster = EmbeddedPostgres(pg.server, pg.socket_dir, database)
        owner_url, app_url = cluster.owner_url(), cluster.app_url(APP_ROLE)
        await migrate.ensure_app_role(owner_url, APP_ROLE)
        await migrate.upgrade(owner_url, app_role=APP_ROLE)
        await _owner_run(
            owner_url, [f"ALTER TABLE {t} SET (autovacuum_enabled = false)" for t in TABLES]
        )
        ws = uuid.uuid4()
        started = time.perf_counter()
        rows = await load(owner_url, ws, base, size, analyze=False)
        print(f"{size:,} chunks, {rows:,} term rows in {time.perf_counter() - started:.0f} s")
        for tables in ("never analyzed", "analyzed"):
            if tables == "analyzed":
                await _owner_run(owner_url, [f"VACUUM ANALYZE {t}" for t in TABLES])
            elif analyzed := await _never_analyzed(owner_url):
                raise RuntimeError(f"analyzed before the run: {analyzed}")
            cells, wrong = await measure(app_url, ws, questions, args)
            differ += wrong
            load_avg = load_average()
            for (statement, plan), cell in cells.items():
                table.add(
                    f"{size:,}",
                    tables,
                    plan,
                    statement,
                    f"{statistics.median(cell.times):.1f}",
                    f"{pct(cell.times, 0.95):.1f}",
                    f"{max(cell.times):.1f}",
                    cell.cut,
                    _reads(cell, ("chunk_terms",), statistics.median),
                    _reads(cell, ("chunk_terms",), max),
                    _reads(cell, ("lexical_df", "chunks"), max),
                    f"{load_avg:.1f}",
                )
            table.print(f"BM25 statement, {size:,} chunks, tables {tables}")
    note = (
        f"n = {args.n}, budget {args.budget}, {len(questions)} python questions, each statement"
        f" timed alone in its own transaction, timeout {args.timeout_ms} ms; results differing"
        f" between the statements: {differ}"
    )
    return common.recorded("bench.lexical_plan", args, note, table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3_000, 10_000])
    parser.add_argument("--questions", type=int, default=40, help="the first N python questions")
    parser.add_argument("--n", type=int, default=40, help="chunks returned (candidate_count)")
    parser.add_argument("--budget", type=int, default=4000, help="RETRIEVAL_LEXICAL_POSTINGS")
    parser.add_argument("--timeout-ms", type=int, default=5000, help="statement timeout")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".trulybot" / "bench-plan")
    common.add_write_options(parser, default=False)
    return common.parse_recorded(parser, argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    body = asyncio.run(run(args))
    print(f"\n{body}")
    if common.writes_docs(args):
        common.write_section("lexical-plan", body)


if __name__ == "__main__":
    main()
