"""What a transaction costs through PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer).

    .venv/bin/python -m bench.pooler            # 2,000 transactions per row
    .venv/bin/python -m bench.pooler --quick    # 300 (a smoke run)

Each transaction is what a request's unit of work does at least: the tenant context (with the
timeouts, through the pooler) and one RLS-filtered read. Three ways, side by side: straight to
PostgreSQL as the app runs today (asyncpg's prepared statements cached per connection); straight
to PostgreSQL with the pooler settings (caches off, unnamed statements: what they cost alone);
through Debian's PgBouncer in transaction mode with fewer server connections than clients.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from bench.common import (
    Table,
    add_write_options,
    database_versions,
    pct,
    write_section,
    writes_docs,
)
from core import migrate
from core.db import Database, Pooler
from core.embedded import embedded_postgres
from tests.topology import pgbouncer_binary, socket_target, start_pgbouncer

APP_ROLE = "trulybot_app"
SERVER_CONNECTIONS = 4


async def measure(database: Database, transactions: int, concurrency: int) -> list[float]:
    workspace_id = uuid.uuid4()
    timings: list[float] = []
    remaining = transactions

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            async with database.transaction(workspace_id=workspace_id) as session:
                await session.execute(text("SELECT count(*) FROM leads"))
            timings.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return timings


async def run(args: argparse.Namespace) -> None:
    if pgbouncer_binary() is None:
        raise SystemExit("pgbouncer is not installed (apt-get install pgbouncer)")
    data_dir = Path(args.data_dir)
    pg = await embedded_postgres(data_dir, database="trulybot_bench_pooler", recreate=True)
    await migrate.ensure_app_role(pg.owner_url(), APP_ROLE)
    await migrate.upgrade(pg.owner_url(), app_role=APP_ROLE)
    bouncer = start_pgbouncer(
        data_dir / "pgbouncer",
        {pg.database: socket_target(pg.socket_dir, pg.database)},
        pool_size=SERVER_CONNECTIONS,
    )
    ways: list[tuple[str, str, Pooler]] = [
        ("direct, statements cached", pg.app_url(APP_ROLE), "none"),
        ("direct, pooler settings", pg.app_url(APP_ROLE), "pgbouncer"),
        (
            f"PgBouncer (transaction, {SERVER_CONNECTIONS} server conns)",
            bouncer.url(APP_ROLE, pg.database),
            "pgbouncer",
        ),
    ]
    table = Table(["way", "clients", "transactions/s", "p50 ms", "p95 ms"])
    try:
        for concurrency in (1, 16):
            for name, url, pooler in ways:
                database = Database.from_url(
                    url, pooler=pooler, pool_size=concurrency, max_overflow=0
                )
                try:
                    await measure(database, min(100, args.transactions), concurrency)  # warm-up
                    started = time.perf_counter()
                    timings = await measure(database, args.transactions, concurrency)
                    elapsed = time.perf_counter() - started
                finally:
                    await database.dispose()
                table.add(
                    name,
                    concurrency,
                    f"{len(timings) / elapsed:,.0f}",
                    pct(timings, 0.5) * 1000,
                    pct(timings, 0.95) * 1000,
                )
                print(f"  {name}, {concurrency} clients: done")
    finally:
        bouncer.stop()
    table.print()
    load = f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
    versions = await database_versions(pg.owner_url())
    summary = (
        f"{args.transactions:,} transactions per row (tenant context + one RLS-filtered read),"
        f" after a warm-up; PostgreSQL {versions.get('postgresql', '?')} on a Unix socket,"
        f" PgBouncer 1.18 on 127.0.0.1. {load}"
    )
    print(summary)
    if writes_docs(args):
        write_section(
            "pooler",
            "\n".join(
                [
                    "Run `python -m bench.pooler` (`--quick`: 300 transactions). " + summary,
                    "",
                    table.markdown(),
                ]
            ),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="300 transactions per row")
    parser.add_argument("--data-dir", default="/tmp/tb-bench-pooler")
    add_write_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.transactions = 300
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
