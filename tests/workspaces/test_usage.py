from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from core.db import Database
from core.errors import QuotaExceeded
from tests.conftest import Owner
from workspaces import usage


async def test_concurrent_increments_are_exact(owner: Owner, db: Database) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)

    async def bump() -> None:
        async with db.transaction(workspace_id=workspace_id) as session:
            await usage.increment(session, workspace_id, messages=1, llm_tokens=7)

    await asyncio.gather(*[bump() for _ in range(50)])
    async with db.transaction(workspace_id=workspace_id) as session:
        from workspaces import usage_repository

        counter = await usage_repository.get_usage(
            session, workspace_id=workspace_id, month=usage.month_key()
        )
    assert counter.messages == 50
    assert counter.llm_tokens == 350


async def test_usage_endpoint_shows_counters_beside_limits(
    client: httpx.AsyncClient, owner: Owner, db: Database
) -> None:
    workspace_id = uuid.UUID(owner.workspace_id)
    async with db.transaction(workspace_id=workspace_id) as session:
        await usage.increment(session, workspace_id, conversations=3, messages=9)
    body = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert body["plan"] == "free"
    assert body["month"] == usage.month_key()
    assert body["metrics"]["conversations"] == {"used": 3, "limit": 100}
    assert body["metrics"]["messages"] == {"used": 9, "limit": 1000}
    assert body["metrics"]["members"] == {"used": 1, "limit": 2}
    # An open invitation takes a seat, as the invitation check counts it: the usage said
    # 1 of 2 while a further invitation was refused for want of a seat.
    invited = await client.post(
        owner.url("/members"),
        json={"email": f"seat-{uuid.uuid4().hex[:8]}@example.com", "role": "member"},
        headers=owner.headers,
    )
    assert invited.status_code == 202, invited.text
    body = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    assert body["metrics"]["members"] == {"used": 2, "limit": 2}
    refused = await client.post(
        owner.url("/members"),
        json={"email": f"seat-{uuid.uuid4().hex[:8]}@example.com", "role": "member"},
        headers=owner.headers,
    )
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "quota_exceeded"


def test_quota_error_carries_limit_and_reset() -> None:
    reset = usage.month_reset()
    with pytest.raises(QuotaExceeded) as info:
        usage.ensure_within(plan_code="free", metric="messages", used=1000, resets_at=reset)
    assert info.value.details["limit"] == 1000
    assert info.value.details["resets_at"] == reset.isoformat()
    assert int(info.value.headers["Retry-After"]) > 0
    usage.ensure_within(plan_code="unlimited", metric="messages", used=10**9, resets_at=reset)
