"""Deleting a workspace and an account through the HTTP API.

The purge test finds the tenant tables in the database catalog (every table with a
``workspace_id`` column), so a table added later is covered without editing it: each must hold
rows of the doomed workspace before (the fixture fills them, or the test fails and names the
table), none after, and another workspace's rows are untouched.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from core.jobs import ArqQueue
from core.models import utcnow
from lifecycle import exports
from lifecycle import jobs as lifecycle_jobs
from lifecycle.jobs import LifecycleDeps
from rag.chat import analytics
from tests.conftest import REDIS_URL, Owner, RuntimeFactory, client_for, join, signup
from tests.lifecycle.data import fill, tick_due, widget
from workspaces import notifications

CATALOG = text(
    "SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE a.attname = 'workspace_id' AND NOT a.attisdropped AND c.relkind IN ('r', 'p')"
    " AND n.nspname = 'public' ORDER BY 1"
)


async def counts(owner_db: Database, workspace_id: str) -> dict[str, int]:
    """Rows of the workspace in every tenant table, plus its own row (as the owner: past RLS)."""
    async with owner_db.transaction() as session:
        tables = [str(t) for t in (await session.execute(CATALOG)).scalars()]
        found = {
            table: int(
                (
                    await session.execute(
                        text(f'SELECT count(*) FROM "{table}" WHERE workspace_id = :ws'),  # noqa: S608
                        {"ws": workspace_id},
                    )
                ).scalar_one()
            )
            for table in tables
        }
        found["workspaces"] = int(
            (
                await session.execute(
                    text("SELECT count(*) FROM workspaces WHERE id = :ws"), {"ws": workspace_id}
                )
            ).scalar_one()
        )
    return found


@pytest.fixture
async def rt(runtime_factory: RuntimeFactory) -> AsyncIterator[Runtime]:
    async with runtime_factory(workspace_deletion_grace_hours=0) as runtime:
        yield runtime


@pytest.fixture
async def http(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(rt) as client:
        yield client


async def _fill_everything(
    client: httpx.AsyncClient, owner: Owner, rt: Runtime, owner_db: Database
) -> None:
    """Something in every tenant table: through the API where a person or visitor makes it,
    directly where only an outside party does (payments, webhook deliveries, LLM tokens)."""
    filled = await fill(client, owner, rt.jobs)
    member = await signup(client, "Teammate")
    await join(client, owner, member, "member")
    # Notifications: the member's preference, an event, and its digest item.
    digest = await client.put(
        owner.url("/notifications/preferences"),
        json={"preferences": {"lead.created": "daily_digest"}},
        headers=member.headers,
    )
    assert digest.status_code == 200, digest.text
    lead = await client.post(
        "/api/v1/widget/leads",
        json={"email": f"digest-{uuid.uuid4().hex[:8]}@example.com"},
        headers=widget(owner),
    )
    assert lead.status_code == 202, lead.text
    key = await client.post(owner.url("/api-keys"), json={"name": "ci"}, headers=owner.headers)
    assert key.status_code == 201, key.text
    export = await client.post(owner.url("/exports"), headers=owner.headers)
    assert export.status_code == 202, export.text
    # A question the bot cannot answer, and the visitor's feedback on the answer.
    chat = await client.post(
        "/api/v1/chat",
        json={"message": f"What is the warranty on model {filled.tag}?", "session_id": "v2"},
        headers=widget(owner),
    )
    assert chat.status_code == 200, chat.text
    rated = await client.post(
        "/api/v1/widget/feedback",
        json={"message_id": chat.json()["message_id"], "rating": "down", "session_id": "v2"},
        headers=widget(owner),
    )
    assert rated.status_code < 300, rated.text
    await notifications.settle_kicks()  # the lead's dispatch job (its digest item)
    await rt.jobs.drain()
    # A deleted lead's count kept for its day (analytics_daily_purged, migration 0028).
    spare = await client.post(
        owner.url("/leads"),
        json={"email": f"spare-{uuid.uuid4().hex[:8]}@example.com"},
        headers=owner.headers,
    )
    assert spare.status_code == 201, spare.text
    gone = await client.delete(owner.url(f"/leads/{spare.json()['id']}"), headers=owner.headers)
    assert gone.status_code == 204, gone.text
    # The scheduled rollup of what the bot did (issue 16).
    await analytics.refresh(rt.db, workspace_id=uuid.UUID(owner.workspace_id), now=utcnow())
    ws = owner.workspace_id
    async with owner_db.transaction() as session:
        # What Razorpay and the webhook receiver would have caused.
        order = uuid.uuid4()
        await session.execute(
            text(
                "INSERT INTO billing_orders (id, workspace_id, plan, period, amount, currency,"
                " razorpay_order_id, status) VALUES (:id, :ws, 'pro', 'monthly', 100, 'INR',"
                " :rz, 'paid')"
            ),
            {"id": order, "ws": ws, "rz": f"order_{uuid.uuid4().hex[:14]}"},
        )
        await session.execute(
            text(
                "INSERT INTO billing_payments (id, workspace_id, order_id, razorpay_payment_id,"
                " amount, currency, status, source) VALUES (:id, :ws, :order, :rz, 100, 'INR',"
                " 'captured', 'webhook')"
            ),
            {"id": uuid.uuid4(), "ws": ws, "order": order, "rz": f"pay_{uuid.uuid4().hex[:14]}"},
        )
        await session.execute(
            text(
                "INSERT INTO subscriptions (workspace_id, plan, period, status)"
                " VALUES (:ws, 'pro', 'monthly', 'active') ON CONFLICT DO NOTHING"
            ),
            {"ws": ws},
        )
        await session.execute(
            text(
                "INSERT INTO billing_events (id, event_id, workspace_id, event_type)"
                " VALUES (:uid, :id, :ws, 'payment.captured')"
            ),
            {"uid": uuid.uuid4(), "id": f"evt_{uuid.uuid4().hex[:14]}", "ws": ws},
        )
        # Tokens a generator spent (the extractive default spends none).
        await session.execute(
            text("INSERT INTO usage_daily (workspace_id, day, llm_tokens) VALUES (:ws, now(), 7)"),
            {"ws": ws},
        )
        await session.execute(
            text(
                "INSERT INTO webhook_deliveries (id, workspace_id, event, url, payload)"
                " VALUES (:id, :ws, 'lead.created', 'https://example.com/hook', '{}'::jsonb)"
            ),
            {"id": uuid.uuid4(), "ws": ws},
        )
        # A chunk's BM25 terms, as ingestion stores them while RETRIEVAL_LEXICAL_WEIGHT is
        # above 0 (issue 12): one more, or the only one if the upload above ran at 0.
        await session.execute(
            text(
                "INSERT INTO chunk_terms (workspace_id, chunk_id, term, tf, len)"
                " SELECT workspace_id, id, 'purg', 1, 1 FROM chunks WHERE workspace_id = :ws"
                " LIMIT 1 ON CONFLICT DO NOTHING"
            ),
            {"ws": ws},
        )
        stored = await session.execute(
            text("SELECT count(*) FROM chunk_terms WHERE workspace_id = :ws"), {"ws": ws}
        )
        assert stored.scalar_one() >= 1, "the workspace has a chunk to give terms to"
        # A web source and one sync record (issue 16), made without fetching anything.
        source_id = uuid.uuid4()
        await session.execute(
            text(
                "INSERT INTO sources (id, workspace_id, url, kind)"
                " VALUES (:id, :ws, 'https://example.com/', 'page')"
            ),
            {"id": source_id, "ws": ws},
        )
        await session.execute(
            text(
                "INSERT INTO source_syncs (id, workspace_id, source_id, trigger)"
                " VALUES (:id, :ws, :source, 'manual')"
            ),
            {"id": uuid.uuid4(), "ws": ws, "source": source_id},
        )


async def test_a_purge_leaves_no_row_of_the_workspace_in_any_tenant_table(
    http: httpx.AsyncClient, rt: Runtime, owner_db: Database, redis_client: Redis
) -> None:
    doomed = await signup(http, "Doomed")
    kept = await signup(http, "Kept")
    await _fill_everything(http, doomed, rt, owner_db)
    await _fill_everything(http, kept, rt, owner_db)
    before = await counts(owner_db, doomed.workspace_id)
    assert [table for table, n in before.items() if n == 0] == [], "fill these tables"
    kept_before = await counts(owner_db, kept.workspace_id)
    export_files = list(exports.exports_dir(rt.settings).glob("*.zip"))
    await redis_client.set(f"tb:rcs:{doomed.workspace_id}", "1")  # what the cache keeps
    await redis_client.set(f"tb:rcs:{kept.workspace_id}", "1")

    response = await http.request(
        "DELETE",
        doomed.url(),
        json={"confirm": doomed.workspace["slug"]},
        headers=doomed.headers,
    )
    assert response.status_code == 202, response.text
    await rt.jobs.drain()

    after = await counts(owner_db, doomed.workspace_id)
    assert {table: n for table, n in after.items() if n} == {}
    assert await counts(owner_db, kept.workspace_id) == kept_before
    assert await redis_client.exists(f"tb:rcs:{doomed.workspace_id}") == 0
    assert await redis_client.exists(f"tb:rcs:{kept.workspace_id}") == 1
    left = set(exports.exports_dir(rt.settings).glob("*.zip"))
    gone = [f for f in export_files if f not in left]
    assert len(gone) == 1  # the doomed workspace's export; the kept one's stays
    # The users remain (they may belong elsewhere); the API key died with the workspace.
    me = await http.get("/api/v1/me", headers=doomed.headers)
    assert me.status_code == 200
    assert me.json()["workspaces"] == []


async def test_access_ends_at_once_and_an_owner_may_restore_during_the_grace_period(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime, owner_db: Database
) -> None:
    filled = await fill(client, owner, runtime.jobs)
    key = await client.post(owner.url("/api-keys"), json={"name": "ci"}, headers=owner.headers)
    api_key = {"Authorization": f"Bearer {key.json()['key']}"}
    admin = await signup(client, "Admin")
    await join(client, owner, admin, "admin")
    slug = owner.workspace["slug"]

    wrong = await client.request(
        "DELETE", owner.url(), json={"confirm": slug + "-x"}, headers=owner.headers
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "confirmation_mismatch"
    by_admin = await client.request(
        "DELETE", owner.url(), json={"confirm": slug}, headers=admin.headers
    )
    assert by_admin.status_code == 403
    assert (await client.get(owner.url(), headers=owner.headers)).status_code == 200

    deleted = await client.request(
        "DELETE", owner.url(), json={"confirm": slug}, headers=owner.headers
    )
    assert deleted.status_code == 202, deleted.text
    body = deleted.json()
    assert body["purge_after"] > body["deleted_at"]
    for headers in (owner.headers, admin.headers, api_key):
        assert (await client.get(owner.url("/leads"), headers=headers)).status_code == 404
    chat = await client.post(
        "/api/v1/chat", json={"message": "hi", "session_id": "x"}, headers=widget(owner)
    )
    assert chat.status_code == 401
    me = await client.get("/api/v1/me", headers=owner.headers)
    assert owner.workspace_id not in [w["id"] for w in me.json()["workspaces"]]
    # Its owner finds it among the restorable ones, with the time its grace ends; an admin,
    # who may not restore it, does not.
    [listed] = me.json()["deleted_workspaces"]
    assert (listed["id"], listed["purge_after"]) == (owner.workspace_id, body["purge_after"])
    by_admin_me = await client.get("/api/v1/me", headers=admin.headers)
    assert by_admin_me.json()["deleted_workspaces"] == []
    # Nothing is purged yet: the sweep at the present time finds nothing due.
    await tick_due(runtime, "purge_deleted_workspaces", utcnow())
    await runtime.jobs.drain()
    assert (await counts(owner_db, owner.workspace_id))["leads"] == 2

    refused = await client.post(owner.url("/restore"), headers=admin.headers)
    assert refused.status_code == 403
    restored = await client.post(owner.url("/restore"), headers=owner.headers)
    assert restored.status_code == 200, restored.text
    leads = await client.get(owner.url("/leads"), headers=api_key)
    assert leads.status_code == 200
    assert {lead["email"] for lead in leads.json()["items"]} == {
        filled.lead_email,
        filled.visitor_email,
    }
    me = await client.get("/api/v1/me", headers=owner.headers)
    assert me.json()["deleted_workspaces"] == []
    again = await client.post(owner.url("/restore"), headers=owner.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_deleted"

    # Deleted again and left past the grace period: the scheduled sweep purges it.
    await client.request("DELETE", owner.url(), json={"confirm": slug}, headers=owner.headers)
    past = utcnow() + timedelta(hours=runtime.settings.workspace_deletion_grace_hours, minutes=1)
    assert "purge_deleted_workspaces" in await tick_due(runtime, "purge_deleted_workspaces", past)
    await runtime.jobs.drain()
    assert sum((await counts(owner_db, owner.workspace_id)).values()) == 0
    assert (await client.post(owner.url("/restore"), headers=owner.headers)).status_code == 404


async def test_account_deletion_waits_for_a_handover_then_takes_lone_workspaces_along(
    http: httpx.AsyncClient, rt: Runtime, owner_db: Database
) -> None:
    owner = await signup(http, "Shared")
    teammate = await signup(http, "Teammate home")
    await join(http, owner, teammate, "admin")
    alone = await http.post("/api/v1/workspaces", json={"name": "Solo"}, headers=owner.headers)
    assert alone.status_code == 201, alone.text
    solo_id = alone.json()["id"]
    await fill(
        http,
        Owner(**{**owner.__dict__, "workspace_id": solo_id, "workspace": alone.json()}),
        rt.jobs,
    )

    wrong = await http.request(
        "DELETE", "/api/v1/me", json={"password": "not it at all"}, headers=owner.headers
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "wrong_password"
    blocked = await http.request(
        "DELETE", "/api/v1/me", json={"password": owner.password}, headers=owner.headers
    )
    assert blocked.status_code == 409
    error = blocked.json()["error"]
    assert error["code"] == "last_owner"
    assert [d["workspace_id"] for d in error["details"]] == [owner.workspace_id]
    assert (await http.get("/api/v1/me", headers=owner.headers)).status_code == 200

    # Hand over: the teammate becomes an owner too; now the account may go.
    promoted = await http.patch(
        owner.url(f"/members/{teammate.user_id}"), json={"role": "owner"}, headers=owner.headers
    )
    assert promoted.status_code == 200, promoted.text
    made = await http.post(owner.url("/api-keys"), json={"name": "mine"}, headers=owner.headers)
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    done = await http.request(
        "DELETE", "/api/v1/me", json={"password": owner.password}, headers=owner.headers
    )
    assert done.status_code == 200, done.text
    assert done.json() == {
        "deleted_workspaces": [solo_id],
        "left_workspaces": [owner.workspace_id],
    }
    await rt.jobs.drain()

    assert sum((await counts(owner_db, solo_id)).values()) == 0
    login = await http.post(
        "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
    )
    assert login.status_code == 401
    # Their sessions ended with the account: the access token they held is refused.
    assert (await http.get("/api/v1/me", headers=owner.headers)).status_code == 401
    shared = await http.get(owner.url("/members"), headers=teammate.headers)
    assert [m["email"] for m in shared.json()] == [teammate.email]
    audit = await http.get(owner.url("/audit"), headers=teammate.headers)
    left = [e for e in audit.json()["items"] if e["action"] == "member.account_deleted"]
    assert left[0]["details"] == {"api_keys_revoked": 1}
    # The key they made in the shared workspace went with the account.
    assert (await http.get(owner.url("/leads"), headers=key)).status_code == 401


async def _waiting_for_a_lock(owner_db: Database) -> bool:
    async with owner_db.transaction() as session:
        waiting = await session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
    return bool(waiting)


async def test_deleting_a_workspace_while_its_payment_applies_does_not_deadlock(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    """Applying a payment locks the subscription, then updates the workspace; deleting the
    workspace updated the workspace, then the subscription: run together, PostgreSQL aborted
    one of them as a deadlock (the owner saw a 500). Deletion now takes the same order."""
    ws = owner.workspace_id
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO subscriptions (workspace_id, plan, period, status)"
                " VALUES (:ws, 'pro', 'monthly', 'active')"
            ),
            {"ws": ws},
        )
    slug = owner.workspace["slug"]
    async with owner_db.transaction() as payment:  # the webhook's order of locks
        await payment.execute(
            text("SELECT 1 FROM subscriptions WHERE workspace_id = :ws FOR UPDATE"), {"ws": ws}
        )
        deleting = asyncio.create_task(
            client.request("DELETE", owner.url(), json={"confirm": slug}, headers=owner.headers)
        )
        for _ in range(400):  # until the deletion waits for the subscription's lock
            if await _waiting_for_a_lock(owner_db):
                break
            await asyncio.sleep(0.025)
        else:
            raise AssertionError("the deletion never waited for the payment")
        await payment.execute(text("UPDATE workspaces SET plan = 'pro' WHERE id = :ws"), {"ws": ws})
    deleted = await deleting
    assert deleted.status_code == 202, deleted.text


async def test_the_purge_sweep_queues_one_job_per_workspace_while_workers_are_behind(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime
) -> None:
    """Workers down or behind: every 15 minutes the sweep finds the same deleted workspaces
    due. Each must have one purge job waiting, not one more per sweep (before: 96 a day per
    workspace piled up in the queue)."""
    deleted = await client.request(
        "DELETE", owner.url(), json={"confirm": owner.workspace["slug"]}, headers=owner.headers
    )
    assert deleted.status_code == 202, deleted.text
    queue_name = f"trulybot-test-{uuid.uuid4().hex[:8]}"
    queue = await ArqQueue.connect(REDIS_URL, queue_name=queue_name)  # no worker reads it
    deps = LifecycleDeps(db=runtime.db, settings=runtime.settings, jobs=queue, redis=runtime.redis)
    past = utcnow() + timedelta(hours=runtime.settings.workspace_deletion_grace_hours, minutes=1)
    try:
        await lifecycle_jobs.purge_deleted_workspaces(deps, past)
        first = await queue.pool.zcard(queue_name)
        assert first >= 1  # this workspace at least
        for minutes in (15, 30, 45):
            await lifecycle_jobs.purge_deleted_workspaces(deps, past + timedelta(minutes=minutes))
        assert await queue.pool.zcard(queue_name) == first
    finally:
        job_ids = await queue.pool.zrange(queue_name, 0, -1)
        await queue.pool.delete(queue_name, *(b"arq:job:" + job_id for job_id in job_ids))
        await queue.close()
