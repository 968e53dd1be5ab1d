"""The BM25 step of search at 10k and 100k chunks: the product's single statement against the
bench's exact search by rare terms first with statistics kept per knowledge version
(``bench.bm25_maxscore``, measured and not shipped: docs/retrieval.md, thirteenth session).

    .venv/bin/python -m bench.lexical_scale              # 10k and 100k chunks, 102 questions
    .venv/bin/python -m bench.lexical_scale --sizes 10000 --no-write

What runs: an embedded PostgreSQL under --data-dir (recreated every run), migrated. The Python
3.11 HTML documentation (``apt-get install python3-doc``) is parsed and chunked with the
product's settings (about 16.7k chunks, ``search_workload.chunk_counts``' path); each chunk's
terms are the product's (``lexical.chunk_terms`` of text and metadata). A workspace of N chunks
takes the chunks in order, then copies of them, each copy with every word dropped at random with
probability 0.1 (seeded: distinct texts and lengths, the vocabulary of real documentation).
Chunks and terms are bulk loaded as the owner (COPY), then ``VACUUM ANALYZE`` (what autovacuum
gives a settled table); the vectors are one constant (BM25 is what is timed; the cosine of the
40 returned chunks is computed either way).

Timed as the app role through ``Database.transaction(workspace_id=...)`` (row-level security on),
the call alone: for each of the 102 shipped python questions (eval/python-docs.jsonl), in turn,
the single statement (``search_repo.lexical_search``) and the new search (``bm25.search``) for
the 40 best chunks, both checked equal (same chunks, order, scores to 1e-9). The new search is
measured on a first pass (its statistics read on the first question, each question's unseen
terms' document frequencies read as it comes) and a second pass (all kept). Also: a statistics
read alone (chunk count and total length, ``bm25.forget()`` before each), what the first search
after each knowledge change pays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import ROOT, Table, add_write_options, pct, write_section, writes_docs
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
    owner_url: str, ws: uuid.UUID, base: list[tuple[str, dict[str, Any]]], size: int
) -> int:
    """A workspace of ``size`` chunks (copies of ``base`` past its length)."""
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


async def measure(app_url: str, ws: uuid.UUID, questions: list[str], n: int) -> dict[str, Any]:
    import numpy as np

    from bench import bm25_maxscore as bm25
    from core.db import Database
    from rag.knowledge import lexical
    from rag.knowledge.repository import search as search_repo

    db = Database.from_url(app_url, statement_timeout_ms=0)
    q = np.full(384, 0.05, dtype=np.float32)
    times: dict[str, list[float]] = {"old": [], "new, first pass": [], "new, second pass": []}
    pages: Counter[int] = Counter()
    mismatches = 0
    bm25.forget()
    try:
        for label in ("new, first pass", "new, second pass"):
            for question in questions:
                terms = lexical.query_terms(question)
                if label == "new, first pass":
                    async with db.transaction(workspace_id=ws) as session:
                        started = time.perf_counter()
                        old = await search_repo.lexical_search(
                            session, ws, terms, q, n, k1=lexical.K1, b=lexical.B
                        )
                        times["old"].append((time.perf_counter() - started) * 1000)
                trace: list[tuple[int, int]] = []
                async with db.transaction(workspace_id=ws) as session:
                    started = time.perf_counter()
                    new = await bm25.search(
                        session, ws, terms, q, n, k1=lexical.K1, b=lexical.B, trace=trace
                    )
                    times[label].append((time.perf_counter() - started) * 1000)
                pages[len(trace)] += label == "new, first pass"
                if label == "new, first pass" and not _same(old or [], new or []):
                    mismatches += 1
                    print(f"differs: {question!r} {trace}", flush=True)
                    for a, b in zip(old or [], new or [], strict=False):
                        print(f"  {a[0]} {a[4]!r}  {b[0]} {b[4]!r}")
        stats_ms = []
        for _ in range(10):
            bm25.forget()
            async with db.transaction(workspace_id=ws) as session:
                started = time.perf_counter()
                await bm25._statistics(session, ws, [])
                stats_ms.append((time.perf_counter() - started) * 1000)
    finally:
        await db.dispose()
    return {"times": times, "pages": pages, "mismatches": mismatches, "stats": stats_ms}


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
    table = Table(["chunks", "term rows", "statement", "p50 ms", "p95 ms", "max ms", "load avg"])
    notes = []
    for size in args.sizes:
        ws = uuid.uuid4()
        started = time.perf_counter()
        rows = await load(owner_url, ws, base, size)
        print(
            f"{size:,} chunks, {rows:,} term rows loaded in {time.perf_counter() - started:.0f} s"
        )
        result = await measure(app_url, ws, questions, args.n)
        load_avg = load_average()
        for label, values in result["times"].items():
            table.add(
                f"{size:,}",
                f"{rows:,}",
                label,
                f"{statistics.median(values):.1f}",
                f"{pct(values, 0.95):.1f}",
                f"{max(values):.1f}",
                f"{load_avg:.1f}",
            )
        pages = ", ".join(f"{k}: {v}" for k, v in sorted(result["pages"].items()))
        notes.append(
            f"- {size:,} chunks: new equal to old on {len(questions) - result['mismatches']} of"
            f" {len(questions)} questions; pages scored per question (count: questions) {pages};"
            f" a statistics read alone (after each knowledge change) p50"
            f" {statistics.median(result['stats']):.1f} ms, max {max(result['stats']):.1f} ms."
        )
        print(notes[-1], flush=True)
    table.print("BM25 step, 40 best chunks")
    argv = " ".join(args.argv)
    return "\n".join(
        [
            f"`python -m bench.lexical_scale{' ' + argv if argv else ''}` (n = {args.n}, the"
            f" 102 python questions, each statement timed alone in its own transaction, old"
            f" and new in turn; load average at the end of each size):",
            "",
            table.markdown(),
            "",
            *notes,
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--n", type=int, default=40, help="chunks returned (candidate_count)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".trulybot" / "bench-lexical")
    add_write_options(parser)
    args = parser.parse_args(argv)
    raw = sys.argv[1:] if argv is None else argv
    args.argv = [a for a in raw if a not in ("--write", "--no-write")]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    body = asyncio.run(run(args))
    if writes_docs(args):
        write_section("lexical-scale", body)


if __name__ == "__main__":
    main()
