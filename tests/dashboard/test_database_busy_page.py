"""Every pooled connection busy while an owner opens a dashboard page: the dashboard's own 503
page ("try again shortly", Retry-After), not the REST API's JSON envelope shown as raw text in
the browser; our own script's request (Accept: application/json) and htmx get what they read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import unquote

import pytest
from redis.asyncio import Redis

from core.db import Database
from core.embedded import EmbeddedPostgres
from dashboard.page_route import ERROR_HEADER
from tests.conftest import APP_ROLE, client_for, make_runtime, make_settings
from tests.dashboard.conftest import web_signup


@pytest.fixture
async def two_connections(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """A database of two pooled connections whose checkout waits half a
    second at most."""
    db = Database.from_url(pg.app_url(APP_ROLE), pool_size=2, max_overflow=0, pool_timeout=0.5)
    try:
        yield db
    finally:
        await db.dispose()


async def test_a_busy_pool_answers_the_dashboards_503_page(
    two_connections: Database, redis_client: Redis
) -> None:
    db = two_connections
    settings = make_settings(db_pool_size=2, db_max_overflow=0)
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        web = await web_signup(client, f"Busy {uuid.uuid4().hex[:6]}")
        async with db.engine.connect() as busy, db.engine.connect() as also_busy:
            await busy.exec_driver_sql("SELECT 1")  # every pooled connection held elsewhere
            await also_busy.exec_driver_sql("SELECT 1")
            page = await client.get(web.url("team"), headers={"Accept": "text/html"})
            scripted = await client.get(web.url("team"), headers={"Accept": "application/json"})
            swapped = await client.get(web.url("team"), headers={"HX-Request": "true"})
        assert page.status_code == 503, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["Retry-After"] == "2"
        assert "Try again shortly" in page.text
        assert "Content-Security-Policy" in page.headers
        assert scripted.status_code == 503
        assert scripted.json()["error"]["code"] == "database_busy"
        assert swapped.status_code == 503
        assert "busy" in unquote(swapped.headers[ERROR_HEADER])
        assert (await client.get(web.url("team"))).status_code == 200  # the connections are back
