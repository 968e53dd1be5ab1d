"""`trulybot warm-model`: load the local embedder now, exporting its ONNX graph if none is cached
(and its int8 graph for questions with EMBED_QUERY_PRECISION=int8, and the graph of the model's
token states RERANKER=maxsim reads, with RERANKER=maxsim or ``--maxsim``).

Run at build or install time (``make install`` does), so the first process to serve does not
pay the export and a read-only deployment can ship the graph (EMBED_MODEL_CACHE_DIR).
"""

from __future__ import annotations

import argparse
from typing import Any

from core.config import get_settings


def _cmd(args: argparse.Namespace) -> int:
    from rag.knowledge.embeddings import LocalEmbedder

    settings = get_settings()
    embedder = LocalEmbedder(
        threads=settings.embed_threads,
        runtime=settings.embed_runtime,
        model_cache_dir=settings.embed_model_cache_dir,
        query_precision=settings.embed_query_precision,
    )
    used = embedder.load()
    where = f" ({embedder.graph})" if embedder.graph else ""
    questions = ", int8 questions" if embedder.query_precision_used == "int8" else ""
    print(f"local embedder ready: {used}{where}{questions}")
    if used != settings.embed_runtime:
        print(f"EMBED_RUNTIME={settings.embed_runtime} could not run: see the warning above")
        return 1
    if embedder.query_precision_used != settings.embed_query_precision:
        # Not a failure: questions are encoded in full precision, as the warning says.
        print("EMBED_QUERY_PRECISION=int8 could not run here: questions in fp32 (see above)")
    if getattr(args, "maxsim", False) or settings.reranker.strip().lower() == "maxsim":
        import asyncio

        from rag.knowledge.maxsim_rerank import warm

        graph = warm(settings, lambda texts: asyncio.run(embedder.embed_documents(texts)))
        print(f"RERANKER=maxsim ready: {graph}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "warm-model", help="load the local embedder now (exports its ONNX graph once)"
    )
    parser.add_argument(
        "--maxsim",
        action="store_true",
        help="also export the token-state graph RERANKER=maxsim reads (done with RERANKER=maxsim)",
    )
    parser.set_defaults(func=_cmd)
