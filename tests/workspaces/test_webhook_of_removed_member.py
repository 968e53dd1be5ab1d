"""The webhook belongs to the workspace, but the person who pointed it somewhere may have been
removed for cause: their API keys stop working at once, and the URL they set stops receiving
events until an owner confirms it (or sets another). Audited, and shown to the owners."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from api.runtime import Runtime
from tests.conftest import Owner, RuntimeFactory, client_for, join, signup
from tests.fakes.receiver import receiver


async def _handoff(client: httpx.AsyncClient, owner: Owner, runtime: Runtime) -> None:
    """A visitor asks for a person: one webhook event, sent before this returns."""
    chat = await client.post(
        "/api/v1/chat",
        json={"message": "I want to speak to a human", "session_id": f"v-{uuid.uuid4().hex[:8]}"},
        headers={"X-Widget-Key": owner.workspace["public_key"]},
    )
    assert chat.json()["source"] == "handoff", chat.text
    await runtime.notifier.drain()


async def _audit(client: httpx.AsyncClient, owner: Owner, action: str) -> list[dict[str, Any]]:
    page = await client.get(owner.url(f"/audit?action={action}"), headers=owner.headers)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def _remove(client: httpx.AsyncClient, owner: Owner, admin: Owner) -> None:
    removed = await client.delete(owner.url(f"/members/{admin.user_id}"), headers=owner.headers)
    assert removed.status_code == 204, removed.text


async def _delete_account(client: httpx.AsyncClient, owner: Owner, admin: Owner) -> None:
    gone = await client.request(
        "DELETE", "/api/v1/me", json={"password": admin.password}, headers=admin.headers
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["left_workspaces"] == [owner.workspace_id], gone.text


Going = Callable[[httpx.AsyncClient, Owner, Owner], Awaitable[None]]


@pytest.mark.parametrize(
    ("going", "event"),
    [(_remove, "member.removed"), (_delete_account, "member.account_deleted")],
    ids=["removed", "account_deleted"],
)
async def test_a_gone_admins_webhook_waits_for_an_owner(
    runtime_factory: RuntimeFactory, going: Going, event: str
) -> None:
    """Removed, or gone with their deleted account: the URL the admin set waits for an owner.
    Deleting the account left it receiving every event (leads, handoffs) after the account was
    gone, and its audit entry said nothing of it."""
    async with (
        runtime_factory(allow_private_urls=True) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client, f"Hooks {uuid.uuid4().hex[:8]}")
        admin = await signup(client, "Admin's own")
        await join(client, owner, admin, "admin")
        with receiver() as hook:
            set_url = await client.patch(
                owner.url(""), json={"webhook_url": hook.url()}, headers=admin.headers
            )
            assert set_url.status_code == 200, set_url.text
            await _handoff(client, owner, runtime)
            assert len(hook.received) == 1

            await going(client, owner, admin)
            [entry] = await _audit(client, owner, event)
            assert entry["details"].get("webhook_paused") is True, entry
            shown = (await client.get(owner.url("/webhook"), headers=owner.headers)).json()
            assert shown["paused"] is True, shown
            assert shown["set_by"] == admin.user_id, shown

            await _handoff(client, owner, runtime)
            assert len(hook.received) == 1  # nothing for the gone admin's address

            confirmed = await client.post(owner.url("/webhook/confirm"), headers=owner.headers)
            assert confirmed.status_code == 200, confirmed.text
            assert confirmed.json()["paused"] is False
            [entry] = await _audit(client, owner, "webhook.confirmed")
            await _handoff(client, owner, runtime)
            assert len(hook.received) == 2


async def test_a_webhook_someone_else_set_is_left_alone(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Removing a member who did not set the URL pauses nothing (and a public URL is used:
    nothing is sent here)."""
    member = await signup(client, "Member's own")
    await join(client, owner, member, "admin")
    url = "https://hooks.example.com/trulybot"
    assert (
        await client.patch(owner.url(""), json={"webhook_url": url}, headers=owner.headers)
    ).status_code == 200
    removed = await client.delete(owner.url(f"/members/{member.user_id}"), headers=owner.headers)
    assert removed.status_code == 204, removed.text
    [entry] = await _audit(client, owner, "member.removed")
    assert "webhook_paused" not in entry["details"], entry
    shown = (await client.get(owner.url("/webhook"), headers=owner.headers)).json()
    assert (shown["url"], shown["paused"], shown["set_by"]) == (url, False, owner.user_id)
