"""The owners' Unanswered page: its groups rebuilt from the latest 2,000 unanswered questions
with their 384-dimension vectors, the read as it was beside the read as it is, in one run.

    .venv/bin/python -m bench.unanswered_groups             # 2,000 rows, 10 rounds
    .venv/bin/python -m bench.unanswered_groups --quick     # 5 calls, docs left alone

What runs: an embedded PostgreSQL owned by this process (a cluster under --data-dir), migrated; the
whole app in this process (ASGI transport, no network). An owner signs up; ``--rows`` unanswered
questions are written in bulk (``--topics`` topics: each question a topic's vector plus noise,
normalized, one in five with the words of an earlier question), as the pipeline stores them.

Measured in rounds, after a warm-up, on the app role's session (RLS on), without HTTP:

- ``before``: the read as it was: the ORM rows with their vectors in pgvector's text form, parsed
  by its SQLAlchemy type, then the grouping that stacked the groups' vectors again for every
  question, all on the event loop (``_groups_before``, kept here as the reference);
- ``after``: ``rag.chat.conversations.unanswered_groups``: the vectors read in pgvector's binary
  form, the grouping (one matrix) in a worker thread;
- the parts alone: each read without grouping (text, ``embedding::real[]``, binary), each
  grouping without the read;
- ``GET /unanswered`` through the whole app (authentication, the read, the JSON).

Columns: wall time and this process's CPU time (every thread; PostgreSQL is another process) of
a call, and the event-loop stall it causes: the longest gap a 1 ms ticker running beside the call
saw, less the 1 ms (what a visitor's answer on the same loop waits). Both ways must give the
same groups in the same order (checked before timing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.analytics import migrated_app
from bench.chat_workload import _signup
from bench.common import (
    Table,
    add_write_options,
    database_versions,
    pct,
    write_section,
    writes_docs,
)
from core.db import Database
from rag.chat import conversations
from rag.chat.models import UnansweredQuestion
from rag.chat.repository import conversations as conversation_repo
from rag.knowledge.repository.chunks import vector_text, vector_values
from workspaces.repository import get_workspace
from workspaces.service import WorkspaceAccess

DIMENSIONS = 384
# Two questions of one topic lie at cosine about 1 / (1 + NOISE**2) = 0.83 (some under the 0.80
# of a group, some over): many groups of a few questions, many questions alone.
NOISE = 0.45

INSERT = (
    "INSERT INTO unanswered_questions (id, workspace_id, question, normalized, embedding,"
    " resolved, created_at) SELECT gen_random_uuid(), $1, q, n, CAST(e AS vector), false,"
    " now() - make_interval(secs => age)"
    " FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[]) AS u(q, n, e, age)"
)


def questions(rows: int, topics: int, seed: int) -> list[tuple[str, str, np.ndarray]]:
    """``rows`` questions, oldest first: a topic's vector plus noise (normalized), one in five
    repeating an earlier question's words (and vector)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((topics, DIMENSIONS)).astype(np.float32)
    out: list[tuple[str, str, np.ndarray]] = []
    for i in range(rows):
        if out and i % 5 == 0:
            out.append(out[int(rng.integers(len(out)))])
            continue
        topic = int(rng.integers(topics))
        vector = centers[topic] + NOISE * rng.standard_normal(DIMENSIONS).astype(np.float32)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        words = f"question {i} about topic {topic}"
        out.append((f"Can you tell me about {words}?", words, vector))
    return out


async def load(owner_url: str, workspace_id: uuid.UUID, rows: list[Any]) -> None:
    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(
            INSERT,
            workspace_id,
            [q for q, _, _ in rows],
            [n for _, n, _ in rows],
            [vector_text(v) for _, _, v in rows],
            [float(len(rows) - i) for i in range(len(rows))],
        )
        await conn.execute("ANALYZE unanswered_questions")
    finally:
        await conn.close()


def _groups_before(rows: list[Any], *, limit: int) -> list[dict[str, Any]]:
    """The grouping as it was (the reference ``after`` must equal): the groups' first vectors
    in a list, stacked again into a matrix for every question."""
    groups: list[dict[str, Any]] = []
    centroids: list[np.ndarray] = []
    centroid_groups: list[dict[str, Any]] = []
    by_text: dict[str, dict[str, Any]] = {}
    for row in rows:
        vector = None if row.embedding is None else np.asarray(row.embedding, dtype=np.float32)
        question, key = conversations.asked_as(row)
        group = by_text.get(key)
        if group is None and vector is not None and centroids:
            sims = np.stack(centroids) @ vector
            best = int(np.argmax(sims))
            if float(sims[best]) >= conversations.GROUP_SIMILARITY:
                group = centroid_groups[best]
        if group is None:
            group = {
                "question": question,
                "count": 0,
                "last_asked_at": row.created_at,
                "examples": [],
                "ids": [],
            }
            groups.append(group)
            if vector is not None:
                centroids.append(vector)
                centroid_groups.append(group)
        by_text.setdefault(key, group)
        group["count"] += 1
        group["ids"].append(str(row.id))
        if len(group["examples"]) < 5 and question not in group["examples"]:
            group["examples"].append(question)
    groups.sort(key=lambda g: (-g["count"], -g["last_asked_at"].timestamp()))
    return groups[:limit]


async def _read_text(session: AsyncSession, workspace_id: uuid.UUID, limit: int) -> list[Any]:
    """The read as it was: whole ORM rows, vectors parsed from pgvector's text form."""
    result = await session.execute(
        select(UnansweredQuestion)
        .where(
            UnansweredQuestion.workspace_id == workspace_id,
            UnansweredQuestion.resolved.is_(False),
        )
        .order_by(UnansweredQuestion.created_at.desc())
        .limit(limit)
    )
    return list(result.scalars())


async def _read_real_array(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int
) -> list[np.ndarray]:
    """The option not taken: ``embedding::real[]`` (asyncpg's binary float4[], as lists)."""
    result = await session.execute(
        text(
            "SELECT embedding::real[] FROM unanswered_questions WHERE workspace_id = :ws"
            " AND NOT resolved ORDER BY created_at DESC LIMIT :n"
        ),
        {"ws": workspace_id, "n": limit},
    )
    return [np.asarray(v, dtype=np.float32) for (v,) in result]


async def measured(call: Callable[[], Awaitable[Any]]) -> tuple[float, float, float, Any]:
    """Wall ms, CPU ms (this process) and the loop's longest stall in ms during ``call()``."""
    stall = 0.0
    done = False

    async def ticker() -> None:
        nonlocal stall
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stall = max(stall, (now - last) * 1000 - 1.0)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.005)  # the ticker is running
    wall, cpu = time.perf_counter(), time.process_time()
    result = await call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done = True
    await task
    return wall * 1000, cpu * 1000, max(stall, 0.0), result


def write_cost(vectors: list[np.ndarray], batch: int, repeat: int = 20) -> tuple[float, float]:
    """CPU ms to encode ``batch`` chunk vectors as ingestion bound them (text) and as it binds
    them now (pgvector's binary form, ``vector_values``)."""
    part = vectors[:batch]
    t = time.process_time()
    for _ in range(repeat):
        [vector_text(v) for v in part]
    as_text = (time.process_time() - t) * 1000 / repeat
    t = time.process_time()
    for _ in range(repeat):
        vector_values(part)
    return as_text, (time.process_time() - t) * 1000 / repeat


async def run(args: argparse.Namespace) -> None:
    from api.app import create_app

    owner_url, app_url, settings = await migrated_app(
        Path(args.data_dir), "trulybot_bench_unanswered"
    )
    rows = questions(args.rows, args.topics, seed=7)
    window = conversations.UNANSWERED_WINDOW
    limit = 50
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            token, workspace = await _signup(
                client, f"bench-{uuid.uuid4().hex[:10]}@example.com", "Unanswered bench"
            )
            ws = uuid.UUID(workspace["id"])
            headers = {"Authorization": f"Bearer {token}"}
            await load(owner_url, ws, rows)
            url = f"/api/v1/workspaces/{ws}/unanswered"
            db = Database.from_url(app_url, pool_size=2, max_overflow=0)
            text_rows: list[Any] = []
            binary_rows: list[Any] = []
            try:

                async def before() -> list[dict[str, Any]]:
                    async with db.transaction(workspace_id=ws) as session:
                        return _groups_before(await _read_text(session, ws, window), limit=limit)

                async def after() -> list[dict[str, Any]]:
                    async with db.transaction(workspace_id=ws) as session:
                        access = await bench_access(session, ws)
                        return await conversations.unanswered_groups(session, access, limit=limit)

                async def read_text() -> None:
                    nonlocal text_rows
                    async with db.transaction(workspace_id=ws) as session:
                        text_rows = await _read_text(session, ws, window)

                async def read_real() -> None:
                    async with db.transaction(workspace_id=ws) as session:
                        await _read_real_array(session, ws, window)

                async def read_binary() -> None:
                    nonlocal binary_rows
                    async with db.transaction(workspace_id=ws) as session:
                        binary_rows = await conversation_repo.recent_unanswered(
                            session, workspace_id=ws, limit=window
                        )

                async def group_before() -> None:
                    _groups_before(text_rows, limit=limit)

                async def group_after() -> None:
                    conversations.group_questions(binary_rows, limit=limit)

                async def endpoint() -> None:
                    response = await client.get(url, params={"limit": limit}, headers=headers)
                    response.raise_for_status()

                reference, now = await before(), await after()
                assert now == reference, "the groups differ"
                served = (await client.get(url, params={"limit": limit}, headers=headers)).json()
                assert [g["ids"] for g in served] == [g["ids"] for g in reference]
                await read_text()
                await read_binary()

                async def nothing() -> None:
                    await asyncio.sleep(0.05)

                calls: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
                    ("floor", "nothing: 50 ms asleep (the ticker's own noise)", nothing),
                    ("before", "text read (ORM) + grouping, on the loop", before),
                    ("after", "binary read + grouping in a thread", after),
                    ("read", "text form, parsed by pgvector's SQLAlchemy type", read_text),
                    ("read", "embedding::real[] (asyncpg float4[] lists)", read_real),
                    ("read", "binary form (vector_send), np.frombuffer", read_binary),
                    ("grouping", "as it was: the list stacked per question", group_before),
                    ("grouping", "one matrix (on the loop here)", group_after),
                    ("GET /unanswered", "whole app, after", endpoint),
                ]
                timings: dict[int, list[tuple[float, float, float]]] = {
                    i: [] for i in range(len(calls))
                }
                for _ in range(args.repeat):
                    for i, (_, _, call) in enumerate(calls):
                        wall, cpu, stall, _ = await measured(call)
                        timings[i].append((wall, cpu, stall))
            finally:
                await db.dispose()

    table = Table(["what", "how", "calls", "wall p50 ms", "CPU p50 ms", "loop stall p50 ms",
                   "loop stall max ms"])  # fmt: skip
    for i, (what, how, _) in enumerate(calls):
        got = timings[i]
        table.add(
            what,
            how,
            len(got),
            f"{pct([t[0] for t in got], 0.5):.1f}",
            f"{pct([t[1] for t in got], 0.5):.1f}",
            f"{pct([t[2] for t in got], 0.5):.1f}",
            f"{max(t[2] for t in got):.1f}",
        )
    table.print()
    groups_formed = len(_groups_before(text_rows, limit=len(text_rows)))
    vectors = [v for _, _, v in rows]
    as_text, as_real = write_cost(vectors, 32)
    writes = (
        f"Writes, for comparison: a batch of 32 chunk vectors as text (`vector_text`) takes"
        f" {as_text:.1f} ms of CPU; in binary (`vector_values`, what ingestion and the searches"
        f" bind) {as_real:.2f} ms."
    )
    print(writes)
    summary = (
        f"{args.rows:,} unanswered questions ({DIMENSIONS} dimensions, {groups_formed:,} groups"
        f" among them), the latest {window:,} read and grouped, top {limit} returned; same groups"
        f" in the same order both ways; {args.repeat} rounds after a warm-up. Load average (1 min)"
        f" when it ended: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
    )
    print(summary)
    if writes_docs(args):
        write_section(
            "unanswered_groups",
            "\n".join(
                [
                    "Run `python -m bench.unanswered_groups` (`--quick`: 5 rounds). " + summary,
                    "",
                    table.markdown(),
                    "",
                    writes,
                ]
            ),
            machine=await database_versions(owner_url),
        )


async def bench_access(session: AsyncSession, workspace_id: uuid.UUID) -> WorkspaceAccess:
    """An owner's rights on the workspace (an operator's access: the same permission row)."""
    workspace = await get_workspace(session, workspace_id)
    assert workspace is not None
    return WorkspaceAccess.operator(workspace, command="bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--topics", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="5 rounds, docs left alone")
    parser.add_argument("--data-dir", default="/tmp/tb-bench-unanswered")
    add_write_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat = 5
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
