"""The retention sweep's batch select: unlocked (before) against locked by id, and where the
locking statement finds its rows (``lifecycle.repository.delete_conversations_before`` now).

``python -m bench.retention_batch_lock [--old 100000] [--others 400000]``

On a cluster of its own (``pgserver`` under a temporary directory, stopped at the end): a
conversations table of the real one's key columns and index (``ix_conversations_workspace_last``),
one workspace with ``--old`` conversations past its retention (and as many recent ones), 200
other workspaces with ``--others`` in all, inserted in a random order. For each select: the
median of five first batches (1000 rows, in a transaction rolled back), a whole sweep of the
workspace (batches of 1000 selected and deleted until one comes back short, in one transaction
rolled back), and the plan's top nodes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from typing import Any

import pgserver
import psycopg

BATCH = 1000
OLD = "workspace_id = %(ws)s AND last_message_at < %(before)s"
SELECTS: dict[str, tuple[str, ...]] = {
    "unlocked, any n (before)": (
        "SELECT id FROM conversations WHERE id IN"
        f" (SELECT id FROM conversations WHERE {OLD} LIMIT %(n)s)",
    ),
    "one statement: FOR UPDATE, ORDER BY id LIMIT n (not taken)": (
        f"SELECT id FROM conversations WHERE {OLD} ORDER BY id LIMIT %(n)s FOR UPDATE",
    ),
    "one statement: FOR UPDATE by id of a subquery's oldest n": (
        f"SELECT id FROM conversations WHERE {OLD} AND id IN (SELECT id FROM conversations"
        f" WHERE {OLD} ORDER BY last_message_at LIMIT %(n)s) ORDER BY id FOR UPDATE",
    ),
    "any n (as before), then FOR UPDATE by id": (
        f"SELECT id FROM conversations WHERE {OLD} LIMIT %(n)s",
        f"SELECT id FROM conversations WHERE {OLD} AND id = ANY(%(ids)s) ORDER BY id FOR UPDATE",
    ),
    "the oldest n by the index, then FOR UPDATE by id (now)": (
        f"SELECT id FROM conversations WHERE {OLD} ORDER BY last_message_at LIMIT %(n)s",
        f"SELECT id FROM conversations WHERE {OLD} AND id = ANY(%(ids)s) ORDER BY id FOR UPDATE",
    ),
}


def _select(conn: psycopg.Connection[Any], sqls: tuple[str, ...], params: dict[str, Any]) -> list:
    """The batch's ids: each statement given the ids the one before it returned."""
    ids: list[Any] = []
    for sql in sqls:
        ids = [row[0] for row in conn.execute(sql, params | {"ids": ids}).fetchall()]
    return ids


def _load(conn: psycopg.Connection[Any], ws: uuid.UUID, old: int, others: int) -> None:
    conn.execute(
        "CREATE TABLE conversations (id uuid PRIMARY KEY, workspace_id uuid NOT NULL,"
        " last_message_at timestamptz NOT NULL)"
    )
    conn.execute(
        "CREATE INDEX ix_conversations_workspace_last ON conversations"
        " (workspace_id, last_message_at)"
    )
    # The workspace's conversations, old and recent, among 200 others' (all old), in a random
    # order: rows interleaved in the heap as months of traffic leave them.
    spread = "now() - make_interval(days => 40 + g %% 300)"
    conn.execute(
        "INSERT INTO conversations SELECT * FROM ("
        " SELECT gen_random_uuid(), %(ws)s::uuid,"
        f" CASE WHEN g <= %(old)s THEN {spread} ELSE now() - make_interval(hours => g %% 500) END"
        " FROM generate_series(1, 2 * %(old)s) g"
        " UNION ALL SELECT gen_random_uuid(),"
        " ('00000000-0000-0000-0000-' || lpad((g %% 200)::text, 12, '0'))::uuid, "
        f" {spread} FROM generate_series(1, %(n)s) g) rows ORDER BY random()",
        {"ws": ws, "old": old, "n": others},
    )
    conn.execute("VACUUM ANALYZE conversations")


def _first_batch_ms(
    conn: psycopg.Connection[Any], sqls: tuple[str, ...], params: dict[str, Any]
) -> float:
    runs: list[float] = []
    for _ in range(5):
        with conn.transaction(force_rollback=True):
            start = time.perf_counter()
            _select(conn, sqls, params)
            runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def _sweep_s(
    conn: psycopg.Connection[Any], sqls: tuple[str, ...], params: dict[str, Any]
) -> tuple[float, int]:
    deleted = 0
    with conn.transaction(force_rollback=True):
        start = time.perf_counter()
        while True:
            ids = _select(conn, sqls, params)
            conn.execute("DELETE FROM conversations WHERE id = ANY(%(ids)s)", {"ids": ids})
            deleted += len(ids)
            if len(ids) < BATCH:
                break
        return time.perf_counter() - start, deleted


def _plan(conn: psycopg.Connection[Any], sqls: tuple[str, ...], params: dict[str, Any]) -> str:
    """Each statement's plan nodes (the conditions left out), statements apart by ";"."""
    plans = []
    with conn.transaction(force_rollback=True):
        for sql in sqls:
            rows = conn.execute("EXPLAIN (COSTS OFF) " + sql, params | {"ids": []}).fetchall()
            nodes = [str(r[0]).strip().removeprefix("->  ").split("  ")[0] for r in rows]
            skip = ("Index Cond", "Filter", "Sort Key", "Group Key")
            plans.append(" > ".join(n for n in nodes if not n.startswith(skip)))
    return "; ".join(plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=400_000)
    args = parser.parse_args()
    ws = uuid.uuid4()
    with tempfile.TemporaryDirectory() as data:
        server = pgserver.get_server(data, cleanup_mode="stop")
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                _load(conn, ws, args.old, args.others)
                (before,) = conn.execute("SELECT now() - interval '30 days'").fetchone() or ()
                params = {"ws": ws, "before": before, "n": BATCH}
                print(
                    f"| select ({args.old:,} old of the workspace, {args.others:,} others)"
                    " | first batch ms | whole sweep s | deleted | plan |"
                )
                print("|---|---|---|---|---|")
                for name, sqls in SELECTS.items():
                    first = _first_batch_ms(conn, sqls, params)
                    seconds, deleted = _sweep_s(conn, sqls, params)
                    plan = _plan(conn, sqls, params)
                    print(f"| {name} | {first:.1f} | {seconds:.2f} | {deleted:,} | {plan} |")
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
