"""The widget's HTTP side: configuration, origin allowlist and CORS, leads, the script."""

from __future__ import annotations

import asyncio
import gzip
import secrets

import httpx
import numpy as np
import pytest
from sqlalchemy import text
from starlette.requests import Request

from api.routers.widget_chat import _from_own_pages
from core.config import Settings
from core.db import Database
from rag.knowledge.embeddings import HashEmbedder
from tests.conftest import PRODUCTION_SERVICES, Owner, RuntimeFactory, client_for, signup
from tests.rag.test_chat import widget_headers
from tests.widget.test_widget_leads import received
from widget.script import PARTS, PARTS_DIR


async def test_owner_configures_and_visitor_sees_the_public_subset(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    patched = await client.patch(
        owner.url("/widget"),
        json={
            "bot_name": "Aria",
            "greeting": "Hey! Ask me about backups.",
            "primary_color": "#10b981",
            "lead_capture": "after_messages",
            "allowed_origins": ["https://shop.example.com/", "https://*.example.org"],
            "suggested_questions": ["How much does it cost?"],
        },
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    owner_view = patched.json()
    assert owner_view["allowed_origins"] == ["https://shop.example.com", "https://*.example.org"]
    assert owner_view["public_key"] in owner_view["embed_snippet"]

    public = await client.get(
        "/api/v1/widget/config", headers=widget_headers(owner, Origin="https://shop.example.com")
    )
    assert public.status_code == 200
    body = public.json()
    assert body["bot_name"] == "Aria"
    assert body["lead_capture"] == "after_messages"
    assert "allowed_origins" not in body
    assert "public_key" not in body
    assert public.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "access-control-allow-credentials" not in public.headers

    sub = await client.get(
        "/api/v1/widget/config", headers=widget_headers(owner, Origin="https://a.example.org")
    )
    assert sub.status_code == 200


async def test_origin_outside_the_allowlist_gets_a_403_it_can_read(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    await client.patch(
        owner.url("/widget"),
        json={"allowed_origins": ["https://shop.example.com"]},
        headers=owner.headers,
    )
    for origin in (
        "https://evil.example",
        "http://shop.example.com",
        "https://shop.example.com:8443",
        "http://testserver:8080",  # this server's host on another port is another site
        "http://evil.testserver",
    ):
        response = await client.post(
            "/api/v1/chat",
            json={"message": "hello", "session_id": "v1"},
            headers=widget_headers(owner, Origin=origin),
        )
        assert response.status_code == 403, origin
        # Readable by the refused page (so the widget says "not enabled on this website"
        # instead of "connection problem"), and holding nothing of the workspace's.
        assert response.json() == {
            "error": {
                "code": "origin_not_allowed",
                "message": "This site may not embed this widget",
                "details": None,
            }
        }
        assert response.headers["access-control-allow-origin"] == origin
    # Not from a browser (no Origin): refused, the workspace listed where it may be used.
    server_side = await client.post(
        "/api/v1/chat", json={"message": "hello", "session_id": "v1"}, headers=widget_headers(owner)
    )
    assert server_side.status_code == 403
    assert server_side.json()["error"]["code"] == "origin_required"
    allowed = await client.post(
        "/api/v1/chat",
        json={"message": "hello", "session_id": "v1"},
        headers=widget_headers(owner, Origin="https://shop.example.com"),
    )
    assert allowed.status_code == 200
    # This server's own pages (the dashboard's preview of the widget) are answered too.
    preview = await client.post(
        "/api/v1/chat",
        json={"message": "hello", "session_id": "v1"},
        headers=widget_headers(owner, Origin="http://testserver"),
    )
    assert preview.status_code == 200, preview.text


SHOP = "https://shop.example.com"


class BrokenEmbedder(HashEmbedder):
    """A bug on the chat path: an exception that is neither a domain error nor a database's."""

    async def embed_query(self, text: str) -> np.ndarray:
        raise RuntimeError("a bug")


class StuckEmbedder(HashEmbedder):
    """A question's embedding that never comes back (asked for in the request, not beside it)."""

    unmetered = False

    async def embed_query(self, text: str) -> np.ndarray:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def _allow_shop(client: httpx.AsyncClient, owner: Owner) -> None:
    patched = await client.patch(
        owner.url("/widget"), json={"allowed_origins": [SHOP]}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text


def _readable_by_the_shop(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.headers["access-control-allow-origin"] == SHOP
    assert "Retry-After" in response.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in response.headers


async def test_a_server_fault_reaches_the_widget_readable(runtime_factory: RuntimeFactory) -> None:
    """An unhandled exception's 500 leaves through Starlette's ServerErrorMiddleware, outside
    every middleware: on a widget path it carries the widget's CORS headers, or the browser
    hides it and the widget says "check your internet" and sends the message again. Other
    paths get no CORS header from it."""
    async with (
        runtime_factory(embedder=BrokenEmbedder(dimensions=384)) as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        await _allow_shop(client, owner)
        failed = await client.post(
            "/api/v1/chat",
            json={"message": "What does the yearly plan cost?", "session_id": "v1"},
            headers=widget_headers(owner, Origin=SHOP),
        )
        owners = await client.post(
            owner.url("/chat"),
            json={"message": "What does the yearly plan cost?"},
            headers={**owner.headers, "Origin": SHOP},
        )
    _readable_by_the_shop(failed, 500, "internal_error")
    assert owners.status_code == 500
    assert "access-control-allow-origin" not in owners.headers


async def test_a_body_too_large_reaches_the_widget_readable(
    client: httpx.AsyncClient, owner: Owner, settings: Settings
) -> None:
    """BodySizeLimitMiddleware's 413 (sent from the middleware, before any route) is inside
    the widget's CORS layer; elsewhere it still gets no CORS header."""
    await _allow_shop(client, owner)
    big = "x" * (settings.max_body_bytes + 1)
    refused = await client.post(
        "/api/v1/chat",
        json={"message": big, "session_id": "v1"},
        headers=widget_headers(owner, Origin=SHOP),
    )
    _readable_by_the_shop(refused, 413, "payload_too_large")
    login = await client.post(
        "/api/v1/auth/login",
        json={"email": "a@example.com", "password": big},
        headers={"Origin": SHOP},
    )
    assert login.status_code == 413
    assert "access-control-allow-origin" not in login.headers


async def test_a_request_timeout_reaches_the_widget_readable(
    runtime_factory: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RequestTimeoutMiddleware's 504 is inside the widget's CORS layer (a deployment with
    REQUEST_TIMEOUT_SECONDS under the widget's 45 s wait). The turn's own model time (two
    thirds of the request's) is lifted here: it would end the stuck embedding first, a 502
    ``embedding_failed`` on an idle machine, or not, on a loaded one (whichever came first)."""
    monkeypatch.setattr(Settings, "chat_model_seconds", property(lambda _settings: None))
    async with runtime_factory() as runtime, client_for(runtime) as client:
        owner = await signup(client)
        await _allow_shop(client, owner)
        async with (
            runtime_factory(
                embedder=StuckEmbedder(dimensions=384), request_timeout_seconds=0.05
            ) as slow,
            client_for(slow) as slow_client,
        ):
            cut = await slow_client.post(
                "/api/v1/chat",
                json={"message": "What does the yearly plan cost?", "session_id": "v1"},
                headers=widget_headers(owner, Origin=SHOP),
            )
    _readable_by_the_shop(cut, 504, "request_timeout")


async def test_preflight_is_answered_without_credentials(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/chat",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-widget-key",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "x-widget-key" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


async def test_invalid_widget_settings_are_422_and_change_nothing(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    for bad in (
        {"allowed_origins": ["https://*"]},
        {"allowed_origins": ["https://shop.example.com/path"]},
        {"primary_color": "red; background:url(x)"},
        {"avatar_url": "javascript:alert(1)"},
        {"lead_capture": "sometimes"},
    ):
        response = await client.patch(owner.url("/widget"), json=bad, headers=owner.headers)
        assert response.status_code == 422, bad
    current = (await client.get(owner.url("/widget"), headers=owner.headers)).json()
    assert current["allowed_origins"] == []
    assert current["primary_color"] == "#2563eb"


async def test_widget_leads_are_deduplicated_and_linked_to_the_conversation(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    chat = await client.post(
        "/api/v1/chat",
        json={"message": "hi", "session_id": "lead-v"},
        headers=widget_headers(owner),
    )
    conversation_id = chat.json()["conversation_id"]
    first = await client.post(
        "/api/v1/widget/leads",
        json={
            "email": "Visitor@Example.com",
            "name": "Vee",
            "conversation_id": conversation_id,
            "session_id": "lead-v",
        },
        headers=widget_headers(owner),
    )
    assert first.status_code == 202, first.text
    again = await client.post(
        "/api/v1/widget/leads",
        json={"email": "visitor@example.com", "phone": "+91 90000 00000"},
        headers=widget_headers(owner),
    )
    assert again.status_code == 202
    # The address as sent (its domain in small letters), and nothing about the lead.
    assert first.json() == received("Visitor@example.com")
    assert again.json() == received("visitor@example.com")
    listed = (await client.get(owner.url("/leads"), headers=owner.headers)).json()
    assert listed["total"] == 1
    lead = listed["items"][0]
    assert lead["source"] == "widget"
    assert lead["conversation_id"] == conversation_id
    assert lead["name"] == "Vee"
    assert lead["phone"] == "+91 90000 00000"
    conversations = (await client.get(owner.url("/conversations"), headers=owner.headers)).json()
    assert conversations["items"][0]["lead_id"] == lead["id"]
    invalid = await client.post(
        "/api/v1/widget/leads", json={"email": "nope"}, headers=widget_headers(owner)
    )
    assert invalid.status_code == 422


async def test_rotating_the_key_retires_the_old_one_at_once(
    client: httpx.AsyncClient, owner: Owner, other: Owner
) -> None:
    old = owner.workspace["public_key"]
    rotated = await client.post(owner.url("/widget/rotate-key"), headers=owner.headers)
    assert rotated.status_code == 200
    new = rotated.json()["public_key"]
    assert new != old
    assert (
        await client.get("/api/v1/widget/config", headers={"X-Widget-Key": old})
    ).status_code == 401
    assert (
        await client.get("/api/v1/widget/config", headers={"X-Widget-Key": new})
    ).status_code == 200
    foreign = await client.post(other.url("/widget/rotate-key"), headers=owner.headers)
    assert foreign.status_code == 404


async def test_widget_script_is_served_with_etag_and_small(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "max-age" in response.headers["cache-control"]
    etag = response.headers["etag"]
    assert response.content == b"".join((PARTS_DIR / name).read_bytes() for name in PARTS)
    assert len(gzip.compress(response.content, 9)) < 30 * 1024
    cached = await client.get("/widget.js", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""


def _request(origin: str, host: str) -> Request:
    headers = [(b"origin", origin.encode()), (b"host", host.encode())]
    return Request({"type": "http", "method": "POST", "path": "/api/v1/chat", "headers": headers})


def test_in_production_only_public_base_urls_pages_count_as_this_servers_own() -> None:
    """The preview's pass through the allowed-sites check compares the Origin with
    PUBLIC_BASE_URL, never with the Host header: a page at attacker.example pointing its own name
    at this server (DNS rebinding) sends Origin and Host alike, and must not pass."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        jwt_secret=secrets.token_urlsafe(32),
        public_base_url="https://bot.example.com",
        **PRODUCTION_SERVICES,
    )
    own = _from_own_pages
    assert own(_request("https://bot.example.com", "bot.example.com"), settings)
    assert own(_request("https://bot.example.com:443", "10.0.0.5:8000"), settings)  # a proxy
    assert not own(_request("http://attacker.example", "attacker.example"), settings)
    assert not own(_request("http://bot.example.com", "bot.example.com"), settings)  # http
    assert not own(_request("https://bot.example.com:8443", "bot.example.com:8443"), settings)
    development = Settings(_env_file=None, environment="development")  # type: ignore[call-arg]
    assert own(_request("http://127.0.0.1:8000", "127.0.0.1:8000"), development)
    assert not own(_request("http://127.0.0.1:9000", "127.0.0.1:8000"), development)


async def _installed_origin(owner_db: Database, owner: Owner) -> str | None:
    async with owner_db.transaction() as session:
        return (
            await session.execute(
                text("SELECT widget_installed_origin FROM workspaces WHERE id = :w"),
                {"w": owner.workspace_id},
            )
        ).scalar_one()


async def test_the_owners_preview_behind_a_proxy_does_not_tick_installed(
    runtime_factory: RuntimeFactory, owner_db: Database
) -> None:
    """Behind a proxy that sends its own Host, the dashboard's preview (Origin: PUBLIC_BASE_URL)
    was taken for the owner's site: the checklist said "First seen on https://bot.example.com"
    and stopped asking the owner to list their site."""
    async with (
        runtime_factory(public_base_url="https://bot.example.com") as runtime,
        client_for(runtime) as client,
    ):
        owner = await signup(client)
        proxied = {"Host": "10.0.0.5:8000"}
        for path in ("/api/v1/widget/config", "/api/v1/chat"):
            own = await client.request(
                "GET" if path.endswith("config") else "POST",
                path,
                json=None if path.endswith("config") else {"message": "hi", "session_id": "s-p"},
                headers=widget_headers(owner, Origin="https://bot.example.com", **proxied),
            )
            assert own.status_code == 200, own.text
        assert await _installed_origin(owner_db, owner) is None
        site = await client.post(
            "/api/v1/chat",
            json={"message": "hi", "session_id": "s-site"},
            headers=widget_headers(owner, Origin="https://shop.example.com", **proxied),
        )
        assert site.status_code == 200, site.text
        assert await _installed_origin(owner_db, owner) == "https://shop.example.com"
