"""`trulybot reindex [--workspace SLUG]`: re-embed every chunk after an embedding-model change.

When the new model's dimension differs from the column's, the per-workspace HNSW indexes are
dropped and ``chunks.embedding`` is altered to the new ``vector(N)`` (owner connection needed);
then every workspace is re-embedded and the indexes are rebuilt where a workspace is large.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from api.commands.ingest import resolve_workspace
from api.runtime import operator_runtime
from core.config import get_settings
from rag.chat import faq
from rag.knowledge import indexing
from rag.knowledge import jobs as knowledge_jobs


async def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    async with operator_runtime(get_settings()) as runtime:
        deps = runtime.ingestion
        async with deps.db.transaction() as session:
            current = await indexing.column_dimensions(session)
        target = deps.embedder.dimensions
        if current != target:
            if not runtime.owner_url:
                raise SystemExit("changing the vector dimension needs MIGRATION_DATABASE_URL")
            if args.workspace:
                raise SystemExit("a dimension change re-embeds every workspace: drop --workspace")
            dropped = await indexing.drop_all_indexes(runtime.owner_url)
            await indexing.alter_dimensions(runtime.owner_url, target)
            print(f"embedding: vector({current}) -> vector({target}); {dropped} indexes dropped")
        if args.workspace:
            workspaces = [await resolve_workspace(runtime, args.workspace)]
        elif runtime.owner_url:
            workspaces = await indexing.all_workspace_ids(runtime.owner_url)
        else:
            raise SystemExit("pass --workspace (no owner connection to list workspaces)")
        total = faqs = 0
        for ws in workspaces:
            bar = tqdm(desc=f"re-embedding {ws}", unit="chunk")
            total += await knowledge_jobs.reembed_workspace(deps, ws, on_progress=bar.update)
            bar.close()
            faqs += await faq.reembed_workspace(deps.db, deps.embedder, ws)
            await knowledge_jobs.maintain_index(deps, ws)
        if current != target and runtime.owner_url:
            await indexing.restore_not_null(runtime.owner_url)
    print(
        f"re-embedded {total} chunks and {faqs} FAQ/unanswered questions in "
        f"{len(workspaces)} workspaces with {deps.embedder.name}"
    )
    return 0


def _cmd(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("reindex", help="re-embed all chunks after a model change")
    parser.add_argument("--workspace", default=None, help="only this workspace (slug or id)")
    parser.set_defaults(func=_cmd)
