"""What the public widget API and the widget's settings refuse, and what a refusal leaves alone:
a 4xx with its code, never a 500, and nothing spent or stored."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import Owner, RuntimeFactory, client_for, signup
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_chat import new_session, widget_headers


async def _patch(
    client: httpx.AsyncClient, owner: Owner, values: dict[str, object]
) -> httpx.Response:
    return await client.patch(owner.url("/widget"), json=values, headers=owner.headers)


MALFORMED_ORIGINS = ["http://[", "https://]x", "http://[::1", "https://shop.example.com/x"]


@pytest.mark.parametrize("origin", MALFORMED_ORIGINS)
async def test_a_malformed_origin_is_refused_on_every_public_route(
    client: httpx.AsyncClient, owner: Owner, origin: str
) -> None:
    """With no allowed sites listed (development lets every page in) and the snippet not seen
    on a site yet, an Origin that does not parse was a 500 on each route."""
    session = new_session()
    calls = [
        ("GET", "/api/v1/widget/config", None),
        ("POST", "/api/v1/chat", {"message": "hello", "session_id": session}),
        ("POST", "/api/v1/widget/leads", {"email": "pat@example.com", "session_id": session}),
        (
            "POST",
            "/api/v1/widget/feedback",
            {"message_id": str(uuid.uuid4()), "rating": "up", "session_id": session},
        ),
    ]
    for method, path, body in calls:
        response = await client.request(
            method, path, json=body, headers=widget_headers(owner, Origin=origin)
        )
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "origin_not_allowed"
    # Nothing was recorded: no lead.
    leads = await client.get(owner.url("/leads"), headers=owner.headers)
    assert leads.json()["total"] == 0
    # A page that sends a real Origin is still answered.
    fine = await client.post(
        "/api/v1/chat",
        json={"message": "hello", "session_id": session},
        headers=widget_headers(owner, Origin="https://shop.example.com"),
    )
    assert fine.status_code == 200, fine.text


async def test_a_refused_first_message_does_not_use_up_a_new_conversation(
    runtime_factory: RuntimeFactory,
) -> None:
    """Each resend of a first message refused with 422 counted against the hourly caps on new
    conversations: with the cap at 2, two refusals locked the visitor out for an hour."""
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    async with (
        runtime_factory(rate_limits="on") as runtime,
        client_for(runtime, ip=ip) as client,
    ):
        owner = await signup(client)
        caps = {
            "max_conversations_per_ip_per_hour": 2,
            "allowed_origins": ["https://shop.example.com"],
        }
        saved = await _patch(client, owner, caps)
        assert saved.status_code == 200, saved.text
        site = widget_headers(owner, Origin="https://shop.example.com")
        too_long = "x" * (runtime.settings.max_message_chars + 1)
        for message, code in [(too_long, "message_too_long"), ("\u200b", "message_empty")] * 2:
            refused = await client.post(
                "/api/v1/chat", json={"message": message, "session_id": new_session()}, headers=site
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["code"] == code
        for _ in range(2):
            answered = await client.post(
                "/api/v1/chat", json={"message": "hello", "session_id": new_session()}, headers=site
            )
            assert answered.status_code == 200, answered.text
        # The cap itself still holds.
        third = await client.post(
            "/api/v1/chat", json={"message": "hello", "session_id": new_session()}, headers=site
        )
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "conversation_rate_limited"


async def test_a_message_with_a_nul_is_refused_before_it_is_embedded_or_counted(
    runtime_factory: RuntimeFactory,
) -> None:
    """A NUL in a message reached the database, which refused it (422 ``invalid_text``) only
    after the new conversation was counted against the hourly caps and the question embedded
    (an embeddings provider's request, paid for): with the cap at 1, one such message locked the
    visitor out for an hour. Now it is refused with the other messages refused as written,
    naming the field, before anything is counted or embedded."""
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9"
    with FakeOpenAI() as provider:
        async with (
            runtime_factory(
                rate_limits="on",
                embedding_provider="openai",
                openai_api_key="sk-test",
                openai_base_url=provider.base_url,
            ) as runtime,
            client_for(runtime, ip=ip) as client,
        ):
            owner = await signup(client)
            caps = {"max_conversations_per_ip_per_hour": 1}
            assert (await _patch(client, owner, caps)).status_code == 200
            embedded = len(provider.requests)
            for accept in ("application/json", "text/event-stream"):
                refused = await client.post(
                    "/api/v1/chat",
                    json={"message": "How do refunds\u0000 work?", "session_id": new_session()},
                    headers=widget_headers(owner, Accept=accept),
                )
                assert refused.status_code == 422, refused.text
                error = refused.json()["error"]
                assert error["code"] == "invalid_text"
                assert error["details"][0]["field"] == "message"
            assert len(provider.requests) == embedded  # nothing was sent to be embedded
            answered = await client.post(
                "/api/v1/chat",
                json={"message": "hello", "session_id": new_session()},
                headers=widget_headers(owner),
            )
            assert answered.status_code == 200, answered.text


@pytest.mark.parametrize("name", ["   ", "\u200b", " \u200d\u00a0", "\u3164"])
async def test_a_bot_name_with_nothing_visible_is_refused(
    client: httpx.AsyncClient, owner: Owner, name: str
) -> None:
    """Accepted before, it left the widget's title blank and greeted visitors with "Hi! I'm ."."""
    assert (await _patch(client, owner, {"bot_name": "Aria"})).status_code == 200
    refused = await _patch(client, owner, {"bot_name": name})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "validation_error"
    public = (await client.get("/api/v1/widget/config", headers=widget_headers(owner))).json()
    assert public["bot_name"] == "Aria"  # unchanged
    assert public["greeting"] == "Hi! I'm Aria. How can I help?"


async def test_a_blank_greeting_or_suggestion_is_the_default_not_a_blank_line(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """Saved as null (the default greeting) or left out, as empty ones always were."""
    questions = ["\u200b", "  Do you ship abroad? ", " \u200c "]
    saved = await _patch(
        client,
        owner,
        {"bot_name": "  Aria ", "greeting": "\u200b ", "suggested_questions": questions},
    )
    assert saved.status_code == 200, saved.text
    public = (await client.get("/api/v1/widget/config", headers=widget_headers(owner))).json()
    assert public["bot_name"] == "Aria"
    assert public["greeting"] == "Hi! I'm Aria. How can I help?"
    assert public["suggested_questions"] == ["Do you ship abroad?"]
