"""Shared fixtures: the real embedded PostgreSQL + pgvector and the machine's real Redis."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from redis.asyncio import Redis
from sqlalchemy import text

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from api.app import create_app
from api.middleware import request_id_var
from api.runtime import JobsChoice, Runtime, build_runtime
from billing.provider import PaymentProvider
from core import migrate
from core.config import Settings
from core.db import Database
from core.embedded import EmbeddedPostgres, embedded_postgres
from core.jobs import ArqQueue, JobQueue
from core.limiter import limits_enabled
from core.logging import configure_logging
from core.mail_repository import OUTBOX_SENDER
from rag.chat.generator import Generator
from rag.knowledge import submissions
from rag.knowledge.embeddings import Embedder
from rag.knowledge.repository import chunks as chunk_repo
from tests import clusters, topology
from tests.fakes.smtp import SmtpServer, smtp_server
from workspaces import notifications
from workspaces import repository as ws_repo
from workspaces.service import WorkspaceAccess

ROOT = Path(__file__).resolve().parent.parent
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
"""The pytest-xdist worker running this process (``gw0``, ``gw1``...), empty in a plain run."""


def worker_redis_url(base: str, worker: str) -> str:
    """The Redis database a worker uses: worker n takes the base's number minus n (modulo 16),
    so the three workers of `make test` on database 15 use 15, 14 and 13, and each flushes only its
    own."""
    if not worker:
        return base
    head, _, number = base.rpartition("/")
    if not number.isdigit():
        head, number = base.rstrip("/"), "0"
    return f"{head}/{(int(number) - int(worker.removeprefix('gw'))) % 16}"


_DATA_ROOT = Path(os.environ.get("TRULYBOT_TEST_DATA_DIR", ROOT / ".trulybot" / "test"))
TEST_DATA_DIR = _DATA_ROOT / WORKER if WORKER else _DATA_ROOT
"""Where this process's embedded cluster lives: one per xdist worker."""
REDIS_URL = worker_redis_url(
    os.environ.get("TRULYBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), WORKER
)
APP_ROLE = "trulybot_app"
PRODUCTION_SERVICES = {
    "database_url": "postgresql://trulybot_app@db.invalid/trulybot",
    "smtp_url": "smtp://mail.invalid:587",
}
"""What production settings need besides the secret and the public URL (never connected to)."""


def _depends_key(depends: Any) -> tuple[Any, ...]:
    scopes = getattr(depends, "scopes", None)
    return (
        type(depends),
        depends.dependency,
        depends.use_cache,
        getattr(depends, "scope", None),
        getattr(depends, "max_concurrency", None),
        tuple(scopes) if scopes is not None else None,
    )


def _keep_per_key(name: str, key: Callable[..., tuple[Any, ...] | None]) -> bool:
    """FastAPI's routing function ``name`` replaced in this process by one that builds once per
    ``key(*args, **kwargs)`` and returns what it built for every later call with that key; a
    call whose key is None, or cannot be made or hashed, is built anew. False when the routing
    module no longer has the function (the suite is then slower, not wrong;
    tests/test_suite_costs.py says so)."""
    from fastapi import routing

    build = getattr(routing, name, None)
    if build is None:
        return False
    if getattr(build, "shared", False):
        return True

    def shared(*args: Any, **kwargs: Any) -> Any:
        built: dict[tuple[Any, ...], Any] = shared.built  # type: ignore[attr-defined]
        try:
            made = key(*args, **kwargs)
            hash(made)
        except (AttributeError, TypeError):
            made = None
        if made is None:
            return build(*args, **kwargs)
        if made not in built:
            built[made] = build(*args, **kwargs)
        return built[made]

    shared.shared = True  # type: ignore[attr-defined]
    shared.built = {}  # type: ignore[attr-defined]
    setattr(routing, name, shared)
    return True


def share_route_analysis() -> bool:
    """FastAPI (0.165) works out each route's parameters and dependencies (the endpoint's
    signature, its annotations evaluated, a pydantic field per parameter) for every app, lazily
    at the app's first requests: 0.2 to 0.5 s of CPU per app on a busy host, paid again by each
    test, since each test's client is an app of its own (``client_for``). The analysis is a pure
    function of the route's path, endpoint and the include's dependencies (the Dependant it
    returns is not changed once built), so the test process keeps one per route for every app.
    A production process builds one app: it gains nothing and is left alone."""

    def key(*, path: str, call: Callable[..., Any], dependencies: Any) -> tuple[Any, ...]:
        return (path, call, tuple(_depends_key(d) for d in dependencies))

    return _keep_per_key("_build_dependant_with_parameterless_dependencies", key)


def share_response_fields() -> bool:
    """The same for each route's response fields: FastAPI builds a pydantic ``TypeAdapter`` per
    response model of every route of every app (``create_model_field``, about 6 % of the CPU of
    a test of tests/workspaces), a pure function of the field's name, type and mode. The test
    process keeps one per (name, type, mode)."""

    def key(name: str, type_: Any, *args: Any, **kwargs: Any) -> tuple[Any, ...] | None:
        if args or set(kwargs) - {"mode"}:
            return None
        return (name, type_, kwargs.get("mode", "validation"))

    return _keep_per_key("create_model_field", key)


share_route_analysis()
share_response_fields()


LONGEST_FIRST = (
    # Seconds each took alone on a 2-core host at load 6-9 (Dec 2026), longest first.
    "tests/e2e/test_server_cleanup.py",  # 52 (load 6-7; three tests, four served processes)
    "tests/e2e/test_widget_browser.py",  # 42
    "tests/rag/test_sources.py",  # 41
    "tests/workspaces/test_notifications.py",  # 40
    "tests/workspaces/test_permissions_table.py",  # 54 -> about 39 (one team for most actions)
    "tests/e2e/test_readme_curl.py",  # 36
    "tests/e2e/test_serve_flags.py",  # 28
    "tests/e2e/test_demo_server_budget.py",  # 28
    "tests/test_fuzz.py",  # 37 -> about 23 (its app's pooled engine)
    "tests/test_operator_first_hour.py",  # 17
    "tests/rag/test_sitemap_background.py",  # 18
    "tests/e2e/test_dashboard_first_ten_minutes.py",  # 16
    "tests/test_worker_redis_blip.py",  # 15 (13.6 -> 9.4 at load 3: forked workers)
    "tests/test_backup_documented.py",  # 11
    "tests/test_migration_0032.py",  # 9
)
"""Files `make test` hands out first. pytest-xdist shares files out in the order of their
number of tests (most first), so files of one to five long tests (a served process, a fresh
cluster, the fuzzer) came last, one worker busy with one of them while the other had nothing
left. A file missing from the list only runs in the order of its number of tests, as before."""


def file_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` with the files of ``LONGEST_FIRST`` first, in its order, then the other files
    by their number of tests, most first (pytest-xdist's own order, which `make test` turns off
    with --no-loadscope-reorder so that this one holds); each file's tests in their order."""
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    ordered = sorted(files, key=lambda name: (rank.get(name, len(rank)), -len(files[name])))
    return [item for name in ordered for item in files[name]]


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    items[:] = file_order(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What a served process does once started (core.heap): everything alive once the tests
    are collected (the project, its libraries, the test modules) frozen out of the cyclic
    collector's walks, and its youngest generation collected every ``GEN0_THRESHOLD``
    allocations. Measured on 90 tests of three directories in one process: the collector took
    7.5 s of 33 s of CPU (6.1 s of it in full collections walking those objects), frozen
    3.4 s of 26 s."""
    from core import heap

    heap.freeze_startup_heap()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a file's last test (its module fixtures torn down), what is still alive frozen too:
    the libraries a test imported late (torch, onnxruntime), the session's fixtures and the
    process's caches, which every full collection walked again. Only what survives a collection
    is frozen. On 239 tests of eight files in one process: the collector 4.4 -> 2.4 s."""
    if nextitem is not None and nextitem.path == item.path:
        return
    import gc

    gc.collect()
    gc.freeze()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The safety net: no embedded cluster, PgBouncer or replica a test started outlives the
    suite."""
    topology.stop_all_started()
    clusters.stop_all_started()
    # core.logging.configure (run by tests that build a served app in-process) put a handler on
    # the root logger that writes to pytest's captured stdout, closed by now: pgserver's exit
    # hook logging the embedded cluster's stop through it printed "--- Logging error ---".
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "trulybot"]:
        root.removeHandler(handler)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at its lowest cost in this test process (the API's own hasher, still verified by
    the real library): with the library's defaults (64 MiB, 3 passes) every signup and login of
    the suite cost about 0.2 s of the two cores on a slow host. Servers a test starts in another
    process keep the production parameters; tests about hashing itself replace the hasher."""
    from argon2 import PasswordHasher

    from workspaces import security

    real = security._hasher, security._DUMMY_HASH
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    security._DUMMY_HASH = security._hasher.hash("not a password of anyone")
    yield
    security._hasher, security._DUMMY_HASH = real


@pytest.fixture(autouse=True)
def fresh_robots_rules() -> None:
    """The robots.txt rules a process keeps per site for a few minutes (rag.knowledge.robots)
    start empty in each test: the local sites of two tests may share a port, so an origin."""
    from rag.knowledge import robots

    robots.forget_recent()


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "environment": "test",
        "jwt_secret": "test-secret-" + "x" * 40,
        "default_plan": "free",
        "data_dir": TEST_DATA_DIR,
        "seed_demo": False,
        "allow_private_urls": False,
        "embedding_provider": "hash",
        "redis_url": REDIS_URL,
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def onnx_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full-precision ONNX graph of the bundled model, made once for the session: the one
    `make install` exported into the machine's model cache (checked against torch then), else
    exported here. Tests that are not about the export copy it (``seed_onnx_graph``)."""
    from rag.knowledge import onnx_minilm
    from rag.knowledge.embeddings import get_local_model

    directory = tmp_path_factory.mktemp("onnx-graph")
    key = onnx_minilm.artifact_key(onnx_minilm.bundled_model_path())
    name = f"all-MiniLM-L6-v2-{key}.onnx"
    cached = onnx_minilm.default_cache_dir() / name
    if cached.is_file():
        shutil.copy(cached, directory / name)
    return onnx_minilm.load(directory, 1, lambda: get_local_model(1)).graph


def seed_onnx_graph(graph: Path, directory: Path) -> Path:
    """``directory`` with a copy of the exported graph, so loading from it exports nothing."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(graph, directory / graph.name)
    return directory


NO_FLUSH = {"fsync": "off", "full_page_writes": "off"}
"""The test cluster's commits wait for no disk flush: a test's data outlives no crash of the
machine, and every commit waiting for its WAL to reach the disk cost tests/workspaces 10 % of its
time in one process (170 -> 154 s). A commit still writes its WAL before it returns
(``synchronous_commit`` stays on: the replica tests read it at once, and tests of the product's
non-durable transactions compare with it). Production and the clusters that served processes
start keep PostgreSQL's defaults."""


async def no_flush_to_disk(owner_url: str) -> None:
    """``NO_FLUSH`` on the cluster at ``owner_url``, in force from the next transaction."""
    from core.db import create_engine

    engine = create_engine(owner_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            # ALTER SYSTEM runs outside a transaction block.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            for name, value in NO_FLUSH.items():
                await connection.execute(text(f"ALTER SYSTEM SET {name} = {value}"))
            await connection.execute(text("SELECT pg_reload_conf()"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def pg() -> EmbeddedPostgres:
    server = await embedded_postgres(TEST_DATA_DIR, database="trulybot_test", recreate=True)
    await no_flush_to_disk(server.owner_url())
    await migrate.ensure_app_role(server.owner_url(), APP_ROLE)
    await migrate.upgrade(server.owner_url(), app_role=APP_ROLE)
    return server


@pytest.fixture(scope="session")
async def db(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    database = Database.from_url(pg.app_url(APP_ROLE), pool_size=5, max_overflow=20)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def owner_db(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """Connected as the owner (superuser): for checks that must see across tenants."""
    database = Database.from_url(pg.owner_url(), pool_size=2, max_overflow=2)
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) in this process; stopped when the test ends."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@contextmanager
def json_logs() -> Iterator[list[dict[str, Any]]]:
    """The JSON log lines written while the block runs (the production log format), as dicts:
    the list is filled when the block ends."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging(
        make_settings(log_json=True, log_level="INFO"),
        context={"request_id": request_id_var},
        stream=stream,
    )
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
        root.setLevel(saved_level)
        structlog.reset_defaults()
        text = stream.getvalue()
        lines.extend(json.loads(line) for line in text.splitlines() if line.startswith("{"))


# --- the runtime: what `trulybot serve` runs on, over the test database and Redis -------------


@asynccontextmanager
async def make_runtime(
    settings: Settings,
    db: Database,
    redis: Redis | None,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    jobs: JobQueue | JobsChoice = "in-process",
    payments: PaymentProvider | None = None,
    owner_url: str | None = None,
) -> AsyncIterator[Runtime]:
    """A runtime over ``db`` and ``redis`` with these settings; providers come from the settings
    (the fake OpenAI or Razorpay server through their base URLs) unless given. Jobs run in this
    process; they are waited for when the block ends."""
    async with build_runtime(
        settings,
        database=db,
        owner_url=owner_url,
        redis=redis,
        embedder=embedder,
        generator=generator,
        jobs=jobs,
        payments=payments,
    ) as runtime:
        yield runtime
        await notifications.settle_kicks()
        await runtime.mailer.settle()
        await drain_or_fail(runtime.jobs)


DRAIN_GUARD = 120.0  # seconds: a guard against a hang, never an assertion on time


async def drain_or_fail(jobs: JobQueue) -> None:
    """``jobs.drain()``, failing the test after ``DRAIN_GUARD`` instead of waiting forever for a
    job that no worker will take: a test's own Redis whose worker it stopped holds the job the
    worker gave back (arq requeues a job cancelled by SIGTERM), and the suite hung on it."""
    try:
        await asyncio.wait_for(jobs.drain(), DRAIN_GUARD)
    except TimeoutError:
        left = ""
        if isinstance(jobs, ArqQueue):
            queue = jobs.queue_name or "arq:queue"
            ids = await jobs.pool.zrange(queue, 0, -1)
            left = f": {[await _job_name(jobs, i) for i in ids]}"
        raise AssertionError(
            f"jobs left in the queue after {DRAIN_GUARD} s, with no worker taking them{left}"
        ) from None


async def _job_name(jobs: ArqQueue, job_id: bytes | str) -> str:
    from arq.jobs import Job

    info = await Job(job_id.decode() if isinstance(job_id, bytes) else job_id, jobs.pool).info()
    return info.function if info is not None else str(job_id)


RuntimeFactory = Callable[..., AbstractAsyncContextManager[Runtime]]


@pytest.fixture
def runtime_factory(db: Database, redis_client: Redis) -> RuntimeFactory:
    """``async with runtime_factory(max_upload_bytes=2000, embedder=counting) as runtime:`` a
    runtime over the test database and Redis. Keyword arguments are settings overrides
    (``make_settings``), except the typed provider overrides of ``make_runtime`` (embedder,
    generator, jobs, payments, owner_url); ``redis=None`` runs without Redis."""

    def factory(
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        jobs: JobQueue | JobsChoice = "in-process",
        payments: PaymentProvider | None = None,
        owner_url: str | None = None,
        redis: Redis | str | None = "test",
        **settings: Any,
    ) -> AbstractAsyncContextManager[Runtime]:
        if redis is None:
            settings.setdefault("redis_url", None)
        return make_runtime(
            make_settings(**settings),
            db,
            redis_client if redis == "test" else redis,  # type: ignore[arg-type]
            embedder=embedder,
            generator=generator,
            jobs=jobs,
            payments=payments,
            owner_url=owner_url,
        )

    return factory


@dataclass
class IdleArq:
    """A runtime whose jobs go to an arq queue of their own that no worker takes (workers that
    lag), with a client of its app."""

    runtime: Runtime
    client: httpx.AsyncClient
    queue: ArqQueue
    queue_name: str

    async def waiting(self) -> list[Any]:
        return list(await self.queue.pool.queued_jobs(queue_name=self.queue_name))


@asynccontextmanager
async def idle_arq(runtime_factory: RuntimeFactory) -> AsyncIterator[IdleArq]:
    """An ``IdleArq``; its queue is emptied at the end (the runtime's drain waits for it)."""
    queue_name = f"trulybot-test-{uuid.uuid4().hex[:8]}"
    queue = await ArqQueue.connect(REDIS_URL, queue_name=queue_name)
    try:
        async with runtime_factory(jobs=queue) as runtime, client_for(runtime) as client:
            try:
                yield IdleArq(runtime, client, queue, queue_name)
            finally:
                await notifications.settle_kicks()
                await runtime.mailer.settle()
                ids = await queue.pool.zrange(queue_name, 0, -1)
                await queue.pool.delete(queue_name, *[b"arq:job:" + i for i in ids])
    finally:
        await queue.close()


def fresh_ip() -> str:
    """A client address no other test uses, so limits kept in the shared Redis never collide."""
    n = uuid.uuid4().int
    return f"10.{(n >> 16) % 256}.{(n >> 8) % 256}.{n % 254 + 1}"


@asynccontextmanager
async def client_for(
    runtime: Runtime, *, ip: str | None = None, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the real app over ``runtime``, its requests from ``ip`` when given.
    Else, with rate limits on, from an address of its own (``fresh_ip``): the limits' counters
    per address live in the session's Redis, so tests from one address refused each other
    (429) by the order they ran in. Clients meant to share an address are given the same."""
    if ip is None and limits_enabled(runtime.settings):
        ip = fresh_ip()
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(
        app=app, raise_app_exceptions=False, client=(ip, 40000) if ip else ("127.0.0.1", 123)
    )
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


@asynccontextmanager
async def started_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app started as `trulybot serve` starts it: its lifespan builds the runtime
    from ``settings`` (and runs the start checks); ``client.app`` is the app."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def runtime(settings: Settings, db: Database, redis_client: Redis) -> AsyncIterator[Runtime]:
    """The default runtime (``settings``); ``client`` talks to an app over it."""
    async with make_runtime(settings, db, redis_client) as rt:
        yield rt


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(runtime) as c:
        yield c


@dataclass
class Owner:
    email: str
    password: str
    token: str
    user_id: str
    workspace_id: str
    workspace: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str = "") -> str:
        return f"/api/v1/workspaces/{self.workspace_id}{path}"


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def mail_text(client: httpx.AsyncClient, to: str, template: str) -> str:
    """The text of the newest ``template`` mail to ``to``, read from the outbox (what the flush
    job sends; the SMTP tests read it from a real server instead)."""
    async with runtime_of(client).db.transaction(lookup=OUTBOX_SENDER) as session:
        body: str = (
            await session.execute(
                text(
                    "SELECT text_body FROM mail_outbox WHERE lower(recipient) = lower(:to)"
                    " AND template = :template ORDER BY created_at DESC LIMIT 1"
                ),
                {"to": to, "template": template},
            )
        ).scalar_one()
    return body


async def mail_token(client: httpx.AsyncClient, to: str, template: str) -> str:
    """The token in the link of the newest ``template`` mail to ``to`` (``mail_text``)."""
    body = await mail_text(client, to, template)
    match = re.search(r"[?&]token=([A-Za-z0-9_.\-]+)", body)
    assert match, body
    return match.group(1)


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def insert_document(
    owner_db: Database, workspace_id: uuid.UUID, title: str = "t", *, source: str | None = None
) -> uuid.UUID:
    """A ready text document row written as the owner, for tests that write its chunks
    themselves (``chunk_repo.replace_chunks``) with vectors of their choosing."""
    document_id = uuid.uuid4()
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO documents (id, workspace_id, title, source_type, source, status)"
                " VALUES (:d, :w, :t, 'text', :s, 'ready')"
            ),
            {"d": document_id, "w": workspace_id, "t": title, "s": source or title},
        )
    return document_id


async def insert_chunks(
    db: Database, workspace_id: uuid.UUID, document_id: uuid.UUID, vectors: Any
) -> list[uuid.UUID]:
    """Chunks "c0", "c1"... of ``document_id`` with these vectors, written as the app writes
    them (``chunk_repo.replace_chunks``) in ``db``'s transaction; their ids in that order."""
    rows = [
        chunk_repo.ChunkRow(
            position=i,
            text=f"c{i}",
            metadata={},
            token_count=1,
            content_hash=f"c{i}",
            embedding=vector,
        )
        for i, vector in enumerate(vectors)
    ]
    async with db.transaction(workspace_id=workspace_id) as session:
        await chunk_repo.replace_chunks(session, workspace_id, document_id, rows, [])
        return [cid for cid, _ in await chunk_repo.chunk_hashes(session, workspace_id, document_id)]


async def queued_text_document(
    runtime: Runtime, owner: Owner, *, title: str, body: str
) -> uuid.UUID:
    """A text document committed ``queued`` by an operator, its job not enqueued (the caller
    runs it, or plays the process that stopped before enqueueing it)."""
    ws = uuid.UUID(owner.workspace_id)
    async with runtime.db.transaction(workspace_id=ws) as session:
        workspace = await ws_repo.get_workspace(session, ws)
        assert workspace is not None
        sub = await submissions.submit_text(
            session,
            WorkspaceAccess.operator(workspace, command="test"),
            title=title,
            text=body,
            settings=runtime.settings,
        )
    return sub.document.id


async def someone_waits_for_a_lock(owner_db: Database) -> bool:
    """Whether a session of the test database waits for a lock another one holds (a race's
    second transaction has reached the row the first has locked)."""
    async with owner_db.transaction() as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE NOT l.granted AND a.datname = current_database()"
            )
        )
    return bool(waiting)


async def signup(client: httpx.AsyncClient, name: str = "Acme", *, verify: bool = True) -> Owner:
    """A new owner through the real flow: signup (202), the verification link from the mail
    (unless ``verify`` is False), login; the workspace from /me."""
    email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery"
    response = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": password, "workspace_name": name},
    )
    assert response.status_code == 202, response.text
    if verify:
        token = await mail_token(client, email, "verify_email")
        verified = await client.post(  # no session yet: the account's password proves it
            "/api/v1/auth/verify-email", json={"token": token, "password": password}
        )
        assert verified.status_code == 200, verified.text
    tokens = await login(client, email, password)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = (await client.get("/api/v1/me", headers=headers)).json()
    [workspace] = me["workspaces"]
    workspace.pop("role")
    return Owner(
        email=email,
        password=password,
        token=tokens["access_token"],
        user_id=me["user"]["id"],
        workspace_id=workspace["id"],
        workspace=workspace,
    )


async def join(client: httpx.AsyncClient, owner: Owner, person: Owner, role: str) -> None:
    """``owner`` invites ``person`` (an existing account) as ``role``; they accept, signed in."""
    invited = await client.post(
        owner.url("/members"), json={"email": person.email, "role": role}, headers=owner.headers
    )
    assert invited.status_code == 202, invited.text
    token = await mail_token(client, person.email, "invitation")
    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=person.headers
    )
    assert accepted.status_code == 200, accepted.text


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Owner:
    return await signup(client, "Acme")


@pytest.fixture
async def other(client: httpx.AsyncClient) -> Owner:
    return await signup(client, "Globex")


# --- knowledge (rag) fixtures ------------------------------------------------------------------


@pytest.fixture
async def jobs(runtime: Runtime) -> AsyncIterator[JobQueue]:
    """The runtime's in-process job queue; ``await jobs.drain()`` waits for every job."""
    yield runtime.jobs
    await runtime.jobs.drain()
