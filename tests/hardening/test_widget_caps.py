"""What the public widget key may spend: caps on anonymous conversations, the origin check.

The widget key is public, so anyone can send it. Without these caps 100 anonymous requests from
one machine filled a free plan's monthly conversations. New conversations (not messages) are
capped per visitor IP and per workspace per hour; a caller without an Origin header (a server or
script, not a browser) gets a lower per-IP cap, and is refused outright by a workspace that lists
its allowed origins.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Owner, signup
from tests.hardening.conftest import ClientFactory

SHOP = "https://shop.example.com"


def wk(owner: Owner, origin: str | None = SHOP) -> dict[str, str]:
    headers = {"X-Widget-Key": owner.workspace["public_key"]}
    if origin is not None:
        headers["Origin"] = origin
    return headers


async def new_conversation(
    client: httpx.AsyncClient, owner: Owner, session_id: str, *, origin: str | None = SHOP
) -> httpx.Response:
    return await client.post(
        "/api/v1/chat",
        json={"message": "How do refunds work?", "session_id": session_id},
        headers=wk(owner, origin),
    )


def assert_capped(response: httpx.Response, scope: str) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "conversation_rate_limited"
    assert error["details"]["scope"] == scope
    assert int(response.headers["retry-after"]) >= 1
    assert int(response.headers["retry-after"]) <= 3600


async def usage_conversations(client: httpx.AsyncClient, owner: Owner) -> int:
    usage = (await client.get(owner.url("/usage"), headers=owner.headers)).json()
    return int(usage["metrics"]["conversations"]["used"])


async def test_one_machine_cannot_spend_a_free_plan_with_the_public_key(
    app_client: ClientFactory,
) -> None:
    """The attack as reported: 100 anonymous conversations from one address, default caps."""
    async with app_client(rate_limits="on", rate_limit_chat_ip="1000/minute") as client:
        owner = await signup(client, "Free plan")
        answers = [await new_conversation(client, owner, f"bot-{i}") for i in range(100)]
        accepted = [r for r in answers if r.status_code == 200]
        default = client.app.state.runtime.settings.widget_conversations_per_ip_per_hour  # type: ignore[attr-defined]
        assert len(accepted) == default < 100
        assert_capped(answers[-1], "ip")
        assert await usage_conversations(client, owner) == default


async def test_messages_in_an_open_conversation_are_not_capped(
    app_client: ClientFactory,
) -> None:
    async with app_client(rate_limits="on", widget_conversations_per_ip_per_hour=2) as client:
        owner = await signup(client)
        first = (await new_conversation(client, owner, "v1")).json()
        assert (await new_conversation(client, owner, "v2")).status_code == 200
        assert_capped(await new_conversation(client, owner, "v3"), "ip")
        for _ in range(4):
            follow_up = await client.post(
                "/api/v1/chat",
                json={
                    "message": "And for yearly plans?",
                    "session_id": "v1",
                    "conversation_id": first["conversation_id"],
                },
                headers=wk(owner),
            )
            assert follow_up.status_code == 200, follow_up.text


async def test_the_cap_is_per_visitor_ip_and_per_workspace(app_client: ClientFactory) -> None:
    async with app_client(rate_limits="on", widget_conversations_per_ip_per_hour=1) as one:
        owner = await signup(one, "Acme")
        other = await signup(one, "Globex")
        assert (await new_conversation(one, owner, "a")).status_code == 200
        assert_capped(await new_conversation(one, owner, "b"), "ip")
        # The same address on another workspace has its own budget.
        assert (await new_conversation(one, other, "c")).status_code == 200
    async with app_client(rate_limits="on", widget_conversations_per_ip_per_hour=1) as another:
        assert (await new_conversation(another, owner, "d")).status_code == 200


async def test_the_workspace_hourly_cap_holds_across_addresses(app_client: ClientFactory) -> None:
    owner: Owner | None = None
    statuses = []
    for i in range(3):
        async with app_client(rate_limits="on", widget_conversations_per_hour=2) as client:
            owner = owner or await signup(client)
            response = await new_conversation(client, owner, f"v{i}")
            statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
    assert_capped(response, "workspace")


async def test_owners_set_their_own_caps_in_the_widget_config(
    app_client: ClientFactory,
) -> None:
    async with app_client(rate_limits="on", widget_conversations_per_ip_per_hour=50) as client:
        owner = await signup(client)
        view = (await client.get(owner.url("/widget"), headers=owner.headers)).json()
        assert view["max_conversations_per_ip_per_hour"] == 50
        assert view["max_conversations_per_hour"] == (
            client.app.state.runtime.settings.widget_conversations_per_hour  # type: ignore[attr-defined]
        )
        patched = await client.patch(
            owner.url("/widget"),
            json={"max_conversations_per_ip_per_hour": 1, "max_conversations_per_hour": 500},
            headers=owner.headers,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["max_conversations_per_ip_per_hour"] == 1
        public = (await client.get("/api/v1/widget/config", headers=wk(owner))).json()
        assert "max_conversations_per_ip_per_hour" not in public
        assert (await new_conversation(client, owner, "a")).status_code == 200
        assert_capped(await new_conversation(client, owner, "b"), "ip")
        for bad in (0, -1, 10**9, "many"):
            response = await client.patch(
                owner.url("/widget"),
                json={"max_conversations_per_ip_per_hour": bad},
                headers=owner.headers,
            )
            assert response.status_code == 422, bad
        reset = await client.patch(
            owner.url("/widget"),
            json={"max_conversations_per_ip_per_hour": None},
            headers=owner.headers,
        )
        assert reset.json()["max_conversations_per_ip_per_hour"] == 50
        assert (await new_conversation(client, owner, "c")).status_code == 200


async def test_no_origin_is_refused_when_the_workspace_lists_its_origins(
    app_client: ClientFactory,
) -> None:
    async with app_client(rate_limits="on") as client:
        owner = await signup(client)
        await client.patch(
            owner.url("/widget"), json={"allowed_origins": [SHOP]}, headers=owner.headers
        )
        for path, body in (
            ("/api/v1/chat", {"message": "hello", "session_id": "s"}),
            ("/api/v1/widget/leads", {"email": "lead@example.com"}),
        ):
            refused = await client.post(path, json=body, headers=wk(owner, origin=None))
            assert refused.status_code == 403, path
            assert refused.json()["error"]["code"] == "origin_required"
        assert (await new_conversation(client, owner, "s")).status_code == 200
        # Reading the public look of the widget spends nothing; browsers omit Origin on
        # same-origin GETs, so it stays open.
        config = await client.get("/api/v1/widget/config", headers=wk(owner, origin=None))
        assert config.status_code == 200
        assert await usage_conversations(client, owner) == 1


async def test_a_caller_without_origin_gets_the_lower_server_cap(
    app_client: ClientFactory,
) -> None:
    settings: dict[str, Any] = {
        "rate_limits": "on",
        "widget_conversations_per_ip_per_hour": 5,
        "widget_server_conversations_per_ip_per_hour": 1,
    }
    async with app_client(**settings) as client:
        owner = await signup(client)  # no allowed origins: server-side callers are allowed
        assert (await new_conversation(client, owner, "a", origin=None)).status_code == 200
        assert_capped(await new_conversation(client, owner, "b", origin=None), "server")
        # A browser page on the same address still has the visitors' budget.
        assert (await new_conversation(client, owner, "c")).status_code == 200


async def test_lead_forms_are_limited_per_address(app_client: ClientFactory) -> None:
    async with app_client(rate_limits="on", rate_limit_widget_leads="2/hour") as client:
        owner = await signup(client)
        answers = [
            await client.post(
                "/api/v1/widget/leads", json={"email": f"l{i}@example.com"}, headers=wk(owner)
            )
            for i in range(3)
        ]
        assert [r.status_code for r in answers] == [202, 202, 429]
        assert answers[2].json()["error"]["code"] == "rate_limited"
        assert int(answers[2].headers["retry-after"]) >= 1
        listed = (await client.get(owner.url("/leads"), headers=owner.headers)).json()
        assert listed["total"] == 2
