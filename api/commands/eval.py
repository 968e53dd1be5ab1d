"""`trulybot eval`: retrieval quality (recall@1/5/10, MRR) per set, per half and per mode.

    trulybot eval --set PYDOCS=python-docs --set GITDOCS=git-docs
    trulybot eval --workspace SLUG --questions FILE.jsonl [--mode vector]

``--set WORKSPACE=QUESTIONS`` (repeatable) evaluates the workspace (slug or id) on a shipped set
(``python-docs``, ``git-docs``: eval/README.md says which corpus each expects) or on a JSON-lines
file. Every set is reported on its tune half, its held-out half and as a whole.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from api.commands.ingest import resolve_workspace
from api.runtime import operator_runtime
from api.stop_signal import run_command
from core.config import get_settings
from rag.knowledge import eval as rag_eval
from rag.knowledge import retrieval


def _pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for raw in args.set or []:
        workspace, sep, questions = raw.partition("=")
        if not sep or not workspace or not questions:
            raise SystemExit(f"--set wants WORKSPACE=QUESTIONS, got {raw!r}")
        pairs.append((workspace, questions))
    if args.workspace or args.questions:
        if not (args.workspace and args.questions):
            raise SystemExit("--workspace and --questions go together")
        pairs.append((args.workspace, args.questions))
    if not pairs:
        raise SystemExit("nothing to evaluate: pass --set WORKSPACE=QUESTIONS")
    return pairs


def _sets(args: argparse.Namespace) -> list[tuple[str, Path, list[rag_eval.Question]]]:
    """Every (workspace, file, questions), read and checked before the runtime starts (its
    database and model cost a wait first)."""
    sets = []
    for workspace, name in _pairs(args):
        path = rag_eval.question_file(name)
        if not path.is_file():
            raise SystemExit(f"no such question file: {name}")
        questions = rag_eval.load_questions(path)
        if not questions:  # a table of zeros read as a broken index
            raise SystemExit(f"{path}: no questions (each line: {rag_eval.QUESTION_LINE})")
        sets.append((workspace, path, questions))
    return sets


async def _run(args: argparse.Namespace) -> int:
    modes: list[retrieval.Mode] = list(retrieval.MODES) if args.mode == "all" else [args.mode]
    sets = _sets(args)
    named = []
    async with operator_runtime(get_settings()) as runtime:
        for workspace, path, questions in sets:
            workspace_id = await resolve_workspace(runtime, workspace)
            results = await rag_eval.evaluate(
                runtime.db,
                runtime.embedder,
                workspace_id,
                questions,
                modes,
                runtime.reranker,
                weights=retrieval.Weights.of(runtime.settings),
            )
            named.append((path.stem, questions, results))
    int8 = getattr(runtime.embedder, "query_precision_used", None) == "int8"
    embedder = runtime.embedder.name + (" (int8 questions)" if int8 else "")
    print(f"embedder: {embedder}; default mode: {retrieval.DEFAULT_MODE}")
    print(rag_eval.reranker_line(runtime.reranker, [r for _, _, rs in named for r in rs]))
    print(rag_eval.format_halves(named))
    return 0


STOPPED = "stopped by {signal}: an evaluation writes nothing: run it again"


def _cmd(args: argparse.Namespace) -> int:
    # SIGTERM cancels the searches (in the server too, where they run without a statement
    # timeout): killed at once, a backend went on with its search.
    return run_command(_run(args), STOPPED)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval", help="recall@1/5/10 and MRR per set, half and retrieval mode"
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="WORKSPACE=QUESTIONS",
        help=f"a workspace and a question set ({', '.join(rag_eval.SHIPPED)} or a file)",
    )
    parser.add_argument("--workspace", default=None, help="workspace slug (or id)")
    parser.add_argument("--questions", default=None, help="JSON lines: id, question, expected")
    parser.add_argument("--mode", default="all", choices=["all", *retrieval.MODES])
    parser.set_defaults(func=_cmd)
