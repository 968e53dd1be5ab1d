"""Every pooled connection busy: a request waits DB_POOL_TIMEOUT_SECONDS for one, then gets 503
``database_busy`` with Retry-After (it waited SQLAlchemy's 30 s, then got a 500
``internal_error`` with a traceback at ERROR level, which the widget does not retry); a
streamed answer whose recording finds the pool busy, or the database gone, ends with that code
too, not ``internal_error``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from api.sse import sse_response
from core.config import Settings
from core.db import Database
from core.embedded import EmbeddedPostgres
from tests.conftest import APP_ROLE, client_for, login, make_runtime, make_settings, signup
from tests.dashboard.conftest import PASSWORD, web_signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import fake_llm, llm_settings, refunds_owner
from tests.rag.test_chat import chat, parse_sse
from tests.rag.test_turn_endings import LONG_ANSWER, visitor_input

FIXTURES = (fake_llm, llm_settings)
"""The fake model and its settings, shared with tests/rag/test_answers.py."""


@pytest.fixture
async def one_connection(pg: EmbeddedPostgres) -> AsyncIterator[Database]:
    """A database of one pooled connection whose checkout waits half a second at most."""
    db = Database.from_url(pg.app_url(APP_ROLE), pool_size=1, max_overflow=0, pool_timeout=0.5)
    try:
        yield db
    finally:
        await db.dispose()


async def test_a_busy_pool_answers_503_database_busy(
    one_connection: Database, redis_client: Redis
) -> None:
    """A visitor's chat and an owner's page alike, at once; the next request, once the
    connection is free, is served."""
    db = one_connection
    settings = make_settings(db_pool_size=1, db_max_overflow=0)
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as client:
        owner = await signup(client, f"Pool {uuid.uuid4().hex[:6]}")
        async with db.engine.connect() as busy:  # the pool's only connection
            await busy.exec_driver_sql("SELECT 1")
            answered = await chat(client, owner, "hello")
            usage = await client.get(owner.url("/usage"), headers=owner.headers)
        for response in (answered, usage):
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "database_busy"
            assert response.headers["Retry-After"] == "2"
        assert (await chat(client, owner, "hello")).status_code == 200


async def test_a_stream_whose_recording_finds_the_pool_busy_ends_with_database_busy(
    one_connection: Database,
    redis_client: Redis,
    llm_settings: Settings,
    fake_llm: FakeOpenAI,
) -> None:
    """The model writes, then the answer's transaction finds no free connection: the stream's
    ``error`` event says ``database_busy`` (what the JSON answer's 503 says), not
    ``internal_error``."""
    db = one_connection
    settings = llm_settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "llm_timeout_seconds": 60.0}
    )
    async with make_runtime(settings, db, redis_client) as runtime, client_for(runtime) as c:
        owner = await refunds_owner(c, runtime, f"Stream pool {uuid.uuid4().hex[:6]}")
        inp = await visitor_input(runtime, owner, "How long do refunds take to arrive?")
        fake_llm.chat_reply = LONG_ANSWER
        fake_llm.stream_hang_after = 35  # words: the model stalls mid-answer
        response = await sse_response(runtime.pipeline.stream(inp))  # meta: recorded
        while not fake_llm.stream_sent.is_set():
            await asyncio.sleep(0.01)
        async with db.engine.connect() as busy:  # the pool's only connection
            await busy.exec_driver_sql("SELECT 1")
            fake_llm.stream_hang_after = None  # the model finishes; its answer is to be recorded
            body = "".join([str(chunk) async for chunk in response.body_iterator])
        events: list[tuple[str, dict[str, Any]]] = parse_sse(body)
        assert events[0][0] == "meta"
        assert events[-1] == (
            "error",
            {"code": "database_busy", "message": "The service is busy; try again shortly"},
        )


async def test_the_owners_chat_holds_no_connection_while_its_turn_runs(
    one_connection: Database, db: Database, redis_client: Redis
) -> None:
    """The owners' chat (the API's, JSON and streamed, and the dashboard's playground) ran its
    turn inside the request's transaction: each turn needed a second pooled connection while
    it held the first through the model's answer, so a pool of one never answered an owner
    (503 ``database_busy``), and as many owners' turns at once as the pool holds waited for
    each other. The request's transaction ends once the caller is known."""
    async with make_runtime(make_settings(), db, redis_client) as runtime, client_for(runtime) as c:
        web = await web_signup(c, f"Owner pool {uuid.uuid4().hex[:6]}")  # signed in on ``c``
        token = (await login(c, web.email, PASSWORD))["access_token"]
    settings = make_settings(db_pool_size=1, db_max_overflow=0)
    async with (
        make_runtime(settings, one_connection, redis_client) as runtime,
        client_for(runtime) as client,
    ):
        client.cookies = c.cookies
        web.client = client
        chat_url = f"/api/v1/workspaces/{web.workspace_id}/chat"
        api = {"Authorization": f"Bearer {token}"}
        asked = await client.post(chat_url, json={"message": "hello"}, headers=api)
        assert asked.status_code == 200, asked.text
        streamed = await client.post(
            chat_url,
            json={"message": "thanks", "conversation_id": asked.json()["conversation_id"]},
            headers={**api, "Accept": "text/event-stream"},
        )
        assert streamed.status_code == 200, streamed.text
        assert parse_sse(streamed.text)[-1][0] == "done"
        played = await web.post(web.url("playground"), {"message": "hello"})
        assert played.status_code == 303, played.text
        shown = await client.get(played.headers["location"])
        assert 'data-testid="playground-answer"' in shown.text
        played = await client.post(
            web.url("playground/stream"),
            data={"message": "hello"},
            headers={"X-CSRF-Token": web.csrf, "Accept": "text/event-stream"},
        )
        assert played.status_code == 200, played.text
        assert parse_sse(played.text)[-1][0] == "html"
