"""Failure behaviour: a database outage answers 503 with Retry-After, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from core.db import Database
from tests.conftest import Owner
from tests.hardening.conftest import ClientFactory


@pytest.fixture
async def dead_db(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    socket_dir = tmp_path_factory.mktemp("no-postgres")
    database = Database.from_url(f"postgresql://trulybot_app@/trulybot?host={socket_dir}")
    yield database
    await database.dispose()


@pytest.fixture
async def refused_db() -> AsyncIterator[Database]:
    database = Database.from_url("postgresql://trulybot_app:x@127.0.0.1:1/trulybot")
    yield database
    await database.dispose()


async def test_database_down_api_answers_503_with_retry_after(
    app_client: ClientFactory, dead_db: Database, refused_db: Database, owner: Owner
) -> None:
    for database in (dead_db, refused_db):
        async with app_client(database=database) as client:
            for response in (
                await client.get(owner.url(), headers=owner.headers),
                await client.get(owner.url("/leads"), headers=owner.headers),
                await client.post(
                    "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
                ),
            ):
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "database_unavailable"
                assert int(response.headers["retry-after"]) > 0
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert int(ready.headers["retry-after"]) > 0
            assert ready.json()["error"]["details"]["database"].startswith("unavailable")
            assert (await client.get("/healthz")).status_code == 200


async def test_database_down_with_rate_limits_on_still_answers_503(
    app_client: ClientFactory, dead_db: Database, owner: Owner
) -> None:
    async with app_client(database=dead_db, rate_limits="on") as client:
        response = await client.post(
            "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
        )
        assert response.status_code == 503
        assert response.headers["ratelimit-limit"]


async def test_nul_characters_in_input_are_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": "a\u0000@example.com", "password": "x" * 12}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_text"


async def test_text_the_driver_cannot_encode_is_a_422_and_other_database_errors_a_traceable_500(
    app_client: ClientFactory, db: Database
) -> None:
    """Whatever path lets a lone surrogate reach the database (the driver cannot encode it:
    ``UnicodeEncodeError`` inside asyncpg's ``DataError``) answers 422 ``invalid_text``, not a
    500; a database error that is nobody's input is a 500 naming the request's id."""
    async with app_client() as client:
        app: FastAPI = client.app  # type: ignore[attr-defined]

        @app.post("/api/v1/_test/store")
        async def store() -> None:
            async with db.transaction() as session:
                await session.execute(text("SELECT CAST(:v AS text)"), {"v": "x \ud800"})

        @app.post("/api/v1/_test/divide")
        async def divide() -> None:
            async with db.transaction() as session:
                await session.execute(text("SELECT 1 / 0"))

        stored = await client.post("/api/v1/_test/store")
        assert stored.status_code == 422, stored.text
        assert stored.json()["error"]["code"] == "invalid_text"
        divided = await client.post("/api/v1/_test/divide", headers={"X-Request-ID": "req-db-1"})
    assert divided.status_code == 500, divided.text
    assert divided.json()["error"]["details"] == {"request_id": "req-db-1"}


async def test_redis_down_chat_still_answers(
    app_client: ClientFactory, owner: Owner, client: httpx.AsyncClient
) -> None:
    from redis.asyncio import Redis

    await client.post(
        owner.url("/faqs"),
        json={"question": "What are your hours?", "answer": "9 to 5."},
        headers=owner.headers,
    )
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        async with app_client(redis=dead, rate_limits="on") as down:
            headers = {"X-Widget-Key": owner.workspace["public_key"]}
            for message in ("What are your hours?", "Do you sell submarines?", "hello"):
                response = await down.post(
                    "/api/v1/chat",
                    json={"message": message, "session_id": "redis-down"},
                    headers=headers,
                )
                assert response.status_code == 200, response.text
                assert response.json()["answer"]
            faq = await down.post(
                "/api/v1/chat",
                json={"message": "What are your hours?", "session_id": "redis-down"},
                headers=headers,
            )
            assert faq.json()["source"] == "faq"
            assert "ratelimit-limit" in faq.headers  # limits kept working, in memory
    finally:
        await dead.aclose()


async def test_redis_down_an_erasure_answers_and_the_chat_goes_on(
    app_client: ClientFactory, owner: Owner
) -> None:
    """The erasure clears the response cache before it answers (raising the workspace's
    erasure epoch first): with Redis unreachable it answers all the same (the process's own
    cache cleared, a warning for the Redis keys), and a new conversation in the erased session
    is answered after it (its session lock went with the erasure's commit)."""
    from redis.asyncio import Redis

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    headers = {"X-Widget-Key": owner.workspace["public_key"]}
    session_id = f"gone-{owner.workspace_id[:8]}"
    try:
        async with app_client(redis=dead) as down:
            for _ in range(2):
                chat = await down.post(
                    "/api/v1/chat",
                    json={"message": "Do you sell submarines?", "session_id": session_id},
                    headers=headers,
                )
                assert chat.status_code == 200, chat.text
                erased = await down.post(
                    owner.url("/erasures"), json={"session_id": session_id}, headers=owner.headers
                )
                assert erased.status_code == 200, erased.text
                assert erased.json()["erased"]["conversations"] == 1
    finally:
        await dead.aclose()
