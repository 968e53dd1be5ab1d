"""A visitor's request for a person: one ``conversation.handoff`` webhook delivery per hand-off,
however often the visitor asks while the conversation is handed off (each request used to post
the owner's receiver again, carrying the visitor's text)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from api.runtime import Runtime
from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.fakes.receiver import receiver

HUMAN = "I want to speak to a human"


async def say(
    client: httpx.AsyncClient,
    owner: Owner,
    session_id: str,
    conversation: str | None,
    message: str = HUMAN,
) -> dict[str, Any]:
    """A visitor's ``message`` through the widget's chat API (in ``conversation``, when given);
    the answer."""
    body: dict[str, Any] = {"message": message, "session_id": session_id}
    if conversation is not None:
        body["conversation_id"] = conversation
    response = await client.post(
        "/api/v1/chat", json=body, headers={"X-Widget-Key": owner.workspace["public_key"]}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _ask(
    client: httpx.AsyncClient, owner: Owner, session_id: str, conversation: str | None
) -> dict[str, Any]:
    answer = await say(client, owner, session_id, conversation)
    assert (answer["intent"], answer["source"]) == ("human", "handoff")
    return answer


async def _status(client: httpx.AsyncClient, owner: Owner, conversation: str) -> str:
    read = await client.get(owner.url(f"/conversations/{conversation}"), headers=owner.headers)
    assert read.status_code == 200, read.text
    return str(read.json()["conversation"]["status"])


async def _handoffs(
    client: httpx.AsyncClient, owner: Owner, runtime: Runtime, session_id: str, times: int
) -> tuple[str, list[str]]:
    """``times`` requests for a person in one conversation; its id and each answer's text."""
    conversation: str | None = None
    replies = []
    for _ in range(times):
        answer = await _ask(client, owner, session_id, conversation)
        conversation = str(answer["conversation_id"])
        replies.append(str(answer["answer"]))
    await runtime.notifier.drain()
    assert conversation is not None
    return conversation, replies


async def test_asking_again_for_a_person_posts_the_webhook_once(
    runtime_factory: RuntimeFactory,
) -> None:
    session_id = f"v-{uuid.uuid4().hex[:10]}"
    with receiver() as hook:
        async with (
            runtime_factory(allow_private_urls=True) as runtime,
            client_for(runtime) as client,
        ):
            owner = await signup(client)
            patched = await client.patch(
                owner.url(""), json={"webhook_url": hook.url()}, headers=owner.headers
            )
            assert patched.status_code == 200, patched.text
            conversation, replies = await _handoffs(client, owner, runtime, session_id, 5)
            # The visitor is answered alike each time; the owner hears of it once.
            assert len(set(replies)) == 1
            assert await _status(client, owner, conversation) == "handoff"
            assert len(hook.received) == 1
            payload = json.loads(hook.received[0].body)
            assert payload["event"] == "conversation.handoff"
            assert payload["data"]["conversation_id"] == conversation

            # The team takes it back (open): the next request is a new hand-off, told once more.
            reopened = await client.patch(
                owner.url(f"/conversations/{conversation}"),
                json={"status": "open"},
                headers=owner.headers,
            )
            assert reopened.status_code == 200, reopened.text
            await _ask(client, owner, session_id, conversation)
            await _ask(client, owner, session_id, conversation)
            await runtime.notifier.drain()
            assert await _status(client, owner, conversation) == "handoff"
            assert len(hook.received) == 2
            assert json.loads(hook.received[1].body)["data"]["conversation_id"] == conversation
