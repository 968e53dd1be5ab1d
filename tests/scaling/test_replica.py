"""A real streaming replica of the test cluster (``pg_basebackup -R``): lag-tolerant reads go to
it while it is fresh, a workspace's reads after its owner's write go to the primary, a lagging or
stopped replica sends every read to the primary (and /readyz says so, still ready), and
row-level security holds on the replica."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from api.runtime import Runtime, build_runtime
from core import metrics
from core.db import Database
from core.embedded import EmbeddedPostgres
from core.replica import ReadRouting, mark_key
from tests.conftest import APP_ROLE, TEST_DATA_DIR, Owner, client_for, make_settings, signup
from tests.dashboard.conftest import web_signup
from tests.rag.test_answers import ingest
from tests.topology import (
    Replica,
    pgbouncer_binary,
    socket_target,
    start_pgbouncer,
    start_replica,
    tcp_target,
)


@pytest.fixture(scope="module")
def replica(pg: EmbeddedPostgres) -> Iterator[Replica]:
    started = start_replica(
        pg.socket_dir, TEST_DATA_DIR / "replicas" / f"replica-{uuid.uuid4().hex[:8]}"
    )
    yield started
    started.destroy()


@pytest.fixture(scope="module")
async def replica_db(replica: Replica, pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """The app role on the replica (the roles replicate with everything else)."""
    database = Database.from_url(replica.url(APP_ROLE, pg.database), pool_size=2)
    yield database
    await database.dispose()


@pytest.fixture
async def replica_owner(replica: Replica, pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """The superuser on the replica: pauses and resumes its replay (per test: a stopped and
    restarted replica leaves no dead connection behind)."""
    database = Database.from_url(replica.url("postgres", pg.database), pool_size=1)
    yield database
    await database.dispose()


@asynccontextmanager
async def replica_client(
    db: Database, replica_db: Database, redis_client: Redis, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with build_runtime(
        make_settings(**settings),
        database=db,
        replica=replica_db,
        redis=redis_client,
        jobs="in-process",
    ) as runtime:
        async with client_for(runtime) as client:
            yield client, runtime
        await runtime.jobs.drain()


async def replayed(reads: ReadRouting) -> None:
    """Until the replica has replayed everything the primary wrote so far."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = await reads.status(force=True)
        if status.state != "down" and status.bytes_behind is not None and status.bytes_behind <= 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the replica did not catch up: {status}")


@asynccontextmanager
async def replay_paused(replica_owner: Database) -> AsyncIterator[None]:
    async with replica_owner.engine.connect() as conn:
        await conn.execute(text("SELECT pg_wal_replay_pause()"))
    try:
        yield
    finally:
        async with replica_owner.engine.connect() as conn:
            await conn.execute(text("SELECT pg_wal_replay_resume()"))


async def add_lead_directly(owner_db: Database, owner: Owner, email: str) -> None:
    """A row written on the primary behind the app's back (no read-your-writes mark)."""
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO leads (id, workspace_id, email)"
                " VALUES (gen_random_uuid(), :ws, :email)"
            ),
            {"ws": owner.workspace_id, "email": email},
        )


async def lead_emails(client: httpx.AsyncClient, owner: Owner) -> set[str]:
    response = await client.get(owner.url("/leads?limit=100"), headers=owner.headers)
    assert response.status_code == 200, response.text
    return {item["email"] for item in response.json()["items"]}


def replica_reads() -> float:
    """Lag-tolerant reads this process sent to a replica (/metrics)."""
    value = metrics.REGISTRY.get_sample_value(
        "trulybot_db_reads_total", {"target": "replica", "reason": "replica"}
    )
    return value or 0.0


def email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


async def test_the_replica_is_a_hot_standby_and_rls_holds_on_it(
    db: Database, replica_db: Database, redis_client: Redis
) -> None:
    async with replica_client(db, replica_db, redis_client) as (client, runtime):
        a, b = await signup(client, "Replica A"), await signup(client, "Replica B")
        for who, count in ((a, 2), (b, 3)):
            for _ in range(count):
                created = await client.post(
                    who.url("/leads"), json={"email": email("rls")}, headers=who.headers
                )
                assert created.status_code in (200, 201), created.text
        await replayed(runtime.reads)
    async with replica_db.transaction() as session:
        assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar_one() is True
        assert (await session.execute(text("SELECT count(*) FROM leads"))).scalar_one() == 0
        forced = (
            await session.execute(
                text(
                    "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class"
                    " WHERE relname = 'leads'"
                )
            )
        ).scalar_one()
        assert forced is True
    for who, count in ((a, 2), (b, 3)):
        async with replica_db.transaction(workspace_id=who.workspace_id) as session:
            rows = (await session.execute(text("SELECT workspace_id FROM leads"))).all()
        assert len(rows) == count
        assert {str(r.workspace_id) for r in rows} == {who.workspace_id}


async def test_lists_read_the_replica_and_a_workspace_just_written_reads_the_primary(
    db: Database,
    owner_db: Database,
    replica_db: Database,
    replica_owner: Database,
    redis_client: Redis,
) -> None:
    """With replay paused (and a lag limit the pause stays under), a row written behind the
    app's back is missing from the list: the list came from the replica. After the owner
    writes through the API, the same list shows it: the primary."""
    async with replica_client(db, replica_db, redis_client, database_replica_max_lag_s=3600) as (
        client,
        runtime,
    ):
        owner = await signup(client, "Replica reads")
        first = email("first")
        created = await client.post(
            owner.url("/leads"), json={"email": first}, headers=owner.headers
        )
        assert created.status_code in (200, 201), created.text
        assert await redis_client.exists(mark_key(owner.workspace_id))  # the write's mark
        await replayed(runtime.reads)
        await redis_client.delete(mark_key(owner.workspace_id))  # as if its window had passed
        async with runtime.reads.transaction(workspace_id=owner.workspace_id) as session:
            seen = await session.execute(text("SELECT pg_is_in_recovery()"))
            assert seen.scalar_one() is True
        async with replay_paused(replica_owner):
            behind = email("behind")
            await add_lead_directly(owner_db, owner, behind)
            assert (await runtime.reads.status(force=True)).state == "ok"
            assert await lead_emails(client, owner) == {first}  # the replica's list
            exported = await client.get(owner.url("/leads/export"), headers=owner.headers)
            assert exported.status_code == 200
            assert first in exported.text
            assert behind not in exported.text
            analytics = await client.get(owner.url("/analytics"), headers=owner.headers)
            assert analytics.status_code == 200, analytics.text
            # The owner writes: their workspace's lists read the primary from now on.
            third = email("third")
            created = await client.post(
                owner.url("/leads"), json={"email": third}, headers=owner.headers
            )
            assert created.status_code in (200, 201), created.text
            assert await lead_emails(client, owner) == {first, behind, third}
            async with runtime.reads.transaction(workspace_id=owner.workspace_id) as session:
                seen = await session.execute(text("SELECT pg_is_in_recovery()"))
                assert seen.scalar_one() is False


async def test_the_search_reads_the_replica_in_a_transaction_of_its_own(
    db: Database, replica_db: Database, redis_client: Redis
) -> None:
    """The owner's search (``@read_only``) reads its hits on the fresh replica, as before its
    request's transaction was ended ahead of them (no connection is held while it reranks:
    tests/rag/test_rerank_connections.py)."""
    async with replica_client(db, replica_db, redis_client, database_replica_max_lag_s=3600) as (
        client,
        runtime,
    ):
        owner = await signup(client, "Replica search")
        await ingest(client, owner, runtime, "Refunds", "# Refunds\n\nA refund within 30 days.")
        await replayed(runtime.reads)
        await redis_client.delete(mark_key(owner.workspace_id))  # as if its window had passed
        before = replica_reads()
        response = await client.post(
            owner.url("/search"),
            json={"query": "refund", "k": 3, "mode": "fulltext"},
            headers=owner.headers,
        )
        assert response.status_code == 200, response.text
        assert [hit["title"] for hit in response.json()["results"]] == ["Refunds"]
        assert replica_reads() == before + 1


async def test_a_lagging_replica_sends_reads_to_the_primary_and_stays_ready(
    db: Database,
    owner_db: Database,
    replica_db: Database,
    replica_owner: Database,
    redis_client: Redis,
) -> None:
    async with replica_client(db, replica_db, redis_client, database_replica_max_lag_s=0.001) as (
        client,
        runtime,
    ):
        owner = await signup(client, "Replica lag")
        await replayed(runtime.reads)
        await redis_client.delete(mark_key(owner.workspace_id))
        async with replay_paused(replica_owner):
            behind = email("lagging")
            await add_lead_directly(owner_db, owner, behind)
            await asyncio.sleep(0.01)  # the last replayed commit is older than the limit
            status = await runtime.reads.status(force=True)
            assert status.state == "lagging", status
            assert await lead_emails(client, owner) == {behind}  # from the primary
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["replica"] == "lagging"
            assert ready.json()["replica"]["bytes_behind"] > 0


async def test_a_stopped_replica_sends_reads_to_the_primary_and_readyz_says_down(
    db: Database, owner_db: Database, replica: Replica, replica_db: Database, redis_client: Redis
) -> None:
    async with replica_client(db, replica_db, redis_client) as (client, runtime):
        owner = await signup(client, "Replica down")
        await redis_client.delete(mark_key(owner.workspace_id))
        replica.stop()
        try:
            await add_lead_directly(owner_db, owner, only := email("down"))
            assert await lead_emails(client, owner) == {only}
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ready"
            assert ready.json()["checks"]["replica"] == "down"
            documents = await client.get(owner.url("/documents"), headers=owner.headers)
            assert documents.status_code == 200, documents.text
        finally:
            replica.start()
        await replayed(runtime.reads)
        assert (await runtime.reads.status(force=True)).state == "ok"


async def test_the_dashboards_lists_read_the_replica_until_the_owner_writes(
    db: Database,
    owner_db: Database,
    replica_db: Database,
    replica_owner: Database,
    redis_client: Redis,
) -> None:
    async with replica_client(db, replica_db, redis_client, database_replica_max_lag_s=3600) as (
        client,
        runtime,
    ):
        web = await web_signup(client, "Replica dashboard")
        owner = Owner("", "", "", "", web.workspace_id, {})
        await replayed(runtime.reads)
        await redis_client.delete(mark_key(web.workspace_id))
        async with replay_paused(replica_owner):
            behind = email("dashboard")
            await add_lead_directly(owner_db, owner, behind)
            page = await client.get(web.url("leads"))
            assert page.status_code == 200, page.text
            assert behind not in page.text  # the replica's list
            added = await web.post(
                web.url("knowledge/faqs"),
                {"question": "Do you deliver?", "answer": "Yes, every weekday."},
            )
            assert added.status_code == 303, added.text
            assert await redis_client.exists(mark_key(web.workspace_id))
            page = await client.get(web.url("leads"))
            assert behind in page.text  # the primary's, after the owner's write


async def test_pgbouncer_in_front_of_the_primary_and_the_replica(
    pg: EmbeddedPostgres, replica: Replica, redis_client: Redis
) -> None:
    """The production shape: both URLs through one PgBouncer in transaction mode."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed: `make system-deps` (apt-get install pgbouncer)")
    standby = f"{pg.database}_replica"
    bouncer = start_pgbouncer(
        TEST_DATA_DIR / "pgbouncer-replica",
        {
            pg.database: socket_target(pg.socket_dir, pg.database),
            standby: tcp_target(replica.port, pg.database),
        },
        pool_size=2,
    )
    try:
        settings = make_settings(
            database_url=bouncer.url(APP_ROLE, pg.database),
            database_replica_url=bouncer.url(APP_ROLE, standby),
            database_pooler="pgbouncer",
            migration_database_url=pg.owner_url(),
        )
        async with (
            build_runtime(settings, redis=redis_client, jobs="in-process") as runtime,
            client_for(runtime) as client,
        ):
            owner = await signup(client, "Both pooled")
            lead = email("pooled")
            created = await client.post(
                owner.url("/leads"), json={"email": lead}, headers=owner.headers
            )
            assert created.status_code in (200, 201), created.text
            await replayed(runtime.reads)
            await redis_client.delete(mark_key(owner.workspace_id))
            async with runtime.reads.transaction(workspace_id=owner.workspace_id) as session:
                seen = await session.execute(text("SELECT pg_is_in_recovery()"))
                assert seen.scalar_one() is True
                rows = (await session.execute(text("SELECT email FROM leads"))).scalars()
                assert list(rows) == [lead]  # RLS on the replica, through the pooler
            before = replica_reads()
            assert await lead_emails(client, owner) == {lead}
            assert replica_reads() == before + 1
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["replica"] == "ok"
    finally:
        bouncer.stop()


async def test_an_upload_whose_body_outlasts_the_mark_still_shows_in_the_next_list(
    db: Database, replica_db: Database, replica_owner: Database, redis_client: Redis
) -> None:
    """The read-your-writes window must start when the write commits, not when the request
    starts: an upload on a slow link reads its body after the mark was set. The mark is
    deleted while the body is still arriving (as if the upload had taken longer than
    2 x DATABASE_REPLICA_MAX_LAG_S), with replay paused; the owner's next list must still
    show the upload (before: it came from the replica, without it)."""
    async with replica_client(db, replica_db, redis_client, database_replica_max_lag_s=3600) as (
        client,
        runtime,
    ):
        owner = await signup(client, "Slow upload")
        await replayed(runtime.reads)
        await redis_client.delete(mark_key(owner.workspace_id))
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="prices.txt"'
            "\r\nContent-Type: text/plain\r\n\r\nOur prices start at ten euros. "
        ).encode()
        expired = False

        async def slow_body() -> AsyncIterator[bytes]:
            nonlocal expired
            yield head
            # The request's dependencies marked the workspace; the body is still arriving.
            for _ in range(600):  # a bound against a hang only
                if await redis_client.exists(mark_key(owner.workspace_id)):
                    break
                await asyncio.sleep(0.05)
            expired = bool(await redis_client.delete(mark_key(owner.workspace_id)))
            yield b"More prices here."
            yield f"\r\n--{boundary}--\r\n".encode()

        async with replay_paused(replica_owner):
            uploaded = await client.post(
                owner.url("/documents"),
                content=slow_body(),
                headers={
                    **owner.headers,
                    "content-type": f"multipart/form-data; boundary={boundary}",
                },
            )
            assert uploaded.status_code == 202, uploaded.text
            assert expired, "the mark was not set before the body was read"
            assert (await runtime.reads.status(force=True)).state == "ok"
            listed = await client.get(owner.url("/documents"), headers=owner.headers)
            assert listed.status_code == 200, listed.text
            ids = [d["id"] for d in listed.json()["items"]]
            assert uploaded.json()["id"] in ids, "the owner's own upload is missing from the list"


async def test_the_conversations_export_falls_back_to_the_primary_when_the_replica_fails(
    db: Database,
    replica: Replica,
    replica_db: Database,
    redis_client: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The replica stops right after this process's last check said ``ok`` (the check is kept
    in force here, as within its second): the conversations export, like the leads export,
    reads from the primary. Before, it answered 200 with an empty body."""
    async with replica_client(db, replica_db, redis_client) as (client, runtime):
        owner = await signup(client, "Export fallback")
        said = await client.post(
            "/api/v1/chat",
            json={"message": "Hello, do you ship abroad?", "session_id": uuid.uuid4().hex},
            headers={"X-Widget-Key": owner.workspace["public_key"]},
        )
        assert said.status_code == 200, said.text
        await replayed(runtime.reads)
        await redis_client.delete(mark_key(owner.workspace_id))
        monkeypatch.setattr("core.replica.CHECK_EVERY_SECONDS", 3600.0)
        assert (await runtime.reads.status(force=True)).state == "ok"
        replica.stop()
        try:
            exported = await client.get(owner.url("/conversations/export"), headers=owner.headers)
            assert exported.status_code == 200, exported.text
            assert exported.text.startswith("conversation_id,"), exported.text[:200]
            assert "ship abroad" in exported.text
            leads = await client.get(owner.url("/leads/export"), headers=owner.headers)
            assert leads.status_code == 200, leads.text
            assert leads.text  # its header at least, as before
        finally:
            replica.start()
        await replayed(runtime.reads)
