"""Retrieval quality on both shipped eval sets: recall@1/5/10 and MRR per set, half and mode.

Ingests each corpus (the Python 3.11 documentation from Debian's python3-doc, git's HTML manual
from git-doc) into a fresh workspace of its own on an embedded PostgreSQL, through the real
ingest path, with the embedder the settings name (the local MiniLM by default), then runs
`rag.knowledge.eval` over its question set in every mode and writes the `eval_quality` section
of docs/benchmarks.md: every set x tune/heldout/all x mode.

    python -m bench.eval_quality                      # both whole corpora (~40 min on 2 idle cores)
    python -m bench.eval_quality --quick              # expected pages + 100 distractors per set
    python -m bench.eval_quality --sets git-docs --pages 150
    python -m bench.eval_quality --pages git-docs=94     # python whole, git's expected pages
    python -m bench.eval_quality --sets git-docs --questions 12 --pages 20 --no-write  # smoke
    python -m bench.eval_quality --sets git-docs --lexical-weight 0.3 --no-write  # + BM25 fused
    python -m bench.eval_quality --sets git-docs --lead 0.4:0.6 --no-write  # + pages' leads

Needs `apt-get install -y python3-doc git-doc`. The same numbers come from the operator tools:
`trulybot ingest /usr/share/doc/python3.11/html --workspace PY --include '*.html'` (and git-doc's
folder into GIT), then `trulybot eval --set PY=python-docs --set GIT=git-docs`.
``bench.retrieval_levers`` computes the same metrics offline (numpy over cached embeddings);
the local model's vectors come from its cache (``bench.embed_cache``; ``--no-cache`` embeds all),
so a corpus the levers harness embedded is ingested in minutes (its chunks/s then is no
ingestion figure: ``bench.ingestion`` measures that).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import ROOT, add_write_options, write_section, writes_docs

CORPORA: dict[str, tuple[Path, Path]] = {
    "python-docs": (Path("/usr/share/doc/python3.11/html"), ROOT / "eval" / "python-docs.jsonl"),
    "git-docs": (Path("/usr/share/doc/git-doc"), ROOT / "eval" / "git-docs.jsonl"),
}
QUICK_DISTRACTORS = 100


def select_pages(
    files: Sequence[tuple[Path, str]], expected: set[str], pages: int | None
) -> list[tuple[Path, str]]:
    """Every expected page, then seeded distractors up to ``pages`` in all (None: every page).
    ``bench.retrieval_levers`` picks its subsets with this too."""
    chosen = [f for f in files if f[1] in expected]
    others = sorted((f for f in files if f[1] not in expected), key=lambda f: f[1])
    random.Random(7).shuffle(others)
    extra = len(others) if pages is None else max(0, pages - len(chosen))
    return chosen + others[:extra]


async def run_set(args: argparse.Namespace, name: str, runtime: Any) -> dict[str, Any]:
    from api.commands.ingest import collect, ingest_files
    from rag.knowledge import eval as rag_eval
    from rag.knowledge import reindexing, retrieval
    from workspaces import service

    corpus, question_file = CORPORA[name]
    questions = rag_eval.load_questions(question_file)
    if args.questions:
        questions = questions[: args.questions]
    files = collect([str(corpus)], "*.html")
    expected = {path for q in questions for path in q.expected}
    pages = args.pages.get(name, args.pages.get("*"))
    if args.quick and pages is None:
        pages = len([f for f in files if f[1] in expected]) + QUICK_DISTRACTORS
    chosen = select_pages(files, expected, pages)
    async with runtime.db.transaction() as session:
        _, workspace = await service.signup(
            session,
            email=f"eval-{name}-{int(time.time() * 1000)}@example.com",
            password="evaluation password",
            workspace_name=f"{name} eval",
            name=None,
            plan="unlimited",
        )
    summary = await ingest_files(runtime, workspace.id, chosen, concurrency=2)
    await runtime.jobs.drain()  # the index maintenance the ingestion enqueued, before the eval
    summary["plan"] = await index_plan(runtime, workspace.id)
    print(f"{name}: {summary['chunks']} chunks, searched by {summary['plan']}", flush=True)
    if any(weight > 0 for weight in [*args.lexical_weights, *(w for w, _ in args.leads)]):
        # Ingestion stores BM25 terms only with RETRIEVAL_LEXICAL_WEIGHT above 0: fill them,
        # else the fused rows would silently be the vector order (a workspace lacking terms).
        filled = await reindexing.fill_terms(runtime.ingestion, workspace.id)
        print(f"{name}: stored the BM25 terms of {filled} chunks", flush=True)
    started = time.perf_counter()
    shipped = retrieval.Weights.of(runtime.settings)  # every RETRIEVAL_* setting, as chat ranks
    results = await rag_eval.evaluate(
        runtime.db,
        runtime.embedder,
        workspace.id,
        questions,
        list(retrieval.MODES),
        runtime.reranker,
        weights=shipped,
    )
    # The same workspace, vector mode fused with BM25 (and the pages' leads weighed): the
    # settings' weights with these two replaced.
    rows = [(w, 0.0, f"vector, BM25 {w:g}") for w in args.lexical_weights]
    rows += [(w, lead, f"vector, BM25 {w:g}, lead {lead:g}") for w, lead in args.leads]
    for weight, lead, label in rows:
        for result in await rag_eval.evaluate(
            runtime.db,
            runtime.embedder,
            workspace.id,
            questions,
            ["vector"],
            weights=dataclasses.replace(shipped, bm25=weight, lead=lead),
        ):
            result.mode = label
            results.append(result)
    print(f"{name}: workspace {workspace.id} in {args.data_dir}", flush=True)
    return {
        "name": name,
        "questions": questions,
        "results": results,
        "summary": summary,
        "pages": len(chosen),
        "eval_seconds": time.perf_counter() - started,
    }


def _lead_pair(text: str) -> tuple[float, float]:
    lexical, _, lead = text.partition(":")
    return float(lexical), float(lead)


async def index_plan(runtime: Any, workspace_id: Any) -> str:
    """'partial HNSW' or 'exact': how the workspace is searched once its jobs are done."""
    from rag.knowledge import indexing

    async with runtime.db.transaction(workspace_id=workspace_id) as session:
        state = await indexing.index_state(session, workspace_id, runtime.ingestion.index_policy)
    return "partial HNSW" if state == "valid" else "exact"


async def run(args: argparse.Namespace) -> str:
    os.environ["DATA_DIR"] = str(args.data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MIGRATION_DATABASE_URL", None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    from api.runtime import build_runtime
    from core.config import Settings
    from rag.knowledge import eval as rag_eval
    from rag.knowledge import retrieval
    from rag.knowledge.chunking import EMBED_FORMAT

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    if settings.reranker.strip().lower() in ("", "none") and (
        settings.openai_api_key or settings.openai_base_url
    ):  # measure the llm reranker through whatever model the benchmark can reach
        settings = settings.model_copy(update={"reranker": "llm"})
    runs = []
    embedder = None
    if args.cache and settings.embedding_provider == "local":
        from bench.embed_cache import DEFAULT_DIR, CachedEmbedder, EmbeddingCache
        from rag.knowledge.embeddings import build_embedder

        cache = EmbeddingCache(DEFAULT_DIR / "embeddings.sqlite")
        embedder = CachedEmbedder(build_embedder(settings), cache)
    async with build_runtime(
        settings,
        apply_migrations=settings.database_url is None,
        statement_timeout_ms=0,
        jobs="in-process",
        embedder=embedder,
    ) as runtime:
        if args.index_threshold is not None:  # docs/retrieval.md, sixteenth session
            runtime.ingestion.index_policy = dataclasses.replace(
                runtime.ingestion.index_policy,
                build_threshold=args.index_threshold,
                drop_threshold=args.index_threshold // 2,
            )
        for name in args.sets:
            runs.append(await run_set(args, name, runtime))
        await runtime.jobs.drain()
        embedder_name = runtime.embedder.name
        reranker = rag_eval.reranker_line(runtime.reranker, [x for r in runs for x in r["results"]])
    if embedder is not None:
        await embedder.aclose()
    table = rag_eval.format_halves([(r["name"], r["questions"], r["results"]) for r in runs])
    print(reranker)
    print(table)
    command = "python -m bench.eval_quality" + "".join(f" {a}" for a in args.argv)
    lines = [f"`{command}`: embedder {embedder_name}, default mode `{retrieval.DEFAULT_MODE}`,"]
    lines[0] += f" embedded text format {EMBED_FORMAT}, one hit per page."
    cached = ", vectors read from bench.embed_cache" if embedder is not None else ""
    for r in runs:
        s = r["summary"]
        lines.append(
            f"- {r['name']}: {len(r['questions'])} questions, {r['pages']} pages"
            f" ({s['files']} ingested, {s['chunks']} chunks in {s['seconds']} s,"
            f" {s['chunks_per_second']} chunks/s{cached}; searched by {s['plan']});"
            f" evaluation {r['eval_seconds']:.1f} s."
        )
    return "\n".join([*lines, "", reranker, "", table])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="python-docs,git-docs", help="comma-separated")
    parser.add_argument(
        "--pages",
        default="",
        help="expected pages + distractors: N for every set, or SET=N,SET=N (others: every page)",
    )
    parser.add_argument("--quick", action="store_true", help="expected pages + 100 distractors")
    parser.add_argument("--questions", type=int, default=None, help="only the first N questions")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tb-bench-eval"))
    parser.add_argument(
        "--lexical-weight",
        dest="lexical_weights",
        type=float,
        action="append",
        default=[],
        help="also vector mode fused with BM25 at this RETRIEVAL_LEXICAL_WEIGHT (repeatable;"
        " the modes themselves run with the setting's)",
    )
    parser.add_argument(
        "--lead",
        dest="leads",
        type=_lead_pair,
        action="append",
        default=[],
        metavar="LEXICAL:LEAD",
        help="also vector mode with RETRIEVAL_LEXICAL_WEIGHT and RETRIEVAL_LEAD_WEIGHT at these"
        " values (repeatable)",
    )
    parser.add_argument(
        "--index-threshold",
        type=int,
        default=None,
        help="the HNSW build threshold (drop at half) instead of indexing.BUILD_THRESHOLD",
    )
    add_write_options(parser)
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="embed everything (default: the local model's vectors from bench.embed_cache)",
    )
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    args.argv = [
        a
        for i, a in enumerate(raw)
        if not a.startswith("--data-dir") and (i == 0 or raw[i - 1] != "--data-dir")
    ]
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    args.pages = dict(
        (p.split("=", 1) if "=" in p else ("*", p)) for p in args.pages.split(",") if p.strip()
    )
    args.pages = {k.strip(): int(v) for k, v in args.pages.items()}
    for name in args.sets:
        if name not in CORPORA:
            raise SystemExit(f"unknown set {name!r}; one of {', '.join(CORPORA)}")
        if not CORPORA[name][0].is_dir():
            raise SystemExit(
                f"{CORPORA[name][0]} is missing: apt-get install -y python3-doc git-doc"
            )
    body = asyncio.run(run(args))
    if writes_docs(args):
        write_section("eval_quality", body)


if __name__ == "__main__":
    main()
