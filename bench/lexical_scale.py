"""The BM25 step of search at 10k and 100k chunks: the exact statement the product ran until
migration 0048 (``bench.bm25_exact``) against the product's statement within a postings budget
(``search_repo.lexical_search``, RETRIEVAL_LEXICAL_POSTINGS; docs/retrieval.md, fourteenth
session) at several budgets.

    .venv/bin/python -m bench.lexical_scale              # 10k and 100k chunks, 102 questions
    .venv/bin/python -m bench.lexical_scale --sizes 10000 --budgets 4000 --passes 1 --no-write

What runs: an embedded PostgreSQL under --data-dir (recreated every run), migrated. The Python
3.11 HTML documentation (``apt-get install python3-doc``) is parsed and chunked with the
product's settings (about 16.7k chunks, ``search_workload.chunk_counts``' path); each chunk's
terms are the product's (``lexical.chunk_terms`` of text and metadata). A workspace of N chunks
takes the chunks in order, then copies of them, each copy with every word dropped at random with
probability 0.1 (seeded: distinct texts and lengths, the vocabulary of real documentation).
Chunks and terms are bulk loaded as the owner (COPY: the kept statistics follow by the
triggers), then ``VACUUM ANALYZE`` (what autovacuum gives a settled table); the vectors are one
constant (BM25 is what is timed; the cosine of the returned chunks is computed either way), so
40 chunks drawn at random (seeded per question) stand for the vector search's candidates.

Timed as the app role through ``Database.transaction(workspace_id=...)`` (row-level security on),
the call alone, each in its own transaction: for each of the 102 shipped python questions
(eval/python-docs.jsonl), the exact statement, then the bounded one at each budget, for the 40
best chunks; ``--passes`` times over the questions (the host is shared: each pass is a row).
Checked: when every question term fits the budget the bounded statement must equal the exact one
(same chunks, order and scores to 1e-9); otherwise its overlap@n with the exact top n is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Table,
    add_write_options,
    parse_recorded,
    pct,
    recorded,
    write_section,
    writes_docs,
)
from bench.search_http import load_average
from bench.search_workload import CORPUS, QUESTIONS

APP_ROLE = "trulybot_bench_app"
DROP = 0.1


def base_chunks(cache: Path) -> list[tuple[str, dict[str, Any]]]:
    """(text, metadata) of every chunk of the Python documentation, as ingestion cuts them."""
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    from api.commands.ingest import collect
    from core.config import Settings
    from rag.knowledge.chunking import chunk_document
    from rag.knowledge.parsing import parse

    settings = Settings(_env_file=None, environment="development")  # type: ignore[call-arg]
    out: list[tuple[str, dict[str, Any]]] = []
    for path, source in collect([str(CORPUS)], "*.html"):
        parsed = parse(
            path.read_bytes(), filename=source.rsplit("/", 1)[-1], content_type="text/html"
        )
        for piece in chunk_document(
            parsed,
            title=parsed.title,
            max_tokens=settings.chunk_tokens,
            overlap=settings.chunk_overlap_tokens,
            min_tokens=settings.chunk_min_tokens,
        ):
            meta = {
                "title": parsed.title,
                "heading_path": piece.heading_path,
                "heading_text": " > ".join(piece.heading_path),
                "page": piece.page,
                "url": source,
            }
            out.append((piece.text, meta))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(out))
    return out


def variant(text: str, copy: int, index: int) -> str:
    if copy == 0:
        return text
    rng = random.Random(copy * 1_000_003 + index)
    words = text.split(" ")
    kept = [w for w in words if rng.random() >= DROP]
    return " ".join(kept or words[:1])


async def load(
    owner_url: str,
    ws: uuid.UUID,
    base: list[tuple[str, dict[str, Any]]],
    size: int,
    *,
    analyze: bool = True,
) -> int:
    """A workspace of ``size`` chunks (copies of ``base`` past its length); then ``VACUUM
    ANALYZE`` of ``chunks`` and ``chunk_terms`` unless not ``analyze``."""
    import asyncpg

    from rag.knowledge import lexical

    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            "INSERT INTO workspaces (id, name, slug, plan, public_key)"
            " VALUES ($1, $2, $2, 'unlimited', $3)",
            ws,
            f"lexical-{size}-{ws.hex[:6]}",
            "pk_" + ws.hex,
        )
        docs: dict[tuple[int, str], uuid.UUID] = {}
        chunk_rows, term_rows = [], []
        for i in range(size):
            copy, index = divmod(i, len(base))
            body, meta = base[index]
            body = variant(body, copy, index)
            doc = docs.setdefault((copy, meta["url"]), uuid.uuid4())
            counts: Counter[str] = lexical.chunk_terms(body, meta)
            chunk_id = uuid.uuid4()
            length = sum(counts.values())
            chunk_rows.append((chunk_id, doc, i, body, json.dumps(meta), length))
            term_rows += [(ws, chunk_id, t, tf, length) for t, tf in counts.items()]
        await conn.executemany(
            "INSERT INTO documents (id, workspace_id, title, source_type, source, status)"
            " VALUES ($1, $2, $3, 'text', $4, 'ready')",
            [(doc, ws, f"{copy}:{url}", f"{copy}:{url}") for (copy, url), doc in docs.items()],
        )
        await conn.execute(
            "CREATE TEMP TABLE stage (id uuid, document_id uuid, position int, text text,"
            " metadata text, term_count int)"
        )
        await conn.copy_records_to_table("stage", records=chunk_rows)
        vector = "[" + ",".join("0.05" for _ in range(384)) + "]"
        await conn.execute(
            "INSERT INTO chunks (id, workspace_id, document_id, position, text, metadata,"
            " token_count, content_hash, embedding, term_count)"
            f" SELECT id, $1, document_id, position, text, metadata::jsonb, term_count, 'x',"
            f" '{vector}'::vector, term_count FROM stage",
            ws,
        )
        for start in range(0, len(term_rows), 200_000):
            await conn.copy_records_to_table(
                "chunk_terms",
                records=term_rows[start : start + 200_000],
                columns=["workspace_id", "chunk_id", "term", "tf", "len"],
            )
        if analyze:
            await conn.execute("VACUUM ANALYZE chunks")
            await conn.execute("VACUUM ANALYZE chunk_terms")
        return len(term_rows)
    finally:
        await conn.close()


def _same(old: list[Any], new: list[Any]) -> bool:
    """The same sequence of scores (to 1e-9) and the same chunks, but for the order of chunks
    whose scores differ only in the last bits (summed in another order)."""
    if len(old) != len(new):
        return False
    close = lambda a, b: abs(a - b) <= 1e-9 * max(1.0, abs(a))  # noqa: E731
    if not all(close(a[4], b[4]) for a, b in zip(old, new, strict=True)):
        return False
    least = old[-1][4] if old else 0.0
    above = lambda rows: {r[0] for r in rows if not close(r[4], least)}  # noqa: E731
    return above(old) == above(new)


@dataclass
class Cell:
    """One statement's figures over the questions of one pass."""

    times: list[float] = field(default_factory=list)
    whole: int = 0  # questions whose every term fit the budget
    equal: int = 0  # of those, equal to the exact statement
    overlap: list[float] = field(default_factory=list)  # the others: overlap@n with exact


async def _chunk_ids(app_url: str, ws: uuid.UUID) -> list[uuid.UUID]:
    from sqlalchemy import text

    from core.db import Database

    db = Database.from_url(app_url, statement_timeout_ms=0)
    try:
        async with db.transaction(workspace_id=ws) as session:
            rows = await session.execute(
                text("SELECT id FROM chunks WHERE workspace_id = :ws ORDER BY id"), {"ws": ws}
            )
            return [r[0] for r in rows.all()]
    finally:
        await db.dispose()


async def measure(
    app_url: str, ws: uuid.UUID, questions: list[str], n: int, budgets: list[int], passes: int
) -> list[dict[str, Cell]]:
    """Per pass: the exact statement (``old``) and the bounded one at each budget, each timed
    alone in its own transaction, in turn for each question."""
    import numpy as np

    from bench import bm25_exact
    from core.db import Database
    from rag.knowledge import lexical
    from rag.knowledge.repository import search as search_repo

    db = Database.from_url(app_url, statement_timeout_ms=0)
    q = np.full(384, 0.05, dtype=np.float32)
    ids = await _chunk_ids(app_url, ws)
    out = []
    try:
        for _ in range(passes):
            cells = {"old": Cell(), **{f"budget {b}": Cell() for b in budgets}}
            for index, question in enumerate(questions):
                terms = lexical.query_terms(question)
                # The vectors here are one constant: 40 chunks drawn at random (seeded) stand
                # for the vector search's candidates (their cost, not their quality).
                found = random.Random(index).sample(ids, min(n, len(ids)))
                async with db.transaction(workspace_id=ws) as session:
                    started = time.perf_counter()
                    old = await bm25_exact.exact_search(
                        session, ws, terms, q, n, k1=lexical.K1, b=lexical.B
                    )
                    cells["old"].times.append((time.perf_counter() - started) * 1000)
                old = old or []
                for budget in budgets:
                    cell = cells[f"budget {budget}"]
                    trace: list[tuple[int, int]] = []
                    async with db.transaction(workspace_id=ws) as session:
                        started = time.perf_counter()
                        new = await search_repo.lexical_search(
                            session,
                            ws,
                            terms,
                            q,
                            n,
                            k1=lexical.K1,
                            b=lexical.B,
                            candidates=found,
                            postings=budget,
                            trace=trace,
                        )
                        cell.times.append((time.perf_counter() - started) * 1000)
                    new = new or []
                    within, present = trace[0] if trace else (0, 0)
                    if within == present:
                        cell.whole += 1
                        cell.equal += _same(old, new)
                        if not _same(old, new):
                            print(f"differs with every term: {question!r}", flush=True)
                    elif old:
                        top = {r[0] for r in old}
                        cell.overlap.append(len(top & {r[0] for r in new}) / len(top))
            out.append(cells)
    finally:
        await db.dispose()
    return out


async def run(args: argparse.Namespace) -> str:
    from core import migrate
    from core.embedded import embedded_postgres
    from rag.knowledge import eval as rag_eval

    base = base_chunks(args.data_dir.parent / "lexical-scale-chunks.pickle")
    print(f"{len(base):,} chunks of the Python documentation", flush=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    pg = await embedded_postgres(args.data_dir, database="trulybot_bench_lexical", recreate=True)
    owner_url, app_url = pg.owner_url(), pg.app_url(APP_ROLE)
    await migrate.ensure_app_role(owner_url, APP_ROLE)
    await migrate.upgrade(owner_url, app_role=APP_ROLE)
    questions = [q.question for q in rag_eval.load_questions(QUESTIONS)]
    table = Table(
        [
            "chunks",
            "pass",
            "statement",
            "p50 ms",
            "p95 ms",
            "max ms",
            "every term fit",
            "equal then",
            "overlap@n else",
            "load avg",
        ]
    )
    for size in args.sizes:
        ws = uuid.uuid4()
        started = time.perf_counter()
        rows = await load(owner_url, ws, base, size)
        print(
            f"{size:,} chunks, {rows:,} term rows loaded in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        passes = await measure(app_url, ws, questions, args.n, args.budgets, args.passes)
        load_avg = load_average()
        for number, cells in enumerate(passes, 1):
            for label, cell in cells.items():
                old = label == "old"
                table.add(
                    f"{size:,}",
                    number,
                    label,
                    f"{statistics.median(cell.times):.1f}",
                    f"{pct(cell.times, 0.95):.1f}",
                    f"{max(cell.times):.1f}",
                    "" if old else f"{cell.whole}",
                    "" if old else f"{cell.equal} of {cell.whole}",
                    ""
                    if old or not cell.overlap
                    else f"{statistics.fmean(cell.overlap):.3f} (min {min(cell.overlap):.3f})",
                    f"{load_avg:.1f}",
                )
        table.print(f"BM25 step, {args.n} best chunks, {size:,} chunks")
    note = (
        f"n = {args.n}, the {len(questions)} python questions, each statement timed alone in its"
        " own transaction, the exact one then each budget in turn per question; 40 chunks drawn"
        " at random stand for the vector candidates; load average at the end of each size"
    )
    return recorded("bench.lexical_scale", args, note, table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--n", type=int, default=40, help="chunks returned (candidate_count)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    parser.add_argument("--passes", type=int, default=2, help="times over the questions")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".trulybot" / "bench-lexical")
    add_write_options(parser)
    return parse_recorded(parser, argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    body = asyncio.run(run(args))
    if writes_docs(args):
        write_section("lexical-scale", body)


if __name__ == "__main__":
    main()
