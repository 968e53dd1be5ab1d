"""What bench.search_http sends and searches: the visitor-phrased queries, the two workspaces
(made through the API, filled through `trulybot ingest`'s path from the Python HTML docs) and the
server's environment.
"""

from __future__ import annotations

import argparse
import os
import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.chat_servers import APP_ROLE, METRICS_TOKEN, RATE_LIMIT_ENV
from bench.chat_workload import workspace_with_key
from bench.common import ROOT

CORPUS = Path("/usr/share/doc/python3.11/html")
QUESTIONS = ROOT / "eval" / "python-docs.jsonl"
T = TypeVar("T")
OPENERS = ["", "Hi, ", "Quick question: ", "Hello! ", "Sorry if this is obvious, but ", "Hey, "]
CLOSERS = ["", "?", " please", " in Python 3.11", " (for a script at work)", " - thanks!"]


# --- what the clients send -------------------------------------------------------------------


def unique_queries(questions: Sequence[str], n: int, rng: random.Random) -> list[str]:
    """``n`` distinct visitor-phrased queries: the eval's questions with an opener, a closer
    and a number, so the server's query-embedding cache (EMBED_QUERY_CACHE_SIZE) never hits."""
    if not questions:
        raise ValueError("no questions")
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        q = f"{rng.choice(OPENERS)}{rng.choice(questions)}{rng.choice(CLOSERS)}"
        q = f"{q} #{rng.randint(1, 999_999)}"
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def pages_until(counts: Iterable[tuple[T, int]], target: int) -> list[T]:
    """The first pages (in order) whose chunk counts add up to at least ``target``; ``counts``
    is read no further than that."""
    out: list[T] = []
    total = 0
    for page, count in counts:
        out.append(page)
        total += count
        if total >= target:
            return out
    raise ValueError(f"the corpus has only {total:,} chunks, fewer than {target:,}")


# --- the workspaces --------------------------------------------------------------------------


async def api_workspace(base: str, name: str, owner_url: str) -> tuple[str, str]:
    """A workspace made through the API: signup, the email verified, login, an API key."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        return await workspace_with_key(client, name, owner_url)


def chunk_counts(
    files: Iterable[tuple[Path, str]], settings: Any
) -> Iterator[tuple[tuple[Path, str], int]]:
    """Each page with the number of chunks ingestion makes of it (same parse and chunking)."""
    from rag.knowledge.chunking import chunk_document
    from rag.knowledge.parsing import parse

    for path, source in files:
        parsed = parse(
            path.read_bytes(), filename=source.rsplit("/", 1)[-1], content_type="text/html"
        )
        pieces = chunk_document(
            parsed,
            max_tokens=settings.chunk_tokens,
            overlap=settings.chunk_overlap_tokens,
            min_tokens=settings.chunk_min_tokens,
        )
        yield (path, source), len(pieces)


async def fill(
    db_urls: tuple[str, str], plans: list[tuple[str, list[tuple[Path, str]]]], cache: bool
) -> dict[str, dict[str, Any]]:
    """Ingest each (workspace id, pages) through `trulybot ingest`'s path; its summary per id."""
    from api.commands.ingest import ingest_files
    from api.runtime import build_runtime
    from core.config import Settings
    from core.db import Database
    from rag.knowledge.embeddings import build_embedder

    app_url, owner_url = db_urls
    settings = Settings(_env_file=None, environment="development")  # type: ignore[call-arg]
    embedder = build_embedder(settings)
    if cache:
        from bench.embed_cache import DEFAULT_DIR, CachedEmbedder, EmbeddingCache

        embedder = CachedEmbedder(embedder, EmbeddingCache(DEFAULT_DIR / "embeddings.sqlite"))
    db = Database.from_url(app_url, statement_timeout_ms=0)
    out = {}
    try:
        async with build_runtime(
            settings, database=db, owner_url=owner_url, embedder=embedder, jobs="in-process"
        ) as runtime:
            for workspace_id, files in plans:
                out[workspace_id] = await ingest_files(runtime, uuid.UUID(workspace_id), files)
                await runtime.jobs.drain()  # the partial HNSW index, past the threshold
    finally:
        await embedder.aclose()
        await db.dispose()
    return out


async def drop_index(owner_url: str, workspace_id: str) -> None:
    from rag.knowledge.repository import indexes

    await indexes.drop_concurrently(owner_url, uuid.UUID(workspace_id))


async def plan_of(owner_url: str, workspace_id: str) -> tuple[int, str]:
    """(chunks, 'partial HNSW' or 'exact') of a workspace, read as the owner."""
    import asyncpg

    from rag.knowledge.repository import indexes

    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM chunks WHERE workspace_id = $1", uuid.UUID(workspace_id)
        )
        valid = await conn.fetchval(
            "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
            " WHERE c.relname = $1",
            indexes.index_name(uuid.UUID(workspace_id)),
        )
    finally:
        await conn.close()
    return int(count), "partial HNSW" if valid else "exact"


# --- the servers' environment ------------------------------------------------------------------


def server_env(args: argparse.Namespace, app_url: str, owner_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "EMBED", "REDIS_", "OPENAI_", "RERANK", "LOG_"))
    }
    env.update(
        {
            "DATA_DIR": str(args.data_dir),
            "ENVIRONMENT": "development",
            "SEED_DEMO": "false",
            "DEFAULT_PLAN": "unlimited",
            "EMBEDDING_PROVIDER": "local",
            "DATABASE_URL": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "APP_DB_ROLE": APP_ROLE,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "LOG_LEVEL": "INFO",
            "LOG_JSON": "true",
            "METRICS_TOKEN": METRICS_TOKEN,
            **RATE_LIMIT_ENV,
        }
    )
    return env
