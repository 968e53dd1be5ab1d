"""No pooled database connection is held while a reranker runs: the owner's search
(``POST /api/v1/workspaces/{id}/search``) and the chat answers alike.

The search reranked inside its request's transaction: with RERANKER=llm the model's call
(up to RERANKER_TIMEOUT_MS), with RERANKER=maxsim about 1.7 s of CPU, each holding a pooled
connection and an open transaction, so as many searches at once as the pool holds
(DB_POOL_SIZE) took every connection and every other request answered 503
``database_busy``; with a pool of one the search itself needed a second connection for its
token reservation and answered 503. Here the pool has one connection and the fake model holds
the rerank's call (``hang``) until the test lets it answer: meanwhile no connection is checked
out and another request is served. The RERANKER=maxsim search is the same test with the
model's own lock held (tests/rag/test_maxsim_rerank.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.runtime import Runtime
from core.config import Settings
from core.db import Database
from tests.conftest import Owner, client_for, make_runtime, signup
from tests.fakes.openai_server import FakeOpenAI, ranking_reply
from tests.rag.test_answers import fake_llm, ingest, llm_settings
from tests.rag.test_chat import chat
from tests.rag.test_rerank import PAGES
from tests.test_db_pool_busy import one_connection

FIXTURES = (fake_llm, llm_settings, one_connection)
"""The fake model, its settings and a database of one pooled connection, shared."""

_RANKING = ranking_reply(lambda text: float(text.startswith("Refunds")))


def reply(body: dict[str, Any]) -> str:
    """The Refunds page first to a reranking prompt; an answer citing it to any other."""
    if body["messages"][0]["content"].startswith("You rank search results"):
        return _RANKING(body)
    return "The yearly plan refund arrives within 30 days [1]."


def reranking(settings: Settings, **more: Any) -> Settings:
    """``settings`` with RERANKER=llm over the fake, its budget the most there is (the hang is
    let go by the test, never by the budget)."""
    update = {"reranker": "llm", "reranker_timeout_ms": 60_000, **more}
    return settings.model_copy(update=update)


@asynccontextmanager
async def pool_of_one(
    settings: Settings, db: Database, one: Database, redis: Redis
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient, Owner]]:
    """An owner of PAGES (ingested over the test database), then a runtime and client whose
    database ``one`` has a single pooled connection."""
    async with make_runtime(settings, db, redis) as runtime, client_for(runtime) as client:
        owner = await signup(client, f"Rerank pool {uuid.uuid4().hex[:6]}")
        for title, text in PAGES.items():
            await ingest(client, owner, runtime, title, text)
    update = {"db_pool_size": 1, "db_max_overflow": 0}
    async with (
        make_runtime(settings.model_copy(update=update), one, redis) as runtime,
        client_for(runtime) as client,
    ):
        yield runtime, client, owner


async def held_at_the_model(
    fake: FakeOpenAI, one: Database, client: httpx.AsyncClient, owner: Owner, request: Any
) -> httpx.Response:
    """``request`` sent while the fake model holds every call; once its rerank's call hangs:
    no pooled connection is checked out and another request of the owner is served. Then the
    model answers and ``request``'s response is returned."""
    fake.chat_reply = reply
    fake.hang = True
    task = asyncio.ensure_future(request())
    try:
        while not fake.hanging.is_set() and not task.done():
            await asyncio.sleep(0.01)
        assert not task.done(), task.result().text  # it waits on the model
        asked = fake.chat_requests[-1].json["messages"][0]["content"]
        assert asked.startswith("You rank search results")  # the rerank's call waits
        assert one.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        usage = await client.get(owner.url("/usage"), headers=owner.headers)
        assert usage.status_code == 200, usage.text
        listed = await client.get(owner.url("/documents"), headers=owner.headers)
        assert listed.status_code == 200, listed.text
    finally:
        fake.hang = False
    return await task


async def test_a_search_holds_no_connection_while_it_reranks(
    llm_settings: Settings,
    fake_llm: FakeOpenAI,
    db: Database,
    one_connection: Database,
    redis_client: Redis,
) -> None:
    settings = reranking(llm_settings)
    async with pool_of_one(settings, db, one_connection, redis_client) as (_, client, owner):

        def search() -> Awaitable[httpx.Response]:
            body = {"query": "yearly plan refund", "k": 2}
            return client.post(owner.url("/search"), json=body, headers=owner.headers)

        response = await held_at_the_model(fake_llm, one_connection, client, owner, search)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["reranker"], body["reranker_fallback"]) == ("llm", None)
        assert body["results"][0]["title"] == "Refunds"  # the model's order
        usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
        assert usage["llm_tokens"] > 0  # its tokens settled, in a transaction of their own


def _widget(client: httpx.AsyncClient, owner: Owner) -> Callable[[], Awaitable[httpx.Response]]:
    return lambda: chat(client, owner, "How long does a yearly plan refund take?")


def _owner(client: httpx.AsyncClient, owner: Owner) -> Callable[[], Awaitable[httpx.Response]]:
    body = {"message": "How long does a yearly plan refund take?"}
    return lambda: client.post(owner.url("/chat"), json=body, headers=owner.headers)


@pytest.mark.parametrize("asker", [_widget, _owner], ids=["widget", "owner"])
async def test_a_chat_answer_holds_no_connection_while_it_reranks(
    llm_settings: Settings,
    fake_llm: FakeOpenAI,
    db: Database,
    one_connection: Database,
    redis_client: Redis,
    asker: Callable[[httpx.AsyncClient, Owner], Callable[[], Awaitable[httpx.Response]]],
) -> None:
    """The chat pipeline reranks after its read transaction closed (a guard: it already did)."""
    settings = reranking(llm_settings, retrieval_k=2, retrieval_min_similarity=-1.0)
    async with pool_of_one(settings, db, one_connection, redis_client) as (_, client, owner):
        ask = asker(client, owner)
        response = await held_at_the_model(fake_llm, one_connection, client, owner, ask)
        assert response.status_code == 200, response.text
        assert response.json()["source"] == "rag"
