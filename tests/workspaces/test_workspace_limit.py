"""One account cannot multiply the free plan by making workspaces: it may own
FREE_WORKSPACES_PER_ACCOUNT (2) workspaces on the default plan, paid ones aside, and a
workspace beyond its first needs a confirmed email (plan-limits review F1: 41 free workspaces,
41,000 free messages a month, for one account)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from api.runtime import Runtime
from core.db import Database
from tests.conftest import Owner, RuntimeFactory, client_for, signup


async def create(client: httpx.AsyncClient, owner: Owner, name: str) -> httpx.Response:
    return await client.post("/api/v1/workspaces", json={"name": name}, headers=owner.headers)


async def owned(client: httpx.AsyncClient, owner: Owner) -> list[dict[str, object]]:
    me = (await client.get("/api/v1/me", headers=owner.headers)).json()
    return [w for w in me["workspaces"] if w["role"] == "owner"]


async def test_a_free_account_owns_two_workspaces_and_is_told_why_not_a_third(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    second = await create(client, owner, "Second shop")
    assert second.status_code == 201, second.text
    third = await create(client, owner, "Third shop")
    assert third.status_code == 429
    error = third.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"]["metric"] == "workspaces"
    assert error["details"]["limit"] == 2
    assert error["details"]["used"] == 2
    assert "upgrade one of your workspaces" in error["message"]
    assert len(await owned(client, owner)) == 2  # nothing made by the refusal


async def test_a_paid_workspace_does_not_count(
    client: httpx.AsyncClient, owner: Owner, owner_db: Database
) -> None:
    assert (await create(client, owner, "Second shop")).status_code == 201
    async with owner_db.transaction() as session:
        await session.execute(
            text(
                "UPDATE workspaces SET plan = 'starter', plan_expires_at = :end,"
                " fallback_plan = 'free' WHERE id = :ws"
            ),
            {"end": datetime.now(UTC) + timedelta(days=30), "ws": uuid.UUID(owner.workspace_id)},
        )
    third = await create(client, owner, "Third shop")
    assert third.status_code == 201, third.text  # the paying one leaves room for a free one
    assert (await create(client, owner, "Fourth shop")).status_code == 429


async def test_an_unconfirmed_account_keeps_its_first_workspace_only(
    client: httpx.AsyncClient,
) -> None:
    owner = await signup(client, "Unconfirmed", verify=False)  # the signup's workspace works
    refused = await create(client, owner, "Another")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_unverified"
    assert len(await owned(client, owner)) == 1


async def test_concurrent_creations_stop_at_the_limit(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    answers = await asyncio.gather(*(create(client, owner, f"Rush {n}") for n in range(6)))
    assert Counter(a.status_code for a in answers) == {201: 1, 429: 5}
    assert len(await owned(client, owner)) == 2


async def test_restoring_a_deleted_workspace_counts_too(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    second = await create(client, owner, "Second shop")
    assert second.status_code == 201
    doomed = owner.url().replace(owner.workspace_id, second.json()["id"])
    deleted = await client.request(
        "DELETE", doomed, json={"confirm": second.json()["slug"]}, headers=owner.headers
    )
    assert deleted.status_code == 202, deleted.text
    assert (await create(client, owner, "Replacement")).status_code == 201
    restored = await client.post(doomed + "/restore", headers=owner.headers)
    assert restored.status_code == 429, restored.text
    assert restored.json()["error"]["details"]["metric"] == "workspaces"
    assert len(await owned(client, owner)) == 2


async def test_no_limit_when_every_workspace_is_unlimited(runtime_factory: RuntimeFactory) -> None:
    runtime: Runtime
    async with (
        runtime_factory(default_plan="unlimited") as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, "Self-hosted")
        for n in range(3):
            assert (await create(client, owner, f"Site {n}")).status_code == 201
