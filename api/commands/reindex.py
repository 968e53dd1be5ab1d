"""`trulybot reindex [--workspace SLUG] [--outdated-only] [--change-dimension]`: re-embed.

With RETRIEVAL_LEXICAL_WEIGHT above 0, chunks without BM25 terms (written before migration
0047, or while the weight was 0) get them (``reindexing.fill_terms``: from their stored text,
no embedding), with or without ``--outdated-only``; until then the workspace's search keeps the
vector order. With the weight at 0 no terms are stored.

First, every document whose chunks were cut and embedded in an older format than
``chunking.EMBED_FORMAT`` (chunks without the "title > headings" line; man pages titled
"git-add(1)" rather than by their NAME line) is parsed, chunked and embedded again from its
stored content (web pages are fetched again); a chunk whose embedded text did not change keeps
its vector. Its old chunks answer until the new ones replace them. Then every other chunk, FAQ
question and unanswered question is embedded again with the configured model (after a model
change), unless ``--outdated-only``. Each workspace's HNSW index is brought in line with its size
and built again when its m or ef_construction is not today's (``indexing.index_state``); one
whose maintenance another process is running is left to it and counted as skipped, and a
maintenance that failed makes the command exit 1.

When the model's dimension differs from the ``chunks.embedding`` column's, the column must
change too. That is never done on its own: it drops every workspace's HNSW index and clears every
stored vector until it is re-embedded (answers fall back to "don't know" meanwhile), so the
operator asks for it with ``--change-dimension`` (all workspaces; the owner connection, i.e.
MIGRATION_DATABASE_URL, is needed; never with ``--outdated-only``). The column allows NULL
until every vector is back: a run that was interrupted is finished by running it again (the
column's state says so, not the flag), and the column is NOT NULL again only once no chunk lacks
a vector. docs/deploy.md describes the procedure.
"""

from __future__ import annotations

import argparse
import uuid
from collections import Counter
from typing import Any

from api.commands.ingest import resolve_workspace
from api.runtime import Runtime, operator_runtime, owner_session
from api.stop_signal import run_command
from core.config import get_settings
from core.errors import ConfigError
from rag.chat import faq
from rag.knowledge import jobs as knowledge_jobs
from rag.knowledge import reindexing
from rag.knowledge.repository import chunks as chunk_repo
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
        raise ConfigError(
            "every workspace needs MIGRATION_DATABASE_URL (the owner role lists them): set it,"
            " or pass --workspace SLUG"
        )
    async with owner_session(runtime) as session:
        return await ws_repo.all_workspace_ids(session)


async def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    async with operator_runtime(get_settings()) as runtime:
        async with runtime.db.transaction() as session:
            current = await indexes.column_dimensions(session)
            unfinished = await indexes.column_allows_null(session)
        target = runtime.embedder.dimensions
        change = current != target
        if change and not args.change_dimension:
            raise SystemExit(dimension_refusal(current, runtime))
        # The column allows NULL only between a dimension change and its end (an interrupted
        # run): every vector may be missing, so the same command, run again, does it all.
        cleared = change or unfinished
        if unfinished and not change:
            print("a dimension change did not finish: re-embedding everything")
        if cleared:
            if not runtime.owner_url:
                raise SystemExit("changing the vector dimension needs MIGRATION_DATABASE_URL")
            if args.workspace:
                raise SystemExit("a dimension change re-embeds every workspace: drop --workspace")
            if args.outdated_only:
                raise SystemExit("a dimension change re-embeds every chunk: drop --outdated-only")
        if change:
            assert runtime.owner_url is not None
            dropped = await indexes.drop_all(runtime.owner_url)
            await indexes.change_dimensions(runtime.owner_url, target)
            print(f"embedding: vector({current}) -> vector({target}); {dropped} indexes dropped")
        workspaces = await _workspaces(runtime, args)
        deps = runtime.ingestion
        total = faqs = terms = 0
        lexical_on = runtime.settings.retrieval_lexical_weight > 0
        reprocessed = failed = 0
        maintained: Counter[str] = Counter()
        for ws in workspaces:
            outdated = await reindexing.outdated_documents(deps, ws)
            rechunked: set[uuid.UUID] = set()
            for document_id in tqdm(outdated, desc=f"re-chunking {ws}", unit="document"):
                outcome = await reindexing.reprocess_document(deps, ws, document_id)
                if outcome == "ready":
                    rechunked.add(document_id)
                failed += outcome == "failed"
            reprocessed += len(rechunked)
            if lexical_on:  # the weight at 0: the feature off stores nothing
                terms += await reindexing.fill_terms(deps, ws)
            if not args.outdated_only:
                # A document whose re-chunking failed keeps its old chunks: they are embedded
                # again too. After a dimension change every chunk is (a re-chunked one whose
                # text did not change kept its row, and its vector was cleared).
                skip = frozenset() if cleared else frozenset(rechunked)
                bar = tqdm(desc=f"re-embedding {ws}", unit="chunk")
                total += await reindexing.reembed_workspace(
                    deps, ws, skip_documents=skip, on_progress=bar.update
                )
                bar.close()
                faqs += await faq.reembed_workspace(deps.db, deps.embedder, ws)
            # An index built with other HNSW parameters than today's is built again here;
            # 'busy': another maintenance of the workspace (a worker's job) is running.
            maintained[await knowledge_jobs.maintain_index(deps, ws)] += 1
        if cleared:
            assert runtime.owner_url is not None
            missing = await _chunks_without_vector(runtime, workspaces)
            if missing:
                raise SystemExit(
                    f"{missing} chunks still have no vector: run `trulybot reindex"
                    " --change-dimension` again"
                )
            await indexes.restore_not_null(runtime.owner_url)
    print(
        f"re-chunked {reprocessed} documents of an older chunk format ({failed} failed), "
        f"stored the terms of {terms} chunks"
        f"{'' if lexical_on else ' (RETRIEVAL_LEXICAL_WEIGHT is 0)'}, "
        f"re-embedded {total} chunks and {faqs} FAQ/unanswered questions in "
        f"{len(workspaces)} workspaces with {runtime.embedder.name}; "
        f"rebuilt {maintained['rebuilt']} vector indexes built with other HNSW parameters, "
        f"built {maintained['built']} vector indexes for workspaces past the build threshold"
    )
    if maintained["busy"] or maintained["failed"]:
        print(
            f"vector index maintenance: {maintained['busy']} workspaces skipped (another"
            f" maintenance was running), {maintained['failed']} failed (see the log): run the"
            " command again once it is done"
        )
    return 1 if maintained["failed"] else 0


async def _chunks_without_vector(runtime: Runtime, workspaces: list[uuid.UUID]) -> int:
    missing = 0
    for ws in workspaces:
        async with runtime.db.transaction(workspace_id=ws) as session:
            missing += await chunk_repo.count_chunks(session, ws, without_vector=True)
    return missing


STOPPED = (
    "stopped by {signal}: the batch under way was rolled back; what was done before it stays"
    " (re-chunked documents, stored vectors, built indexes): run the same command again to"
    " finish (a re-embedding starts over, a dimension change goes on where it stopped)"
)


def _cmd(args: argparse.Namespace) -> int:
    # SIGTERM cancels the run (its statement in the server too): killed at once, its backend
    # stayed with its batch's transaction open and its rows locked, without a statement
    # timeout, for as long as whatever it waited for ran.
    return run_command(_run(args), STOPPED)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reindex", help="re-chunk documents of an older format, re-embed after a model change"
    )
    parser.add_argument("--workspace", default=None, help="only this workspace (slug or id)")
    # A dimension change clears every vector: re-chunking only the outdated documents would
    # leave the others without one.
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--outdated-only",
        action="store_true",
        help="only re-chunk documents of an older chunk format (no model change)",
    )
    only.add_argument(
        "--change-dimension",
        action="store_true",
        help="alter the embedding columns to the model's dimension first (clears every vector)",
    )
    parser.set_defaults(func=_cmd)
