"""`trulybot warm-model`: load the local embedder now, exporting its ONNX graph if none is cached.

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
    )
    used = embedder.load()
    where = f" ({embedder.graph})" if embedder.graph else ""
    print(f"local embedder ready: {used}{where}")
    if used != settings.embed_runtime:
        print(f"EMBED_RUNTIME={settings.embed_runtime} could not run: see the warning above")
        return 1
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "warm-model", help="load the local embedder now (exports its ONNX graph once)"
    )
    parser.set_defaults(func=_cmd)
