"""A red-team of metering at a plan's edge: a paid period that ended mid-month with the month's
messages already above the fallback plan's limit, and the last unit of the quota taken by an FAQ
answer. What the owner, the visitor and the usage API see must agree with what was enforced."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.db import Database
from tests.conftest import Owner
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answers import fake_llm, llm_client, llm_settings, refunds_owner
from tests.rag.test_chat import add_faq, chat, new_session, widget_headers
from workspaces import repository as ws_repo
from workspaces import usage

FREE_MESSAGES = 1000
FIXTURES = (fake_llm, llm_client, llm_settings)


async def _usage(client: httpx.AsyncClient, owner: Owner) -> dict:  # type: ignore[type-arg]
    got = await client.get(owner.url("/usage"), headers=owner.headers)
    assert got.status_code == 200, got.text
    return dict(got.json())


async def on_starter_until(db: Database, workspace_id: uuid.UUID, expires_at: datetime) -> None:
    """The workspace on starter until ``expires_at`` (a past moment: its paid period has
    ended), then free."""
    async with db.transaction(workspace_id=workspace_id) as session:
        await ws_repo.update_workspace(
            session,
            workspace_id,
            {"plan": "starter", "plan_expires_at": expires_at, "fallback_plan": "free"},
        )


async def test_a_paid_period_ended_mid_month_above_the_free_limit_refuses_and_meters_nothing(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    used = FREE_MESSAGES + 500
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, messages=used, conversations=5)
    await on_starter_until(db, workspace_id, datetime.now(UTC) - timedelta(minutes=1))
    visitor = await chat(client, owner, "hello", session_id=new_session())
    assert visitor.status_code == 429, visitor.text
    error = visitor.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert not error.get("details"), error  # the plan and its usage are the owner's
    assert int(visitor.headers["Retry-After"]) > 0
    own = await client.post(
        owner.url("/chat"),
        json={"message": "hello", "session_id": new_session()},
        headers=owner.headers,
    )
    assert own.status_code == 429, own.text
    details = own.json()["error"]["details"]
    assert details["metric"] == "messages"
    assert details["plan"] == "free"
    assert details["limit"] == FREE_MESSAGES
    assert details["used"] == used
    report = await _usage(client, owner)
    assert report["plan"] == "free"
    assert report["metrics"]["messages"] == {"used": used, "limit": FREE_MESSAGES}
    assert "messages" in report["limits_reached"]
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert listing["items"] == []  # refused turns recorded nothing


async def test_faq_answers_at_the_last_messages_are_metered_and_stop_at_the_limit(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    question = f"What are the opening hours {uuid.uuid4().hex[:6]}?"
    await add_faq(client, owner, question, "Nine to five, Monday to Friday.")
    workspace_id = uuid.UUID(owner.workspace_id)
    left = 2
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, messages=FREE_MESSAGES - left)
    sent = await asyncio.gather(
        *(chat(client, owner, question, session_id=new_session()) for _ in range(6))
    )
    statuses = sorted(r.status_code for r in sent)
    assert statuses == [200] * left + [429] * (6 - left), [r.text for r in sent]
    assert all(r.json()["source"] == "faq" for r in sent if r.status_code == 200)
    report = await _usage(client, owner)
    assert report["metrics"]["messages"]["used"] == FREE_MESSAGES
    assert report["metrics"]["conversations"]["used"] == left
    assert report["llm_tokens"] == 0


async def test_a_failed_generation_meters_the_message_and_gives_its_tokens_back(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    """The model answers 500: the visitor gets the passages' answer, the message counts once,
    no model token is counted today or this month, and the turn's reservation is given back."""
    client, runtime = llm_client
    owner = await refunds_owner(client, runtime, "Failed generation")
    before = await _usage(client, owner)
    fake_llm.fail_next(500, times=5)
    answered = await chat(client, owner, "How long do refunds take?", session_id=new_session())
    assert answered.status_code == 200, answered.text
    assert answered.json()["source"] in ("rag", "fallback"), answered.json()
    after = await _usage(client, owner)
    assert after["metrics"]["messages"]["used"] == before["metrics"]["messages"]["used"] + 1
    assert after["metrics"]["daily_llm_tokens"]["used"] == 0
    assert after["llm_tokens"] == 0


async def test_a_cached_answer_counts_as_a_message_and_spends_no_tokens(
    llm_client: Any, fake_llm: FakeOpenAI
) -> None:
    client, runtime = llm_client
    owner = await refunds_owner(client, runtime, "Cached answer")
    question = "How long do refunds take?"
    first = await chat(client, owner, question, session_id=new_session())
    assert first.status_code == 200, first.text
    assert first.json()["source"] == "rag", first.json()
    before = await _usage(client, owner)
    assert before["llm_tokens"] > 0
    calls = len(fake_llm.chat_requests)
    again = await chat(client, owner, question, session_id=new_session())
    assert again.status_code == 200, again.text
    assert again.json()["source"] == "cache", again.json()
    assert len(fake_llm.chat_requests) == calls
    after = await _usage(client, owner)
    assert after["metrics"]["messages"]["used"] == before["metrics"]["messages"]["used"] + 1
    assert after["llm_tokens"] == before["llm_tokens"]
    assert after["metrics"]["daily_llm_tokens"] == before["metrics"]["daily_llm_tokens"]


async def test_at_the_conversations_limit_a_conversation_under_way_goes_on(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    """The month's 100 conversations used: a visitor already talking is answered (a message
    counts, no conversation), a new one is refused for ``conversations``; usage agrees."""
    first = await chat(client, owner, "hello", session_id=(visitor := new_session()))
    assert first.status_code == 200, first.text
    workspace_id = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, conversations=99)
    going_on = await chat(
        client, owner, "thanks", session_id=visitor, conversation_id=first.json()["conversation_id"]
    )
    assert going_on.status_code == 200, going_on.text
    own = await client.post(
        owner.url("/chat"),
        json={"message": "hello", "session_id": new_session()},
        headers=owner.headers,
    )
    assert own.status_code == 429, own.text
    assert own.json()["error"]["details"]["metric"] == "conversations"
    report = await _usage(client, owner)
    assert report["metrics"]["conversations"] == {"used": 100, "limit": 100}
    assert report["metrics"]["messages"]["used"] == 2
    assert report["limits_reached"] == ["conversations"]


async def test_an_upgrade_is_read_by_the_next_visitor_turn_not_the_cached_plan(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    """Refused at the free plan's last message (the widget key and its workspace cached), the
    workspace is upgraded: the next turn is answered under the new plan, counted once."""
    workspace_id = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, messages=FREE_MESSAGES)
    refused = await chat(client, owner, "hello", session_id=new_session())
    assert refused.status_code == 429, refused.text
    await on_starter_until(db, workspace_id, datetime.now(UTC) + timedelta(days=30))
    answered = await chat(client, owner, "hello", session_id=new_session())
    assert answered.status_code == 200, answered.text
    report = await _usage(client, owner)
    assert report["plan"] == "starter"
    assert report["metrics"]["messages"] == {"used": FREE_MESSAGES + 1, "limit": 20_000}


async def test_a_streamed_turn_over_the_quota_is_a_plain_429_and_meters_nothing(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, messages=FREE_MESSAGES)
    streamed = await client.post(
        "/api/v1/chat",
        json={"message": "hello", "session_id": new_session()},
        headers=widget_headers(owner, Accept="text/event-stream"),
    )
    assert streamed.status_code == 429, streamed.text
    assert streamed.json()["error"]["code"] == "quota_exceeded"
    assert not streamed.json()["error"].get("details")
    report = await _usage(client, owner)
    assert report["metrics"]["messages"]["used"] == FREE_MESSAGES
    assert report["metrics"]["conversations"]["used"] == 0
