"""Retrieval quality on the shipped eval set: recall@1/5/10 and MRR per mode.

Ingests the Python 3.11 documentation from Debian's python3-doc (every page the eval expects plus
distractors, or the whole corpus) into a fresh workspace on its own embedded PostgreSQL, with the
embedder the settings name (the local MiniLM by default), then runs `rag.knowledge.eval` over
eval/python-docs.jsonl in every mode and writes the `eval_quality` section of docs/benchmarks.md.

    python -m bench.eval_quality                 # the whole corpus (about 25 minutes on 2 cores)
    python -m bench.eval_quality --quick         # expected pages + 100 distractors
    python -m bench.eval_quality --pages 300

Needs `apt-get install -y python3-doc`. The same numbers come from the operator tools:
`trulybot ingest /usr/share/doc/python3.11/html --workspace SLUG` then
`trulybot eval --workspace SLUG --questions eval/python-docs.jsonl`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

from bench.common import ROOT, write_section

CORPUS = Path("/usr/share/doc/python3.11/html")
QUESTIONS = ROOT / "eval" / "python-docs.jsonl"


async def run(args: argparse.Namespace) -> str:
    os.environ["DATA_DIR"] = str(args.data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MIGRATION_DATABASE_URL", None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    from api.commands.ingest import collect, ingest_files
    from api.runtime import operator_runtime
    from core.config import Settings
    from rag.knowledge import eval as rag_eval
    from rag.knowledge import retrieval
    from workspaces import service

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    if settings.reranker.strip().lower() in ("", "none") and (
        settings.openai_api_key or settings.openai_base_url
    ):  # measure the llm reranker through whatever model the benchmark can reach
        settings = settings.model_copy(update={"reranker": "llm"})
    questions = rag_eval.load_questions(QUESTIONS)
    files = collect([str(CORPUS)], "*.html")
    expected = {path for q in questions for path in q.expected}
    chosen = [f for f in files if f[1] in expected]
    others = [f for f in files if f[1] not in expected]
    random.Random(7).shuffle(others)
    extra = len(others) if args.pages is None else max(0, args.pages - len(chosen))
    chosen += others[:extra]
    async with operator_runtime(settings) as runtime:
        async with runtime.db.transaction() as session:
            _, workspace = await service.signup(
                session,
                email=f"eval-{int(time.time())}@example.com",
                password="evaluation password",
                workspace_name="Python docs eval",
                name=None,
                plan="unlimited",
            )
        summary = await ingest_files(runtime, workspace.id, chosen, concurrency=2)
        started = time.perf_counter()
        results = await rag_eval.evaluate(
            runtime.db,
            runtime.embedder,
            workspace.id,
            questions,
            list(retrieval.MODES),
            runtime.reranker,
        )
        eval_seconds = time.perf_counter() - started
        name = runtime.embedder.name
        reranker = rag_eval.reranker_line(runtime.reranker, results)
    table = rag_eval.format_table(results, len(questions))
    print(reranker)
    print(table)
    return "\n".join(
        [
            f"`python -m bench.eval_quality{' --pages ' + str(args.pages) if args.pages else ''}`:"
            f" {len(questions)} questions, {summary['files']} pages ingested"
            f" ({summary['chunks']} chunks in {summary['seconds']} s,"
            f" {summary['chunks_per_second']} chunks/s), embedder {name}, default mode"
            f" `{retrieval.DEFAULT_MODE}`; evaluation took {eval_seconds:.1f} s.",
            "",
            reranker,
            "",
            table,
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=None, help="expected pages + distractors")
    parser.add_argument("--quick", action="store_true", help="expected pages + 100 distractors")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tb-bench-eval"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        raise SystemExit(f"{CORPUS} is missing: apt-get install -y python3-doc")
    if args.quick and args.pages is None:
        args.pages = 208
    body = asyncio.run(run(args))
    if not args.no_write:
        write_section("eval_quality", body)


if __name__ == "__main__":
    main()
