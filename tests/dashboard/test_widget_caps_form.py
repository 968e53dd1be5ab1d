"""The widget form's hourly caps on new conversations (and the avatar): saved through the form
with the JSON API's schema and limits, refused values shown beside their field, the saved cap
enforced on the public widget API."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from tests.conftest import RuntimeFactory, client_for, login
from tests.dashboard.conftest import PASSWORD, WebOwner, web_signup
from widget.config import MAX_CONVERSATION_CAP

PER_IP = "max_conversations_per_ip_per_hour"
PER_WORKSPACE = "max_conversations_per_hour"
MAX_CAP = MAX_CONVERSATION_CAP
BASE = {"lead_capture": "on_intent", "lead_fields": ["email"], "position": "bottom-right"}


async def _api_view(client: httpx.AsyncClient, web: WebOwner) -> dict[str, Any]:
    """The widget settings as the JSON API gives them (the effective caps)."""
    tokens = await login(client, web.email, PASSWORD)
    response = await client.get(
        f"/api/v1/workspaces/{web.workspace_id}/widget",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _value(html: str, name: str) -> str:
    found = re.search(rf'<input id="{name}" name="{name}"[^>]* value="([^"]*)"', html)
    assert found, name
    return found.group(1)


def _field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-err">([^<]*)</p>', html)
    assert found, f"no error beside {name}"
    return found.group(1)


async def test_caps_are_saved_and_back_to_the_default_when_emptied(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    defaults = await _api_view(client, web)
    page = await web.client.get(web.url("widget"))
    assert _value(page.text, PER_IP) == ""
    assert f'placeholder="{defaults[PER_IP]}"' in page.text

    saved = await web.post(
        web.url("widget"),
        {
            **BASE,
            PER_IP: "7",
            PER_WORKSPACE: str(MAX_CONVERSATION_CAP),
            "avatar_url": "https://cdn.example.com/bot.png",
        },
    )
    assert saved.status_code == 303, saved.text
    page = await web.client.get(web.url("widget"))
    assert _value(page.text, PER_IP) == "7"
    assert _value(page.text, PER_WORKSPACE) == str(MAX_CONVERSATION_CAP)
    assert _value(page.text, "avatar_url") == "https://cdn.example.com/bot.png"
    view = await _api_view(client, web)
    assert view[PER_IP] == 7
    assert view[PER_WORKSPACE] == MAX_CONVERSATION_CAP
    assert view["avatar_url"] == "https://cdn.example.com/bot.png"

    emptied = await web.post(web.url("widget"), {**BASE, PER_IP: " ", PER_WORKSPACE: ""})
    assert emptied.status_code == 303
    view = await _api_view(client, web)
    assert view[PER_IP] == defaults[PER_IP]
    assert view[PER_WORKSPACE] == defaults[PER_WORKSPACE]
    assert view["avatar_url"] is None


async def test_out_of_range_caps_are_refused_beside_the_field(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    assert (await web.post(web.url("widget"), {**BASE, PER_IP: "9"})).status_code == 303
    cases = [
        # In the form's words, not pydantic's ("Input should be greater than or equal to 1").
        (PER_IP, "0", "Enter a number at least 1."),
        (PER_IP, "-3", "Enter a number at least 1."),
        (PER_WORKSPACE, str(MAX_CONVERSATION_CAP + 1), f"Enter a number at most {MAX_CAP}."),
        (PER_WORKSPACE, "12.5", "Enter a whole number."),
        (PER_IP, "lots", "Enter a whole number."),
        ("avatar_url", "http://cdn.example.com/bot.png", "https"),
    ]
    for name, value, message in cases:
        refused = await web.post(web.url("widget"), {**BASE, name: value})
        assert refused.status_code == 422, (name, value)
        assert message in _field_error(refused.text, name), (name, value)
        assert f'aria-describedby="{name}-err' in refused.text
        assert f'value="{value}"' in refused.text  # what was typed stays in the field
    view = await _api_view(client, web)
    assert view[PER_IP] == 9  # nothing refused was saved


async def test_a_cap_saved_in_the_form_is_enforced(runtime_factory: RuntimeFactory) -> None:
    async with (
        runtime_factory(rate_limits="on") as runtime,
        client_for(runtime) as client,
    ):
        web = await web_signup(client, "Capped")
        assert (await web.post(web.url("widget"), {**BASE, PER_WORKSPACE: "1"})).status_code == 303
        key = (await _api_view(client, web))["public_key"]
        answers = [
            await client.post(
                "/api/v1/chat",
                json={"message": "Hello", "session_id": f"capped-{i}"},
                headers={"X-Widget-Key": key, "Origin": "https://shop.example.com"},
            )
            for i in range(2)
        ]
        assert answers[0].status_code == 200, answers[0].text
        assert answers[1].status_code == 429
        assert answers[1].json()["error"]["details"]["scope"] == "workspace"


async def test_the_owner_makes_a_new_widget_key_from_the_widget_page(
    client: httpx.AsyncClient, web: WebOwner
) -> None:
    page = await web.client.get(web.url("widget"))
    old = re.search(r'data-key="([^"]+)"', html.unescape(page.text))
    assert 'data-testid="rotate-widget-key"' in page.text
    assert old, "the snippet names the key"
    made = await web.post(web.url("widget/rotate-key"))
    assert made.status_code == 303
    page = await web.client.get(made.headers["location"])
    new = re.search(r'data-key="([^"]+)"', html.unescape(page.text))
    assert new
    assert new.group(1) != old.group(1)
    assert "New key made" in page.text
    refused = await client.get("/api/v1/widget/config", headers={"X-Widget-Key": old.group(1)})
    assert refused.status_code == 401
    served = await client.get("/api/v1/widget/config", headers={"X-Widget-Key": new.group(1)})
    assert served.status_code == 200
