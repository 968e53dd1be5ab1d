"""`trulybot reindex [--workspace SLUG] [--outdated-only] [--change-dimension]`: re-embed.

First, every document whose chunks were cut and embedded in an older format than
``chunking.EMBED_FORMAT`` (chunks without the "title > headings" line; man pages titled
"git-add(1)" rather than by their NAME line) is parsed, chunked and embedded again from its
stored content (web pages are fetched again); a chunk whose embedded text did not change keeps
its vector. Its old chunks answer until the new ones replace them. Then every other chunk, FAQ
question and unanswered question is embedded again with the configured model (after a model
change), unless ``--outdated-only``. Each workspace's HNSW index is brought in line with its size.

When the model's dimension differs from the ``chunks.embedding`` column's, the column must
change too. That is never done on its own: it drops every workspace's HNSW index and clears every
stored vector until it is re-embedded (answers fall back to "don't know" meanwhile), so the
operator asks for it with ``--change-dimension`` (all workspaces; the owner connection, i.e.
MIGRATION_DATABASE_URL, is needed). docs/deploy.md describes the procedure.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

from api.commands.ingest import resolve_workspace
from api.runtime import Runtime, operator_runtime, owner_session
from core.config import get_settings
from rag.chat import faq
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge.repository import indexes
from workspaces import repository as ws_repo


def dimension_refusal(current: int, runtime: Runtime) -> str:
    embedder = runtime.embedder
    return (
        f"chunks.embedding is vector({current}) but {embedder.name} makes "
        f"{embedder.dimensions}-dimension vectors. Changing the column drops every workspace's "
        "vector index and clears every stored vector until it is re-embedded: rerun with "
        "--change-dimension (every workspace; needs MIGRATION_DATABASE_URL)."
    )


async def _workspaces(runtime: Runtime, args: argparse.Namespace) -> list[uuid.UUID]:
    if args.workspace:
        return [await resolve_workspace(runtime, args.workspace)]
    if not runtime.owner_url:
        raise SystemExit("pass --workspace (no owner connection to list workspaces)")
    async with owner_session(runtime) as session:
        return await ws_repo.all_workspace_ids(session)


async def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    async with operator_runtime(get_settings()) as runtime:
        async with runtime.db.transaction() as session:
            current = await indexes.column_dimensions(session)
        target = runtime.embedder.dimensions
        change = current != target
        if change and not args.change_dimension:
            raise SystemExit(dimension_refusal(current, runtime))
        if change:
            if not runtime.owner_url:
                raise SystemExit("changing the vector dimension needs MIGRATION_DATABASE_URL")
            if args.workspace:
                raise SystemExit("a dimension change re-embeds every workspace: drop --workspace")
            dropped = await indexes.drop_all(runtime.owner_url)
            await indexes.change_dimensions(runtime.owner_url, target)
            print(f"embedding: vector({current}) -> vector({target}); {dropped} indexes dropped")
        workspaces = await _workspaces(runtime, args)
        deps = runtime.ingestion
        total = faqs = 0
        reprocessed = failed = 0
        for ws in workspaces:
            outdated = await knowledge_jobs.outdated_documents(deps, ws)
            for document_id in tqdm(outdated, desc=f"re-chunking {ws}", unit="document"):
                outcome = await knowledge_jobs.reprocess_document(deps, ws, document_id)
                reprocessed += outcome == "ready"
                failed += outcome == "failed"
            if not args.outdated_only:
                bar = tqdm(desc=f"re-embedding {ws}", unit="chunk")
                total += await knowledge_jobs.reembed_workspace(
                    deps, ws, skip_documents=frozenset(outdated), on_progress=bar.update
                )
                bar.close()
                faqs += await faq.reembed_workspace(deps.db, deps.embedder, ws)
            await knowledge_jobs.maintain_index(deps, ws)
        if change and runtime.owner_url:
            await indexes.restore_not_null(runtime.owner_url)
    print(
        f"re-chunked {reprocessed} documents of an older chunk format ({failed} failed), "
        f"re-embedded {total} chunks and {faqs} FAQ/unanswered questions in "
        f"{len(workspaces)} workspaces with {runtime.embedder.name}"
    )
    return 0


def _cmd(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reindex", help="re-chunk documents of an older format, re-embed after a model change"
    )
    parser.add_argument("--workspace", default=None, help="only this workspace (slug or id)")
    parser.add_argument(
        "--outdated-only",
        action="store_true",
        help="only re-chunk documents of an older chunk format (no model change)",
    )
    parser.add_argument(
        "--change-dimension",
        action="store_true",
        help="alter the embedding columns to the model's dimension first (clears every vector)",
    )
    parser.set_defaults(func=_cmd)
