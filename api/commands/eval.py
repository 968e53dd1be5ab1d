"""`trulybot eval --workspace SLUG --questions FILE.jsonl [--mode all]`: retrieval quality."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from api.commands.ingest import resolve_workspace
from api.runtime import operator_runtime
from core.config import get_settings
from rag.knowledge import eval as rag_eval
from rag.knowledge import retrieval


async def _run(args: argparse.Namespace) -> int:
    questions = rag_eval.load_questions(Path(args.questions))
    modes: list[retrieval.Mode] = list(retrieval.MODES) if args.mode == "all" else [args.mode]
    async with operator_runtime(get_settings()) as runtime:
        workspace_id = await resolve_workspace(runtime, args.workspace)
        results = await rag_eval.evaluate(
            runtime.db, runtime.embedder, workspace_id, questions, modes, runtime.reranker
        )
    print(f"embedder: {runtime.embedder.name}")
    print(rag_eval.reranker_line(runtime.reranker, results))
    print(rag_eval.format_table(results, len(questions)))
    return 0


def _cmd(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("eval", help="recall@1/5/10 and MRR per retrieval mode")
    parser.add_argument("--workspace", required=True, help="workspace slug (or id)")
    parser.add_argument("--questions", required=True, help="JSON lines: id, question, expected")
    parser.add_argument("--mode", default="all", choices=["all", *retrieval.MODES])
    parser.set_defaults(func=_cmd)
