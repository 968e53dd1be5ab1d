"""What must hold after the soak, read from the primary as the owner role (which sees every
tenant): documents settled, quota counters equal to their rows, payments applied once, and no
owner's list showing another tenant's rows."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.topology_load import Tenant

SETTLED = ("ready", "failed")


def plain(url: str) -> str:
    """asyncpg's own URL form of a SQLAlchemy one."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


async def documents_settle(owner_url: str, workspace_ids: list[str], grace: float) -> Check:
    """Every document of the run ends ``ready`` or ``failed`` with a reason, within ``grace``
    seconds after the load stopped."""
    deadline = time.monotonic() + grace
    conn = await asyncpg.connect(plain(owner_url))
    try:
        while True:
            rows = await conn.fetch(
                "SELECT status, (error IS NULL OR error_code IS NULL) AS no_reason, count(*) AS n"
                " FROM documents WHERE workspace_id = ANY($1::uuid[]) GROUP BY 1, 2",
                workspace_ids,
            )
            unsettled = sum(r["n"] for r in rows if r["status"] not in SETTLED)
            if not unsettled or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        waited = grace - max(0.0, deadline - time.monotonic())
    finally:
        await conn.close()
    counts = {r["status"]: 0 for r in rows}
    for r in rows:
        counts[r["status"]] += r["n"]
    failed_without_reason = sum(r["n"] for r in rows if r["status"] == "failed" and r["no_reason"])
    shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    ok = unsettled == 0 and failed_without_reason == 0
    detail = f"{shown}; unsettled {unsettled} after {waited:.0f} s"
    if failed_without_reason:
        detail += f"; {failed_without_reason} failed without a reason"
    return Check("documents ready or failed with a reason", ok, detail)


COUNTERS_SQL = """
SELECT w.id AS workspace_id,
       coalesce(u.conversations, 0) AS conversations_counter,
       (SELECT count(*) FROM conversations c WHERE c.workspace_id = w.id
          AND to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM') = $2) AS conversations,
       coalesce(u.messages, 0) AS messages_counter,
       (SELECT count(*) FROM messages m WHERE m.workspace_id = w.id AND m.role = 'user'
          AND to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM') = $2) AS messages,
       coalesce(u.documents, 0) AS documents_counter,
       (SELECT count(*) FROM documents d WHERE d.workspace_id = w.id AND d.counted) AS documents,
       coalesce(u.chunks, 0) AS chunks_counter,
       (SELECT count(*) FROM chunks k WHERE k.workspace_id = w.id) AS chunks
FROM workspaces w LEFT JOIN usage_counters u ON u.workspace_id = w.id AND u.month = $2
WHERE w.id = ANY($1::uuid[])
"""


async def counters_match(owner_url: str, workspace_ids: list[str]) -> Check:
    """Each workspace's monthly counters equal the rows they count (the soak runs within one
    month, uploads only new documents and deletes nothing)."""
    month = time.strftime("%Y-%m", time.gmtime())
    conn = await asyncpg.connect(plain(owner_url))
    try:
        rows = await conn.fetch(COUNTERS_SQL, workspace_ids, month)
    finally:
        await conn.close()
    wrong: list[str] = []
    totals: dict[str, int] = {}
    for row in rows:
        for metric in ("conversations", "messages", "documents", "chunks"):
            totals[metric] = totals.get(metric, 0) + int(row[metric])
            if row[f"{metric}_counter"] != row[metric]:
                wrong.append(f"{metric} {row[f'{metric}_counter']} vs {row[metric]} rows")
    shown = ", ".join(f"{k} {v}" for k, v in totals.items())
    return Check("quota counters equal their rows", not wrong, "; ".join(wrong[:4]) or shown)


async def payments_once(owner_url: str, tenants: list[Tenant]) -> Check:
    """Each payment (its webhook delivered twice) is one payment row and appears once in its
    workspace's applied payments; the duplicate delivery was recorded as one event."""
    conn = await asyncpg.connect(plain(owner_url))
    wrong: list[str] = []
    total = 0
    try:
        for tenant in tenants:
            applied = await conn.fetchval(
                "SELECT applied_payment_ids FROM subscriptions WHERE workspace_id = $1::uuid",
                tenant.workspace_id,
            )
            for payment in tenant.payments:
                total += 1
                rows = await conn.fetchval(
                    "SELECT count(*) FROM billing_payments WHERE razorpay_payment_id = $1"
                    " AND workspace_id = $2::uuid",
                    payment,
                    tenant.workspace_id,
                )
                times = list(applied or []).count(payment)
                if rows != 1 or times != 1:
                    wrong.append(f"{payment}: {rows} rows, applied {times}x")
    finally:
        await conn.close()
    return Check("payments applied once", not wrong, "; ".join(wrong[:4]) or f"{total} payments")


async def no_cross_tenant(owner_url: str, tenants: list[Tenant]) -> Check:
    """Every id an owner's lists showed belongs to that owner's workspace."""
    conn = await asyncpg.connect(plain(owner_url))
    foreign = 0
    seen = 0
    try:
        for tenant in tenants:
            ids = sorted(tenant.listed)
            seen += len(ids)
            rows: list[Any] = await conn.fetch(
                "SELECT id, workspace_id FROM documents WHERE id = ANY($1::uuid[])"
                " UNION ALL SELECT id, workspace_id FROM conversations WHERE id = ANY($1::uuid[])",
                ids,
            )
            foreign += sum(1 for r in rows if str(r["workspace_id"]) != tenant.workspace_id)
            foreign += len(ids) - len(rows)  # an id no table holds is not this tenant's either
    finally:
        await conn.close()
    return Check("no cross-tenant read", foreign == 0, f"{seen} listed ids, {foreign} foreign")
