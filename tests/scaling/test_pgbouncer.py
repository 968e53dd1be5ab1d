"""TrulyBot through Debian's PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer): the app
answers, the tenant context and the timeouts live in each transaction, no prepared statement
outlives its transaction, and row-level security holds while tenants share server connections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from api.runtime import Runtime, build_runtime, describe_defaults, resolve_database
from core import db as core_db
from core.db import Database, async_url
from core.direct import Prepared, fetch
from core.embedded import EmbeddedPostgres
from rag.chat.repository import faqs as faq_repo
from rag.knowledge.repository import search as search_repo
from tests.conftest import (
    APP_ROLE,
    TEST_DATA_DIR,
    Owner,
    client_for,
    insert_chunks,
    make_settings,
    runtime_of,
    signup,
)
from tests.scaling.conftest import SERVER_CONNECTIONS
from tests.test_db_dead_connections import driver_connections, one_read
from tests.topology import PgBouncer, pgbouncer_binary, socket_target, start_pgbouncer


@pytest.fixture
async def pooled_client(
    bouncer: PgBouncer, pg: EmbeddedPostgres, redis_client: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over a runtime built from the settings an operator writes: DATABASE_URL
    through the pooler, DATABASE_POOLER=pgbouncer, MIGRATION_DATABASE_URL to the cluster."""
    settings = make_settings(
        database_url=bouncer.url(APP_ROLE, pg.database),
        database_pooler="pgbouncer",
        migration_database_url=pg.owner_url(),
        db_pool_size=4,
        db_max_overflow=4,
    )
    runtime: Runtime
    async with build_runtime(settings, redis=redis_client, jobs="in-process") as runtime:
        assert runtime.embedded is None  # really DATABASE_URL, not the embedded cluster
        async with client_for(runtime) as client:
            yield client
        await runtime.mailer.settle()
        await runtime.jobs.drain()


async def test_the_app_signs_up_ingests_and_answers_through_the_pooler(
    pooled_client: httpx.AsyncClient,
) -> None:
    client = pooled_client
    owner = await signup(client, "Pooled")
    document = await client.post(
        owner.url("/documents"),
        json={
            "title": "Opening hours",
            "text": "The pooled bakery opens at seven in the morning and closes at six.",
        },
        headers=owner.headers,
    )
    assert document.status_code == 202, document.text
    await runtime_of(client).jobs.drain()
    listed = await client.get(owner.url("/documents"), headers=owner.headers)
    assert listed.status_code == 200, listed.text
    [doc] = listed.json()["items"]
    assert doc["status"] == "ready", doc
    answer = await client.post(
        "/api/v1/chat",
        json={"message": "When does the pooled bakery open?", "session_id": "visitor-1"},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["source"] == "rag"
    assert "seven" in answer.json()["answer"]
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert "database: DATABASE_URL through PgBouncer" in describe_defaults(runtime_of(client))


async def test_the_unanswered_groups_read_their_vectors_through_the_pooler(
    pooled_client: httpx.AsyncClient,
) -> None:
    """The owners' Unanswered list reads the questions' vectors in pgvector's binary form
    (``vector_send`` in the statement) through the pooler."""
    client = pooled_client
    owner = await signup(client, "Pooled unanswered")
    for session_id in ("visitor-1", "visitor-2"):
        answer = await client.post(
            "/api/v1/chat",
            json={"message": "Do you rent out submarines for weddings?", "session_id": session_id},
            headers={"X-Widget-Key": owner.workspace["public_key"]},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["source"] == "fallback"
    groups = await client.get(owner.url("/unanswered"), headers=owner.headers)
    assert groups.status_code == 200, groups.text
    assert [(g["question"], g["count"]) for g in groups.json()] == [
        ("Do you rent out submarines for weddings?", 2)
    ]


async def test_without_the_setting_the_pooler_refuses_the_timeouts(
    bouncer: PgBouncer, pg: EmbeddedPostgres
) -> None:
    """The issue's symptom: the timeouts as startup parameters are refused by PgBouncer."""
    direct = Database.from_url(bouncer.url(APP_ROLE, pg.database), pool_size=1, max_overflow=0)
    try:
        with pytest.raises(Exception, match="unsupported startup parameter"):
            await direct.ping()
    finally:
        await direct.dispose()


async def test_each_transaction_carries_the_timeouts_and_a_slow_statement_is_cancelled(
    bouncer: PgBouncer, pg: EmbeddedPostgres
) -> None:
    database = Database.from_url(
        bouncer.url(APP_ROLE, pg.database),
        pooler="pgbouncer",
        statement_timeout_ms=300,
        pool_size=1,
        max_overflow=0,
    )
    try:
        async with database.transaction() as session:
            shown = (
                await session.execute(
                    text(
                        "SELECT current_setting('statement_timeout'),"
                        " current_setting('idle_in_transaction_session_timeout')"
                    )
                )
            ).one()
        assert tuple(shown) == ("300ms", "1min")
        with pytest.raises(DBAPIError, match="statement timeout"):
            async with database.transaction() as session:
                await session.execute(text("SELECT pg_sleep(30)"))
        # The limit was the transaction's own: outside one the server's default applies.
        async with database.engine.connect() as conn:
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar_one() == "0"
    finally:
        await database.dispose()


async def test_no_prepared_statement_outlives_its_transaction(
    bouncer: PgBouncer, pg: EmbeddedPostgres, pooled_db: Database
) -> None:
    """Unnamed statements: none is left on the server connections (pg_prepared_statements of
    whichever server connection serves the check). SQLAlchemy's uuid-named recipe, for
    comparison, leaves them behind: the check can tell."""
    queries = [f"SELECT {i} AS n, now()" for i in range(20)]

    async def left_on_server(database: Database) -> int:
        for query in queries:
            async with database.transaction() as session:
                await session.execute(text(query))
        async with database.transaction() as session:
            return int(
                (
                    await session.execute(text("SELECT count(*) FROM pg_prepared_statements"))
                ).scalar_one()
            )

    assert await left_on_server(pooled_db) == 0
    uuid_named = Database(
        create_async_engine(
            async_url(bouncer.url(APP_ROLE, pg.database)),
            pool_size=1,
            max_overflow=0,
            connect_args={
                "statement_cache_size": 0,
                "prepared_statement_cache_size": 0,
                "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4()}__",
            },
        )
    )
    try:
        assert await left_on_server(uuid_named) >= 1
    finally:
        await uuid_named.dispose()


async def test_the_turns_direct_statements_leave_no_prepared_statement_behind(
    bouncer: PgBouncer, pooled_db: Database, pooled_client: httpx.AsyncClient
) -> None:
    """A rag turn's read and answer go to asyncpg without a session (``core.direct``): through
    the pooler they are unnamed statements too, none left on the server connections, and each
    transaction carries its tenant and the timeouts."""
    owner = await signup(pooled_client, "Direct pooled")
    workspace_id = uuid.UUID(owner.workspace_id)
    settings = Prepared(
        text(
            "SELECT current_setting('app.workspace_id'), current_setting('statement_timeout'),"
            # Of these statements (another test leaves uuid-named ones of its own behind).
            " (SELECT count(*) FROM pg_prepared_statements"
            "  WHERE statement LIKE '%faq_questions%' OR statement LIKE '%FROM chunks%')"
        )
    )
    query = np.ones(384, dtype=np.float32) / np.sqrt(np.float32(384))
    for _ in range(6):
        async with pooled_db.direct(
            workspace_id=workspace_id, local={"hnsw.ef_search": "40"}
        ) as direct:
            await faq_repo.faq_nearest(direct, workspace_id=workspace_id, embedding=query)
            await search_repo.feedback_search(
                direct, workspace_id, query, 5, weight=0.5, feedback_chunks=3
            )
            [(tenant, timeout, _)] = await fetch(direct, settings, {})
        assert (tenant, timeout) == (str(workspace_id), "15s")
    async with pooled_db.direct() as direct:
        [(tenant, _, left)] = await fetch(direct, settings, {})
    assert (tenant, left) == ("", 0)


async def test_tenants_sharing_server_connections_never_see_each_others_rows(
    pooled_client: httpx.AsyncClient, pooled_db: Database
) -> None:
    """Two workspaces' transactions interleaved from many client connections over the pooler's
    two server connections: each sees exactly its own leads; a transaction that sets no tenant
    afterwards sees no workspace and no row (nothing carried over on the server connections)."""
    client = pooled_client
    owners: list[Owner] = [await signup(client, "Tenant A"), await signup(client, "Tenant B")]
    emails: dict[str, set[str]] = {}
    for i, who in enumerate(owners):
        emails[who.workspace_id] = set()
        for n in range(3 + i):  # different counts, so a mix-up cannot hide
            email = f"lead-{n}-{uuid.uuid4().hex[:8]}@example.com"
            created = await client.post(
                who.url("/leads"), json={"email": email}, headers=who.headers
            )
            assert created.status_code in (200, 201), created.text
            emails[who.workspace_id].add(email)

    backends: set[int] = set()

    async def read_as(workspace_id: str) -> None:
        async with pooled_db.transaction(workspace_id=workspace_id) as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await asyncio.sleep(0)  # let the other tenant's transactions start meanwhile
            rows = (await session.execute(text("SELECT workspace_id, email FROM leads"))).all()
            setting = (
                await session.execute(text("SELECT current_setting('app.workspace_id')"))
            ).scalar_one()
        backends.add(pid)
        assert setting == workspace_id
        assert {str(r.workspace_id) for r in rows} == {workspace_id}
        assert {r.email for r in rows} == emails[workspace_id]

    ids = [who.workspace_id for who in owners]
    await asyncio.gather(*(read_as(ids[i % 2]) for i in range(40)))
    # The transactions really shared server connections (the test means something).
    assert 1 <= len(backends) <= SERVER_CONNECTIONS
    for _ in range(SERVER_CONNECTIONS * 2):
        async with pooled_db.engine.begin() as conn:
            left = (
                await conn.execute(
                    text("SELECT current_setting('app.workspace_id', true), count(*) FROM leads")
                )
            ).one()
        assert (left[0] or "", left[1]) == ("", 0)


async def test_vectors_go_both_ways_in_binary_through_the_pooler(
    pooled_client: httpx.AsyncClient, pooled_db: Database
) -> None:
    """The vector codec (``core.vector_codec``) lives in each client connection: chunk vectors
    written as a ``vector[]`` and a query vector bound alone reach whichever server connection
    the pooler picks, and a vector column comes back as the same float32 components."""
    owner = await signup(pooled_client, "Pooled vectors")
    ws = uuid.UUID(owner.workspace_id)
    document_id = uuid.uuid4()
    async with pooled_db.transaction(workspace_id=ws) as session:
        await session.execute(
            text(
                "INSERT INTO documents (id, workspace_id, title, source_type, source, status)"
                " VALUES (:id, :ws, 'v', 'text', 'v', 'ready')"
            ),
            {"id": document_id, "ws": ws},
        )
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((6, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    await insert_chunks(pooled_db, ws, document_id, vectors)
    for _ in range(SERVER_CONNECTIONS * 2):  # over more than one server connection
        async with pooled_db.transaction(workspace_id=ws) as session:
            hits = await search_repo.vector_search(session, ws, vectors[2], 3)
            stored = (
                await session.execute(
                    text("SELECT embedding FROM chunks WHERE workspace_id = :ws ORDER BY position"),
                    {"ws": ws},
                )
            ).scalars()
            assert np.stack(list(stored)).tobytes() == vectors.tobytes()
        assert hits[0][2] == "c2"
        assert abs(hits[0][4] - 1.0) < 1e-6


async def test_migrations_refuse_to_go_through_the_pooler(bouncer: PgBouncer) -> None:
    url = bouncer.url("postgres", "trulybot_test")
    settings = make_settings(
        database_url=url, database_pooler="pgbouncer", migration_database_url=url
    )
    with pytest.raises(SystemExit, match="directly"):
        await resolve_database(settings, apply_migrations=True)


async def test_migrations_refuse_the_pooler_also_under_the_owner_role(bouncer: PgBouncer) -> None:
    """MIGRATION_DATABASE_URL through the same PgBouncer as DATABASE_URL, with the owner role
    (so not the same string): refused too. Its session advisory lock could stay held on a
    pooled server connection and block the next `trulybot migrate`."""
    settings = make_settings(
        database_url=bouncer.url(APP_ROLE, "trulybot_test"),
        database_pooler="pgbouncer",
        migration_database_url=bouncer.url("postgres", "trulybot_test"),
    )
    with pytest.raises(SystemExit, match="directly"):
        await resolve_database(settings, apply_migrations=True)


async def test_a_workspace_export_streams_through_the_pooler(
    pooled_client: httpx.AsyncClient,
) -> None:
    """The export reads with server-side cursors (portals) while it writes the zip, with
    unnamed statements prepared between batches: through transaction pooling too."""
    client = pooled_client
    owner = await signup(client, "Pooled export")
    for n in range(3):
        lead = await client.post(
            owner.url("/leads"),
            json={"email": f"pooled-{n}-{uuid.uuid4().hex[:8]}@example.com"},
            headers=owner.headers,
        )
        assert lead.status_code == 201, lead.text
    chat = await client.post(
        "/api/v1/chat",
        json={"message": "hello there", "session_id": f"v-{uuid.uuid4().hex[:8]}"},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert chat.status_code == 200, chat.text
    export = await client.post(owner.url("/exports"), headers=owner.headers)
    assert export.status_code == 202, export.text
    await runtime_of(client).jobs.drain()
    done = await client.get(owner.url(f"/exports/{export.json()['id']}"), headers=owner.headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ready", done.json()
    download = await client.get(done.json()["download_url"], headers=owner.headers)
    assert download.status_code == 200
    assert download.content[:2] == b"PK"


async def test_after_the_pooler_restarted_the_idle_connections_are_replaced(
    pg: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PgBouncer restarted (a deploy, a crash) while the app's pooled connections sat idle:
    it closed them, and the next transactions run on new ones (the ping's handler raised
    TypeError: a 500 per dead connection). A PgBouncer of its own, on the same port again."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed: `make system-deps` (apt-get install pgbouncer)")
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", 0.0)  # they idled long enough
    target = {pg.database: socket_target(pg.socket_dir, pg.database)}
    workdir = TEST_DATA_DIR / "pgbouncer-restarted"
    first = start_pgbouncer(workdir, target, pool_size=SERVER_CONNECTIONS)
    db = Database.from_url(
        first.url(APP_ROLE, pg.database), pooler="pgbouncer", pool_size=2, max_overflow=0
    )
    again: PgBouncer | None = None
    try:
        drivers = await driver_connections(db, 2)
        first.stop()
        again = start_pgbouncer(workdir, target, pool_size=SERVER_CONNECTIONS, port=first.port)
        assert [await one_read(db) for _ in range(3)] == [1, 1, 1]
        assert all(driver.is_closed() for driver in drivers)  # type: ignore[attr-defined]
    finally:
        await db.dispose()
        first.stop()
        if again is not None:
            again.stop()
