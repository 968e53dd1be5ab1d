"""Workspace exports: memory of the streamed build against loading everything first, side by side.

``python -m bench.export_memory [--sizes 1000,10000] [--messages 10] [--no-write]``

For workspaces of N conversations with M messages each (seeded with one INSERT ... SELECT on
the embedded PostgreSQL), in one run:

* **streamed** (ours, ``lifecycle.exports.build_export``): rows come from a server-side cursor
  in batches of 500 and go straight into the zip;
* **load-all** (the obvious alternative, kept here as the baseline): every conversation and
  message row fetched into a list, the conversations JSON built in memory, then written.

Peak Python memory is tracemalloc's peak during the build (allocations by the driver included),
so the two are measured the same way; seconds include tracemalloc's overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
import uuid
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from bench.common import Table, add_write_options, write_section, writes_docs
from core import migrate
from core.config import Settings
from core.db import Database, create_engine
from core.embedded import embedded_postgres
from lifecycle import exports
from rag.chat.models import ChatMessage, Conversation

MIB = 1024 * 1024


async def seed(owner_url: str, conversations: int, messages: int) -> uuid.UUID:
    ws = uuid.uuid4()
    engine = create_engine(owner_url, pool_size=1, max_overflow=0, statement_timeout_ms=0)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO workspaces (id, name, slug, plan, public_key)"
                " VALUES (:i, 'bench', :s, 'unlimited', :p)"
            ),
            {"i": ws, "s": f"bench-{ws.hex[:10]}", "p": f"pk_{ws.hex}"},
        )
        await conn.execute(
            text(
                "INSERT INTO conversations (id, workspace_id, session_id, channel, status,"
                " message_count, created_at, last_message_at)"
                " SELECT gen_random_uuid(), :ws, 'visitor-' || g, 'widget', 'open', :m, now(),"
                " now() FROM generate_series(1, :n) g"
            ),
            {"ws": ws, "n": conversations, "m": messages},
        )
        await conn.execute(
            text(
                "INSERT INTO messages (id, workspace_id, conversation_id, role, text, citations,"
                " prompt_tokens, completion_tokens, created_at)"
                " SELECT gen_random_uuid(), :ws, c.id,"
                " CASE WHEN g % 2 = 0 THEN 'assistant' ELSE 'user' END,"
                " repeat('Opening hours and returns policy, message ' || g || '. ', 4),"
                " '[]'::jsonb, 0, 0, now() + g * interval '1 second'"
                " FROM conversations c, generate_series(1, :m) g WHERE c.workspace_id = :ws"
            ),
            {"ws": ws, "m": messages},
        )
        await conn.execute(
            text(
                "INSERT INTO workspace_exports (id, workspace_id, status)"
                " VALUES (:i, :ws, 'queued')"
            ),
            {"i": ws, "ws": ws},  # the export's id is the workspace's: one per workspace here
        )
    await engine.dispose()
    return ws


async def load_all(db: Database, ws: uuid.UUID, path: Path) -> None:
    """The baseline: every row in memory, then one JSON document written."""
    async with db.transaction(workspace_id=ws) as session:
        conversations = (
            (await session.execute(select(Conversation).where(Conversation.workspace_id == ws)))
            .scalars()
            .all()
        )
        messages = (
            (await session.execute(select(ChatMessage).where(ChatMessage.workspace_id == ws)))
            .scalars()
            .all()
        )
    by_conversation: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for m in messages:
        by_conversation.setdefault(m.conversation_id, []).append(
            {
                "id": str(m.id),
                "role": m.role,
                "text": m.text,
                "created_at": m.created_at.isoformat(),
            }
        )
    document = [
        {"id": str(c.id), "session_id": c.session_id, "messages": by_conversation.get(c.id, [])}
        for c in conversations
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", json.dumps(document))


async def measure(coro: Any) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    await coro
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / MIB, seconds


async def run(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    pg = await embedded_postgres(data_dir, database="trulybot_bench_export", recreate=True)
    await migrate.ensure_app_role(pg.owner_url(), "trulybot_app")
    await migrate.upgrade(pg.owner_url(), app_role="trulybot_app")
    db = Database.from_url(pg.app_url("trulybot_app"), statement_timeout_ms=0)
    settings = Settings(_env_file=None, environment="test", data_dir=data_dir)  # type: ignore[call-arg]
    table = Table(
        [
            "conversations",
            "messages",
            "streamed peak MiB",
            "load-all peak MiB",
            "zip MiB",
            "streamed s",
            "load-all s",
        ]
    )
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            ws = await seed(pg.owner_url(), size, args.messages)
            ours, ours_s = await measure(
                exports.build_export(db, settings, workspace_id=ws, export_id=ws)
            )
            zips = sorted(
                exports.exports_dir(settings).glob("*.zip"), key=lambda p: p.stat().st_mtime
            )
            zip_mib = zips[-1].stat().st_size / MIB
            baseline, base_s = await measure(load_all(db, ws, data_dir / "load-all.zip"))
            table.add(size, size * args.messages, ours, baseline, zip_mib, ours_s, base_s)
    finally:
        await db.dispose()
        pg.release()
    table.print()
    if writes_docs(args):
        write_section(
            "export_memory",
            "\n".join(
                [
                    "## Workspace exports: memory",
                    "",
                    "Run `python -m bench.export_memory` (a shared 2-core machine; seconds include"
                    " tracemalloc's overhead). Streamed: `lifecycle.exports.build_export`, every"
                    " file of the zip; load-all: only conversations.json, built from every row"
                    " fetched first.",
                    "",
                    table.markdown(),
                ]
            ),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="workspace export memory")
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--data-dir", default=".trulybot/bench-export")
    add_write_options(parser)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
