"""The database path of a rag chat turn, alone: the server's Python CPU per turn spent on it.

    .venv/bin/python -m bench.chat_db                  # 400 turns, ~1 minute with MiniLM
    .venv/bin/python -m bench.chat_db --turns 1000 --embedder hash

A workspace is set up through the API in this process (the demo FAQs and documents), then the
app is closed and a fresh ``Database`` replays the three transactions of the pipeline's rag
turn (``rag.chat.pipeline``) one turn after the other, each question pre-embedded (the model is
not measured):

1. ``record``: meter and record the visitor's message in a new conversation (the exact FAQ
   lookup in the same statement), durable off;
2. the read: ``faq_semantic`` then ``retrieve`` (``hnsw.ef_search`` set with the tenant), with
   the pipeline's weights: ``retrieval.Weights.of(settings)``, the RETRIEVAL_* settings (BM25
   fused at 0.3 by default: three more statements); ``--weights defaults`` ranks with
   ``retrieval.Weights()`` instead (BM25 and the lead off), the read of every figure in
   docs/benchmarks.md (all measured before BM25 shipped on);
3. ``record_answer`` with the LLM tokens (an unanswered question when nothing was found).

Printed: CPU microseconds of this process per transaction and per turn (``time.process_time``:
PostgreSQL is another process and is not counted; the median of ``--rounds`` rounds), the
round trips per turn, and how often SQLAlchemy compiled a statement again instead of taking it
from its compiled cache ("generated in" against "cached since" in the engine's log).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.chat_questions import unique_questions
from bench.chat_servers import fake_reply, open_database
from bench.common import ROOT, Table


def _cache_verdicts(engine: Any) -> tuple[Counter[str], Counter[str]]:
    """Counts SQLAlchemy's compiled-cache verdict of each statement sent (what the engine's
    log prints as "[generated in ...]", "[cached since ...]"), and the statements compiled
    again (by their first 90 characters)."""
    from sqlalchemy import event

    verdicts: Counter[str] = Counter()
    generated: Counter[str] = Counter()

    def listener(_c: Any, _cur: Any, statement: str, _p: Any, context: Any, _m: Any) -> None:
        if context is None or context.compiled is None:
            verdicts["raw sql"] += 1
            return
        verdict = context._get_cache_stats().split(" ")[0]
        verdicts[verdict] += 1
        if verdict != "cached":
            generated[" ".join(statement.split())[:90]] += 1

    event.listen(engine, "before_cursor_execute", listener)
    return verdicts, generated


@contextlib.contextmanager
def _count_round_trips() -> Iterator[Counter[str]]:
    """Counts what the driver sends while the block runs, SQLAlchemy's session or not
    (``core.direct`` sends its statements by asyncpg): simple-protocol messages (a
    transaction's prologue, ``COMMIT``, ``ROLLBACK``) and statements (asyncpg's own, and the
    prepared statements SQLAlchemy's adapter runs). With the statement caches warm, each is one
    round trip."""
    import asyncpg  # type: ignore[import-untyped]
    import asyncpg.prepared_stmt  # type: ignore[import-untyped]

    counts: Counter[str] = Counter()
    connection, prepared = asyncpg.connection.Connection, asyncpg.prepared_stmt.PreparedStatement
    originals = (connection.execute, connection._do_execute, prepared.fetch)

    async def execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if not args:
            word = query.split(None, 1)[0].rstrip(";").upper()
            counts["begin" if word == "BEGIN" else word.lower()] += 1
            return await originals[0](self, query, **kwargs)
        return await originals[0](self, query, *args, **kwargs)

    async def do_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["statements"] += 1
        return await originals[1](self, *args, **kwargs)

    async def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["statements"] += 1
        return await originals[2](self, *args, **kwargs)

    connection.execute, connection._do_execute, prepared.fetch = execute, do_execute, fetch
    try:
        yield counts
    finally:
        connection.execute, connection._do_execute, prepared.fetch = originals


async def _setup(args: argparse.Namespace, db_urls: Any, fake_url: str) -> tuple[Any, Any]:
    """A workspace with the demo FAQs and documents, made through the API in this process."""
    from api.app import create_app
    from bench.chat_profile import _workspace_in_process, in_process_settings

    settings = in_process_settings(args, db_urls, fake_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=120
        ) as client:
            ws = await _workspace_in_process(client, faqs=True)
        runtime = app.state.runtime
        rng = random.Random(args.seed)
        questions = unique_questions(args.turns * (args.rounds + 1), rng)
        vectors = await runtime.embedder.embed_documents(questions)
    return settings, (ws.id, list(zip(questions, vectors, strict=True)))


def weights_of(choice: str, settings: Any) -> Any:
    """The ``retrieval.Weights`` the read ranks with: the settings' (``settings``, as the
    pipeline ranks) or the class's defaults (``defaults``: BM25 and the lead off)."""
    from rag.knowledge import retrieval

    return retrieval.Weights.of(settings) if choice == "settings" else retrieval.Weights()


async def _turns(
    db: Any, settings: Any, workspace: Any, items: list[Any], weights: Any
) -> dict[str, float]:
    """The three transactions of each rag turn; CPU seconds of this process per transaction."""
    from dataclasses import replace

    import numpy as np

    from rag.chat.models import ChatMessage, UnansweredQuestion
    from rag.chat.relevance import WordMatch
    from rag.chat.repository import conversations as conversation_repo
    from rag.chat.shortcuts import faq_semantic
    from rag.chat.stages import Answer, record, retrieve
    from rag.knowledge import retrieval
    from workspaces import usage

    cpu: Counter[str] = Counter()
    k = settings.retrieval_k
    ef = {"hnsw.ef_search": str(retrieval.ef_search_for(k, retrieval.DEFAULT_MODE))}
    clock = time.process_time
    for question, vector in items:
        t0 = clock()
        async with db.transaction(workspace_id=workspace.id, durable=False) as session:
            turn = await record(
                session,
                workspace,
                message=question,
                intent="question",
                session_id=f"b-{uuid.uuid4().hex[:8]}",
                conversation_id=None,
                channel="widget",
                history_turns=settings.history_turns,
            )
        t1 = clock()
        turn = replace(turn, embedding=np.asarray(vector, dtype=np.float32))
        t1b = clock()
        async with db.direct(workspace_id=workspace.id, local=ef) as direct:
            answer = await faq_semantic(direct, turn, threshold=settings.faq_similarity_threshold)
            found = None
            if answer is None:
                found = await retrieve(
                    direct,
                    turn,
                    k=k,
                    min_similarity=settings.retrieval_min_similarity,
                    word_match=WordMatch(
                        settings.retrieval_word_match_similarity,
                        settings.retrieval_word_match_share,
                    ),
                    weights=weights,
                    metered_generation=True,
                )
        t2 = clock()
        unanswered = isinstance(found, Answer) and found.unanswered
        async with db.direct(workspace_id=workspace.id, durable=False) as direct:
            await conversation_repo.record_answer(
                direct,
                ChatMessage(
                    id=turn.message_id,
                    workspace_id=workspace.id,
                    conversation_id=turn.conversation_id,
                    role="assistant",
                    text="An answer of a few words, as the fake model gives [1].",
                    intent=turn.intent,
                    source="fallback" if unanswered else "rag",
                    citations=[{"n": 1, "title": "Pricing", "url": None}],
                    prompt_tokens=0 if unanswered else 420,
                    completion_tokens=0 if unanswered else 40,
                    latency_ms=12,
                    timings={"record": 1.0, "retrieval": 1.0, "total": 12.0},
                ),
                None if unanswered else usage.token_increment(workspace.id, 460),
                UnansweredQuestion(
                    id=uuid.uuid4(),
                    workspace_id=workspace.id,
                    question=question,
                    normalized=turn.normalized,
                    embedding=turn.embedding.tolist(),
                    conversation_id=turn.conversation_id,
                    message_id=turn.message_id,
                )
                if unanswered
                else None,
            )
        t3 = clock()
        cpu["record"] += t1 - t0
        cpu["read"] += t2 - t1b
        cpu["answer"] += t3 - t2
        cpu["faq" if answer is not None else "fallback" if unanswered else "rag"] += 1
    return dict(cpu)


async def run(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from core.db import Database
    from tests.fakes.openai_server import FakeOpenAI
    from workspaces.models import Workspace

    args.data_dir.mkdir(parents=True, exist_ok=True)
    urls = await open_database(args.data_dir)
    fake = FakeOpenAI(chat_reply=fake_reply).start()
    try:
        settings, (ws_id, items) = await _setup(args, urls, fake.base_url)
    finally:
        fake.stop()
    modes = [m.strip() for m in args.begin.split(",") if m.strip()]
    if not modes or set(modes) - {"separate", "fused"}:
        raise SystemExit(f"--begin: {args.begin!r}: separate, fused or both")

    def database(mode: str) -> Any:
        return Database.from_url(
            urls.app_url, pool_size=settings.db_pool_size, fused_begin=mode == "fused"
        )

    weights = weights_of(args.weights, settings)
    dbs = {mode: database(mode) for mode in modes}
    db = dbs[modes[0]]
    try:
        async with db.transaction(workspace_id=ws_id) as session:
            workspace = await session.get(Workspace, uuid.UUID(ws_id))
            session.expunge(workspace)
        if args.plan:
            # The turns meter against this plan (the row keeps its own): a plan with a daily
            # LLM token cap reads today's tokens in the turn (with the visitor's message).
            workspace.plan, workspace.plan_expires_at = args.plan, None
        per_turn: dict[str, dict[str, float]] = {}
        verdicts: Counter[str] = Counter()
        generated: Counter[str] = Counter()
        for mode in modes:
            db = dbs[mode]
            # Warm-up (connections, prepared statements, compiled cache), with the verdicts.
            await _turns(db, settings, workspace, items[: args.turns // 4], weights)
            verdicts, generated = _cache_verdicts(db.engine.sync_engine)
            sample = items[args.turns // 4 : args.turns // 4 + 50]
            with _count_round_trips() as trips:
                await _turns(db, settings, workspace, sample, weights)
            # The cache listeners stay on the engine for the sample only: a fresh one times.
            await db.dispose()
            db = dbs[mode] = database(mode)
            await _turns(db, settings, workspace, items[: args.turns // 4], weights)
            per_turn[mode] = {k: v / len(sample) for k, v in trips.items()}
            per_turn[mode]["round trips"] = sum(per_turn[mode].values())
        # The modes take turns, round after round, so a change in the machine's speed during
        # the run touches both.
        by_mode: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        offset = args.turns
        for _ in range(args.rounds):
            chunk = items[offset : offset + args.turns]
            offset += args.turns
            for mode in modes:
                by_mode[mode].append(await _turns(dbs[mode], settings, workspace, chunk, weights))
        rounds = by_mode[modes[0]]
        db = dbs[modes[0]]
        if args.profile:
            import cProfile
            import io
            import pstats

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            await _turns(db, settings, workspace, items[: args.turns], weights)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(45)
            stats.sort_stats("cumulative").print_stats(90)
            (args.data_dir / "chat-db-profile.txt").write_text(out.getvalue())
            print(f"profile written to {args.data_dir / 'chat-db-profile.txt'}")
    finally:
        for each in dbs.values():
            await each.dispose()
    print(f"load average: {os.getloadavg()[0]:.1f} (1 min)")
    print(
        f"turns per round: {args.turns}, rounds: {args.rounds}, embedder: {args.embedder},"
        f" plan: {args.plan or 'unlimited'}"
    )
    print(f"weights ({args.weights}): {weights}")
    print(
        "answered from (last round): "
        + ", ".join(f"{k} {int(rounds[-1].get(k, 0))}" for k in ("rag", "faq", "fallback"))
    )
    table = Table(
        ["transaction", *(f"{mode}: median us (rounds)" for mode in modes)]
        + (["change"] if len(modes) == 2 else [])
    )
    for key in ("record", "read", "answer", "total"):
        medians = []
        cells = []
        for mode in modes:
            keys = ("record", "read", "answer") if key == "total" else (key,)
            values = [sum(r[k] for k in keys) / args.turns * 1e6 for r in by_mode[mode]]
            medians.append(statistics.median(values))
            cells.append(f"{medians[-1]:.0f} ({' / '.join(f'{v:.0f}' for v in values)})")
        change = [f"{(medians[1] / medians[0] - 1) * 100:+.1f}%"] if len(modes) == 2 else []
        table.add(key, *cells, *change)
    for name in ("round trips", "statements", "begin", "commit"):
        table.add(
            f"{name} per turn",
            *(f"{per_turn[m].get(name, 0):.2f}" for m in modes),
            *([""] if len(modes) == 2 else []),
        )
    table.print("CPU of this process per rag turn's database work (microseconds)")
    print(
        f"compiled cache (50 turns after warm-up, {modes[-1]}): "
        + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))
    )
    for stmt, n in generated.most_common(8):
        print(f"  generated {n}x: {stmt!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", choices=["local", "hash"], default="local")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tb-bench-chat-db"))
    parser.add_argument("--turns", type=int, default=400, help="turns per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--profile", action="store_true", help="cProfile one more round")
    parser.add_argument(
        "--plan",
        default="",
        help="meter the turns against this plan (free, starter, pro: a daily LLM token cap);"
        " default: the bench's unlimited plan",
    )
    parser.add_argument(
        "--begin",
        default="separate,fused",
        help="how each transaction begins, side by side: separate (BEGIN, then the tenant as a"
        " statement), fused (the tenant with BEGIN, the default); the profile uses the first",
    )
    parser.add_argument(
        "--weights",
        choices=["settings", "defaults"],
        default="settings",
        help="how the read ranks pages: the RETRIEVAL_* settings' weights, as the pipeline"
        " (default), or retrieval.Weights()'s defaults, BM25 and the lead off, as the figures"
        " in docs/benchmarks.md were measured",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
