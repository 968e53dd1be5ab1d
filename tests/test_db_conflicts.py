"""A transaction PostgreSQL rolls back because it met another's at the same moment (a deadlock,
40P01; a serialization failure, 40001) is no bug of the request: it answers 503
``database_busy`` with Retry-After, as a full pool does, and nothing of it is stored; the same
request again succeeds. It was a 500 ``internal_error`` with a traceback sent to Sentry.

The conflict is PostgreSQL's own error, raised by a trigger on the row this test writes (a
question no other test asks), so the driver, SQLAlchemy and the handlers see what a real
deadlock gives them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from tests.conftest import signup


@pytest.fixture(params=["deadlock_detected", "serialization_failure"])
async def conflicting_question(
    request: pytest.FixtureRequest, owner_db: Database
) -> AsyncIterator[str]:
    """A question whose FAQ insert PostgreSQL refuses with ``request.param``'s SQLSTATE."""
    question = f"conflict probe {uuid.uuid4().hex}?"
    name = f"tb_test_conflict_{uuid.uuid4().hex[:12]}"
    async with owner_db.transaction() as s:
        await s.execute(
            text(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN IF NEW.question = '{question}' THEN"
                f" RAISE EXCEPTION 'conflict' USING ERRCODE = '{request.param}';"
                " END IF; RETURN NEW; END $$"
            )
        )
        await s.execute(
            text(
                f"CREATE TRIGGER {name} BEFORE INSERT ON faqs"
                f" FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        )
    try:
        yield question
    finally:
        async with owner_db.transaction() as s:
            await s.execute(text(f"DROP TRIGGER {name} ON faqs"))
            await s.execute(text(f"DROP FUNCTION {name}()"))


async def test_a_conflicting_transaction_is_503_database_busy_and_stores_nothing(
    client: httpx.AsyncClient, conflicting_question: str
) -> None:
    owner = await signup(client, f"Conflict {uuid.uuid4().hex[:6]}")
    refused = await client.post(
        owner.url("/faqs"),
        json={"question": conflicting_question, "answer": "At 12 Park Street."},
        headers=owner.headers,
    )
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "database_busy"
    assert refused.headers["Retry-After"] == "2"
    listed = (await client.get(owner.url("/faqs"), headers=owner.headers)).json()
    assert listed["total"] == 0
    # Another question, the same request: served.
    made = await client.post(
        owner.url("/faqs"),
        json={"question": "Where is the office?", "answer": "At 12 Park Street."},
        headers=owner.headers,
    )
    assert made.status_code == 201, made.text
