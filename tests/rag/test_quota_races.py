"""A hostile visitor sending many messages at once cannot get answers past the workspace's
monthly quota: the counter is incremented and compared in the message's own statement, so
concurrent turns serialize on it. A red-team of the public chat path found this holding; the
counter's own concurrency is tested in tests/workspaces/test_usage.py, this is the chat path."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from core.db import Database
from tests.conftest import Owner
from tests.rag.test_chat import chat, new_session
from workspaces import usage

LIMIT = 1000  # the free plan's messages a month
LEFT = 3


async def test_concurrent_messages_at_the_quota_are_answered_no_more_than_it_allows(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, messages=LIMIT - LEFT)
    sent = await asyncio.gather(
        *(chat(client, owner, "hello", session_id=new_session()) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in sent)
    assert statuses == [200] * LEFT + [429] * (8 - LEFT), [r.text for r in sent]
    assert all(r.json()["error"]["code"] == "quota_exceeded" for r in sent if r.status_code == 429)
    report = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert report["metrics"]["messages"]["used"] == LIMIT
    listing = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert len(listing["items"]) == LEFT
