"""The widget's CORS beside the dashboard's (DASHBOARD_ORIGINS): a site that is both a dashboard
origin and a widget origin (an owner's own front end that embeds the support widget) gets the
widget's CORS on widget paths, one ``Access-Control-Allow-Origin`` and no credentials, and the
dashboard's everywhere else."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Owner, RuntimeFactory, client_for, signup


def _site() -> str:
    return f"https://app-{uuid.uuid4().hex[:10]}.example.com"


def _widget_cors(response: httpx.Response, site: str) -> None:
    """The widget's CORS alone: one origin, never credentials."""
    assert response.headers.get_list("access-control-allow-origin") == [site], response.headers
    assert "access-control-allow-credentials" not in response.headers


def _dashboard_cors(response: httpx.Response, site: str) -> None:
    assert response.headers.get_list("access-control-allow-origin") == [site], response.headers
    assert response.headers["access-control-allow-credentials"] == "true"


async def _allow(client: httpx.AsyncClient, owner: Owner, site: str) -> None:
    patched = await client.patch(
        owner.url("/widget"), json={"allowed_origins": [site]}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text


async def test_a_dashboard_origin_embedding_the_widget_gets_each_sides_cors(
    runtime_factory: RuntimeFactory,
) -> None:
    """The widget's preflight, then its config load, a message and a lead: each answered with
    the widget's CORS only (two ``Access-Control-Allow-Origin`` values, or credentials, and
    fetch refuses the response: the widget says "connection problem"). The same site's calls
    to the owners' API keep the dashboard's CORS, with credentials; another origin gets none."""
    site = _site()
    async with (
        runtime_factory(dashboard_origins=[site]) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        await _allow(client, owner, site)
        key = owner.workspace["public_key"]
        preflight = await client.options(
            "/api/v1/chat",
            headers={
                "Origin": site,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-widget-key",
            },
        )
        assert preflight.status_code == 204
        _widget_cors(preflight, site)
        assert "x-widget-key" in preflight.headers["access-control-allow-headers"].lower()

        config = await client.get(
            "/api/v1/widget/config", headers={"X-Widget-Key": key, "Origin": site}
        )
        assert config.status_code == 200, config.text
        _widget_cors(config, site)

        chat = await client.post(
            "/api/v1/chat",
            json={"message": "hello", "session_id": f"s-{uuid.uuid4().hex[:8]}"},
            headers={"X-Widget-Key": key, "Origin": site},
        )
        assert chat.status_code == 200, chat.text
        _widget_cors(chat, site)

        lead = await client.post(
            "/api/v1/widget/leads",
            json={"email": f"v-{uuid.uuid4().hex[:8]}@example.com", "name": "Vee"},
            headers={"X-Widget-Key": key, "Origin": site},
        )
        assert lead.status_code in (200, 201, 202), lead.text
        _widget_cors(lead, site)

        dashboard_preflight = await client.options(
            "/api/v1/me",
            headers={
                "Origin": site,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert dashboard_preflight.status_code == 200, dashboard_preflight.text
        _dashboard_cors(dashboard_preflight, site)
        me = await client.get("/api/v1/me", headers={**owner.headers, "Origin": site})
        assert me.status_code == 200
        _dashboard_cors(me, site)
        stranger = await client.get(
            "/api/v1/me", headers={**owner.headers, "Origin": "https://evil.example"}
        )
        assert stranger.status_code == 200
        assert "access-control-allow-origin" not in stranger.headers


async def test_a_widget_refusal_to_a_dashboard_origin_carries_one_allow_origin(
    runtime_factory: RuntimeFactory,
) -> None:
    """A 4xx on a widget path is readable by the page that sent it (``cors_headers``), and
    only through the widget's CORS: an empty message's 422 and a bad key's 401."""
    site = _site()
    async with (
        runtime_factory(dashboard_origins=[site]) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        await _allow(client, owner, site)
        empty = await client.post(
            "/api/v1/chat",
            json={"message": "", "session_id": "s-empty"},
            headers={"X-Widget-Key": owner.workspace["public_key"], "Origin": site},
        )
        assert empty.status_code == 422, empty.text
        _widget_cors(empty, site)
        unknown = await client.get(
            "/api/v1/widget/config",
            headers={"X-Widget-Key": f"pk_{uuid.uuid4().hex}", "Origin": site},
        )
        assert unknown.status_code == 401, unknown.text
        _widget_cors(unknown, site)
